package fcm_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
)

type ctxKey struct{}

// New uses its context only while it runs: the client keeps neither it nor
// its values (a request-scoped value of the caller must not live as long as
// the client, nor reach its later token fetches). The value becomes garbage
// once New has returned, while the client is still in use.
func TestNewDoesNotKeepContext(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	collected := make(chan struct{})
	var c *fcm.Client
	func() {
		v := &[64]byte{}
		runtime.AddCleanup(v, func(ch chan struct{}) { close(ch) }, collected)
		ctx := context.WithValue(context.Background(), ctxKey{}, v)
		var err error
		c, err = fcm.New(ctx, fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL, HTTPClient: srv.Client()})
		require.NoError(t, err)
	}()
	defer c.Close()
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "tok"}), "the send fetches a token")
	// A bounded wait for the collector, not a timing assertion: the value
	// is either unreachable (collected at the first cycles) or never.
	for i := 0; i < 100; i++ {
		runtime.GC()
		select {
		case <-collected:
			runtime.KeepAlive(c)
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	runtime.KeepAlive(c)
	t.Fatal("the value of New's context is still reachable from the client")
}

// New refuses to start with a context that has already ended.
func TestNewWithEndedContext(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := fcm.New(ctx, fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
	assert.ErrorIs(t, err, context.Canceled)
}
