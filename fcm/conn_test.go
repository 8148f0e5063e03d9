package fcm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"sync"
	"testing"

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
	tr := newTransport(8, true)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	c, err := New(context.Background(), Config{
		CredentialsJSON: srv.ServiceAccountJSON(), Endpoint: srv.URL,
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
