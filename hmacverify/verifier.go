package hmacverify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
)

// Defaults for Config.
const (
	// DefaultMaxBodyBytes is the body size limit when Config.MaxBodyBytes is zero.
	DefaultMaxBodyBytes = 64 << 10
	// DefaultBodyTimeout is the body read timeout when Config.BodyTimeout is zero.
	DefaultBodyTimeout = 10 * time.Second
)

// SecretSource yields the secrets acceptable for an event. Returning several
// secrets supports rotation: a request is accepted if its signature matches
// any of them. Returning none rejects the event as unsigned by any known
// secret. An error is reported as [ErrUnavailable] unless it matches
// [ErrInvalidConfig]. Implementations must be safe for concurrent use.
type SecretSource interface {
	Secrets(ctx context.Context, ev Event) ([][]byte, error)
}

// StaticSecrets is a fixed list of accepted secrets, typically the current
// secret followed by the previous one during a rotation. It implements
// [SecretSource] and is safe for concurrent use as long as it is not modified.
type StaticSecrets [][]byte

// Secrets returns s itself.
func (s StaticSecrets) Secrets(context.Context, Event) ([][]byte, error) { return s, nil }

// Config configures a [Verifier]. NewVerifier reads it once; the Verifier
// keeps no reference to it beyond the values it holds (secret sources, seen-set).
type Config struct {
	// Secrets yields the accepted secrets. Required; a StaticSecrets must
	// hold at least one secret and no empty one.
	Secrets SecretSource
	// MaxBodyBytes limits the body size (default DefaultMaxBodyBytes, 64 KiB).
	MaxBodyBytes int64
	// BodyTimeout bounds the time the middleware waits for the body (default
	// DefaultBodyTimeout), so that a slow client cannot hold a handler. It
	// is applied as a read deadline where the server supports one; set
	// http.Server timeouts as well.
	BodyTimeout time.Duration
	// ReplayWindow turns replay protection on when positive: eventDate must
	// lie within ±ReplayWindow of Now, and an eventId may be accepted once.
	// Zero turns it off.
	ReplayWindow time.Duration
	// Remember is how long an accepted eventId stays in the seen-set
	// (default 2×ReplayWindow). Since AXP does not sign eventDate, a longer
	// memory rejects replays for longer.
	Remember time.Duration
	// Seen is the seen-set used for replay protection (default: a
	// MemorySeenSet of DefaultSeenCapacity using Now).
	Seen SeenSet
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// ErrorHandler answers requests the middleware rejects (default
	// WriteError). It may answer a replay with 200 to treat the event as
	// already processed.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives one record per rejected request (default: discard).
	// Signatures and secrets are never logged.
	Logger *slog.Logger
}

// Verifier authenticates AXP callback requests. Create it with
// [NewVerifier]; it is safe for concurrent use.
type Verifier struct {
	secrets  SecretSource
	maxBody  int64
	timeout  time.Duration
	window   time.Duration
	remember time.Duration
	seen     SeenSet
	now      func() time.Time
	onError  func(w http.ResponseWriter, r *http.Request, err error)
	log      *slog.Logger
}

