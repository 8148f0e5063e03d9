package lpns_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/lpns"
)

func TestSendAcknowledged(t *testing.T) {
	rec := &recorder{}
	srv := newTestServer(t, lpns.Config{Hooks: rec.hooks()})
	got := newNotifications()
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{srv.url},
		Token: staticToken(testToken("dev-1", time.Hour)), Handler: got.handler})
	require.NoError(t, err)
	defer c.Close()

	err = srv.Send(context.Background(), pushwire.Message{Token: "dev-1", ID: "n-1", Kind: pushwire.KindVoIP,
		Data: map[string]string{"caller": "1001"}})
	require.NoError(t, err)
	n := <-got.ch
	assert.Equal(t, "n-1", n.ID)
	assert.Equal(t, srv.NodeID(), n.Node)
	var p map[string]any
	require.NoError(t, json.Unmarshal(n.Payload, &p))
	assert.Equal(t, "voip", p["kind"])
	assert.Equal(t, map[string]any{"caller": "1001"}, p["data"])

	require.NoError(t, srv.SendPayload(context.Background(), "dev-1", []byte(`{"call":"x"}`)))
	n = <-got.ch
	assert.JSONEq(t, `{"call":"x"}`, string(n.Payload))
	assert.Equal(t, []lpns.Outcome{lpns.OutcomeAcked, lpns.OutcomeAcked}, rec.snapshot().sends)
}

// Every send refused before anything is written: its error, its class, and
// the outcome reported to OnSend (never routed).
func TestSendErrors(t *testing.T) {
	log := &sendLog{}
	srv := newTestServer(t, lpns.Config{MaxPayloadBytes: 64, Hooks: log.hooks()})
	rawDial(t, srv.url, testToken("dev-1", 0))
	long := strings.Repeat("i", 129) // one over the id limit
	tests := []struct {
		name    string
		device  string
		id      string
		payload string
		want    error
		class   error
		outcome lpns.Outcome
	}{
		{"not connected", "nobody", "n", `{}`, lpns.ErrNotConnected, pushwire.ErrRetryable, lpns.OutcomeNotConnected},
		{"too large", "dev-1", "n", `{"x":"` + strings.Repeat("a", 100) + `"}`, lpns.ErrPayloadTooLarge, pushwire.ErrPermanent, lpns.OutcomeTooLarge},
		{"not json", "dev-1", "n", `{nope`, lpns.ErrInvalidPayload, pushwire.ErrPermanent, lpns.OutcomeInvalid},
		{"empty device", "", "n", `{}`, lpns.ErrInvalidPayload, pushwire.ErrPermanent, lpns.OutcomeInvalid},
		{"device id too long", long, "n", `{}`, lpns.ErrInvalidPayload, pushwire.ErrPermanent, lpns.OutcomeInvalid},
		{"empty notification id", "dev-1", "", `{}`, lpns.ErrInvalidPayload, pushwire.ErrPermanent, lpns.OutcomeInvalid},
		{"notification id too long", "dev-1", long, `{}`, lpns.ErrInvalidPayload, pushwire.ErrPermanent, lpns.OutcomeInvalid},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := srv.SendNotification(context.Background(), tt.device, tt.id, []byte(tt.payload))
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.want)
			assert.ErrorIs(t, err, tt.class)
			assert.NotErrorIs(t, err, pushwire.ErrUnknownOutcome)
			assert.NotContains(t, err.Error(), "dev-1", "device ids are redacted")
			assert.Equal(t, sent{tt.outcome, false}, log.all()[i])
		})
	}
}

// The id and payload limits: at the limit a notification is delivered, one
// over it is refused (TestSendErrors).
func TestSendLimits(t *testing.T) {
	log := &sendLog{}
	srv := newTestServer(t, lpns.Config{MaxPayloadBytes: 64, Hooks: log.hooks()})
	got := newNotifications()
	maxID := strings.Repeat("d", 128)
	for _, dev := range []string{"dev-1", maxID} {
		c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{srv.url},
			Token: staticToken(testToken(dev, 0)), Handler: got.handler})
		require.NoError(t, err)
		defer c.Close()
	}
	payload64 := `{"p":"` + strings.Repeat("a", 56) + `"}`
	require.Len(t, payload64, 64)
	tests := []struct{ name, device, id, payload string }{
		{"device id of 128 bytes", maxID, "n-1", `{}`},
		{"notification id of 128 bytes", "dev-1", strings.Repeat("n", 128), `{}`},
		{"payload of MaxPayloadBytes", "dev-1", "n-3", payload64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, srv.SendNotification(context.Background(), tt.device, tt.id, []byte(tt.payload)))
			n := <-got.ch
			assert.Equal(t, tt.id, n.ID)
			assert.JSONEq(t, tt.payload, string(n.Payload))
		})
	}
	assert.Equal(t, []sent{{lpns.OutcomeAcked, false}, {lpns.OutcomeAcked, false}, {lpns.OutcomeAcked, false}}, log.all())
}

