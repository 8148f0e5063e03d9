package apns_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const bundle = "com.example.app"

// tok returns a distinct valid device token for i.
func tok(i int) string {
	const hexd = "0123456789abcdef"
	b := []byte(strings.Repeat("ab", 32))
	for j := 0; j < 8; j++ {
		b[63-j] = hexd[(i>>(4*j))&0xf]
	}
	return string(b)
}

// pair starts a fake and a token-auth client for it; mod may adjust the
// client config.
func pair(t *testing.T, scfg apnstest.Config, mod func(*apns.Config)) (*apnstest.Server, *apns.Client) {
	t.Helper()
	srv := apnstest.NewServer(scfg)
	t.Cleanup(srv.Close)
	cfg := apns.Config{BaseURL: srv.URL, Token: srv.TokenAuth(), RootCAs: srv.CertPool(), Topic: bundle}
	if mod != nil {
		mod(&cfg)
	}
	c, err := apns.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return srv, c
}

// sendConcurrently sends n data messages, to tok(0)..tok(n-1), all at once
// and requires every send to succeed.
func sendConcurrently(t *testing.T, c *apns.Client, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.Send(context.Background(), pushwire.Message{Token: tok(i)})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// clock is a settable clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// assertClass checks that err matches class and no other pushwire class (an
// ErrConfiguration error also matches ErrPermanent).
func assertClass(t *testing.T, err, class error) {
	t.Helper()
	for _, c := range []error{pushwire.ErrDeadToken, pushwire.ErrRetryable, pushwire.ErrPermanent, pushwire.ErrConfiguration} {
		want := c == class || (class == pushwire.ErrConfiguration && c == pushwire.ErrPermanent)
		assert.Equal(t, want, errors.Is(err, c), "errors.Is(%v, %v)", err, c)
	}
}

// assertReason checks that err is an *apns.Error with the given reason.
func assertReason(t *testing.T, err error, reason apns.Reason) {
	t.Helper()
	var ae *apns.Error
	if assert.ErrorAs(t, err, &ae) {
		assert.Equal(t, reason, ae.Reason)
	}
}
