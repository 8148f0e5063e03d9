package fcm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushwire/pushwire/internal/conntrack"
	"github.com/pushwire/pushwire/internal/inflight"

	"github.com/pushwire/pushwire"
	"golang.org/x/oauth2"
)

var _ pushwire.Sender = (*Client)(nil)

// Client sends messages to FCM. It is safe for concurrent use; all its sends
// share one bounded concurrency limit and one connection pool.
type Client struct {
	hc        *http.Client
	rt        http.RoundTripper // hc's transport when requests can bypass hc
	transport *http.Transport   // nil unless created by New
	conns     *conntrack.Set    // the connections of transport
	ts        atomic.Pointer[tokenSource]
	newTS     func() oauth2.TokenSource // a fresh, empty-cached source
	project   string
	url       *url.URL
	sem       chan struct{}
	stop      context.Context    // ended by Close: ends the sends under way
	kill      context.CancelFunc // ends stop
	retry     RetryPolicy
	log       *slog.Logger
	now       func() time.Time
	auth      atomic.Pointer[authHeader]

	sends   inflight.Set[*sendBuf] // sends under way
	mu      sync.Mutex             // guards fetch and the Adds of fetches
	fetches sync.WaitGroup         // access-token fetches under way that Close can end
	ownTS   bool                   // token fetches use the client's HTTP client (CredentialsJSON)
	fetch   *tokenFetch            // the access-token fetch under way, if any
}

type tokenSource struct{ oauth2.TokenSource }

// authHeader holds the request headers for one access token of src. They
// are shared by all requests sent straight to the transport, which must
// not modify them (the http.RoundTripper contract).
type authHeader struct {
	src    *tokenSource
	tok    *oauth2.Token
	header http.Header
}

// tokenFetch is a call to a token source's Token, made in a goroutine of
// its own so that the sends waiting for it can give up when their context
// ends while it goes on for the others. Its result is set before done is
// closed.
type tokenFetch struct {
	src  *tokenSource
	done chan struct{}
	a    *authHeader
	err  error
}

var (
	contentTypeJSON = []string{"application/json; charset=utf-8"}
	// FCM's answers are tiny; asking for them uncompressed also spares
	// the transport its gzip bookkeeping.
	identity = []string{"identity"}
)

// ProjectID returns the Firebase project the client sends to.
func (c *Client) ProjectID() string { return c.project }

// Close closes the client, as net/http.Server's Close does: sends fail at
// once with an error matching pushwire.ErrClosed, the sends under way are
// cancelled (they return an error matching pushwire.ErrClosed, and
// pushwire.ErrUnknownOutcome when their request had been written) and Close
// returns once they have returned, with the connections of the client's own
// transport closed. An access-token fetch under way is cancelled and waited
// for too, unless it comes from Config.TokenSource, which takes no context.
// Close is idempotent and always returns nil.
func (c *Client) Close() error {
	c.sends.Cancel()
	c.kill()
	c.sends.Wait()
	c.fetches.Wait()
	c.closeIdle()
	return nil
}

// Shutdown closes the client gracefully, as net/http.Server's Shutdown does:
// sends fail at once with an error matching pushwire.ErrClosed, and
// Shutdown waits for the sends under way to return. When ctx ends first it
// does what Close does and returns ctx's error; otherwise it closes the
// connections and returns nil.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.sends.Shutdown(ctx, c.Close)
}

// closedError is the error of a send that Close refused (written false) or
// ended (written reports whether its request had been written).
func closedError(written bool) error {
	err := fmt.Errorf("fcm: %w", pushwire.ErrClosed)
	if written {
		err = pushwire.UnknownOutcome(err)
	}
	return err
}

// ended is the error of a send whose context (ctx, the caller's) ended or
// that Close ended; written reports whether a request had been written
// without an answer.
func (c *Client) ended(ctx context.Context, written bool) error {
	if err := ctx.Err(); err != nil {
		return pushwire.ContextError(pushwire.ProviderFCM, err, written)
	}
	return closedError(written)
}

