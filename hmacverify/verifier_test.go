package hmacverify_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/hmacverify"
)

var testNow = time.Date(2024, 3, 18, 11, 0, 30, 0, time.UTC)

func eventBody(eventID, sessionID string, date time.Time) string {
	m := map[string]string{
		"eventId":        eventID,
		"conversationId": "1570b603-502e-3dcc-888f-09dda5bd0ea6",
		"customerId":     "customer-id-12345",
		"sessionId":      sessionID,
	}
	if !date.IsZero() {
		m["eventDate"] = date.Format("2006-01-02T15:04:05.000Z07:00")
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// captured records what the wrapped handler saw.
type captured struct {
	mu    sync.Mutex
	calls int
	event hmacverify.Event
	ok    bool
	body  []byte
	again []byte
}

func (c *captured) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.calls++
		c.event, c.ok = hmacverify.EventFromContext(r.Context())
		c.body, _ = io.ReadAll(r.Body)
		if r.GetBody != nil {
			rc, _ := r.GetBody()
			c.again, _ = io.ReadAll(rc)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func newVerifier(t *testing.T, cfg hmacverify.Config) *hmacverify.Verifier {
	t.Helper()
	if cfg.Secrets == nil {
		cfg.Secrets = hmacverify.StaticSecrets{testSecret}
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	v, err := hmacverify.NewVerifier(cfg)
	require.NoError(t, err)
	return v
}

func serve(h http.Handler, body string, header map[string]string) (*httptest.ResponseRecorder, string) {
	req := httptest.NewRequest(http.MethodPost, "/callback", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = []string{v} // deliberately not canonicalized
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var msg struct{ Message string }
	_ = json.Unmarshal(rec.Body.Bytes(), &msg)
	return rec, msg.Message
}

func TestMiddleware(t *testing.T) {
	body := eventBody(testEventID, testSessionID, testNow)
	sig := hmacverify.Sign(testSecret, testEventID, testSessionID)
	oversized := `{"eventId":"` + testEventID + `","sessionId":"` + testSessionID + `","pad":"` + strings.Repeat("x", 400) + `"}`
	tests := []struct {
		name       string
		body       string
		header     map[string]string
		wantStatus int
		wantMsg    string
	}{
		{"valid", body, map[string]string{"X-Hmac": sig}, http.StatusNoContent, ""},
		{"header X-hmac as in the manual", body, map[string]string{"X-hmac": sig}, http.StatusNoContent, ""},
		{"header upper-case", body, map[string]string{"X-HMAC": sig}, http.StatusNoContent, ""},
		{"header lower-case", body, map[string]string{"x-hmac": sig}, http.StatusNoContent, ""},
		{"upper-case hex", body, map[string]string{"X-Hmac": strings.ToUpper(sig)}, http.StatusNoContent, ""},
		{"missing signature", body, nil, http.StatusUnauthorized, "missing signature"},
		{"empty signature", body, map[string]string{"X-Hmac": ""}, http.StatusUnauthorized, "missing signature"},
		{"wrong signature", body, map[string]string{"X-Hmac": strings.Repeat("a", 64)}, http.StatusUnauthorized, "invalid signature"},
		{"signature of another event", eventBody("other-event", testSessionID, testNow), map[string]string{"X-Hmac": sig}, http.StatusUnauthorized, "invalid signature"},
		{"malformed json", `{"eventId": "x"`, map[string]string{"X-Hmac": sig}, http.StatusBadRequest, ""},
		{"not an object", `["x"]`, map[string]string{"X-Hmac": sig}, http.StatusBadRequest, "malformed event: body is not a JSON object"},
		{"empty body", ``, map[string]string{"X-Hmac": sig}, http.StatusBadRequest, "malformed event: empty body"},
		{"missing eventId", `{"sessionId":"` + testSessionID + `"}`, map[string]string{"X-Hmac": sig}, http.StatusBadRequest, "malformed event: missing eventId"},
		{"missing sessionId", `{"eventId":"` + testEventID + `"}`, map[string]string{"X-Hmac": sig}, http.StatusBadRequest, "malformed event: missing sessionId"},
		{"eventId not a string", `{"eventId":1,"sessionId":"s"}`, map[string]string{"X-Hmac": sig}, http.StatusBadRequest, ""},
		{"eventDate not a string", `{"eventId":"e","sessionId":"s","eventDate":1710361539734}`, map[string]string{"X-Hmac": sig}, http.StatusBadRequest, `malformed event: member "eventDate" is not a string`},
		{"malformed before unsigned", `{"eventId":"e"}`, nil, http.StatusBadRequest, "malformed event: missing sessionId"},
		{"too large", oversized, map[string]string{"X-Hmac": sig}, http.StatusRequestEntityTooLarge, "request body too large"},
	}
	v := newVerifier(t, hmacverify.Config{MaxBodyBytes: 400})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c captured
			rec, msg := serve(v.Middleware(c.handler()), tt.body, tt.header)
			assert.Equal(t, tt.wantStatus, rec.Code)
			if tt.wantStatus != http.StatusNoContent {
				assert.Zero(t, c.calls, "next handler must not run")
				assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
				assert.NotEmpty(t, msg)
				if tt.wantMsg != "" {
					assert.Equal(t, tt.wantMsg, msg)
				}
				assert.NotContains(t, rec.Body.String(), sig, "the signature must not be echoed")
				return
			}
			require.Equal(t, 1, c.calls)
			require.True(t, c.ok, "event in context")
			assert.Equal(t, hmacverify.Event{
				EventID:        testEventID,
				ConversationID: "1570b603-502e-3dcc-888f-09dda5bd0ea6",
				CustomerID:     "customer-id-12345",
				SessionID:      testSessionID,
				EventDate:      testNow.Format(hmacverify.EventDateLayout),
			}, c.event)
			assert.Equal(t, tt.body, string(c.body), "next handler reads the intact body")
			assert.Equal(t, tt.body, string(c.again), "GetBody yields the body again")
		})
	}
}

// TestMiddlewareOverHTTP drives the middleware through a real server and
// client, including a chunked body of unknown length over the limit.
func TestMiddlewareOverHTTP(t *testing.T) {
	var c captured
	v := newVerifier(t, hmacverify.Config{MaxBodyBytes: 1024})
	srv := httptest.NewServer(v.Middleware(c.handler()))
	defer srv.Close()

	post := func(body io.Reader, header string, sig string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, srv.URL, body)
		require.NoError(t, err)
		if header != "" {
			req.Header[header] = []string{sig} // sent with this exact spelling
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp
	}
	body := eventBody(testEventID, testSessionID, testNow)
	sig := hmacverify.Sign(testSecret, testEventID, testSessionID)
	for _, name := range []string{"X-hmac", "x-hmac", "X-HMAC"} {
		assert.Equal(t, http.StatusNoContent, post(strings.NewReader(body), name, sig).StatusCode, name)
	}
	assert.Equal(t, body, string(c.body))
	assert.Equal(t, http.StatusUnauthorized, post(strings.NewReader(body), "", "").StatusCode)

	// io.MultiReader hides the length: the client sends the body chunked.
	huge := io.MultiReader(strings.NewReader(`{"eventId":"`), strings.NewReader(strings.Repeat("x", 1<<20)))
	resp := post(huge, "X-hmac", sig)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.True(t, resp.Close)
	resp = post(strings.NewReader(strings.Repeat(" ", 2000)), "X-hmac", sig) // declared length over the limit
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.True(t, resp.Close)
	assert.Equal(t, 3, c.calls)
}

func TestSecretRotation(t *testing.T) {
	current, previous := []byte("current-secret"), []byte("previous-secret")
	v := newVerifier(t, hmacverify.Config{Secrets: hmacverify.StaticSecrets{current, previous}})
	body := eventBody(testEventID, testSessionID, testNow)
	for _, tt := range []struct {
		name   string
		secret []byte
		want   int
	}{
		{"current", current, http.StatusNoContent},
		{"previous", previous, http.StatusNoContent},
		{"retired", []byte("retired-secret"), http.StatusUnauthorized},
	} {
		var c captured
		rec, _ := serve(v.Middleware(c.handler()), body, map[string]string{"X-Hmac": hmacverify.Sign(tt.secret, testEventID, testSessionID)})
		assert.Equal(t, tt.want, rec.Code, tt.name)
	}
}

func TestReplayProtection(t *testing.T) {
	const window = time.Minute
	var now time.Time
	clock := func() time.Time { return now }
	seen, err := hmacverify.NewMemorySeenSet(hmacverify.MemorySeenConfig{Now: clock})
	require.NoError(t, err)
	v := newVerifier(t, hmacverify.Config{ReplayWindow: window, Seen: seen, Now: clock})

	request := func(eventID string, date time.Time) (hmacverify.Event, error) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(eventBody(eventID, testSessionID, date)))
		req.Header.Set("X-Hmac", hmacverify.Sign(testSecret, eventID, testSessionID))
		ev, _, err := v.VerifyRequest(req)
		return ev, err
	}
	now = testNow
	_, err = request("e1", now.Add(-30*time.Second))
	require.NoError(t, err)

	ev, err := request("e1", now.Add(-30*time.Second))
	assert.ErrorIs(t, err, hmacverify.ErrReplay)
	assert.Equal(t, "e1", ev.EventID, "a replayed event is returned: its signature was valid")
	assert.Equal(t, http.StatusConflict, hmacverify.StatusCode(err))

	_, err = request("e1", now) // a rewritten eventDate does not help: eventDate is not signed
	assert.ErrorIs(t, err, hmacverify.ErrReplay)

	_, err = request("e2", now.Add(-window-time.Millisecond))
	assert.ErrorIs(t, err, hmacverify.ErrStale)
	assert.Equal(t, http.StatusUnauthorized, hmacverify.StatusCode(err))
	_, err = request("e3", now.Add(window+time.Millisecond))
	assert.ErrorIs(t, err, hmacverify.ErrStale, "too far in the future")
	_, err = request("e4", time.Time{})
	assert.ErrorIs(t, err, hmacverify.ErrStale, "no eventDate")
	assert.ErrorContains(t, err, "no eventDate")
	_, err = request("e5", now.Add(window))
	assert.NoError(t, err, "the window bounds are inclusive")
	_, err = request("e5-past", now.Add(-window))
	assert.NoError(t, err, "the window bounds are inclusive")

	// After 2×window the id is forgotten; an event dated now is fresh again.
	now = now.Add(2*window + time.Second)
	_, err = request("e1", now)
	assert.NoError(t, err)

	// A stale event is not recorded: once fresh, it is accepted.
	now = testNow
	_, err = request("e6", now.Add(-2*window))
	require.ErrorIs(t, err, hmacverify.ErrStale)
	_, err = request("e6", now)
	assert.NoError(t, err)

	// A bad signature is not recorded either.
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(eventBody("e7", testSessionID, now)))
	req.Header.Set("X-Hmac", strings.Repeat("0", 64))
	_, _, err = v.VerifyRequest(req)
	require.ErrorIs(t, err, hmacverify.ErrInvalidSignature)
	_, err = request("e7", now)
	assert.NoError(t, err)
}