// NewVerifier validates cfg and returns a Verifier. Configuration errors
// match [ErrInvalidConfig]; an empty secret matches [ErrNoSecret].
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Secrets == nil {
		return nil, fmt.Errorf("%w: no secret source", ErrInvalidConfig)
	}
	if s, ok := cfg.Secrets.(StaticSecrets); ok {
		if len(s) == 0 {
			return nil, fmt.Errorf("%w: no secrets", ErrInvalidConfig)
		}
		own := make(StaticSecrets, len(s)) // later changes to the caller's slice do not apply
		for i, k := range s {
			if len(k) == 0 {
				return nil, ErrNoSecret
			}
			own[i] = bytes.Clone(k)
		}
		cfg.Secrets = own
	}
	if cfg.MaxBodyBytes < 0 || cfg.BodyTimeout < 0 || cfg.ReplayWindow < 0 || cfg.Remember < 0 {
		return nil, fmt.Errorf("%w: negative limit or duration", ErrInvalidConfig)
	}
	v := &Verifier{
		secrets:  cfg.Secrets,
		maxBody:  cfg.MaxBodyBytes,
		timeout:  cfg.BodyTimeout,
		window:   cfg.ReplayWindow,
		remember: cfg.Remember,
		seen:     cfg.Seen,
		now:      cfg.Now,
		onError:  cfg.ErrorHandler,
		log:      cfg.Logger,
	}
	if v.maxBody == 0 {
		v.maxBody = DefaultMaxBodyBytes
	}
	if v.timeout == 0 {
		v.timeout = DefaultBodyTimeout
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.onError == nil {
		v.onError = func(w http.ResponseWriter, _ *http.Request, err error) { WriteError(w, err) }
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.window > 0 {
		if v.remember == 0 {
			v.remember = 2 * v.window
		}
		if v.seen == nil {
			s, err := NewMemorySeenSet(MemorySeenConfig{Now: v.now})
			if err != nil {
				return nil, err
			}
			v.seen = s
		}
	}
	return v, nil
}

// VerifyRequest reads r's body (at most the configured limit), parses the
// event and checks its signature and, when replay protection is on, its
// freshness and novelty. It replaces r.Body with a reader over the bytes read,
// so the body stays readable, and returns the event and the body.
//
// Errors match one of the package's sentinels; [StatusCode] maps them to an
// HTTP status. On [ErrStale] and [ErrReplay] the signature was valid and the
// event and body are returned as well.
func (v *Verifier) VerifyRequest(r *http.Request) (Event, []byte, error) {
	body, err := v.readBody(r)
	if err != nil {
		return Event{}, nil, err
	}
	sig := signature(r.Header)
	if sig == "" {
		return Event{}, body, ErrMissingSignature
	}
	ev, err := ParseEvent(body)
	if err != nil {
		return Event{}, body, err
	}
	secrets, err := v.secrets.Secrets(r.Context(), ev)
	if err != nil {
		if errors.Is(err, ErrInvalidConfig) {
			return Event{}, body, err
		}
		return Event{}, body, fmt.Errorf("%w: secret source: %w", ErrUnavailable, err)
	}
	if err := verifyAny(secrets, ev, sig); err != nil {
		return Event{}, body, err
	}
	if v.window <= 0 {
		return ev, body, nil
	}
	now := v.now()
	if ev.EventDate.IsZero() {
		return ev, body, fmt.Errorf("%w: no eventDate", ErrStale)
	}
	if skew := now.Sub(ev.EventDate); skew > v.window || skew < -v.window {
		return ev, body, fmt.Errorf("%w: eventDate is %s away from now", ErrStale, skew.Round(time.Second))
	}
	already, err := v.seen.Seen(r.Context(), ev.EventID, now.Add(v.remember))
	if err != nil {
		return ev, body, fmt.Errorf("%w: seen-set: %w", ErrUnavailable, err)
	}
	if already {
		return ev, body, ErrReplay
	}
	return ev, body, nil
}

func verifyAny(secrets [][]byte, ev Event, sig string) error {
	if len(secrets) == 0 {
		return fmt.Errorf("%w: no secret for this event", ErrInvalidSignature)
	}
	for _, s := range secrets {
		err := Verify(s, ev.EventID, ev.SessionID, sig)
		if err == nil || errors.Is(err, ErrNoSecret) {
			return err
		}
	}
	return ErrInvalidSignature
}

// readBody reads at most v.maxBody bytes of the body and puts them back.
func (v *Verifier) readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > v.maxBody {
		return nil, ErrTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + 1)
	}
	_, err := buf.ReadFrom(io.LimitReader(r.Body, v.maxBody+1))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, ErrTooLarge
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, ErrTimeout
		}
		return nil, fmt.Errorf("%w: reading body: %w", ErrMalformed, err)
	}
	if int64(buf.Len()) > v.maxBody {
		return nil, ErrTooLarge
	}
	if buf.Len() == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	body := buf.Bytes()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, nil
}

// signature returns the X-hmac header value, whatever the spelling of its name.
func signature(h http.Header) string {
	if v := h.Get(SignatureHeader); v != "" {
		return v
	}
	for k, vs := range h { // a header map built by hand may hold a non-canonical key
		if len(vs) > 0 && strings.EqualFold(k, SignatureHeader) {
			return vs[0]
		}
	}
	return ""
}

type eventKey struct{}

// Middleware returns a handler that verifies each request with
// [Verifier.VerifyRequest] and passes accepted ones to next, with the event in
// the context (see [EventFromContext]) and the body intact. Rejected requests
// go to Config.ErrorHandler (by default [WriteError]). The body must arrive
// within Config.BodyTimeout.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			// Lets the server close the connection instead of draining an
			// oversized body.
			r.Body = http.MaxBytesReader(w, r.Body, v.maxBody)
		}
		rc := http.NewResponseController(w)
		deadline := rc.SetReadDeadline(time.Now().Add(v.timeout)) == nil
		ev, _, err := v.VerifyRequest(r)
		if deadline && !errors.Is(err, ErrTimeout) {
			// After a timeout the deadline stays: the server then gives up
			// on the rest of the body and closes the connection.
			_ = rc.SetReadDeadline(time.Time{})
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrTimeout) {
				// Do not let the server drain the rest of the body.
				w.Header().Set("Connection", "close")
			}
			v.log.LogAttrs(r.Context(), level(err), "hmacverify: request rejected",
				slog.Int("status", StatusCode(err)), slog.String("error", err.Error()),
				slog.String("eventId", ev.EventID))
			v.onError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), ev)))
	})
}

func level(err error) slog.Level {
	if StatusCode(err) >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// NewContext returns a copy of ctx carrying ev.
func NewContext(ctx context.Context, ev Event) context.Context {
	return context.WithValue(ctx, eventKey{}, ev)
}

// EventFromContext returns the verified event that [Verifier.Middleware]
// stored in a request's context.
func EventFromContext(ctx context.Context) (Event, bool) {
	ev, ok := ctx.Value(eventKey{}).(Event)
	return ev, ok
}

// WriteError answers a rejected request with [StatusCode](err) and a small
// JSON body {"message": "..."}. The message never contains secrets or
// signatures; for server-side failures it is generic.
func WriteError(w http.ResponseWriter, err error) {
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message(err)})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(StatusCode(err))
	_, _ = w.Write(append(body, '\n'))
}
