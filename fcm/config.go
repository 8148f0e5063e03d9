package fcm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pushwire/pushwire/internal/conntrack"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/batchconn"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// Scope is the OAuth2 scope for sending FCM messages.
const Scope = "https://www.googleapis.com/auth/firebase.messaging"

// DefaultBaseURL is the base URL of the FCM API (Config.BaseURL).
const DefaultBaseURL = "https://fcm.googleapis.com"

// tokenTimeout bounds one access-token fetch when the HTTP client has no
// Timeout of its own.
const tokenTimeout = 30 * time.Second

// DefaultMaxConcurrency is the default limit of concurrent requests per client.
const DefaultMaxConcurrency = 100

// Config configures a [Client]. Give either CredentialsJSON, or TokenSource
// and ProjectID.
type Config struct {
	// CredentialsJSON is a service-account key file's content. Its
	// token_uri is where access tokens are fetched from, its project_id
	// is the default ProjectID.
	CredentialsJSON []byte
	// TokenSource supplies access tokens when CredentialsJSON is empty. It
	// is wrapped in oauth2.ReuseTokenSource, so tokens are cached. Its
	// Token takes no context: it is called in a goroutine of its own, one
	// call at a time, and sends wait for it only until their context
	// ends. The client cannot bound a call that blocks; bound it in the
	// source (as an HTTP client's Timeout does).
	TokenSource oauth2.TokenSource
	// ProjectID is the Firebase project; required with TokenSource,
	// overrides the project_id of CredentialsJSON.
	ProjectID string
	// BaseURL is the base URL of the FCM API; default [DefaultBaseURL].
	BaseURL string
	// HTTPClient sends requests and fetches tokens. Default: a client with
	// one shared transport (HTTP/2 over TLS, keep-alive pool sized to
	// MaxConcurrency) that Close releases; its TLS connections queue
	// their writes and send what is queued with one system call, so the
	// frames of a request, and of concurrent requests, leave together.
	// When the client has no Jar,
	// Timeout or CheckRedirect, sends go straight to its Transport (FCM
	// never redirects a send), which must not modify requests (the
	// http.RoundTripper contract). Sends have no timeout of their own:
	// bound them with the context's deadline. Token fetches time out after
	// 30s unless the client sets a Timeout; a send waits for one only
	// until its context ends, and the fetch goes on for the other sends.
	HTTPClient *http.Client
	// MaxConcurrency bounds the requests in flight across all sends of
	// the client; default [DefaultMaxConcurrency].
	MaxConcurrency int
	// Retry is the retry policy; the zero value retries UNAVAILABLE,
	// INTERNAL and network errors up to 3 attempts.
	Retry RetryPolicy
	// Logger receives debug logs (retries); default discards.
	Logger *slog.Logger
	// Now returns the current time (to evaluate Retry-After dates);
	// default time.Now.
	Now func() time.Time
}

