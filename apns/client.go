package apns

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/batchconn"
	"github.com/pushwire/pushwire/internal/conntrack"
	"github.com/pushwire/pushwire/internal/inflight"
)

// Client sends notifications to APNs over HTTP/2. It is safe for concurrent
// use; create one per team/key (or certificate) and share it: a connection
// binds to the credentials it first used.
type Client struct {
	scheme, host string
	topic        string
	topicHdrs    map[PushType][]string // default topic per push type
	rt           http.RoundTripper
	hc           *http.Client // non-nil when injected
	tr           *http.Transport
	conns        conntrack.Set // the connections of tr
	tokens       *tokenSource
	cert         *tls.Certificate
	sem          chan struct{}
	retry        RetryPolicy
	genIDs       bool
	now          func() time.Time
	log          *slog.Logger

	stop context.Context    // ended by Close: ends the pushes under way
	kill context.CancelFunc // ends stop

	pushes inflight.Set[*pushState] // pushes under way
}

// New validates cfg and returns a client. It does not connect: the first
// push does.
func New(cfg Config) (*Client, error) {
	if cfg.Token != nil {
		t := *cfg.Token // do not modify the caller's value
		cfg.Token = &t
	}
	u, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	c := &Client{
		scheme:    u.Scheme,
		host:      u.Host,
		topic:     cfg.Topic,
		topicHdrs: make(map[PushType][]string, len(pushTypeSuffix)),
		cert:      cfg.Certificate,
		sem:       make(chan struct{}, cfg.MaxConcurrency),
		retry:     cfg.Retry,
		genIDs:    cfg.GenerateIDs,
		now:       cfg.Now,
		log:       cfg.Logger,
	}
	c.stop, c.kill = context.WithCancel(context.Background())
	if cfg.Topic != "" {
		for pt := range pushTypeSuffix {
			c.topicHdrs[pt] = []string{Topic(cfg.Topic, pt)}
		}
	}
	if t := cfg.Token; t != nil {
		c.tokens = &tokenSource{key: t.Key, keyID: t.KeyID, teamID: t.TeamID, renew: t.Renew, now: cfg.Now}
	}
	if cfg.HTTPClient != nil {
		c.hc = cfg.HTTPClient
		return c, nil
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs}
	if cfg.Certificate != nil {
		tlsConf.Certificates = []tls.Certificate{*cfg.Certificate}
	}
	h2 := &http.HTTP2Config{PingTimeout: cfg.PingTimeout}
	if cfg.PingInterval > 0 {
		h2.SendPingTimeout = cfg.PingInterval
	}
	protos := new(http.Protocols)
	protos.SetHTTP2(true)
	c.tr = &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         c.conns.Dialer(batchconn.Dialer(&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second})),
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: cfg.DialTimeout,
		ForceAttemptHTTP2:   true,
		DisableCompression:  true, // APNs answers are tiny: no accept-encoding, no gzip reader
		IdleConnTimeout:     cfg.IdleConnTimeout,
		// With HTTP/2 this bounds the connections being dialed or idle in
		// the pool, not the total: a connection at its stream limit leaves
		// the count, so another is dialed. It stops a burst (a cold start,
		// a GOAWAY) from dialing one connection per waiting push.
		MaxConnsPerHost: 1,
		Protocols:       protos,
		HTTP2:           h2,
	}
	c.rt = c.tr
	return c, nil
}

// Close closes the client, as net/http.Server's Close does: pushes fail at
// once with an error matching pushwire.ErrClosed, the pushes under way
// (requests in flight and pushes waiting to retry) are cancelled: they
// return an error matching pushwire.ErrClosed, and
// pushwire.ErrUnknownOutcome when their request had been written. Close
// returns once they have returned, with the connections of the client's own
// transport closed. It is idempotent and always returns nil.
func (c *Client) Close() error {
	c.pushes.Cancel()
	c.kill()
	c.pushes.Wait()
	if c.tr != nil {
		c.tr.CloseIdleConnections()
		c.conns.CloseAll()
	}
	return nil
}

// Shutdown closes the client gracefully, as net/http.Server's Shutdown does:
// pushes fail at once with an error matching pushwire.ErrClosed, and
// Shutdown waits for the pushes under way to return. When ctx ends first it
// does what Close does and returns ctx's error; otherwise it closes the
// connections and returns nil.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.pushes.Shutdown(ctx, c.Close)
}

// closedError is the error of a push that Close refused (written false) or
// ended (written reports whether its request had been written).
func closedError(written bool) error {
	err := fmt.Errorf("apns: %w", pushwire.ErrClosed)
	if written {
		err = pushwire.UnknownOutcome(err)
	}
	return err
}

