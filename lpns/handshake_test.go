package lpns_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/lpns"
)

// upgradeRequest sends a WebSocket upgrade request to the test server with
// the headers of h (a header with an empty value is left out).
func upgradeRequest(t *testing.T, httpURL string, h map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, httpURL, nil)
	require.NoError(t, err)
	base := map[string]string{
		"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": lpns.Subprotocol,
	}
	for k, v := range h {
		base[k] = v
	}
	for k, v := range base {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Close = true // no idle connection left behind
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// errorBody parses the error frame a refused upgrade carries.
func errorBody(t *testing.T, resp *http.Response) lpns.Frame {
	t.Helper()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	f, err := lpns.ParseFrame(b)
	require.NoError(t, err, "body %q", b)
	assert.Equal(t, lpns.FrameError, f.Type)
	assert.Equal(t, resp.StatusCode, f.Code, "the frame's code is the status")
	return f
}

func TestHandshakeErrorBodies(t *testing.T) {
	srv := newTestServer(t, lpns.Config{})
	bearer := func(tok string) string { return "Bearer " + tok }
	tests := []struct {
		name     string
		h        map[string]string
		status   int
		reason   string
		wwwAuthn string
	}{
		{"no subprotocol", map[string]string{"Sec-WebSocket-Protocol": "", "Authorization": bearer(testToken("d", 0))}, 400, "no-subprotocol", ""},
		{"missing token", nil, 401, "missing-token", `Bearer realm="lpns"`},
		{"other scheme", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, 401, "missing-token", `Bearer realm="lpns"`},
		{"invalid token", map[string]string{"Authorization": bearer("garbage")}, 401, "invalid-token", `Bearer realm="lpns", error="invalid_token"`},
		{"expired token", map[string]string{"Authorization": bearer(testToken("d", -time.Second))}, 401, "token-expired", `Bearer realm="lpns", error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := upgradeRequest(t, srv.ts.URL, tt.h)
			require.Equal(t, tt.status, resp.StatusCode)
			f := errorBody(t, resp)
			assert.Equal(t, tt.reason, f.Reason)
			assert.NotEmpty(t, f.Message)
			assert.Equal(t, tt.wwwAuthn, resp.Header.Get("WWW-Authenticate"), "no error code when no token was sent (RFC 6750 3.1)")
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	resp := upgradeRequest(t, srv.ts.URL, map[string]string{"Authorization": bearer(testToken("d", 0))})
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Equal(t, "server-shutdown", errorBody(t, resp).Reason)
}

// The first failing check answers: shutdown, then the subprotocol, then the
// token, then the WebSocket handshake itself.
func TestHandshakeCheckOrder(t *testing.T) {
	rec := &recorder{}
	srv := newTestServer(t, lpns.Config{Hooks: rec.hooks()})
	good := "Bearer " + testToken("d", 0)
	notUpgrade := map[string]string{"Connection": "", "Upgrade": ""}
	with := func(a, b map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range a {
			m[k] = v
		}
		for k, v := range b {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name   string
		h      map[string]string
		status int
	}{
		{"no subprotocol beats a missing token", map[string]string{"Sec-WebSocket-Protocol": ""}, 400},
		{"no subprotocol beats a malformed upgrade", with(notUpgrade, map[string]string{"Sec-WebSocket-Protocol": "", "Authorization": good}), 400},
		{"a bad token beats a malformed upgrade", with(notUpgrade, map[string]string{"Authorization": "Bearer garbage"}), 401},
		{"a bad token beats a foreign origin", map[string]string{"Authorization": "Bearer garbage", "Origin": "https://evil.example"}, 401},
		{"malformed upgrade, after the token", with(notUpgrade, map[string]string{"Authorization": good}), http.StatusUpgradeRequired},
		{"wrong websocket version", map[string]string{"Authorization": good, "Sec-WebSocket-Version": "8"}, 400},
		{"foreign origin, after the token", map[string]string{"Authorization": good, "Origin": "https://evil.example"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := upgradeRequest(t, srv.ts.URL, tt.h)
			assert.Equal(t, tt.status, resp.StatusCode)
		})
	}
	assert.Equal(t, 0, srv.Count())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	resp := upgradeRequest(t, srv.ts.URL, map[string]string{"Sec-WebSocket-Protocol": "", "Connection": ""})
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "shutdown beats everything")
}

// No WebSocket extension is negotiated: an offer of permessage-deflate is
// declined, and frames are never compressed.
func TestNoExtensionNegotiated(t *testing.T) {
	srv := newTestServer(t, lpns.Config{})
	resp := upgradeRequest(t, srv.ts.URL, map[string]string{"Authorization": "Bearer " + testToken("d", 0),
		"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"})
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	assert.Equal(t, lpns.Subprotocol, resp.Header.Get("Sec-WebSocket-Protocol"))
	assert.Empty(t, resp.Header.Values("Sec-WebSocket-Extensions"))
	// The first frame, hello, is a plain text frame: FIN, no RSV1 bit.
	rw, ok := resp.Body.(io.ReadWriter)
	require.True(t, ok)
	var h [2]byte
	_, err := io.ReadFull(rw, h[:])
	require.NoError(t, err)
	assert.Equal(t, byte(0x81), h[0], "FIN + text opcode, no compression bit")
	p := make([]byte, h[1]&0x7f)
	_, err = io.ReadFull(rw, p)
	require.NoError(t, err)
	var hello map[string]any
	require.NoError(t, json.Unmarshal(p, &hello))
	assert.Equal(t, "hello", hello["type"])
}

// Times on the wire are in UTC, whatever the zone of the authenticator's
// expiry.
func TestTimesAreUTC(t *testing.T) {
	zone := time.FixedZone("UTC+1", 3600)
	exp := time.Date(2030, 1, 2, 4, 4, 5, 0, zone)
	auth := lpns.AuthenticatorFunc(func(context.Context, *http.Request, string) (lpns.Identity, error) {
		return lpns.Identity{DeviceID: "d", ExpiresAt: exp}, nil
	})
	srv := newTestServer(t, lpns.Config{Authenticator: auth})
	h := http.Header{}
	h.Set("Authorization", "Bearer x")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, srv.url, &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{lpns.Subprotocol}})
	require.NoError(t, err)
	defer c.CloseNow()
	_, hello, err := c.Read(ctx)
	require.NoError(t, err)
	assert.Contains(t, string(hello), `"expiresAt":"2030-01-02T03:04:05Z"`)
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"refresh","token":"y"}`)))
	_, ack, err := c.Read(ctx)
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"refresh-ack","expiresAt":"2030-01-02T03:04:05Z"}`, string(ack))
}
