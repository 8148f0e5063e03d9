package fcm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire/internal/conntrack"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The client's own transport (batched writes) over TLS and HTTP/2: many
// concurrent sends arrive intact.
func TestOwnTransportOverHTTP2(t *testing.T) {
	srv := fcmtest.NewServer(fcmtest.Config{TLS: true})
	defer srv.Close()
	tr := newTransport(8, true, new(conntrack.Set))
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	c, err := New(context.Background(), Config{
		CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL,
		HTTPClient: &http.Client{Transport: tr}, MaxConcurrency: 8,
	})
	require.NoError(t, err)
	defer tr.CloseIdleConnections()
	defer c.Close()
	const n = 300
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Send(context.Background(), pushwire.Message{
				Token: fmt.Sprintf("tok-%d", i), Data: map[string]string{"i": fmt.Sprint(i)}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, i)
	}
	got := srv.Messages()
	require.Len(t, got, n)
	for _, r := range got {
		assert.Equal(t, "tok-"+r.Message.Data["i"], r.Message.Token)
	}
	assert.Equal(t, 1, srv.Connections(), "one HTTP/2 connection")
}

// Close or Shutdown during a send: the connection the send was using is
// busy then, so closing the idle connections skips it; it is closed when
// the send ends, not left open until the transport's idle timeout.
// Shutdown lets the send complete; Close cancels it and waits for it.
func TestCloseClosesConnectionBusyAtClose(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		for _, graceful := range []bool{false, true} {
			t.Run(fmt.Sprint("tls=", useTLS, ",shutdown=", graceful), func(t *testing.T) {
				arrived := make(chan struct{}, 1)
				release := make(chan struct{})
				srv := fcmtest.NewServer(fcmtest.Config{TLS: useTLS, OnMessage: func(fcmtest.Received) {
					arrived <- struct{}{}
					<-release // hold the answer until the client is closing
				}})
				defer srv.Close()
				c, err := New(context.Background(), Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
				require.NoError(t, err)
				require.NotNil(t, c.transport, "the client's own transport")
				if useTLS {
					pool := x509.NewCertPool()
					pool.AddCert(srv.Certificate())
					c.transport.TLSClientConfig = &tls.Config{RootCAs: pool}
				}
				done := make(chan error, 1)
				go func() { done <- c.Send(context.Background(), pushwire.Message{Token: "t"}) }()
				<-arrived
				require.GreaterOrEqual(t, srv.OpenConnections(), 1, "the send's connection")
				if graceful {
					shut := make(chan error, 1)
					go func() { shut <- c.Shutdown(context.Background()) }()
					require.Eventually(t, c.sends.Refused, 10*time.Second, time.Millisecond, "Shutdown began")
					assert.ErrorIs(t, c.Send(context.Background(), pushwire.Message{Token: "u"}), pushwire.ErrClosed)
					close(release)
					require.NoError(t, <-done, "Shutdown lets a send in flight complete")
					require.NoError(t, <-shut)
				} else {
					require.NoError(t, c.Close())
					close(release)
					err := <-done
					assert.ErrorIs(t, err, pushwire.ErrClosed, "Close cancels a send in flight")
					assert.ErrorIs(t, err, pushwire.ErrUnknownOutcome, "its request was written")
				}
				assert.Eventually(t, func() bool { return srv.OpenConnections() == 0 }, 10*time.Second, 5*time.Millisecond,
					"the connection busy at Close is closed once the send ends")
			})
		}
	}
}