// interrupted is the error of an attempt whose context (the caller's, or
// Close's) ended; written reports whether a request had been written
// without an answer.
type interrupted struct {
	written bool
	last    *Error // the answer of the last attempt, when waiting to retry
}

func (interrupted) Error() string { return "apns: push interrupted" }

// ended is the error of a push whose context (ctx, the caller's) ended or
// that Close ended.
func ended(ctx context.Context, ie interrupted) error {
	if err := ctx.Err(); err != nil {
		return pushwire.ContextError(pushwire.ProviderAPNs, err, ie.written)
	}
	if ie.last == nil {
		return closedError(ie.written)
	}
	// Close ended the wait before a retry: the last answer (retryable)
	// stays visible.
	var err error = fmt.Errorf("apns: %w before the retry: %w", pushwire.ErrClosed, ie.last)
	if ie.written {
		err = pushwire.UnknownOutcome(err)
	}
	return err
}

// CertificateNotAfter returns when the client certificate expires, and false
// when the client does not use certificate authentication.
func (c *Client) CertificateNotAfter() (time.Time, bool) {
	if c.cert == nil {
		return time.Time{}, false
	}
	t, err := CertificateNotAfter(c.cert)
	return t, err == nil
}

// Push sends n and returns APNs' response. On rejection the error is an
// [*Error] and the response is returned too; on transport failure after the
// retries the response is nil.
func (c *Client) Push(ctx context.Context, n *Notification) (*Response, error) {
	st := new(pushState)
	err := c.push(ctx, n, st)
	if st.res.StatusCode == 0 {
		return nil, err
	}
	return &st.res, err
}

// maxPath is the longest request path: "/3/device/" and a 200-digit token.
const maxPath = len("/3/device/") + 200

// pushState holds what one push needs beyond the transport's own
// allocations, so that a push costs one allocation here.
type pushState struct {
	res         Response
	keepScratch bool // a retry happened: do not recycle the scratch
	idHdr       [1]string
	id          [36]byte // the generated apns-id, which the Response keeps
	// path backs the request's :path, which the connection's HPACK table
	// may keep: it must never be reused for another push.
	path [maxPath]byte
}

// sendState is Send's pushState with room for the payload it builds, so
// that Push does not carry (and allocate) the payload buffer.
type sendState struct {
	pushState
	payload [768]byte // the payload when it fits
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Pre-built header values shared by all requests (never modified).
var (
	pushTypeHdrs = func() map[PushType][]string {
		m := make(map[PushType][]string, len(pushTypeSuffix))
		for pt := range pushTypeSuffix {
			m[pt] = []string{string(pt)}
		}
		return m
	}()
	priorityHdrs = map[Priority][]string{
		PriorityLow: {"1"}, PriorityConserve: {"5"}, PriorityImmediate: {"10"},
	}
	expireNowHdr = []string{"0"}
)

func (c *Client) push(ctx context.Context, n *Notification, st *pushState) error {
	if n == nil {
		return &Error{Reason: ReasonPayloadEmpty}
	}
	if err := ctx.Err(); err != nil {
		return pushwire.ContextError(pushwire.ProviderAPNs, err, false)
	}
	// sctx ends with ctx or when Close ends the pushes under way.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !c.pushes.Begin(st, cancel) {
		return closedError(false)
	}
	defer c.pushes.End(st)
	payload := n.Payload
	if payload == nil && n.Content != nil {
		bp := bufPool.Get().(*[]byte)
		b, err := n.Content.appendJSON((*bp)[:0])
		if err != nil {
			bufPool.Put(bp)
			return &Error{Reason: reasonInvalidPayload, Token: pushwire.Redact(n.DeviceToken), Err: err}
		}
		payload = append([]byte(nil), b...)
		*bp = b
		bufPool.Put(bp)
	}
	pt, topic, prio, err := n.validate(c.topic, payload)
	if err != nil {
		return err
	}
	sc := scratchPool.Get().(*scratch)
	h := sc.h
	clear(h)
	if n.Topic == "" {
		h["apns-topic"] = c.topicHdrs[pt]
	} else {
		h["apns-topic"] = []string{topic}
	}
	h["apns-push-type"] = pushTypeHdrs[pt]
	if prio != PriorityDefault {
		h["apns-priority"] = priorityHdrs[prio]
	}
	// Without an ID the header is left out and APNs assigns one (returned
	// in the response), unless GenerateIDs asks for a client-side one. A
	// unique header value per request churns the connection's HPACK table,
	// which costs the transport more CPU than anything else per push.
	id := n.ID
	if id == "" && c.genIDs {
		formatUUIDRaw(&st.id, rand.Uint64()&^(0xf<<12)|4<<12, rand.Uint64()) // version 4
		id = unsafe.String(&st.id[0], len(st.id))
	}
	if id != "" {
		st.idHdr[0] = id
		h["apns-id"] = st.idHdr[:]
	}
	if n.ExpireNow {
		h["apns-expiration"] = expireNowHdr
	} else if !n.Expiration.IsZero() {
		h["apns-expiration"] = []string{strconv.FormatInt(n.Expiration.Unix(), 10)}
	}
	if n.CollapseID != "" {
		h["apns-collapse-id"] = []string{n.CollapseID}
	}
	// The path lives in st (the token was validated: at most 200 bytes).
	k := copy(st.path[:], "/3/device/")
	k += copy(st.path[k:], n.DeviceToken)
	path := unsafe.String(&st.path[0], k)

	select {
	case c.sem <- struct{}{}:
	case <-sctx.Done():
		return ended(ctx, interrupted{})
	}
	defer func() { <-c.sem }()
	err = c.send(sctx, st, sc, path, payload, id, n.DeviceToken)
	if ie, ok := err.(interrupted); ok {
		return ended(ctx, ie)
	}
	if st.res.StatusCode == http.StatusOK && !st.keepScratch {
		// APNs accepted the push, so it has received the headers and the
		// whole body: the transport no longer reads sc, which can serve
		// another push.
		scratchPool.Put(sc)
	}
	return err
}