// A closed server refuses every send with ErrServerClosed, before looking
// at it: the caller learns to send elsewhere, not that the send is bad.
func TestSendAfterClose(t *testing.T) {
	log := &sendLog{}
	srv := newTestServer(t, lpns.Config{MaxPayloadBytes: 64, Hooks: log.hooks()})
	require.NoError(t, srv.Close())
	tests := []struct{ name, device, id, payload string }{
		{"valid", "dev-1", "n", `{}`},
		{"not json", "dev-1", "n", `{nope`},
		{"too large", "dev-1", "n", `{"x":"` + strings.Repeat("a", 100) + `"}`},
		{"empty device", "", "n", `{}`},
		{"empty notification id", "dev-1", "", `{}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := srv.SendNotification(context.Background(), tt.device, tt.id, []byte(tt.payload))
			assert.ErrorIs(t, err, lpns.ErrServerClosed)
			assert.ErrorIs(t, err, pushwire.ErrClosed)
			assert.ErrorIs(t, err, pushwire.ErrRetryable)
			assert.NotErrorIs(t, err, pushwire.ErrPermanent)
			assert.NotErrorIs(t, err, pushwire.ErrUnknownOutcome)
			assert.Equal(t, sent{lpns.OutcomeNotConnected, false}, log.all()[i])
		})
	}
}

func TestAckTimeout(t *testing.T) {
	rec := &recorder{}
	srv := newTestServer(t, lpns.Config{AckTimeout: 100 * time.Millisecond, Hooks: rec.hooks()})
	rc, _ := rawDial(t, srv.url, testToken("dev-1", 0))
	err := srv.SendPayload(context.Background(), "dev-1", []byte(`{}`))
	require.ErrorIs(t, err, lpns.ErrNotAcknowledged)
	assert.ErrorIs(t, err, pushwire.ErrRetryable)
	f, err := rc.read()
	require.NoError(t, err)
	require.Equal(t, lpns.FrameNotification, f.Type)
	rc.send(lpns.Frame{Type: lpns.FrameAck, ID: f.ID}) // too late
	eventually(t, func() bool { return rec.snapshot().lateAcks == 1 }, "late ack reported")
	assert.Equal(t, []lpns.Outcome{lpns.OutcomeNotAcked}, rec.snapshot().sends)
}

func TestConnectionClosedBeforeAck(t *testing.T) {
	srv := newTestServer(t, lpns.Config{AckTimeout: 5 * time.Second})
	rc, _ := rawDial(t, srv.url, testToken("dev-1", 0))
	go func() {
		f, err := rc.read()
		if err == nil && f.Type == lpns.FrameNotification {
			_ = rc.c.CloseNow()
		}
	}()
	err := srv.SendPayload(context.Background(), "dev-1", []byte(`{}`))
	require.ErrorIs(t, err, lpns.ErrNotAcknowledged)
}

func TestKeepaliveTimeout(t *testing.T) {
	rec := &recorder{}
	clk := newClock()
	const window = 10 * time.Second
	srv := newTestServer(t, lpns.WithClock(lpns.Config{KeepaliveTimeout: window, Hooks: rec.hooks()}, clk))

	// A silent client is closed with an error frame (401) and 4401 when
	// the window ends, not before.
	rc, hello := rawDial(t, srv.url, testToken("silent", 0))
	assert.Equal(t, 10, hello.Keepalive, "window announced in seconds")
	clk.Advance(window - time.Millisecond)
	assert.Empty(t, rec.snapshot().timeouts, "just under the window")
	clk.Advance(time.Millisecond)
	errFrame, code := rc.waitClose()
	assert.Equal(t, lpns.CloseUnauthorized, code)
	assert.Equal(t, 401, errFrame.Code)
	assert.Equal(t, "keepalive-timeout", errFrame.Reason)
	assert.Equal(t, []string{"silent"}, rec.snapshot().timeouts)

	// A client sending keepalives stays connected past several windows,
	// each keepalive just under the window after the one before.
	rc2, _ := rawDial(t, srv.url, testToken("alive", 0))
	for range 5 {
		clk.Advance(window - time.Millisecond)
		rc2.send(lpns.Frame{Type: lpns.FrameKeepalive})
		f, err := rc2.read()
		require.NoError(t, err)
		require.Equal(t, lpns.FrameKeepaliveAck, f.Type)
	}
	eventually(t, func() bool { return srv.Count() == 1 }, "the silent session is gone")
	assert.Equal(t, "alive", srv.Sessions()[0].DeviceID)
	assert.Equal(t, clk.Now(), srv.Sessions()[0].LastKeepalive)
	assert.Equal(t, []string{"silent"}, rec.snapshot().timeouts)
}

// The window is announced in whole seconds; a configured fraction is
// rounded up and the rounded window is the one enforced.
func TestKeepaliveWholeSeconds(t *testing.T) {
	tests := []struct {
		timeout  time.Duration
		announce int
	}{
		{600 * time.Millisecond, 1},
		{time.Second, 1},
		{1001 * time.Millisecond, 2},
		{1500 * time.Millisecond, 2},
		{2 * time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.timeout.String(), func(t *testing.T) {
			clk := newClock()
			srv := newTestServer(t, lpns.WithClock(lpns.Config{KeepaliveTimeout: tt.timeout}, clk))
			rc, hello := rawDial(t, srv.url, testToken("dev-1", 0))
			require.Equal(t, tt.announce, hello.Keepalive)
			window := time.Duration(tt.announce) * time.Second
			clk.Advance(window - time.Millisecond) // past the configured fraction, within the announced window
			rc.send(lpns.Frame{Type: lpns.FrameKeepalive})
			f, err := rc.read()
			require.NoError(t, err)
			require.Equal(t, lpns.FrameKeepaliveAck, f.Type)
			clk.Advance(window)
			errFrame, code := rc.waitClose()
			assert.Equal(t, lpns.CloseUnauthorized, code)
			assert.Equal(t, "keepalive-timeout", errFrame.Reason)
		})
	}
}

func TestClientKeepsAlive(t *testing.T) {
	clk := newClock()
	srv := newTestServer(t, lpns.WithClock(lpns.Config{KeepaliveTimeout: 10 * time.Second}, clk))
	disc := make(chan int, 4)
	const interval = 4 * time.Second
	c, err := lpns.Dial(context.Background(), lpns.WithClientClock(lpns.ClientConfig{URLs: []string{srv.url},
		Token: staticToken(testToken("dev-1", 0)), Handler: newNotifications().handler,
		KeepaliveInterval: interval, OnDisconnect: func(_ string, code int, _ string) { disc <- code }}, clk))
	require.NoError(t, err)
	defer c.Close()
	for range 7 { // 28 s: more than two windows
		waitDue(t, clk, clk.Now().Add(interval)) // the client's next keepalive
		clk.Advance(interval)
		now := clk.Now()
		eventually(t, func() bool { s := srv.Sessions(); return len(s) == 1 && s[0].LastKeepalive.Equal(now) }, "keepalive received")
	}
	select {
	case code := <-disc:
		t.Fatalf("disconnected with %d while keepalives flow", code)
	default:
	}
	require.NoError(t, srv.SendPayload(context.Background(), "dev-1", []byte(`{}`)))
}

func TestTokenExpiryWhileConnected(t *testing.T) {
	clk := newClock()
	srv := newTestServer(t, lpns.WithClock(lpns.Config{}, clk))
	rc, hello := rawDial(t, srv.url, testTokenAt("dev-1", clk.Now().Add(time.Minute)))
	assert.Equal(t, clk.Now().Add(time.Minute), hello.ExpiresAt)
	clk.Advance(time.Minute - time.Millisecond)
	rc.send(lpns.Frame{Type: lpns.FrameKeepalive})
	f, err := rc.read()
	require.NoError(t, err)
	require.Equal(t, lpns.FrameKeepaliveAck, f.Type, "still connected just before the expiry")
	clk.Advance(time.Millisecond)
	errFrame, code := rc.waitClose()
	assert.Equal(t, lpns.CloseUnauthorized, code)
	assert.Equal(t, 401, errFrame.Code)
	assert.Equal(t, "token-expired", errFrame.Reason)
}

func TestTokenRefresh(t *testing.T) {
	clk := newClock()
	srv := newTestServer(t, lpns.WithClock(lpns.Config{}, clk))
	t.Run("raw refresh extends the session", func(t *testing.T) {
		rc, _ := rawDial(t, srv.url, testTokenAt("dev-r", clk.Now().Add(time.Second)))
		rc.send(lpns.Frame{Type: lpns.FrameRefresh, Token: testTokenAt("dev-r", clk.Now().Add(time.Hour))})
		f, err := rc.read()
		require.NoError(t, err)
		require.Equal(t, lpns.FrameRefreshAck, f.Type)
		assert.Equal(t, clk.Now().Add(time.Hour), f.ExpiresAt)
		clk.Advance(2 * time.Second) // past the first token's expiry
		rc.send(lpns.Frame{Type: lpns.FrameKeepalive})
		f, err = rc.read()
		require.NoError(t, err)
		assert.Equal(t, lpns.FrameKeepaliveAck, f.Type)
	})
	t.Run("refresh for another device is refused", func(t *testing.T) {
		rc, _ := rawDial(t, srv.url, testToken("dev-s", time.Hour))
		rc.send(lpns.Frame{Type: lpns.FrameRefresh, Token: testToken("other", time.Hour)})
		errFrame, code := rc.waitClose()
		assert.Equal(t, lpns.CloseUnauthorized, code)
		assert.Equal(t, "wrong-device", errFrame.Reason)
	})
	t.Run("client refreshes through its callback", func(t *testing.T) {
		const lifetime, before = 10 * time.Second, 4 * time.Second
		var mu sync.Mutex
		calls := 0
		tok := func(context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			return testTokenAt("dev-c", clk.Now().Add(lifetime)), nil
		}
		disc := make(chan int, 4)
		c, err := lpns.Dial(context.Background(), lpns.WithClientClock(lpns.ClientConfig{URLs: []string{srv.url}, Token: tok,
			Handler: newNotifications().handler, RefreshBefore: before,
			OnDisconnect: func(_ string, code int, _ string) { disc <- code }}, clk))
		require.NoError(t, err)
		defer c.Close()
		session := func() lpns.SessionInfo {
			for _, s := range srv.Sessions() {
				if s.DeviceID == "dev-c" {
					return s
				}
			}
			return lpns.SessionInfo{}
		}
		for range 4 { // 24 s: two and a half token lifetimes
			// The client's refresh is due before the token ends.
			waitDue(t, clk, session().ExpiresAt.Add(-before))
			clk.Advance(lifetime - before)
			want := clk.Now().Add(lifetime)
			eventually(t, func() bool { return session().ExpiresAt.Equal(want) }, "token refreshed")
		}
		select {
		case code := <-disc:
			t.Fatalf("disconnected with %d although the token was refreshed", code)
		default:
		}
		mu.Lock()
		assert.GreaterOrEqual(t, calls, 3)
		mu.Unlock()
	})
}

func TestReplacement(t *testing.T) {
	rec := &recorder{}
	srv := newTestServer(t, lpns.Config{Hooks: rec.hooks()})
	first, _ := rawDial(t, srv.url, testToken("dev-1", 0))
	second, _ := rawDial(t, srv.url, testToken("dev-1", 0))
	errFrame, ce := first.closeOf()
	assert.Equal(t, lpns.CloseReplaced, int(ce.Code))
	assert.Equal(t, "replaced", ce.Reason)
	assert.Equal(t, 409, errFrame.Code)
	assert.Equal(t, "replaced", errFrame.Reason)
	assert.Equal(t, 1, srv.Count())

	go func() {
		f, err := second.read()
		if err == nil {
			second.send(lpns.Frame{Type: lpns.FrameAck, ID: f.ID})
		}
	}()
	require.NoError(t, srv.SendPayload(context.Background(), "dev-1", []byte(`{}`)), "the newer connection receives")
}

func TestDisconnectReasons(t *testing.T) {
	tests := []struct {
		reason lpns.DisconnectReason
		code   int
		status int
	}{
		{lpns.ReasonLoggedOut, lpns.CloseLoggedOut, 403},
		{lpns.ReasonUserDeleted, lpns.CloseUserGone, 410},
		{lpns.ReasonDeviceDeleted, lpns.CloseDeviceGone, 404},
		{lpns.ReasonNetworkChanged, lpns.CloseNetwork, 451},
		{lpns.ReasonUnauthorized, lpns.CloseUnauthorized, 401},
	}
	srv := newTestServer(t, lpns.Config{})
	for _, tt := range tests {
		t.Run(string(tt.reason), func(t *testing.T) {
			rc, _ := rawDial(t, srv.url, testToken("dev-"+string(tt.reason), 0))
			ok, err := srv.Disconnect(context.Background(), "dev-"+string(tt.reason), tt.reason)
			require.NoError(t, err)
			assert.True(t, ok)
			errFrame, ce := rc.closeOf()
			assert.Equal(t, tt.code, int(ce.Code))
			assert.Equal(t, string(tt.reason), ce.Reason, "close reason text")
			assert.Equal(t, tt.status, errFrame.Code)
			assert.Equal(t, string(tt.reason), errFrame.Reason)
		})
	}
	ok, err := srv.Disconnect(context.Background(), "nobody", lpns.ReasonLoggedOut)
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = srv.Disconnect(context.Background(), "nobody", "whatever")
	assert.ErrorIs(t, err, lpns.ErrInvalidPayload)

	t.Run("client stops for good", func(t *testing.T) {
		c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{srv.url},
			Token: staticToken(testToken("dev-client", 0)), Handler: newNotifications().handler})
		require.NoError(t, err)
		defer c.Close()
		eventually(t, func() bool { return srv.Count() == 1 }, "registered")
		_, err = srv.Disconnect(context.Background(), "dev-client", lpns.ReasonDeviceDeleted)
		require.NoError(t, err)
		<-c.Done()
		assert.ErrorIs(t, c.Err(), lpns.ErrClientStopped)
		assert.Contains(t, c.Err().Error(), "4404")
	})
}

func TestSessions(t *testing.T) {
	srv := newTestServer(t, lpns.Config{NodeID: "node-a"})
	rawDial(t, srv.url, testToken("b", 0))
	rawDial(t, srv.url, testToken("a", time.Hour))
	eventually(t, func() bool { return srv.Count() == 2 }, "two sessions")
	list := srv.Sessions()
	require.Len(t, list, 2)
	assert.Equal(t, "a", list[0].DeviceID)
	assert.Equal(t, "user-a", list[0].UserID)
	assert.Equal(t, "node-a", list[0].Node)
	assert.False(t, list[0].ExpiresAt.IsZero())
	assert.True(t, list[1].ExpiresAt.IsZero())
}

func TestUpgradeRejected(t *testing.T) {
	rec := &recorder{}
	srv := newTestServer(t, lpns.Config{Hooks: rec.hooks()})
	tests := []struct {
		name   string
		token  string
		proto  []string
		status int
		reason string
	}{
		{"missing token", "", []string{lpns.Subprotocol}, 401, "missing-token"},
		{"invalid token", "garbage", []string{lpns.Subprotocol}, 401, "invalid-token"},
		{"expired token", testToken("d", -time.Second), []string{lpns.Subprotocol}, 401, "token-expired"},
		{"no subprotocol", testToken("d", 0), nil, 400, "no-subprotocol"},
		{"other subprotocol", testToken("d", 0), []string{"lpns.v0"}, 400, "no-subprotocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.token != "" {
				h.Set("Authorization", "Bearer "+tt.token)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, srv.url, &websocket.DialOptions{HTTPHeader: h, Subprotocols: tt.proto})
			if c != nil {
				_ = c.CloseNow()
			}
			require.Error(t, err)
			require.NotNil(t, resp)
			assert.Equal(t, tt.status, resp.StatusCode)
			snap := rec.snapshot()
			assert.Equal(t, tt.reason, snap.authFails[len(snap.authFails)-1])
		})
	}
	assert.Equal(t, 0, srv.Count())
}

func TestHostileFrames(t *testing.T) {
	srv := newTestServer(t, lpns.Config{MaxFrameBytes: 1024, FrameRate: 1, FrameBurst: 5})
	tests := []struct {
		name string
		send func(rc *rawConn)
		code int
	}{
		{"not json", func(rc *rawConn) { rc.sendRaw(websocket.MessageText, []byte("hello")) }, lpns.CloseBadFrame},
		{"unknown type", func(rc *rawConn) { rc.sendRaw(websocket.MessageText, []byte(`{"type":"launch"}`)) }, lpns.CloseBadFrame},
		{"server frame from client", func(rc *rawConn) {
			rc.send(lpns.Frame{Type: lpns.FrameNotification, ID: "x", Payload: json.RawMessage(`{}`)})
		}, lpns.CloseBadFrame},
		{"ack without id", func(rc *rawConn) { rc.sendRaw(websocket.MessageText, []byte(`{"type":"ack"}`)) }, lpns.CloseBadFrame},
		{"binary frame", func(rc *rawConn) { rc.sendRaw(websocket.MessageBinary, []byte(`{"type":"keepalive"}`)) }, lpns.CloseBadFrame},
		{"oversized frame", func(rc *rawConn) {
			rc.sendRaw(websocket.MessageText, []byte(`{"type":"keepalive","x":"`+strings.Repeat("a", 2000)+`"}`))
		}, int(websocket.StatusMessageTooBig)},
		{"flood", func(rc *rawConn) {
			for range 50 {
				rc.send(lpns.Frame{Type: lpns.FrameKeepalive})
			}
		}, lpns.CloseRateLimited},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, _ := rawDial(t, srv.url, testToken("dev-"+string(rune('a'+i)), 0))
			tt.send(rc)
			_, code := rc.waitClose()
			assert.Equal(t, tt.code, code)
		})
	}
	eventually(t, func() bool { return srv.Count() == 0 }, "all hostile sessions gone")
	rawDial(t, srv.url, testToken("fine", 0)) // still serving
}

func TestSlowClient(t *testing.T) {
	srv := newTestServer(t, lpns.Config{WriteTimeout: 200 * time.Millisecond, AckTimeout: 20 * time.Millisecond})
	slow, _ := rawDial(t, srv.url, testToken("slow", 0)) // never reads again
	_ = slow
	fast := newNotifications()
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{srv.url},
		Token: staticToken(testToken("fast", 0)), Handler: fast.handler})
	require.NoError(t, err)
	defer c.Close()

	payload := []byte(`{"pad":"` + strings.Repeat("x", 4000) + `"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var closedOnce sync.Once
	slowClosed := make(chan struct{})
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				err := srv.SendPayload(ctx, "slow", payload)
				if errors.Is(err, lpns.ErrNotConnected) {
					closedOnce.Do(func() { close(slowClosed) })
					return
				}
			}
		}()
	}
	// Meanwhile the fast device keeps receiving.
	fastOK := 0
	for fastOK < 20 {
		select {
		case <-slowClosed:
			fastOK = 20
		default:
			if srv.SendPayload(ctx, "fast", []byte(`{}`)) == nil {
				fastOK++
			}
		}
	}
	select {
	case <-slowClosed:
	case <-ctx.Done():
		t.Fatal("slow client was never closed")
	}
	wg.Wait()
	eventually(t, func() bool { return srv.Count() == 1 }, "slow client removed")
	require.NoError(t, srv.SendPayload(context.Background(), "fast", []byte(`{}`)))
}