func TestReplayDefaultSeenSet(t *testing.T) {
	v := newVerifier(t, hmacverify.Config{ReplayWindow: time.Minute})
	var c captured
	h := v.Middleware(c.handler())
	body := eventBody(testEventID, testSessionID, testNow)
	hdr := map[string]string{"X-Hmac": hmacverify.Sign(testSecret, testEventID, testSessionID)}
	rec, _ := serve(h, body, hdr)
	assert.Equal(t, http.StatusNoContent, rec.Code)
	rec, msg := serve(h, body, hdr)
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, "event already processed", msg)
	assert.Equal(t, 1, c.calls)
}

func TestErrorHandlerTreatsReplayAsDone(t *testing.T) {
	var handled []error
	v := newVerifier(t, hmacverify.Config{
		ReplayWindow: time.Minute,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			handled = append(handled, err)
			if errors.Is(err, hmacverify.ErrReplay) {
				w.WriteHeader(http.StatusOK)
				return
			}
			hmacverify.WriteError(w, err)
		},
	})
	var c captured
	h := v.Middleware(c.handler())
	body := eventBody(testEventID, testSessionID, testNow)
	hdr := map[string]string{"X-Hmac": hmacverify.Sign(testSecret, testEventID, testSessionID)}
	rec, _ := serve(h, body, hdr)
	require.Equal(t, http.StatusNoContent, rec.Code)
	rec, _ = serve(h, body, hdr)
	assert.Equal(t, http.StatusOK, rec.Code)
	rec, _ = serve(h, body, nil)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Len(t, handled, 2)
	assert.ErrorIs(t, handled[0], hmacverify.ErrReplay)
	assert.ErrorIs(t, handled[1], hmacverify.ErrMissingSignature)
}