// errInterrupted is returned by the steps of a send when its context ended
// (the caller's, or Close's).
var errInterrupted = errors.New("fcm: send interrupted")

// errInterruptedWritten is errInterrupted after a request was written.
var errInterruptedWritten = errors.New("fcm: send interrupted after the request was written")

// closeIdle closes the idle connections of the client's own transport.
func (c *Client) closeIdle() {
	if c.transport != nil {
		c.transport.CloseIdleConnections()
		c.conns.CloseAll()
	}
}

// Send delivers a provider-neutral message (pushwire.Sender): data-only
// unless Kind is KindAlert (then a notification with Title and Body), Android
// priority high unless PriorityNormal, TTL (clamped to 28 days) or Expire as
// the Android ttl, CollapseKey as the Android collapse key, and
// MutableContent as an APNs payload with mutable-content (and the alert).
func (c *Client) Send(ctx context.Context, pm pushwire.Message) error {
	// The FCM form lives on the stack: its parts are built by value and
	// wired together here (a store through a pointer parameter would make
	// escape analysis move them to the heap).
	p := neutralParts(&pm)
	m := p.m
	a := p.a
	m.Android = &a
	if p.hasTTL {
		a.TTL = &p.ttl
	}
	if p.hasNote {
		m.Notification = &p.n
	}
	if p.hasAPNS {
		m.APNS = &p.ap
	}
	_, err := c.deliver(ctx, &m, false, false)
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

// parts is the FCM form of a pushwire.Message, by value.
type parts struct {
	m       Message
	a       AndroidConfig
	n       Notification
	ap      APNSConfig
	ttl     time.Duration
	hasTTL  bool
	hasNote bool
	hasAPNS bool
}

func neutralParts(pm *pushwire.Message) (p parts) {
	p.m = Message{Token: pm.Token, Data: pm.Data}
	p.a.Priority = AndroidPriorityHigh
	if pm.Priority == pushwire.PriorityNormal {
		p.a.Priority = AndroidPriorityNormal
	}
	p.a.CollapseKey = pm.CollapseKey
	switch {
	case pm.Expire:
		p.ttl, p.hasTTL = 0, true
	case pm.TTL > 0:
		p.ttl, p.hasTTL = min(pm.TTL, MaxTTL), true
	}
	if pm.Kind == pushwire.KindAlert {
		p.n = Notification{Title: pm.Title, Body: pm.Body}
		p.hasNote = true
	}
	if pm.MutableContent {
		b := []byte(`{"aps":{"mutable-content":1`)
		if pm.Kind == pushwire.KindAlert && (pm.Title != "" || pm.Body != "") {
			b = append(b, `,"alert":{`...)
			first := true
			b = appendStringField(b, &first, "title", pm.Title)
			b = appendStringField(b, &first, "body", pm.Body)
			b = append(b, '}')
		}
		p.ap.Payload = append(b, '}', '}')
		p.hasAPNS = true
	}
	return p
}

// acquire takes a concurrency slot. It fails with errInterrupted when ctx
// ends or the client closes first.
func (c *Client) acquire(ctx context.Context) error {
	// A free slot must not win over an ended context or a closed client.
	if ctx.Err() != nil || c.stop.Err() != nil {
		return errInterrupted
	}
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errInterrupted
	case <-c.stop.Done():
		return errInterrupted
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
	// sb goes back to the pool only when the first attempt was answered
	// 200: FCM has then read the whole body and the transport no longer
	// reads sb. After any other outcome an earlier attempt's transport
	// goroutine may still hold it, so it is left to the garbage collector.
	recycle := false
	defer func() {
		if recycle {
			sb.release()
		}
	}()
	var start, end int
	sb.b, start, end = appendRequest(sb.b[:0], m)
	limit := MaxMessageBytes
	if m.Topic != "" || m.Condition != "" {
		limit = MaxTopicMessageBytes
	}
	if end-start > limit {
		recycle = true // never handed to the transport
		if held {
			c.release()
		}
		return "", invalid("message", "encoded message exceeds the FCM size limit")
	}
	if err := ctx.Err(); err != nil {
		recycle = true // never handed to the transport
		if held {
			c.release()
		}
		return "", pushwire.ContextError(pushwire.ProviderFCM, err, false)
	}
	// sctx ends with ctx or when Close ends the sends under way.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !c.sends.Begin(sb, cancel) {
		recycle = true // never handed to the transport
		if held {
			c.release()
		}
		return "", closedError(false)
	}
	defer c.sends.End(sb)

	// written is set once a request was written and no answer came: from
	// then on the message may have been delivered.
	written := false
	refreshed := false
	maxAttempts := c.retry.MaxAttempts
	for attempt := 1; ; attempt++ {
		if !held {
			if err := c.acquire(sctx); err != nil {
				return "", c.ended(ctx, written)
			}
		}
		held = false
		name, err := c.attempt(sctx, sb, attempt == 1 && !refreshed, wantName)
		c.release()
		if err == nil {
			recycle = attempt == 1 && !refreshed
			return name, nil
		}
		switch err {
		case errInterrupted:
			return "", c.ended(ctx, written)
		case errInterruptedWritten:
			return "", c.ended(ctx, true)
		}
		var fe *Error
		if !errors.As(err, &fe) {
			return "", err
		}
		fe.Attempts = attempt
		if fe.written {
			written = true
		}
		if fe.Status == http.StatusUnauthorized && fe.Code == "" && !refreshed && fe.src != nil {
			// The access token was refused (revoked or expired early):
			// fetch a new one and try again at once, once.
			refreshed = true
			c.dropToken(fe.src)
			fe.src = nil
			maxAttempts++
			continue
		}
		fe.src = nil
		delay, ok := c.retryDelay(ctx, fe, attempt, maxAttempts)
		if !ok {
			if written && fe.Class() == pushwire.ErrRetryable {
				// An earlier attempt (or this one) may have been delivered.
				return "", pushwire.UnknownOutcome(fe)
			}
			return "", fe
		}
		if c.log.Enabled(ctx, slog.LevelDebug) {
			c.log.LogAttrs(ctx, slog.LevelDebug, "fcm: retrying send",
				slog.Int("attempt", attempt), slog.Duration("delay", delay),
				slog.String("error", fe.Error()))
		}
		if err := c.retry.Sleep(sctx, delay); err != nil {
			return "", c.ended(ctx, written)
		}
	}
}