func TestShutdownSendsClientsElsewhere(t *testing.T) {
	a := newTestServer(t, lpns.Config{NodeID: "a"})
	b := newTestServer(t, lpns.Config{NodeID: "b"})
	codes := make(chan int, 8)
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{a.url, b.url},
		Token: staticToken(testToken("dev-1", 0)), Handler: newNotifications().handler,
		OnDisconnect: func(_ string, code int, _ string) { codes <- code }})
	require.NoError(t, err)
	defer c.Close()
	_, node, _ := c.Connected()
	require.Equal(t, "a", node)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, a.Shutdown(ctx))
	assert.Equal(t, lpns.CloseShutdown, <-codes)
	eventually(t, func() bool { _, n, ok := c.Connected(); return ok && n == "b" }, "moved to b")
	assert.ErrorIs(t, a.SendPayload(ctx, "dev-1", []byte(`{}`)), lpns.ErrServerClosed)
	require.NoError(t, b.SendPayload(ctx, "dev-1", []byte(`{}`)))
}

func TestClientStaysOnReachedNode(t *testing.T) {
	a := newTestServer(t, lpns.Config{NodeID: "a"})
	b := newTestServer(t, lpns.Config{NodeID: "b"})
	a.ts.Close() // primary down at start: connections refused
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{a.url, b.url},
		Token: staticToken(testToken("dev-1", 0)), Handler: newNotifications().handler,
		MinBackoff: 10 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	url, node, ok := c.Connected()
	require.True(t, ok)
	assert.Equal(t, b.url, url)
	assert.Equal(t, "b", node)
}