// scratch is the per-request state the transport reads while it sends: the
// URL, the header map and the body with its replay function. It is recycled
// once APNs has accepted the push. Nothing the transport may keep beyond the
// request (header strings, which its HPACK table stores) may live here.
type scratch struct {
	h       http.Header
	body    bodyReader
	getBody func() (io.ReadCloser, error)
	url     url.URL
}

var scratchPool = sync.Pool{New: func() any {
	sc := &scratch{h: make(http.Header, 8)}
	sc.getBody = sc.body.getBody
	return sc
}}

// send runs the attempts of one push.
func (c *Client) send(ctx context.Context, st *pushState, sc *scratch, path string, payload []byte, id, token string) error {
	h := sc.h
	renewed := false
	// written is set once a request was written and no answer came: from
	// then on the notification may have been delivered.
	written := false
	for attempt := 1; ; attempt++ {
		var used *bearer
		if c.tokens != nil {
			b, err := c.tokens.get()
			if err != nil {
				return err
			}
			used = b
			h["authorization"] = b.header
		}
		st.res = Response{}
		// The first attempt reads the body from sc; a retry gets a fresh
		// reader, since the transport may still hold the previous one.
		body, getBody, u := &sc.body, sc.getBody, &sc.url
		if attempt > 1 || renewed {
			body = new(bodyReader)
			getBody = body.getBody
			u = new(url.URL)
			st.keepScratch = true // the first attempt may still hold sc's body and URL
		}
		*body = bodyReader{p: payload}
		*u = url.URL{Scheme: c.scheme, Host: c.host, Path: path}
		err := c.attempt(ctx, body, getBody, u, h, id, token, &st.res)
		if err == nil {
			return nil
		}
		if ie, ok := err.(interrupted); ok {
			return interrupted{written: written || ie.written}
		}
		ae, _ := err.(*Error)
		if ae == nil {
			return err
		}
		if ae.written {
			written = true
		}
		if ae.Reason == ReasonExpiredProviderToken && c.tokens != nil && !renewed {
			renewed = true
			_, ok, serr := c.tokens.renewExpired(used)
			if serr != nil {
				return serr
			}
			if ok {
				c.log.Info("apns: provider token renewed after ExpiredProviderToken")
				attempt-- // the renewal retry does not count
				continue
			}
			return err
		}
		if ae.Class() != pushwire.ErrRetryable {
			return err
		}
		if ctx.Err() != nil {
			return interrupted{written: written}
		}
		final := attempt >= c.retry.MaxAttempts ||
			// APNs asks for a longer wait than the policy allows: hand the
			// error, with its Retry-After, back to the caller to schedule
			// instead of holding the push (and its slot) that long.
			ae.Retry > c.retry.MaxBackoff
		d := c.backoff(attempt)
		if ae.Retry > d {
			d = ae.Retry
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			final = true
		}
		if final {
			if written {
				// This attempt or an earlier one may have been delivered.
				return pushwire.UnknownOutcome(err)
			}
			return err
		}
		c.log.Debug("apns: retrying push", "token", ae.Token, "apns-id", id, "attempt", attempt+1, "delay", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return interrupted{written: written, last: ae}
		}
	}
}

