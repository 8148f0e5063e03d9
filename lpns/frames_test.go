package lpns_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/lpns"
)

// sendFragmented writes msg as one text message in fragments of at most n
// bytes (one WebSocket frame per fragment).
func (rc *rawConn) sendFragmented(msg string, n int) {
	rc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w, err := rc.c.Writer(ctx, websocket.MessageText)
	require.NoError(rc.t, err)
	for len(msg) > 0 {
		k := min(n, len(msg))
		_, err = w.Write([]byte(msg[:k]))
		if err != nil {
			return // closed by the server
		}
		msg = msg[k:]
	}
	_ = w.Close()
}

// closeOf reads until the connection closes and returns the last error
// frame and the close frame (code and reason).
func (rc *rawConn) closeOf() (lpns.Frame, websocket.CloseError) {
	var last lpns.Frame
	for {
		f, err := rc.read()
		if err != nil && !errors.Is(err, lpns.ErrBadFrame) {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				ce.Code = -1
			}
			return last, ce
		}
		if f.Type == lpns.FrameError {
			last = f
		}
	}
}

// expectAck sends a keepalive and requires its keepalive-ack.
func (rc *rawConn) expectAck() {
	rc.t.Helper()
	rc.send(lpns.Frame{Type: lpns.FrameKeepalive})
	f, err := rc.read()
	require.NoError(rc.t, err)
	require.Equal(rc.t, lpns.FrameKeepaliveAck, f.Type)
}

// keepaliveOf is a keepalive message of exactly n bytes.
func keepaliveOf(n int) string {
	const head, tail = `{"type":"keepalive","pad":"`, `"}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

// The size limit applies to a whole message, however it is fragmented, and
// a fragmented message counts once against the frame rate.
func TestLimitsApplyToMessages(t *testing.T) {
	clk := newClock() // the rate bucket does not refill while the clock stands
	srv := newTestServer(t, lpns.WithClock(lpns.Config{MaxFrameBytes: 1024, FrameRate: 1, FrameBurst: 3}, clk))

	t.Run("size: at the limit, in fragments", func(t *testing.T) {
		rc, _ := rawDial(t, srv.url, testToken("size-ok", 0))
		rc.sendFragmented(keepaliveOf(1024), 100)
		f, err := rc.read()
		require.NoError(t, err)
		assert.Equal(t, lpns.FrameKeepaliveAck, f.Type)
	})
	t.Run("size: one byte over, each fragment small", func(t *testing.T) {
		rc, _ := rawDial(t, srv.url, testToken("size-over", 0))
		rc.sendFragmented(keepaliveOf(1025), 100)
		_, ce := rc.closeOf()
		assert.Equal(t, websocket.StatusMessageTooBig, ce.Code)
	})
	t.Run("rate: a message of 30 fragments counts once", func(t *testing.T) {
		rc, _ := rawDial(t, srv.url, testToken("frags", 0))
		rc.sendFragmented(keepaliveOf(300), 10) // 30 frames
		f, err := rc.read()
		require.NoError(t, err)
		require.Equal(t, lpns.FrameKeepaliveAck, f.Type)
		rc.expectAck()
		rc.expectAck() // three messages: the burst
		rc.send(lpns.Frame{Type: lpns.FrameKeepalive})
		errFrame, ce := rc.closeOf()
		assert.Equal(t, lpns.CloseRateLimited, int(ce.Code))
		assert.Equal(t, "rate-limited", errFrame.Reason)
	})
}

// The frame-rate limit is per connection; the message over it is dropped
// (not processed: a keepalive over it gets no keepalive-ack) and the
// connection closed with 4429.
func TestFrameRatePerConnection(t *testing.T) {
	clk := newClock()
	rec := &recorder{}
	srv := newTestServer(t, lpns.WithClock(lpns.Config{FrameRate: 1, FrameBurst: 3, Hooks: rec.hooks()}, clk))
	a, _ := rawDial(t, srv.url, testToken("a", 0))
	b, _ := rawDial(t, srv.url, testToken("b", 0))
	for range 3 { // at the burst
		a.expectAck()
	}
	a.send(lpns.Frame{Type: lpns.FrameKeepalive}) // just over
	f, err := a.read()
	require.NoError(t, err)
	assert.Equal(t, lpns.FrameError, f.Type, "the keepalive over the limit was not answered")
	assert.Equal(t, 429, f.Code)
	_, ce := a.closeOf()
	assert.Equal(t, lpns.CloseRateLimited, int(ce.Code))
	assert.Equal(t, "rate-limited", ce.Reason)

	// b has its own bucket: a's flood did not spend it.
	for range 3 {
		b.expectAck()
	}
	// The bucket refills at FrameRate: one more after a second.
	clk.Advance(time.Second)
	b.expectAck()
	// OnDisconnect runs after the session left the count: wait for it.
	eventually(t, func() bool { return len(rec.snapshot().disconnects) == 1 }, "a is gone")
	assert.Equal(t, []int{lpns.CloseRateLimited}, rec.snapshot().disconnects)
	assert.Equal(t, 1, srv.Count())
}

// A client message with a known field of the wrong JSON type, or without
// a required field, is a bad frame (error 400, close 4400), whatever the
// frame type; so is a text field over 512 bytes.
func TestBadFieldsCloseWith4400(t *testing.T) {
	srv := newTestServer(t, lpns.Config{})
	tests := []struct{ name, msg string }{
		{"id a number", `{"type":"ack","id":5}`},
		{"id null", `{"type":"ack","id":null}`},
		{"token a number", `{"type":"refresh","token":12345}`},
		{"type a number", `{"type":5}`},
		{"keepalive a string on a keepalive", `{"type":"keepalive","keepalive":"120"}`},
		{"keepalive a fraction", `{"type":"keepalive","keepalive":1.5}`},
		{"createdAt not RFC 3339", `{"type":"ack","id":"n","createdAt":"yesterday"}`},
		{"reason over 512 bytes on a keepalive", `{"type":"keepalive","reason":"` + strings.Repeat("r", 513) + `"}`},
		{"refresh without token", `{"type":"refresh"}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, _ := rawDial(t, srv.url, testToken("dev-"+string(rune('a'+i)), 0))
			rc.sendRaw(websocket.MessageText, []byte(tt.msg))
			errFrame, ce := rc.closeOf()
			assert.Equal(t, lpns.CloseBadFrame, int(ce.Code))
			assert.Equal(t, "bad-frame", ce.Reason)
			assert.Equal(t, 400, errFrame.Code)
			assert.Equal(t, "bad-frame", errFrame.Reason)
		})
	}
	rc, _ := rawDial(t, srv.url, testToken("fine", 0))
	rc.sendRaw(websocket.MessageText, []byte(`{"type":"keepalive","reason":"`+strings.Repeat("r", 512)+`","future":{"x":1}}`))
	f, err := rc.read()
	require.NoError(t, err)
	assert.Equal(t, lpns.FrameKeepaliveAck, f.Type, "512 bytes and unknown fields are accepted")
}