func TestNewServerValidates(t *testing.T) {
	_, err := lpns.NewServer(context.Background(), lpns.Config{})
	require.ErrorIs(t, err, pushwire.ErrConfiguration)
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	_, err = lpns.NewServer(context.Background(), lpns.Config{Authenticator: testAuth, AckTimeout: -1})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	_, err = lpns.NewClient(lpns.ClientConfig{})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
}

func TestAcksAreNotRateLimited(t *testing.T) {
	srv := newTestServer(t, lpns.Config{FrameRate: 1, FrameBurst: 2})
	got := newNotifications()
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{srv.url},
		Token: staticToken(testToken("busy", 0)), Handler: got.handler})
	require.NoError(t, err)
	defer c.Close()
	for i := range 50 {
		require.NoError(t, srv.SendPayload(context.Background(), "busy", []byte(`{}`)), "notification %d", i)
	}
	assert.Equal(t, 1, srv.Count())
}

func TestAuthTimeout(t *testing.T) {
	rec := &recorder{}
	slow := lpns.AuthenticatorFunc(func(ctx context.Context, _ *http.Request, _ string) (lpns.Identity, error) {
		<-ctx.Done() // an identity provider that never answers
		return lpns.Identity{}, ctx.Err()
	})
	srv := newTestServer(t, lpns.Config{Authenticator: slow, AuthTimeout: 100 * time.Millisecond, Hooks: rec.hooks()})
	h := http.Header{}
	h.Set("Authorization", "Bearer whatever")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, srv.url, &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{lpns.Subprotocol}})
	if c != nil {
		_ = c.CloseNow()
	}
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, []string{"auth-error"}, rec.snapshot().authFails)
}