type secretFunc func(ctx context.Context, ev hmacverify.Event) ([][]byte, error)

func (f secretFunc) Secrets(ctx context.Context, ev hmacverify.Event) ([][]byte, error) {
	return f(ctx, ev)
}

type seenFunc func(ctx context.Context, id string, until time.Time) (bool, error)

func (f seenFunc) Seen(ctx context.Context, id string, until time.Time) (bool, error) {
	return f(ctx, id, until)
}

func (f seenFunc) Forget(context.Context, string) error { return nil }

func TestDependencyFailures(t *testing.T) {
	body := eventBody(testEventID, testSessionID, testNow)
	hdr := map[string]string{"X-Hmac": hmacverify.Sign(testSecret, testEventID, testSessionID)}
	down := errors.New("store unreachable at 10.0.0.1")
	tests := []struct {
		name       string
		cfg        hmacverify.Config
		wantErr    error
		wantStatus int
	}{
		{"secret source down", hmacverify.Config{Secrets: secretFunc(func(context.Context, hmacverify.Event) ([][]byte, error) {
			return nil, down
		})}, hmacverify.ErrUnavailable, http.StatusServiceUnavailable},
		{"secret source misconfigured", hmacverify.Config{Secrets: secretFunc(func(context.Context, hmacverify.Event) ([][]byte, error) {
			return nil, fmt.Errorf("%w: tenant has no secret", hmacverify.ErrInvalidConfig)
		})}, hmacverify.ErrInvalidConfig, http.StatusInternalServerError},
		{"secret source yields an empty secret", hmacverify.Config{Secrets: secretFunc(func(context.Context, hmacverify.Event) ([][]byte, error) {
			return [][]byte{{}}, nil
		})}, hmacverify.ErrNoSecret, http.StatusInternalServerError},
		{"secret source yields none", hmacverify.Config{Secrets: secretFunc(func(context.Context, hmacverify.Event) ([][]byte, error) {
			return nil, nil
		})}, hmacverify.ErrInvalidSignature, http.StatusUnauthorized},
		{"per-event secrets", hmacverify.Config{Secrets: secretFunc(func(_ context.Context, ev hmacverify.Event) ([][]byte, error) {
			if ev.CustomerID == "customer-id-12345" {
				return [][]byte{[]byte("x"), testSecret}, nil
			}
			return nil, nil
		})}, nil, http.StatusNoContent},
		{"seen-set down", hmacverify.Config{ReplayWindow: time.Minute, Seen: seenFunc(func(context.Context, string, time.Time) (bool, error) {
			return false, down
		})}, hmacverify.ErrUnavailable, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			tt.cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			v := newVerifier(t, tt.cfg)
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			req.Header.Set("X-Hmac", hdr["X-Hmac"])
			_, _, err := v.VerifyRequest(req)
			if tt.wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			var c captured
			rec, msg := serve(v.Middleware(c.handler()), body, hdr)
			assert.Equal(t, tt.wantStatus, rec.Code)
			assert.NotContains(t, msg, "10.0.0.1", "internal details stay out of responses")
			// Server-side failures (500 and up) are logged as errors,
			// rejections of the caller's request as information.
			switch {
			case tt.wantStatus >= 500:
				assert.Contains(t, logs.String(), "level=ERROR")
			case tt.wantErr != nil:
				assert.Contains(t, logs.String(), "level=INFO")
				assert.NotContains(t, logs.String(), "level=ERROR")
			}
		})
	}
}