// retryDelay decides whether to retry after fe and how long to wait.
func (c *Client) retryDelay(ctx context.Context, fe *Error, attempt, maxAttempts int) (time.Duration, bool) {
	p := &c.retry
	if attempt >= maxAttempts || fe.Class() != pushwire.ErrRetryable {
		return 0, false
	}
	if (fe.Code == CodeQuotaExceeded || fe.Status == http.StatusTooManyRequests) && !p.RetryQuota {
		return 0, false
	}
	if fe.Retry > p.MaxBackoff {
		return 0, false
	}
	// ceiling is min(MaxBackoff, MinBackoff·2^(attempt-1)), computed without
	// overflow: the shift is taken only when its result stays within
	// MaxBackoff. The jitter is drawn as a uint64 so that a MaxBackoff of
	// math.MaxInt64 does not overflow ceiling+1.
	ceiling := p.MaxBackoff
	if shift := attempt - 1; p.MinBackoff <= p.MaxBackoff>>shift {
		ceiling = p.MinBackoff << shift
	}
	delay := time.Duration(rand.Uint64N(uint64(ceiling) + 1))
	if fe.Retry > delay {
		delay = fe.Retry
	}
	if dl, ok := ctx.Deadline(); ok && !c.now().Add(delay).Before(dl) {
		return 0, false
	}
	return delay, true
}

