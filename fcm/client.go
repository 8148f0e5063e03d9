package fcm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushwire/pushwire"
	"golang.org/x/oauth2"
)

// Client sends messages to FCM. It is safe for concurrent use; all its sends
// share one bounded concurrency limit and one connection pool.
type Client struct {
	hc        *http.Client
	rt        http.RoundTripper // hc's transport when requests can bypass hc
	transport *http.Transport   // nil unless created by New
	ts        oauth2.TokenSource
	project   string
	url       *url.URL
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	retry     RetryPolicy
	log       *slog.Logger
	now       func() time.Time
	auth      atomic.Pointer[authHeader]
}

type authHeader struct {
	tok   *oauth2.Token
	value []string
}

var contentTypeJSON = []string{"application/json; charset=utf-8"}

// ProjectID returns the Firebase project the client sends to.
func (c *Client) ProjectID() string { return c.project }

// Close marks the client closed: later sends fail with [ErrClosed]. Sends in
// flight complete. Idle connections of the client's own transport are
// closed. Close is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		if c.transport != nil {
			c.transport.CloseIdleConnections()
		}
	})
	return nil
}

// Send delivers a provider-neutral message (pushwire.Sender): data-only
// unless Kind is KindAlert (then a notification with Title and Body), Android
// priority high unless PriorityNormal, TTL (clamped to 28 days) or Expire as
// the Android ttl, CollapseKey as the Android collapse key, and
// MutableContent as an APNs payload with mutable-content (and the alert).
func (c *Client) Send(ctx context.Context, pm pushwire.Message) error {
	var nm neutralMessage
	m := nm.from(&pm)
	_, err := c.deliver(ctx, m, false, false)
	return err
}

// SendMessage validates and sends m and returns the message name FCM
// assigned ("projects/{project}/messages/{id}").
func (c *Client) SendMessage(ctx context.Context, m *Message) (string, error) {
	if m == nil {
		return "", invalid("message", "nil message")
	}
	return c.deliver(ctx, m, false, true)
}

// neutralMessage holds the FCM form of a pushwire.Message without
// separate allocations.
type neutralMessage struct {
	m   Message
	a   AndroidConfig
	n   Notification
	ap  APNSConfig
	ttl time.Duration
}

func (nm *neutralMessage) from(pm *pushwire.Message) *Message {
	nm.m = Message{Token: pm.Token, Data: pm.Data, Android: &nm.a}
	if pm.Token == "" {
		// An empty target is a validation error; keep it one.
		nm.m.Token = ""
	}
	nm.a.Priority = AndroidPriorityHigh
	if pm.Priority == pushwire.PriorityNormal {
		nm.a.Priority = AndroidPriorityNormal
	}
	nm.a.CollapseKey = pm.CollapseKey
	switch {
	case pm.Expire:
		nm.ttl = 0
		nm.a.TTL = &nm.ttl
	case pm.TTL > 0:
		nm.ttl = min(pm.TTL, MaxTTL)
		nm.a.TTL = &nm.ttl
	}
	if pm.Kind == pushwire.KindAlert {
		nm.n = Notification{Title: pm.Title, Body: pm.Body}
		nm.m.Notification = &nm.n
	}
	if pm.MutableContent {
		p := []byte(`{"aps":{"mutable-content":1`)
		if pm.Kind == pushwire.KindAlert && (pm.Title != "" || pm.Body != "") {
			p = append(p, `,"alert":{`...)
			first := true
			p = appendStringField(p, &first, "title", pm.Title)
			p = appendStringField(p, &first, "body", pm.Body)
			p = append(p, '}')
		}
		p = append(p, '}', '}')
		nm.ap.Payload = p
		nm.m.APNS = &nm.ap
	}
	return &nm.m
}

// acquire takes a concurrency slot.
func (c *Client) acquire(ctx context.Context) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrClosed
	}
}

func (c *Client) release() { <-c.sem }

