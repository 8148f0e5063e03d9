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
	limits   ReadLimits
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
		limits:   ReadLimits{MaxBodyBytes: cfg.MaxBodyBytes, BodyTimeout: cfg.BodyTimeout}.withDefaults(),
		window:   cfg.ReplayWindow,
		remember: cfg.Remember,
		seen:     cfg.Seen,
		now:      cfg.Now,
		onError:  cfg.ErrorHandler,
		log:      cfg.Logger,
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
// HTTP status. A malformed body is reported before a missing signature. On
// [ErrStale] and [ErrReplay] the signature was valid and the event and body
// are returned as well.
func (v *Verifier) VerifyRequest(r *http.Request) (Event, []byte, error) {
	return v.verifyRequest(nil, r)
}

// verifyRequest is VerifyRequest; with w it also applies the body timeout
// and closes the connection after an oversized or slow body (see ReadBody).
func (v *Verifier) verifyRequest(w http.ResponseWriter, r *http.Request) (Event, []byte, error) {
	ev, body, err := ReadEvent(w, r, v.limits)
	if err != nil {
		return Event{}, body, err
	}
	sig := Signature(r.Header)
	if sig == "" {
		return Event{}, body, ErrMissingSignature
	}
	secrets, err := v.secrets.Secrets(r.Context(), ev)
	if err != nil {
		if errors.Is(err, ErrInvalidConfig) {
			return Event{}, body, err
		}
		return Event{}, body, fmt.Errorf("%w: secret source: %w", ErrUnavailable, err)
	}
	if err := VerifyAny(secrets, ev.EventID, ev.SessionID, sig); err != nil {
		return Event{}, body, err
	}
	if v.window <= 0 {
		return ev, body, nil
	}
	now := v.now()
	date, ok := ev.Time()
	switch {
	case ev.EventDate == "":
		return ev, body, fmt.Errorf("%w: no eventDate", ErrStale)
	case !ok:
		return ev, body, fmt.Errorf("%w: eventDate is not a time", ErrStale)
	}
	if skew := now.Sub(date); skew > v.window || skew < -v.window {
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

// VerifyAny checks signature against each of secrets, as [Verify] does, and
// returns nil when one of them produced it. Every secret is checked, so the
// time taken does not tell which one matched. It returns an error matching
// [ErrMissingSignature] for an empty signature, [ErrNoSecret] when a secret
// is empty, and [ErrInvalidSignature] when none matched or secrets is empty.
func VerifyAny(secrets [][]byte, eventID, sessionID, signature string) error {
	if len(secrets) == 0 {
		if signature == "" {
			return ErrMissingSignature
		}
		return fmt.Errorf("%w: no secret for this event", ErrInvalidSignature)
	}
	var result error = ErrInvalidSignature
	for _, s := range secrets {
		switch err := Verify(s, eventID, sessionID, signature); {
		case err == nil:
			if result == ErrInvalidSignature {
				result = nil
			}
		case errors.Is(err, ErrNoSecret), errors.Is(err, ErrMissingSignature):
			result = err
		}
	}
	return result
}

// ReadLimits bounds the reading of a request body by [ReadBody] and
// [ReadEvent]. The zero value means the defaults.
type ReadLimits struct {
	// MaxBodyBytes limits the body size (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// BodyTimeout bounds the time spent waiting for the body (default
	// DefaultBodyTimeout), applied as a read deadline on the connection.
	BodyTimeout time.Duration
}

func (l ReadLimits) withDefaults() ReadLimits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	return l
}

// ReadEvent reads r's body with [ReadBody] and parses it with [ParseEvent]:
// the first step of [Verifier.VerifyRequest], for a server that must look at
// the event (its session, say) before it knows which secrets apply, and then
// checks the signature itself with [Signature] and [VerifyAny]. On a parse
// error the body is returned with the error.
func ReadEvent(w http.ResponseWriter, r *http.Request, lim ReadLimits) (Event, []byte, error) {
	body, err := ReadBody(w, r, lim)
	if err != nil {
		return Event{}, nil, err
	}
	ev, err := ParseEvent(body)
	if err != nil {
		return Event{}, body, err
	}
	return ev, body, nil
}

// ReadBody reads r's body, at most lim.MaxBodyBytes of it, and puts the bytes
// back in r.Body (and r.GetBody), so the body stays readable. Errors match
// [ErrTooLarge] (a declared or actual length over the limit), [ErrTimeout]
// or [ErrMalformed] (an empty body or a read error).
//
// With a non-nil w, as in a handler, the body must also arrive within
// lim.BodyTimeout, applied as a read deadline on the connection where the
// server supports one (so a client that stops sending cannot hold the
// handler, even on a server without timeouts), and after ErrTooLarge or
// ErrTimeout the response asks for the connection to be closed rather than
// drained. A nil w reads without either, for a body already in memory.
func ReadBody(w http.ResponseWriter, r *http.Request, lim ReadLimits) ([]byte, error) {
	lim = lim.withDefaults()
	closeConn := func() {
		if w != nil {
			w.Header().Set("Connection", "close")
		}
	}
	if r.ContentLength > lim.MaxBodyBytes {
		closeConn()
		return nil, ErrTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	var deadline bool
	var rc *http.ResponseController
	if w != nil {
		// Lets the server close the connection instead of draining an
		// oversized body.
		r.Body = http.MaxBytesReader(w, r.Body, lim.MaxBodyBytes)
		rc = http.NewResponseController(w)
		deadline = rc.SetReadDeadline(time.Now().Add(lim.BodyTimeout)) == nil
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + 1)
	}
	_, err := buf.ReadFrom(io.LimitReader(r.Body, lim.MaxBodyBytes+1))
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			err = ErrTooLarge
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The deadline stays: the server then gives up on the rest
			// of the body and closes the connection.
			closeConn()
			return nil, ErrTimeout
		default:
			err = fmt.Errorf("%w: reading body: %w", ErrMalformed, err)
		}
	} else if int64(buf.Len()) > lim.MaxBodyBytes {
		err = ErrTooLarge
	} else if buf.Len() == 0 {
		err = fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			closeConn()
		}
		return nil, err
	}
	body := buf.Bytes()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, nil
}

// Signature returns the value of the [SignatureHeader] (AXP's X-hmac),
// whatever the spelling of its name: a header map built by hand may hold a
// non-canonical key.
func Signature(h http.Header) string {
	if v := h.Get(SignatureHeader); v != "" {
		return v
	}
	for k, vs := range h {
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
		ev, _, err := v.verifyRequest(w, r)
		if err != nil {
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