func TestShutdownDeadline(t *testing.T) {
	srv := newTestServer(t, lpns.Config{})
	// A client that never answers the closing handshake.
	rc, _ := rawDial(t, srv.url, testToken("stubborn", 0))
	_ = rc
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := srv.Shutdown(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 0, srv.Count())
	_, err = lpns.NewServer(context.Background(), lpns.Config{Authenticator: testAuth}) // unrelated servers still start
	assert.NoError(t, err)
}

// A replaced connection whose client never reads keeps its closing
// handshake (4409) waiting for the library's 5 s timeout; Close and
// Shutdown past its deadline cut it like any other.
func TestCloseCutsReplacedSessions(t *testing.T) {
	t.Run("Close", func(t *testing.T) {
		srv := newTestServer(t, lpns.Config{})
		rawDial(t, srv.url, testToken("dev-1", 0)) // never reads again
		rawDial(t, srv.url, testToken("dev-1", 0))
		start := time.Now()
		require.NoError(t, srv.Close())
		assert.Less(t, time.Since(start), 2*time.Second, "Close closes every connection at once")
	})
	t.Run("Shutdown deadline", func(t *testing.T) {
		srv := newTestServer(t, lpns.Config{})
		rawDial(t, srv.url, testToken("dev-1", 0)) // never reads again
		rawDial(t, srv.url, testToken("dev-1", 0)) // nor this one
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		assert.ErrorIs(t, srv.Shutdown(ctx), context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 2*time.Second, "connections are cut at the deadline")
	})
	t.Run("Close during Shutdown", func(t *testing.T) {
		srv := newTestServer(t, lpns.Config{})
		rawDial(t, srv.url, testToken("dev-1", 0)) // never answers the 4503 close
		shut := shutdownBegun(t, srv.Server)
		start := time.Now()
		require.NoError(t, srv.Close())
		assert.Less(t, time.Since(start), 2*time.Second, "Close cuts the connection Shutdown waits for")
		select {
		case err := <-shut:
			assert.NoError(t, err)
		case <-time.After(2 * time.Second):
			t.Fatal("Shutdown did not return after Close")
		}
	})
}

