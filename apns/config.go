package apns

import (
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/pushwire/pushwire"
)

// APNs base URLs (Config.BaseURL). Port 2197 may be used instead of 443
// where 443 is blocked, for example "https://api.push.apple.com:2197".
const (
	ProductionURL = "https://api.push.apple.com"
	SandboxURL    = "https://api.sandbox.push.apple.com"
)

// Defaults applied by [New] to zero Config fields.
const (
	DefaultMaxConcurrency  = 1000
	DefaultPingInterval    = 15 * time.Second
	DefaultPingTimeout     = 10 * time.Second
	DefaultIdleConnTimeout = 10 * time.Minute
	DefaultDialTimeout     = 15 * time.Second
)

// RetryPolicy says how temporary failures (transport errors, GOAWAY, 429,
// 5xx, Shutdown) are retried. Retries reuse the notification's apns-id, wait
// an exponentially growing, jittered delay and never outlast the context's
// deadline. The zero value means 3 attempts, 100 ms to 5 s apart. It is a
// plain value, read once by [New].
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, including the first;
	// 0 means 3, 1 disables retries.
	MaxAttempts int
	// MinBackoff is the delay before the first retry; 0 means 100 ms.
	MinBackoff time.Duration
	// MaxBackoff caps the delay; 0 means 5 s. A Retry-After from APNs
	// lengthens the delay up to MaxBackoff; a longer one is not waited
	// for: the push fails at once with its retryable error, whose
	// RetryAfter tells the caller when to try again.
	MaxBackoff time.Duration
}

// Config configures a [Client]. Exactly one of Token and Certificate is
// required, unless HTTPClient carries its own client certificate. [New]
// copies what it needs; the Config may be reused afterwards.
type Config struct {
	// BaseURL is the APNs base URL: ProductionURL (the default),
	// SandboxURL or any https URL without a path (a fake in tests).
	BaseURL string
	// Token selects provider-token (JWT) authentication.
	Token *TokenAuth
	// Certificate selects TLS client-certificate authentication.
	Certificate *tls.Certificate
	// RootCAs, when set, replaces the system roots for verifying the server
	// (to trust a fake such as apnstest).
	RootCAs *x509.CertPool
	// HTTPClient replaces the client's own HTTP/2 transport (for proxies or
	// custom dialing). It must speak HTTP/2; Certificate, RootCAs and the
	// transport settings below are then not used and must be left zero, and
	// the client's batching of connection writes does not apply.
	HTTPClient *http.Client
	// Topic is the default apns-topic (the app's bundle id) for
	// notifications without one and for [Client.Send].
	Topic string
	// MaxConcurrency bounds concurrent pushes; 0 means
	// [DefaultMaxConcurrency]. Push waits for a
	// slot (honouring its context) when the bound is reached.
	MaxConcurrency int
	// Retry is the retry policy for temporary failures. Retries resend the
	// same request: the same apns-id when the notification has one.
	Retry RetryPolicy
	// GenerateIDs gives every notification without an ID a random apns-id,
	// so that each attempt of a push carries the same id. Without it such
	// notifications are sent without apns-id and APNs assigns one (reported
	// in Response.APNsID), which is cheaper: a unique header value per
	// request churns the HPACK table of the connection.
	GenerateIDs bool
	// PingInterval is how long a connection may stay silent before an HTTP/2
	// PING health check is sent; 0 means 15 s, negative disables the checks.
	PingInterval time.Duration
	// PingTimeout is how long to wait for the PING answer before the
	// connection is closed and its pushes fail (retryably); 0 means 10 s.
	PingTimeout time.Duration
	// IdleConnTimeout closes connections unused for this long; 0 means 10 min.
	IdleConnTimeout time.Duration
	// DialTimeout bounds connecting (TCP and TLS); 0 means 15 s.
	DialTimeout time.Duration
	// Now is the clock used for provider tokens and expirations; nil means time.Now.
	Now func() time.Time
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger
}

// configError wraps a configuration problem so it matches
// pushwire.ErrConfiguration.
func configError(format string, args ...any) error {
	return &pushwire.Error{
		Class:    pushwire.ErrConfiguration,
		Provider: pushwire.ProviderAPNs,
		Err:      fmt.Errorf("apns: "+format, args...),
	}
}

// normalize validates cfg and fills in defaults.
func (cfg *Config) normalize() (*url.URL, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = ProductionURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, configError("BaseURL must be an https URL without path, got %q", cfg.BaseURL)
	}
	if cfg.Token != nil && cfg.Certificate != nil {
		return nil, configError("set either Token or Certificate, not both")
	}
	if cfg.Token == nil && cfg.Certificate == nil && cfg.HTTPClient == nil {
		return nil, configError("Token or Certificate is required")
	}
	if t := cfg.Token; t != nil {
		if t.Key == nil {
			return nil, configError("token auth needs a key")
		}
		if t.Key.Curve != elliptic.P256() {
			return nil, configError("token auth needs a P-256 key (ES256), as Apple issues in .p8 files")
		}
		if t.KeyID == "" || t.TeamID == "" {
			return nil, configError("token auth needs a key id and a team id")
		}
		if t.Renew == 0 {
			t.Renew = DefaultTokenRenew
		}
		if t.Renew < MinTokenRenew || t.Renew >= MaxTokenRenew {
			return nil, configError("token renewal %v outside [%v, %v)", t.Renew, MinTokenRenew, MaxTokenRenew)
		}
	}
	if c := cfg.Certificate; c != nil {
		if len(c.Certificate) == 0 || c.PrivateKey == nil {
			return nil, configError("certificate auth needs a certificate and its private key")
		}
	}
	if cfg.HTTPClient != nil && (cfg.Certificate != nil || cfg.RootCAs != nil) {
		return nil, configError("with HTTPClient, configure certificates on its transport")
	}
	if cfg.MaxConcurrency == 0 {
		cfg.MaxConcurrency = DefaultMaxConcurrency
	}
	if cfg.MaxConcurrency < 0 {
		return nil, configError("MaxConcurrency must not be negative")
	}
	r := &cfg.Retry
	if r.MaxAttempts == 0 {
		r.MaxAttempts = 3
	}
	if r.MinBackoff == 0 {
		r.MinBackoff = 100 * time.Millisecond
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = 5 * time.Second
	}
	if r.MaxAttempts < 0 || r.MinBackoff < 0 || r.MaxBackoff < r.MinBackoff {
		return nil, configError("invalid retry policy")
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.IdleConnTimeout == 0 {
		cfg.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.PingTimeout < 0 || cfg.IdleConnTimeout < 0 || cfg.DialTimeout < 0 {
		return nil, configError("timeouts must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return u, nil
}

var errNoHTTP2 = errors.New("apns: server did not negotiate HTTP/2")