// deliver validates, encodes and sends m with retries. When held is true
// the caller already holds a concurrency slot for the first attempt.
func (c *Client) deliver(ctx context.Context, m *Message, held, wantName bool) (string, error) {
	if err := m.Validate(); err != nil {
		if held {
			c.release()
		}
		return "", err
	}
	sb := getSendBuf()
	defer sb.release()
	var start, end int
	sb.b, start, end = appendRequest(sb.b[:0], m)
	limit := MaxMessageBytes
	if m.Topic != "" || m.Condition != "" {
		limit = MaxTopicMessageBytes
	}
	if end-start > limit {
		if held {
			c.release()
		}
		return "", invalid("message", "encoded message exceeds the FCM size limit")
	}

	var last *Error
	for attempt := 1; ; attempt++ {
		if !held {
			if err := c.acquire(ctx); err != nil {
				if last != nil {
					return "", last
				}
				return "", sendCanceled(err)
			}
		}
		held = false
		name, err := c.attempt(ctx, sb, wantName)
		c.release()
		if err == nil {
			return name, nil
		}
		var fe *Error
		if !errors.As(err, &fe) {
			return "", err
		}
		fe.Attempts = attempt
		last = fe
		delay, ok := c.retryDelay(ctx, fe, attempt)
		if !ok {
			return "", fe
		}
		if c.log.Enabled(ctx, slog.LevelDebug) {
			c.log.LogAttrs(ctx, slog.LevelDebug, "fcm: retrying send",
				slog.Int("attempt", attempt), slog.Duration("delay", delay),
				slog.String("error", fe.Error()))
		}
		if err := c.retry.Sleep(ctx, delay); err != nil {
			return "", fe
		}
	}
}

func sendCanceled(err error) error {
	if err == ErrClosed {
		return err
	}
	return &canceledError{err: err}
}

// canceledError reports a send not attempted because ctx ended.
type canceledError struct{ err error }

func (e *canceledError) Error() string { return "fcm: send canceled: " + e.err.Error() }
func (e *canceledError) Unwrap() error { return e.err }

// retryDelay decides whether to retry after fe and how long to wait.
func (c *Client) retryDelay(ctx context.Context, fe *Error, attempt int) (time.Duration, bool) {
	p := &c.retry
	if attempt >= p.MaxAttempts || fe.Class() != pushwire.ErrRetryable {
		return 0, false
	}
	if (fe.Code == CodeQuotaExceeded || fe.HTTPStatus == http.StatusTooManyRequests) && !p.RetryQuota {
		return 0, false
	}
	if fe.Retry > p.MaxDelay {
		return 0, false
	}
	ceiling := p.MaxDelay
	if shift := attempt - 1; shift < 30 {
		if d := p.BaseDelay << shift; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	delay := time.Duration(rand.Int64N(int64(ceiling) + 1))
	if fe.Retry > delay {
		delay = fe.Retry
	}
	if dl, ok := ctx.Deadline(); ok && !c.now().Add(delay).Before(dl) {
		return 0, false
	}
	return delay, true
}

// authorization returns the Authorization header value for the current
// token, built once per token.
func (c *Client) authorization() ([]string, error) {
	tok, err := c.ts.Token()
	if err != nil {
		return nil, err
	}
	if a := c.auth.Load(); a != nil && a.tok == tok {
		return a.value, nil
	}
	a := &authHeader{tok: tok, value: []string{tok.Type() + " " + tok.AccessToken}}
	c.auth.Store(a)
	return a.value, nil
}

const maxResponseBytes = 64 << 10

// attempt makes one request.
func (c *Client) attempt(ctx context.Context, sb *sendBuf, wantName bool) (string, error) {
	auth, err := c.authorization()
	if err != nil {
		return "", tokenError(err)
	}
	req := &http.Request{
		Method:     http.MethodPost,
		URL:        c.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Authorization": auth,
			"Content-Type":  contentTypeJSON,
		},
		Body:          sb.newBody(),
		GetBody:       sb.getBody,
		ContentLength: int64(len(sb.b)),
		Host:          c.url.Host,
	}
	var resp *http.Response
	if c.rt != nil {
		resp, err = c.rt.RoundTrip(req.WithContext(ctx))
	} else {
		resp, err = c.hc.Do(req.WithContext(ctx))
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", sendCanceled(ctx.Err())
		}
		return "", &Error{Message: "request failed", Err: stripURL(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		body, err := sb.readResponse(resp.Body)
		if err != nil {
			if ctx.Err() != nil {
				return "", sendCanceled(ctx.Err())
			}
			return "", &Error{Message: "reading response failed", Err: err}
		}
		if !wantName {
			return "", nil
		}
		var ok struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(body, &ok); err != nil {
			return "", &Error{HTTPStatus: resp.StatusCode, Message: "malformed success response", Err: err, class: pushwire.ErrPermanent}
		}
		return ok.Name, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	return "", parseError(resp.StatusCode, resp.Header.Get("Retry-After"), body, c.now())
}

// stripURL removes the *url.Error wrapper, whose text repeats the URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// tokenError classifies a failure to obtain an access token: a 4xx answer
// from the token endpoint is a configuration error, anything else is
// retryable.
func tokenError(err error) error {
	e := &Error{Message: "cannot obtain access token", Err: err, class: pushwire.ErrRetryable}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		e.class = pushwire.ErrConfiguration
	}
	return e
}

// rpcStatus is the google.rpc.Status error body.
type rpcStatus struct {
	Error struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Status  string            `json:"status"`
		Details []json.RawMessage `json:"details"`
	} `json:"error"`
}

