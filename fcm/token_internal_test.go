package fcm

import (
	"context"
	"testing"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With a valid cached token, a send's token look-up neither allocates nor
// starts a fetch.
func TestCachedTokenLookUpIsFree(t *testing.T) {
	srv := fcmtest.NewServer(fcmtest.Config{})
	defer srv.Close()
	c, err := New(context.Background(), Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
	ctx := context.Background()
	first, err := c.headers(ctx)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		a, err := c.headers(ctx)
		if err != nil || a != first {
			t.Error("the cached headers were not used")
		}
	})
	assert.Zero(t, allocs)
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Nil(t, c.fetch, "no token fetch started")
	assert.Equal(t, 1, srv.TokenRequests())
}
