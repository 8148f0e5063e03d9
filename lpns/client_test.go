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
	clk := newClock()
	codes := make(chan int, 8)
	c, err := lpns.Dial(context.Background(), lpns.WithClientClock(lpns.ClientConfig{URLs: []string{wsURL(ts.URL)},
		Token: staticToken("x"), Handler: newNotifications().handler, KeepaliveInterval: 4 * time.Second,
		MinBackoff: 10 * time.Millisecond, OnDisconnect: func(_ string, code int, _ string) { codes <- code }}, clk))
	require.NoError(t, err)
	defer c.Close()
	// Nothing arrives: after two and a half intervals (10 s) the client
	// drops the connection. The clock moves on until it has.
	var code int
	require.Eventually(t, func() bool {
		select {
		case code = <-codes:
			return true
		default:
			clk.Advance(time.Second)
			return false
		}
	}, 5*time.Second, time.Millisecond, "client kept a silent connection")
	assert.Equal(t, 1006, code, "dropped without a closing handshake")
	assert.GreaterOrEqual(t, clk.Now().Sub(time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)), 10*time.Second,
		"not before two and a half intervals of silence")
	require.Eventually(t, func() bool { clk.Advance(10 * time.Millisecond); return accepted.Load() >= 2 },
		5*time.Second, time.Millisecond, "reconnected")
}

// A server frame that is not a valid hello fails the connection attempt.
func TestClientRejectsBadHello(t *testing.T) {
	var attempts atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{lpns.Subprotocol}})
		if err != nil {
			return
		}
		attempts.Add(1)
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"keepalive-ack"}`))
		_, _, _ = c.Read(r.Context())
	}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { // give up after two attempts
		for ctx.Err() == nil && attempts.Load() < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := lpns.Dial(ctx, lpns.ClientConfig{URLs: []string{wsURL(ts.URL)}, Token: staticToken("x"),
		Handler: newNotifications().handler, MinBackoff: 10 * time.Millisecond})
	assert.ErrorIs(t, err, context.Canceled, "Dial fails only when its context ends")
	assert.GreaterOrEqual(t, attempts.Load(), int32(2), "the client kept trying")
}

func TestClientWaitConnected(t *testing.T) {
	a := newTestServer(t, lpns.Config{NodeID: "a"})
	b := newTestServer(t, lpns.Config{NodeID: "b"})
	c, err := lpns.NewClient(lpns.ClientConfig{URLs: []string{a.url, b.url},
		Token: staticToken(testToken("dev-1", 0)), Handler: newNotifications().handler, MinBackoff: time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url, err := c.WaitConnected(ctx)
	require.NoError(t, err)
	assert.Equal(t, a.url, url)
	again, err := c.WaitConnected(ctx)
	require.NoError(t, err)
	assert.Equal(t, a.url, again, "returns at once while connected")

	// After its node went away the client waits for the next connection.
	require.NoError(t, a.Close())
	eventually(t, func() bool { u, err := c.WaitConnected(ctx); return err == nil && u == b.url }, "connected to b")

	_, err = b.Disconnect(ctx, "dev-1", lpns.ReasonDeviceDeleted)
	require.NoError(t, err)
	<-c.Done()
	_, err = c.WaitConnected(ctx)
	assert.ErrorIs(t, err, lpns.ErrClientStopped, "a stopped client reports why")

	// A context that ends first.
	idle, err := lpns.NewClient(lpns.ClientConfig{URLs: []string{"ws://127.0.0.1:1/"}, Token: staticToken("x"),
		Handler: newNotifications().handler})
	require.NoError(t, err)
	defer idle.Close()
	short, stop := context.WithCancel(context.Background())
	stop()
	_, err = idle.WaitConnected(short)
	assert.ErrorIs(t, err, context.Canceled)
}
