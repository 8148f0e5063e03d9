package lpns_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/lpns/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testToken is "device|user|expiry-unix-nano" (expiry 0 = none), accepted by
// testAuth. Real deployments use JWTAuthenticator; tests need sub-second expiry.
func testToken(device string, ttl time.Duration) string {
	if ttl == 0 {
		return testTokenAt(device, time.Time{})
	}
	return testTokenAt(device, time.Now().Add(ttl))
}

// testTokenAt is a test token expiring at exp (zero: never).
func testTokenAt(device string, exp time.Time) string {
	n := int64(0)
	if !exp.IsZero() {
		n = exp.UnixNano()
	}
	return device + "|user-" + device + "|" + strconv.FormatInt(n, 10)
}

// newClock returns a fake clock for a server (lpns.WithClock) and clients
// (lpns.WithClientClock): tests advance it instead of sleeping.
func newClock() *clock.Fake { return clock.NewFake(time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)) }

// waitDue waits until a timer of clk is due by the time by (some goroutine
// armed the timer it waits on).
func waitDue(t *testing.T, clk *clock.Fake, by time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, clk.WaitDue(ctx, by), "no timer due by %v", by)
}

var testAuth = lpns.AuthenticatorFunc(func(_ context.Context, _ *http.Request, tok string) (lpns.Identity, error) {
	parts := strings.Split(tok, "|")
	if len(parts) != 3 {
		return lpns.Identity{}, lpns.ErrTokenInvalid
	}
	n, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return lpns.Identity{}, lpns.ErrTokenInvalid
	}
	id := lpns.Identity{DeviceID: parts[0], UserID: parts[1]}
	if n != 0 {
		id.ExpiresAt = time.Unix(0, n) // the server refuses it once expired, by its clock
	}
	return id, nil
})

type testServer struct {
	*lpns.Server
	ts  *httptest.Server
	url string
}

func newHTTPTest(h http.Handler) *httptest.Server { return httptest.NewServer(h) }

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }

func newTestServer(t *testing.T, cfg lpns.Config) *testServer {
	t.Helper()
	if cfg.Authenticator == nil {
		cfg.Authenticator = testAuth
	}
	srv, err := lpns.NewServer(context.Background(), cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		ts.Close()
	})
	return &testServer{Server: srv, ts: ts, url: "ws" + strings.TrimPrefix(ts.URL, "http")}
}

// rawConn is a hand-driven protocol client.
type rawConn struct {
	t *testing.T
	c *websocket.Conn
}

func rawDial(t *testing.T, url, token string) (*rawConn, lpns.Frame) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{lpns.Subprotocol}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	require.NoError(t, err)
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	rc := &rawConn{t: t, c: c}
	hello, err := rc.read()
	require.NoError(t, err)
	require.Equal(t, lpns.FrameHello, hello.Type)
	return rc, hello
}

func (rc *rawConn) read() (lpns.Frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := rc.c.Read(ctx)
	if err != nil {
		return lpns.Frame{}, err
	}
	return lpns.ParseFrame(data)
}

func (rc *rawConn) send(f lpns.Frame) {
	rc.t.Helper()
	b, err := json.Marshal(f)
	require.NoError(rc.t, err)
	rc.sendRaw(websocket.MessageText, b)
}

func (rc *rawConn) sendRaw(typ websocket.MessageType, b []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = rc.c.Write(ctx, typ, b)
}

// waitClose reads until the connection closes and returns the last error
// frame and the close code.
func (rc *rawConn) waitClose() (lpns.Frame, int) {
	var last lpns.Frame
	for {
		f, err := rc.read()
		if err != nil && !errors.Is(err, lpns.ErrBadFrame) {
			return last, int(websocket.CloseStatus(err))
		}
		if f.Type == lpns.FrameError {
			last = f
		}
	}
}

// recorder records hook events.
type recorder struct {
	mu          sync.Mutex
	authFails   []string
	timeouts    []string
	sends       []lpns.Outcome
	disconnects []int
	lateAcks    int
}

func (r *recorder) hooks() lpns.Hooks {
	return lpns.Hooks{
		OnAuthFailure: func(reason string) { r.mu.Lock(); r.authFails = append(r.authFails, reason); r.mu.Unlock() },
		OnKeepaliveTimeout: func(id lpns.Identity) {
			r.mu.Lock()
			r.timeouts = append(r.timeouts, id.DeviceID)
			r.mu.Unlock()
		},
		OnSend: func(o lpns.Outcome, _ time.Duration, _ bool) {
			r.mu.Lock()
			r.sends = append(r.sends, o)
			r.mu.Unlock()
		},
		OnDisconnect: func(_ lpns.Identity, code int, _ string) {
			r.mu.Lock()
			r.disconnects = append(r.disconnects, code)
			r.mu.Unlock()
		},
		OnLateAck: func(string, string) { r.mu.Lock(); r.lateAcks++; r.mu.Unlock() },
	}
}

func (r *recorder) snapshot() recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	return recorder{authFails: append([]string(nil), r.authFails...), timeouts: append([]string(nil), r.timeouts...),
		sends: append([]lpns.Outcome(nil), r.sends...), disconnects: append([]int(nil), r.disconnects...), lateAcks: r.lateAcks}
}

// notifications collects what a Client's handler receives.
type notifications struct {
	mu  sync.Mutex
	got []lpns.Notification
	ch  chan lpns.Notification
}

func newNotifications() *notifications { return &notifications{ch: make(chan lpns.Notification, 1024)} }

func (n *notifications) handler(_ context.Context, x lpns.Notification) error {
	n.mu.Lock()
	n.got = append(n.got, x)
	n.mu.Unlock()
	select {
	case n.ch <- x:
	default:
	}
	return nil
}

func staticToken(tok string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return tok, nil }
}

func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, 10*time.Millisecond, msg)
}

// shutdownBegun starts srv's Shutdown (10 s deadline) in the background and
// returns once srv refuses new sends; Shutdown's result arrives on the
// channel returned.
func shutdownBegun(t *testing.T, srv *lpns.Server) <-chan error {
	t.Helper()
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	eventually(t, func() bool { // a device not connected: no ack to wait for
		return errors.Is(srv.SendPayload(context.Background(), "nobody", []byte(`{}`)), lpns.ErrServerClosed)
	}, "Shutdown began")
	return shut
}