// A connection upgraded after Close began (its authentication was slow) is
// cut too, not left in a closing handshake with a client that never reads.
func TestCloseCutsUpgradeRacingIt(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	auth := lpns.AuthenticatorFunc(func(ctx context.Context, r *http.Request, tok string) (lpns.Identity, error) {
		close(entered)
		<-release
		return testAuth(ctx, r, tok)
	})
	srv, err := lpns.NewServer(context.Background(), lpns.Config{Authenticator: auth})
	require.NoError(t, err)
	returned := make(chan struct{})
	ts := newHTTPTest(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(returned)
		srv.ServeHTTP(w, r)
	}))
	defer ts.Close()

	dialed := make(chan *websocket.Conn, 1)
	go func() {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+testToken("dev-1", 0))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, wsURL(ts.URL), &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{lpns.Subprotocol}})
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			c = nil
		}
		dialed <- c // and never read
	}()
	<-entered
	require.NoError(t, srv.Close())
	close(release)
	if c := <-dialed; c != nil {
		defer c.CloseNow()
	}
	select {
	case <-returned:
	case <-time.After(2500 * time.Millisecond):
		t.Fatal("the handler still waits for the closing handshake after Close")
	}
}

// The library answers pings inside Read; they count against the frame rate
// like any other frame.
func TestPingFloodIsRateLimited(t *testing.T) {
	rec := &recorder{}
	srv := newTestServer(t, lpns.Config{FrameRate: 1, FrameBurst: 5, Hooks: rec.hooks()})
	rc, _ := rawDial(t, srv.url, testToken("pinger", 0))
	closed := make(chan int, 1)
	go func() { _, code := rc.waitClose(); closed <- code }() // also reads the pongs
	pings := 0
	for ; pings < 2000; pings++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := rc.c.Ping(ctx)
		cancel()
		if err != nil {
			break
		}
	}
	select {
	case code := <-closed:
		assert.Equal(t, lpns.CloseRateLimited, code)
	case <-time.After(5 * time.Second):
		t.Fatal("a client flooding pings was not closed")
	}
	assert.Less(t, pings, 100, "pings answered before the close")
	// OnDisconnect runs after the session left the count: wait for it.
	eventually(t, func() bool { return len(rec.snapshot().disconnects) == 1 }, "session gone")
	assert.Equal(t, []int{lpns.CloseRateLimited}, rec.snapshot().disconnects)
	assert.Equal(t, 0, srv.Count())
}