func TestSeenSetGetsRememberHorizon(t *testing.T) {
	var got []time.Time
	seen := seenFunc(func(_ context.Context, id string, until time.Time) (bool, error) {
		got = append(got, until)
		return false, nil
	})
	for _, tt := range []struct {
		remember time.Duration
		want     time.Time
	}{
		{0, testNow.Add(2 * time.Minute)},
		{time.Hour, testNow.Add(time.Hour)},
	} {
		got = nil
		v := newVerifier(t, hmacverify.Config{ReplayWindow: time.Minute, Remember: tt.remember, Seen: seen})
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(eventBody(testEventID, testSessionID, testNow)))
		req.Header.Set("X-Hmac", hmacverify.Sign(testSecret, testEventID, testSessionID))
		_, _, err := v.VerifyRequest(req)
		require.NoError(t, err)
		assert.Equal(t, []time.Time{tt.want}, got)
	}
}

func TestVerifyRequestRestoresBody(t *testing.T) {
	v := newVerifier(t, hmacverify.Config{})
	body := eventBody(testEventID, testSessionID, testNow)
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("X-Hmac", hmacverify.Sign(testSecret, testEventID, testSessionID))
	ev, raw, err := v.VerifyRequest(req)
	require.NoError(t, err)
	assert.Equal(t, testEventID, ev.EventID)
	assert.Equal(t, body, string(raw))
	again, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	assert.Equal(t, body, string(again))
	assert.EqualValues(t, len(body), req.ContentLength)
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestVerifyRequestBodyErrors(t *testing.T) {
	v := newVerifier(t, hmacverify.Config{MaxBodyBytes: 10})
	req := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(failingReader{}))
	req.Header.Set("X-Hmac", strings.Repeat("0", 64))
	_, _, err := v.VerifyRequest(req)
	assert.ErrorIs(t, err, hmacverify.ErrMalformed)

	req = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(make([]byte, 11)))
	require.EqualValues(t, 11, req.ContentLength)
	_, _, err = v.VerifyRequest(req)
	assert.ErrorIs(t, err, hmacverify.ErrTooLarge, "declared length over the limit")

	req = httptest.NewRequest(http.MethodPost, "/", io.NopCloser(bytes.NewReader(make([]byte, 11))))
	req.ContentLength = -1
	_, _, err = v.VerifyRequest(req)
	assert.ErrorIs(t, err, hmacverify.ErrTooLarge, "unknown length over the limit")

	req = httptest.NewRequest(http.MethodGet, "/", nil)
	_, _, err = v.VerifyRequest(req)
	assert.ErrorIs(t, err, hmacverify.ErrMalformed)
}

func TestNewVerifierConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  hmacverify.Config
		want error
	}{
		{"no secret source", hmacverify.Config{}, hmacverify.ErrInvalidConfig},
		{"no secrets", hmacverify.Config{Secrets: hmacverify.StaticSecrets{}}, hmacverify.ErrInvalidConfig},
		{"empty secret", hmacverify.Config{Secrets: hmacverify.StaticSecrets{[]byte("a"), nil}}, hmacverify.ErrNoSecret},
		{"negative body limit", hmacverify.Config{Secrets: hmacverify.StaticSecrets{testSecret}, MaxBodyBytes: -1}, hmacverify.ErrInvalidConfig},
		{"negative window", hmacverify.Config{Secrets: hmacverify.StaticSecrets{testSecret}, ReplayWindow: -1}, hmacverify.ErrInvalidConfig},
		{"negative body timeout", hmacverify.Config{Secrets: hmacverify.StaticSecrets{testSecret}, BodyTimeout: -1}, hmacverify.ErrInvalidConfig},
		{"negative memory", hmacverify.Config{Secrets: hmacverify.StaticSecrets{testSecret}, Remember: -1}, hmacverify.ErrInvalidConfig},
		{"minimal", hmacverify.Config{Secrets: hmacverify.StaticSecrets{testSecret}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := hmacverify.NewVerifier(tt.cfg)
			if tt.want == nil {
				require.NoError(t, err)
				assert.NotNil(t, v)
				return
			}
			assert.ErrorIs(t, err, tt.want)
			assert.ErrorIs(t, err, hmacverify.ErrInvalidConfig)
			assert.Nil(t, v)
		})
	}
}

func TestStatusCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, http.StatusOK},
		{hmacverify.ErrTooLarge, http.StatusRequestEntityTooLarge},
		{hmacverify.ErrTimeout, http.StatusRequestTimeout},
		{hmacverify.ErrMalformed, http.StatusBadRequest},
		{hmacverify.ErrMissingSignature, http.StatusUnauthorized},
		{hmacverify.ErrInvalidSignature, http.StatusUnauthorized},
		{hmacverify.ErrStale, http.StatusUnauthorized},
		{hmacverify.ErrReplay, http.StatusConflict},
		{fmt.Errorf("x: %w", hmacverify.ErrUnavailable), http.StatusServiceUnavailable},
		{hmacverify.ErrNoSecret, http.StatusInternalServerError},
		{errors.New("anything else"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, hmacverify.StatusCode(tt.err), "%v", tt.err)
	}
}

func TestEventFromContext(t *testing.T) {
	_, ok := hmacverify.EventFromContext(context.Background())
	assert.False(t, ok)
	ev := hmacverify.Event{EventID: "e", SessionID: "s"}
	got, ok := hmacverify.EventFromContext(hmacverify.NewContext(context.Background(), ev))
	assert.True(t, ok)
	assert.Equal(t, ev, got)
}

// TestMiddlewareSlowBody sends part of a body and stalls: the middleware
// answers 408 once the body timeout passes instead of waiting forever.
func TestMiddlewareSlowBody(t *testing.T) {
	var c captured
	v := newVerifier(t, hmacverify.Config{BodyTimeout: 50 * time.Millisecond})
	srv := httptest.NewServer(v.Middleware(c.handler()))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-hmac: %s\r\nContent-Length: 100\r\n\r\n{\"eventId\":", strings.Repeat("0", 64))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second))) // a safety net, not the assertion
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.True(t, resp.Close, "the connection is closed")
	assert.Zero(t, c.calls)
}

// TestBodyDeadlineCleared: the body's read deadline ends with the body: a
// handler slower than BodyTimeout keeps its request context, and the
// connection serves the next request.
func TestBodyDeadlineCleared(t *testing.T) {
	const timeout = 50 * time.Millisecond
	v := newVerifier(t, hmacverify.Config{BodyTimeout: timeout})
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * timeout): // slower than the body's deadline
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})))
	defer srv.Close()
	client := srv.Client()
	for i := range 2 { // the second on the same connection
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(eventBody(testEventID, testSessionID, testNow)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hmac", hmacverify.Sign(testSecret, testEventID, testSessionID))
		resp, err := client.Do(req)
		require.NoError(t, err, "request %d", i)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusNoContent, resp.StatusCode, "request %d: the handler's context outlived the body deadline", i)
	}
}

func TestStaticSecretsAreCopied(t *testing.T) {
	secrets := hmacverify.StaticSecrets{[]byte("first-secret")}
	v := newVerifier(t, hmacverify.Config{Secrets: secrets})
	copy(secrets[0], "XXXXX")
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(eventBody(testEventID, testSessionID, testNow)))
	req.Header.Set("X-Hmac", hmacverify.Sign([]byte("first-secret"), testEventID, testSessionID))
	_, _, err := v.VerifyRequest(req)
	assert.NoError(t, err)
}

// TestUnsignedRequestSkipsSecretSource checks that a request without a
// signature is refused before the secret source is asked: an unsigned flood
// costs no lookup, and a secret source that is down does not turn it into a
// 503.
func TestUnsignedRequestSkipsSecretSource(t *testing.T) {
	calls := 0
	v := newVerifier(t, hmacverify.Config{Secrets: secretFunc(func(context.Context, hmacverify.Event) ([][]byte, error) {
		calls++
		return nil, errors.New("store unreachable")
	})})
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(eventBody(testEventID, testSessionID, testNow)))
	_, _, err := v.VerifyRequest(req)
	assert.ErrorIs(t, err, hmacverify.ErrMissingSignature)
	assert.Equal(t, http.StatusUnauthorized, hmacverify.StatusCode(err))
	assert.Zero(t, calls)
}