// backoff returns the jittered delay before retry number attempt (1-based).
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retry.MinBackoff
	for i := 1; i < attempt && d < c.retry.MaxBackoff; i++ {
		// Doubled, or MaxBackoff when doubling would pass it: never
		// past MaxBackoff, never overflowing however long MaxBackoff is.
		d += min(d, c.retry.MaxBackoff-d)
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// bodyReader is a request body over a payload. It records when the
// transport has read all of it.
type bodyReader struct {
	p   []byte
	off int
	eof atomic.Bool // read by the push while the transport may read the body
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.off >= len(b.p) {
		b.eof.Store(true)
		return 0, io.EOF
	}
	n := copy(p, b.p[b.off:])
	b.off += n
	if b.off == len(b.p) {
		b.eof.Store(true)
		return n, io.EOF // saves the transport a Read to find the end
	}
	return n, nil
}

func (b *bodyReader) Close() error { return nil }

// getBody returns a fresh reader over the same payload.
func (b *bodyReader) getBody() (io.ReadCloser, error) { return &bodyReader{p: b.p}, nil }

// attempt does one HTTP/2 request.
func (c *Client) attempt(ctx context.Context, body *bodyReader, getBody func() (io.ReadCloser, error), u *url.URL, h http.Header, id, token string, res *Response) error {
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           u,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        h,
		Body:          body,
		GetBody:       getBody, // lets the transport replay the body after GOAWAY
		ContentLength: int64(len(body.p)),
		Host:          c.host,
	}).WithContext(ctx)
	var resp *http.Response
	var err error
	if c.hc != nil {
		resp, err = c.hc.Do(req)
	} else {
		resp, err = c.rt.RoundTrip(req)
	}
	if err != nil {
		// Once the transport has read the whole body it writes it (or
		// has written it): a failure after that leaves the outcome
		// unknown. (Under HTTP/2 flow control the last frame may still
		// wait: the outcome is then called unknown though nothing was
		// delivered, never the other way round.)
		written := body.eof.Load()
		if ctx.Err() != nil {
			return interrupted{written: written}
		}
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return &Error{APNsID: id, Token: pushwire.Redact(token), Err: connError{err}, written: written}
	}
	res.StatusCode = resp.StatusCode
	res.APNsID = resp.Header.Get("Apns-Id")
	if res.APNsID == "" {
		res.APNsID = id
	}
	res.UniqueID = resp.Header.Get("Apns-Unique-Id")
	if resp.ProtoMajor != 2 {
		resp.Body.Close()
		return &Error{Status: resp.StatusCode, APNsID: id, Token: pushwire.Redact(token), Err: errNoHTTP2}
	}
	if resp.StatusCode == http.StatusOK {
		var one [1]byte
		for {
			if _, rerr := resp.Body.Read(one[:]); rerr != nil {
				break
			}
		}
		resp.Body.Close()
		return nil
	}
	var eb struct {
		Reason    string `json:"reason"`
		Timestamp int64  `json:"timestamp"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	_ = json.Unmarshal(data, &eb)
	res.Reason = Reason(eb.Reason)
	if eb.Timestamp > 0 {
		res.Timestamp = time.UnixMilli(eb.Timestamp)
	}
	e := &Error{
		Status:    resp.StatusCode,
		Reason:    res.Reason,
		Timestamp: res.Timestamp,
		APNsID:    res.APNsID,
		Token:     pushwire.Redact(token),
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		e.Retry = parseRetryAfter(ra)
	}
	return e
}

// maxRetryAfter is the longest Retry-After a Duration holds in whole seconds.
const maxRetryAfter = math.MaxInt64 / time.Second * time.Second

// parseRetryAfter returns the delay of a Retry-After header given in
// seconds, or 0 when it is not a positive number of seconds. A delay too long
// for a Duration is clamped to maxRetryAfter rather than wrapping negative.
func parseRetryAfter(v string) time.Duration {
	s, err := strconv.ParseUint(v, 10, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange), s == 0:
		return 0
	case err != nil || s > uint64(maxRetryAfter/time.Second):
		return maxRetryAfter
	}
	return time.Duration(s) * time.Second
}

// connError marks a transport failure; it matches ErrConnection.
type connError struct{ err error }

func (e connError) Error() string        { return "connection failure: " + e.err.Error() }
func (e connError) Unwrap() []error      { return []error{ErrConnection, e.err} }
func (e connError) Is(target error) bool { return target == ErrConnection }

const hexDigits = "0123456789abcdef"

// formatUUIDRaw writes hi and lo as a canonical UUID with the RFC 4122 variant.
func formatUUIDRaw(b *[36]byte, hi, lo uint64) {
	lo = lo&^(0x3<<62) | 0x2<<62
	var raw [16]byte
	for i := 0; i < 8; i++ {
		raw[i] = byte(hi >> (56 - 8*i))
		raw[8+i] = byte(lo >> (56 - 8*i))
	}
	j := 0
	for i, x := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j] = hexDigits[x>>4]
		b[j+1] = hexDigits[x&0xf]
		j += 2
	}
}