// Unsolicited pongs (the server never pings) count as frames too.
func TestPongFloodIsRateLimited(t *testing.T) {
	srv := newTestServer(t, lpns.Config{FrameRate: 1, FrameBurst: 5})
	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.ts.URL, "http://"))
	require.NoError(t, err)
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"+
		"Sec-WebSocket-Protocol: lpns.v1\r\nAuthorization: Bearer "+testToken("ponger", 0)+"\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)

	// 2000 masked, empty pong frames in one write.
	pong := []byte{0x8A, 0x80, 1, 2, 3, 4}
	_, err = nc.Write(bytes.Repeat(pong, 2000))
	require.NoError(t, err)

	// Read server frames (unmasked) until the close frame.
	for {
		var h [2]byte
		_, err := io.ReadFull(br, h[:])
		require.NoError(t, err, "connection ended without a close frame")
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			_, err = io.ReadFull(br, b[:])
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			_, err = io.ReadFull(br, b[:])
			n = binary.BigEndian.Uint64(b[:])
		}
		require.NoError(t, err)
		p := make([]byte, n)
		_, err = io.ReadFull(br, p)
		require.NoError(t, err)
		if h[0]&0x0f == 0x8 {
			require.GreaterOrEqual(t, len(p), 2)
			assert.Equal(t, lpns.CloseRateLimited, int(binary.BigEndian.Uint16(p)))
			return
		}
	}
}

