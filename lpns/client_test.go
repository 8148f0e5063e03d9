package lpns_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/lpns"
)

// A server that greets and then stays silent, like a half-open socket, is
// dropped by the client, which reconnects.
func TestClientDropsSilentServer(t *testing.T) {
	var accepted atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{lpns.Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		accepted.Add(1)
		_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"hello","node":"mute","keepalive":120}`))
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				return // keepalives are read and never answered
			}
		}
	}))
	defer ts.Close()
	codes := make(chan int, 8)
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{wsURL(ts.URL)},
		Token: staticToken("x"), Handler: newNotifications().handler, KeepaliveInterval: 100 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, OnDisconnect: func(_ string, code int, _ string) { codes <- code }})
	require.NoError(t, err)
	defer c.Close()
	select {
	case code := <-codes:
		assert.Equal(t, 1006, code, "dropped without a closing handshake")
	case <-time.After(5 * time.Second):
		t.Fatal("client kept a silent connection")
	}
	require.Eventually(t, func() bool { return accepted.Load() >= 2 }, 5*time.Second, 10*time.Millisecond, "reconnected")
}

// A server frame that is not a valid hello fails the connection attempt.
func TestClientRejectsBadHello(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{lpns.Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"keepalive-ack"}`))
		_, _, _ = c.Read(r.Context())
	}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := lpns.Dial(ctx, lpns.ClientConfig{URLs: []string{wsURL(ts.URL)}, Token: staticToken("x"),
		Handler: newNotifications().handler, MinBackoff: 10 * time.Millisecond})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