type rpcDetail struct {
	Type            string            `json:"@type"`
	ErrorCode       string            `json:"errorCode"`
	FieldViolations []FieldViolation  `json:"fieldViolations"`
	Violations      []QuotaViolation  `json:"violations"`
	Reason          string            `json:"reason"`
	Domain          string            `json:"domain"`
	Metadata        map[string]string `json:"metadata"`
}

// parseError builds the *Error for a non-200 answer.
func parseError(status int, retryAfter string, body []byte, now time.Time) *Error {
	e := &Error{HTTPStatus: status, Retry: parseRetryAfter(retryAfter, now)}
	var st rpcStatus
	if len(body) > 0 && json.Unmarshal(body, &st) == nil {
		e.Status = st.Error.Status
		e.Message = st.Error.Message
		for _, raw := range st.Error.Details {
			var d rpcDetail
			if json.Unmarshal(raw, &d) != nil {
				continue
			}
			switch d.Type {
			case "type.googleapis.com/google.firebase.fcm.v1.FcmError":
				e.Code = ErrorCode(d.ErrorCode)
			case "type.googleapis.com/google.rpc.BadRequest":
				e.FieldViolations = append(e.FieldViolations, d.FieldViolations...)
			case "type.googleapis.com/google.rpc.QuotaFailure":
				e.QuotaViolations = append(e.QuotaViolations, d.Violations...)
			case "type.googleapis.com/google.rpc.ErrorInfo":
				e.ErrorInfo = &ErrorInfo{Reason: d.Reason, Domain: d.Domain, Metadata: d.Metadata}
			}
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if e.Retry == 0 && (e.Code == CodeQuotaExceeded || status == http.StatusTooManyRequests) {
		e.Retry = time.Minute
	}
	e.class = classify(e)
	return e
}

// sendBuf is a pooled request buffer. The transport may read the request
// body after Do returns (on errors), so the buffer goes back to the pool
// only when the caller and every body reader are done with it.
type sendBuf struct {
	b       []byte
	resp    []byte
	refs    atomic.Int32
	getBody func() (io.ReadCloser, error)
}

var sendBufPool = sync.Pool{New: func() any {
	sb := &sendBuf{b: make([]byte, 0, 1024), resp: make([]byte, 0, 512)}
	sb.getBody = func() (io.ReadCloser, error) { return sb.newBody(), nil }
	return sb
}}

func getSendBuf() *sendBuf {
	sb := sendBufPool.Get().(*sendBuf)
	sb.refs.Store(1)
	return sb
}

func (sb *sendBuf) release() {
	if sb.refs.Add(-1) == 0 {
		if cap(sb.b) <= 64<<10 && cap(sb.resp) <= 64<<10 {
			sendBufPool.Put(sb)
		}
	}
}

func (sb *sendBuf) newBody() io.ReadCloser {
	sb.refs.Add(1)
	return &bodyReader{sb: sb}
}

// readResponse reads a success body into the buffer's response space.
func (sb *sendBuf) readResponse(r io.Reader) ([]byte, error) {
	buf := sb.resp[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxResponseBytes {
				sb.resp = buf[:0]
				return buf, nil
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			sb.resp = buf[:0]
			return buf, nil
		}
		if err != nil {
			sb.resp = buf[:0]
			return nil, err
		}
	}
}

// bodyReader reads a sendBuf. Its mutex keeps a Close from another
// goroutine (request cancellation) from recycling the buffer mid-copy.
type bodyReader struct {
	mu     sync.Mutex
	sb     *sendBuf
	off    int
	closed bool
}

var errBodyClosed = errors.New("fcm: read on closed request body")

func (r *bodyReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errBodyClosed
	}
	if r.off >= len(r.sb.b) {
		return 0, io.EOF
	}
	n := copy(p, r.sb.b[r.off:])
	r.off += n
	return n, nil
}

func (r *bodyReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.sb.release()
	}
	return nil
}