// An app catching up acks notifications that timed out meanwhile; those
// acks answer the server's own traffic and must not get the connection
// closed as a flood.
func TestLateAcksAreNotRateLimited(t *testing.T) {
	rec := &recorder{}
	srv := newTestServer(t, lpns.Config{AckTimeout: 50 * time.Millisecond, Hooks: rec.hooks()})
	rc, _ := rawDial(t, srv.url, testToken("dev-1", 0))
	errs := make(chan error, 30)
	for range 30 { // together: the ack timeouts run at once
		go func() { errs <- srv.SendPayload(context.Background(), "dev-1", []byte(`{}`)) }()
	}
	for i := range 30 {
		require.ErrorIs(t, <-errs, lpns.ErrNotAcknowledged, "notification %d", i)
	}
	for range 30 {
		f, err := rc.read()
		require.NoError(t, err)
		require.Equal(t, lpns.FrameNotification, f.Type)
		rc.send(lpns.Frame{Type: lpns.FrameAck, ID: f.ID}) // late
	}
	rc.send(lpns.Frame{Type: lpns.FrameKeepalive})
	f, err := rc.read()
	require.NoError(t, err, "the connection stays open")
	assert.Equal(t, lpns.FrameKeepaliveAck, f.Type)
	assert.Equal(t, 30, rec.snapshot().lateAcks, "late acks are still reported")
	assert.Equal(t, 1, srv.Count())

	// Acks of ids the server did not send still count, as do repeated ones.
	for range 50 {
		rc.send(lpns.Frame{Type: lpns.FrameAck, ID: "never-sent"})
	}
	_, code := rc.waitClose()
	assert.Equal(t, lpns.CloseRateLimited, code)
}

// TestErrorClasses: each error of a send matches the one pushwire class
// its documentation gives, and nothing else (ErrServerClosed is also
// pushwire.ErrClosed).
func TestErrorClasses(t *testing.T) {
	classes := []error{pushwire.ErrRetryable, pushwire.ErrPermanent, pushwire.ErrDeadToken, pushwire.ErrConfiguration}
	for _, tt := range []struct {
		err   error
		class error
	}{
		{lpns.ErrNotConnected, pushwire.ErrRetryable},
		{lpns.ErrNotAcknowledged, pushwire.ErrRetryable},
		{lpns.ErrServerClosed, pushwire.ErrRetryable},
		{lpns.ErrPayloadTooLarge, pushwire.ErrPermanent},
		{lpns.ErrInvalidPayload, pushwire.ErrPermanent},
	} {
		for _, c := range classes {
			assert.Equal(t, c == tt.class, errors.Is(tt.err, c), "%v is %v", tt.err, c)
		}
		assert.Equal(t, tt.err == lpns.ErrServerClosed, errors.Is(tt.err, pushwire.ErrClosed), "%v is ErrClosed", tt.err)
		assert.Equal(t, tt.err == lpns.ErrNotAcknowledged, errors.Is(tt.err, lpns.ErrNotAcknowledged), "%v", tt.err)
	}
}