func TestRefreshRules(t *testing.T) {
	clk := newClock()
	const window = 10 * time.Second
	srv := newTestServer(t, lpns.WithClock(lpns.Config{KeepaliveTimeout: window}, clk))
	refresh := func(rc *rawConn, tok string) lpns.Frame {
		t.Helper()
		rc.send(lpns.Frame{Type: lpns.FrameRefresh, Token: tok})
		f, err := rc.read()
		require.NoError(t, err)
		require.Equal(t, lpns.FrameRefreshAck, f.Type)
		return f
	}
	session := func(dev string) lpns.SessionInfo {
		for _, s := range srv.Sessions() {
			if s.DeviceID == dev {
				return s
			}
		}
		return lpns.SessionInfo{}
	}

	t.Run("the same token again is accepted", func(t *testing.T) {
		tok := testTokenAt("same", clk.Now().Add(time.Hour))
		rc, hello := rawDial(t, srv.url, tok)
		f := refresh(rc, tok)
		assert.Equal(t, hello.ExpiresAt, f.ExpiresAt)
	})
	t.Run("a refresh does not reset the keepalive window", func(t *testing.T) {
		rc, _ := rawDial(t, srv.url, testTokenAt("window", clk.Now().Add(time.Hour)))
		clk.Advance(window / 2)
		refresh(rc, testTokenAt("window", clk.Now().Add(2*time.Hour)))
		clk.Advance(window / 2) // a full window since the last keepalive (the connection)
		errFrame, ce := rc.closeOf()
		assert.Equal(t, lpns.CloseUnauthorized, int(ce.Code))
		assert.Equal(t, "keepalive-timeout", errFrame.Reason)
		assert.Equal(t, "keepalive-timeout", ce.Reason, "the close reason is the error frame's reason")
	})
	t.Run("the new token's expiry replaces the old one, earlier or none", func(t *testing.T) {
		rc, _ := rawDial(t, srv.url, testTokenAt("expiry", clk.Now().Add(time.Hour)))
		f := refresh(rc, testTokenAt("expiry", time.Time{}))
		assert.True(t, f.ExpiresAt.IsZero(), "a token without expiry: no expiresAt")
		assert.True(t, session("expiry").ExpiresAt.IsZero())
		earlier := clk.Now().Add(time.Second)
		f = refresh(rc, testTokenAt("expiry", earlier))
		assert.Equal(t, earlier, f.ExpiresAt)
		clk.Advance(time.Second)
		errFrame, ce := rc.closeOf()
		assert.Equal(t, lpns.CloseUnauthorized, int(ce.Code))
		assert.Equal(t, "token-expired", errFrame.Reason)
	})
	t.Run("an expired token is refused", func(t *testing.T) {
		rc, _ := rawDial(t, srv.url, testTokenAt("stale", clk.Now().Add(time.Hour)))
		rc.send(lpns.Frame{Type: lpns.FrameRefresh, Token: testTokenAt("stale", clk.Now())})
		errFrame, ce := rc.closeOf()
		assert.Equal(t, lpns.CloseUnauthorized, int(ce.Code))
		assert.Equal(t, "token-expired", errFrame.Reason)
	})
}
