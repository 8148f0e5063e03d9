package fcm_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/stretchr/testify/require"
)

// One RSA key for all fakes of the test binary keeps the tests fast.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newServer(t testing.TB, cfg fcmtest.Config) *fcmtest.Server {
	t.Helper()
	if cfg.PrivateKey == nil {
		cfg.PrivateKey = testKey()
	}
	srv := fcmtest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

// newClient builds a client for srv; edit adjusts the config first.
func newClient(t testing.TB, srv *fcmtest.Server, edit func(*fcm.Config)) *fcm.Client {
	t.Helper()
	cfg := fcm.Config{
		CredentialsJSON: srv.ServiceAccountJSON(),
		BaseURL:         srv.URL,
		HTTPClient:      srv.Client(),
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := fcm.New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sleepRecorder is a RetryPolicy.Sleep that records delays without waiting.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.delays = append(r.delays, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *sleepRecorder) Delays() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.delays...)
}

func ptr[T any](v T) *T { return &v }

type rsaKey = rsa.PrivateKey

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return k
}