// RetryPolicy says when and how long to wait before retrying a failed send.
// Delays grow exponentially with full jitter (a random delay between 0 and
// min(MaxBackoff, MinBackoff·2^(n-1)) before retry n), are never shorter than
// the server's Retry-After, and a wait that would pass the context deadline
// is not started: the last error is returned instead. Permanent errors are
// never retried.
type RetryPolicy struct {
	// MaxAttempts is the total number of requests per message, including
	// the first; 0 means 3, 1 disables retries.
	MaxAttempts int
	// MinBackoff is the backoff unit; default 500ms.
	MinBackoff time.Duration
	// MaxBackoff caps a backoff delay; default 60s. A Retry-After longer than
	// MaxBackoff is not waited for: the error is returned so the caller can
	// reschedule.
	MaxBackoff time.Duration
	// RetryQuota makes the client wait out QUOTA_EXCEEDED and bare 429
	// answers (for their Retry-After, one minute when absent) instead of
	// returning them to the caller.
	RetryQuota bool
	// Sleep waits for d or until ctx is done (returning ctx.Err()). Tests
	// replace it; default uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 3
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = 500 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 60 * time.Second
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = p.MinBackoff
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func configError(msg string, err error) error {
	if err != nil {
		return &configErr{msg: msg, err: err}
	}
	return &configErr{msg: msg}
}

type configErr struct {
	msg string
	err error
}

func (e *configErr) Error() string {
	if e.err != nil {
		return "fcm: invalid config: " + e.msg + ": " + e.err.Error()
	}
	return "fcm: invalid config: " + e.msg
}
func (e *configErr) Unwrap() error { return e.err }
func (e *configErr) Is(target error) bool {
	return target == pushwire.ErrConfiguration || target == pushwire.ErrPermanent
}

// New validates cfg and returns a client. Errors about cfg match
// pushwire.ErrConfiguration. ctx is used only while New runs: neither its
// deadline nor its values reach later token fetches, which use the client's
// HTTPClient (each send's own context bounds its wait for a token).
// New does not contact FCM; a token is fetched on the first send.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &Client{
		log: cfg.Logger,
		now: cfg.Now,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if cfg.MaxConcurrency < 0 {
		return nil, configError("MaxConcurrency must not be negative", nil)
	}
	if cfg.MaxConcurrency == 0 {
		cfg.MaxConcurrency = DefaultMaxConcurrency
	}
	c.sem = make(chan struct{}, cfg.MaxConcurrency)
	c.stop, c.kill = context.WithCancel(context.Background())
	c.retry = cfg.Retry.withDefaults()

	c.hc = cfg.HTTPClient
	if c.hc == nil {
		// Plain-HTTP connections write each request in one write(2)
		// already; batching pays off under TLS only.
		tlsBase := cfg.BaseURL == "" || !strings.HasPrefix(strings.ToLower(cfg.BaseURL), "http://")
		c.conns = new(conntrack.Set)
		c.transport = newTransport(cfg.MaxConcurrency, tlsBase, c.conns)
		c.hc = &http.Client{Transport: c.transport}
	}

	// A POST to FCM never redirects: when the client adds nothing but its
	// transport (no cookie jar, timeout or redirect policy), requests go
	// straight to the transport, which saves the http.Client bookkeeping.
	if c.hc.Jar == nil && c.hc.Timeout == 0 && c.hc.CheckRedirect == nil {
		c.rt = c.hc.Transport
		if c.rt == nil {
			c.rt = http.DefaultTransport
		}
	}

	project := cfg.ProjectID
	switch {
	case len(cfg.CredentialsJSON) > 0 && cfg.TokenSource != nil:
		return nil, configError("set either CredentialsJSON or TokenSource, not both", nil)
	case len(cfg.CredentialsJSON) > 0:
		// Token fetches must outlive ctx and use the injected client,
		// bounded in time: a hung token endpoint would otherwise block
		// every send waiting for the token.
		// The service-account token source posts without a context
		// (golang.org/x/oauth2/jwt), so Close could not end a fetch under
		// way: the transport ties every token request to c.stop.
		cp := *c.hc
		if cp.Timeout == 0 {
			cp.Timeout = tokenTimeout
		}
		cp.Transport = stopTransport{base: cp.Transport, stop: c.stop}
		tokenHC := &cp
		// The credentials keep tctx for every later token fetch: it must
		// not be derived from ctx, whose values belong to this call. It
		// ends with c.stop: Close ends the fetches, which it then waits for.
		tctx := context.WithValue(c.stop, oauth2.HTTPClient, tokenHC)
		c.ownTS = true
		credJSON := append([]byte(nil), cfg.CredentialsJSON...)
		creds, err := google.CredentialsFromJSONWithType(tctx, credJSON, google.ServiceAccount, Scope)
		if err != nil {
			// The oauth2 error may quote the JSON type; never the key.
			return nil, configError("credentials", errors.New(redactCredErr(err)))
		}
		if project == "" {
			project = creds.ProjectID
		}
		c.ts.Store(&tokenSource{creds.TokenSource})
		c.newTS = func() oauth2.TokenSource {
			fresh, err := google.CredentialsFromJSONWithType(tctx, credJSON, google.ServiceAccount, Scope)
			if err != nil { // parsed once already; cannot happen
				return creds.TokenSource
			}
			return fresh.TokenSource
		}
	case cfg.TokenSource != nil:
		src := cfg.TokenSource
		c.ts.Store(&tokenSource{oauth2.ReuseTokenSource(nil, src)})
		c.newTS = func() oauth2.TokenSource { return oauth2.ReuseTokenSource(nil, src) }
	default:
		return nil, configError("CredentialsJSON or TokenSource is required", nil)
	}
	if project == "" {
		return nil, configError("ProjectID is required (not in the credentials)", nil)
	}
	if strings.ContainsAny(project, "/?#% ") {
		return nil, configError("ProjectID contains invalid characters", nil)
	}
	c.project = project

	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(base, "/") + "/v1/projects/" + project + "/messages:send")
	if err != nil {
		return nil, configError("BaseURL", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, configError("BaseURL must be an http or https URL", nil)
	}
	c.url = u
	return c, nil
}

func redactCredErr(err error) string {
	s := err.Error()
	if len(s) > 200 || strings.Contains(s, "PRIVATE KEY") {
		return "cannot parse service-account JSON"
	}
	return s
}

func newTransport(maxConc int, batchWrites bool, conns *conntrack.Set) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	dial := d.DialContext
	if batchWrites {
		dial = batchconn.Dialer(d)
	}
	dial = conns.Dialer(dial)
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxConc,
		MaxIdleConnsPerHost:   maxConc,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Detect dead HTTP/2 connections with pings.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second},
	}
}

var _ io.Closer = (*Client)(nil)

// stopTransport ends its requests when stop ends (Close), whatever context
// they were made with.
type stopTransport struct {
	base http.RoundTripper // nil: http.DefaultTransport
	stop context.Context
}

func (t stopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	ctx, cancel := context.WithCancel(req.Context())
	unhook := context.AfterFunc(t.stop, cancel)
	done := func() { unhook(); cancel() }
	resp, err := base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		done()
		return nil, err
	}
	resp.Body = &doneBody{ReadCloser: resp.Body, done: done}
	return resp, nil
}

// doneBody calls done once the body is closed.
type doneBody struct {
	io.ReadCloser
	done func()
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}
