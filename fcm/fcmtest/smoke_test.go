package fcmtest_test

import (
	"context"
	"testing"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/stretchr/testify/require"
)

func TestSmoke(t *testing.T) {
	for _, tls := range []bool{false, true} {
		srv := fcmtest.NewServer(fcmtest.Config{TLS: tls})
		defer srv.Close()
		c, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), Endpoint: srv.URL, HTTPClient: srv.Client()})
		require.NoError(t, err)
		for i := 0; i < 3; i++ {
			require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "tok-1", Data: map[string]string{"a": "b"}}))
		}
		require.Len(t, srv.Messages(), 3)
		require.Equal(t, 1, srv.TokenRequests())
	}
}