// headers returns the request headers for the current access token, built
// once per token. While the cached token is valid this reads it without a
// lock, an allocation or a goroutine; otherwise it waits for a token fetch
// or for ctx to end, whichever comes first. Its error is ready to return
// from a send.
func (c *Client) headers(ctx context.Context) (*authHeader, error) {
	src := c.ts.Load()
	// Valid is the test oauth2.ReuseTokenSource applies to its cached
	// token (the same *oauth2.Token): a token it would hand out again
	// is used without asking it.
	if a := c.auth.Load(); a != nil && a.src == src && a.tok.Valid() {
		return a, nil
	}
	return c.fetchToken(ctx, src)
}

// fetchToken waits for a token of src, starting a fetch unless one is under
// way. Concurrent sends share the fetch; each stops waiting when its ctx
// ends, while the fetch goes on (bounded by the token HTTP client's
// timeout) and its token serves later sends. An oauth2.TokenSource takes
// no context, so this is the only way a send can honour its own.
func (c *Client) fetchToken(ctx context.Context, src *tokenSource) (*authHeader, error) {
	c.mu.Lock()
	f := c.fetch
	if f == nil || f.src != src {
		if c.sends.Refused() {
			// No fetch starts once Close began: Close waits for them.
			c.mu.Unlock()
			return nil, errInterrupted
		}
		f = &tokenFetch{src: src, done: make(chan struct{})}
		c.fetch = f
		if c.ownTS {
			c.fetches.Add(1)
		}
		go c.runFetch(f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		select {
		case <-f.done: // both ready: the token is of more use
		default:
			return nil, errInterrupted
		}
	}
	if f.err != nil {
		return nil, tokenError(f.err)
	}
	return f.a, nil
}

// runFetch makes the token fetch f and publishes its result.
func (c *Client) runFetch(f *tokenFetch) {
	if c.ownTS {
		defer c.fetches.Done()
	}
	tok, err := f.src.Token()
	var a *authHeader
	if err == nil {
		a = &authHeader{src: f.src, tok: tok, header: http.Header{
			"Authorization":   {tok.Type() + " " + tok.AccessToken},
			"Content-Type":    contentTypeJSON,
			"Accept-Encoding": identity,
		}}
	}
	c.mu.Lock()
	f.a, f.err = a, err
	if c.fetch == f {
		c.fetch = nil
	}
	// A fetch from a source replaced meanwhile (dropToken) must not
	// overwrite the headers of its successor.
	if a != nil && c.ts.Load() == f.src {
		c.auth.Store(a)
	}
	c.mu.Unlock()
	close(f.done)
}

// dropToken replaces src, whose access token FCM refused as invalid, so that
// the next send fetches a new token. Of concurrent callers that saw the same
// source only the first replaces it; the others find the new one already in
// place, so no caller can read the refused token again.
func (c *Client) dropToken(src *tokenSource) {
	if c.ts.Load() != src {
		return
	}
	c.ts.CompareAndSwap(src, &tokenSource{c.newTS()})
}

const maxResponseBytes = 64 << 10

// attempt makes one request with the body encoded in sb. The first attempt
// reads it through sb's own reader; later attempts get a fresh reader, since
// the transport may still hold the earlier one.
func (c *Client) attempt(ctx context.Context, sb *sendBuf, first, wantName bool) (string, error) {
	a, err := c.headers(ctx)
	if err != nil {
		return "", err
	}
	header, src := a.header, a.src
	if c.rt == nil {
		// http.Client may add headers (cookies): give it its own copy.
		header = header.Clone()
	}
	payload := sb.b
	body := sb.body
	if first {
		sb.r.Reset(payload)
	} else {
		body = io.NopCloser(bytes.NewReader(payload))
	}
	req := &http.Request{
		Method:        http.MethodPost,
		URL:           c.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          body,
		GetBody:       sb.getBody,
		ContentLength: int64(len(payload)),
		Host:          c.url.Host,
	}
	// The trace tells whether the transport wrote the whole request: a
	// failure after that leaves the outcome unknown.
	// The first attempt uses sb's trace; it is not modified after the pool
	// built it unless ctx carries a trace of its own, which
	// httptrace.WithClientTrace would compose into it.
	tr := &sb.trace
	if !first || httptrace.ContextClientTrace(ctx) != nil {
		tr = new(wroteTrace)
		tr.trace.WroteRequest = tr.wroteRequest
	}
	tr.wrote.Store(false)
	rctx := httptrace.WithClientTrace(ctx, &tr.trace)
	var resp *http.Response
	if c.rt != nil {
		resp, err = c.rt.RoundTrip(req.WithContext(rctx))
	} else {
		resp, err = c.hc.Do(req.WithContext(rctx))
	}
	if err != nil {
		written := tr.wrote.Load()
		if ctx.Err() != nil {
			if written {
				return "", errInterruptedWritten
			}
			return "", errInterrupted
		}
		return "", &Error{Message: "request failed", Err: stripURL(err), written: written}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		body, err := sb.readResponse(resp.Body)
		if err != nil {
			if ctx.Err() != nil {
				return "", errInterruptedWritten
			}
			return "", &Error{Message: "reading response failed", Err: err, written: true}
		}
		if !wantName {
			return "", nil
		}
		if name, ok := parseName(body); ok {
			return name, nil
		}
		var ok struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(body, &ok); err != nil {
			return "", &Error{Status: resp.StatusCode, Message: "malformed success response", Err: err, class: pushwire.ErrPermanent}
		}
		return ok.Name, nil
	}
	eb, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	e := parseError(resp.StatusCode, resp.Header.Get("Retry-After"), eb, c.now())
	e.src = src
	return "", e
}

// wroteTrace records whether the transport wrote a whole request.
type wroteTrace struct {
	trace httptrace.ClientTrace
	wrote atomic.Bool
}

func (t *wroteTrace) wroteRequest(info httptrace.WroteRequestInfo) {
	if info.Err == nil {
		t.wrote.Store(true)
	}
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
	e := &Error{Status: status, Retry: parseRetryAfter(retryAfter, now)}
	var st rpcStatus
	if len(body) > 0 && json.Unmarshal(body, &st) == nil {
		e.RPCStatus = st.Error.Status
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

// sendBuf is a pooled scratch buffer for encoding a request and reading
// its answer, with the request body over the encoded request. It is owned
// by one deliver call. The body is handed to net/http as
// io.NopCloser(*bytes.Reader), which the transport recognizes as an
// in-memory body and writes together with the headers in one write; it and
// the replay function are built once per pooled buffer, not per send.
type sendBuf struct {
	b       []byte
	resp    []byte
	r       bytes.Reader
	body    io.ReadCloser                 // io.NopCloser(&r)
	getBody func() (io.ReadCloser, error) // replay, bound once
	trace   wroteTrace                    // the first attempt's, bound once
}

var sendBufPool = sync.Pool{New: func() any {
	sb := &sendBuf{b: make([]byte, 0, 1024), resp: make([]byte, 0, 512)}
	sb.body = io.NopCloser(&sb.r)
	sb.getBody = sb.replay
	sb.trace.trace.WroteRequest = sb.trace.wroteRequest
	return sb
}}

func getSendBuf() *sendBuf { return sendBufPool.Get().(*sendBuf) }

func (sb *sendBuf) release() {
	sb.r.Reset(nil)
	if cap(sb.b) <= 64<<10 && cap(sb.resp) <= 64<<10 {
		sendBufPool.Put(sb)
	}
}

// replay is the request's GetBody: a fresh reader over the same payload,
// for the transport to resend the request on another connection. The
// transport calls it only while the request is in flight, when sb.b is
// not modified.
func (sb *sendBuf) replay() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(sb.b)), nil
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
