package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/lpns"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPrintsAndAcks(t *testing.T) {
	srv, err := lpns.NewServer(context.Background(), lpns.Config{Authenticator: lpns.AuthenticatorFunc(
		func(_ context.Context, _ *http.Request, tok string) (lpns.Identity, error) {
			if tok != "phone-token" {
				return lpns.Identity{}, lpns.ErrTokenInvalid
			}
			return lpns.Identity{DeviceID: "phone-1"}, nil
		}), NodeID: "node-a"})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	out := &testenv.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-url", "ws" + strings.TrimPrefix(ts.URL, "http"), "-token", "phone-token"}, out, io.Discard)
	}()
	require.Eventually(t, func() bool { return srv.Count() == 1 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, srv.SendNotification(context.Background(), "phone-1", "n-1", []byte(`{"caller":"1001"}`)))
	cancel()
	assert.Equal(t, 0, <-done)
	assert.Contains(t, out.String(), `notification n-1 from node-a: {"caller":"1001"}`)
	assert.Contains(t, out.String(), "connected to ws://")
}

func TestUsage(t *testing.T) {
	assert.Equal(t, 2, run(context.Background(), []string{"-url", "ws://127.0.0.1:1/"}, io.Discard, io.Discard))
	assert.Equal(t, 2, run(context.Background(), []string{"-token", "x"}, io.Discard, io.Discard))
}
