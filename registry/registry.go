package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry/internal/store"
	"github.com/pushwire/pushwire/seal"
)

// Device is one binding of a push token to a session key. The unique key of a
// binding is its [Key] (provider, app id, environment and token): registering
// the same key under another session moves it there.
//
// A Device is a plain value; copying it is safe, but like any map its Labels
// must not be written concurrently. The Labels map of a Device returned by a
// [Registry] is a fresh copy that the caller owns.
type Device struct {
	// Session is the application key the device belongs to (an AXP
	// sessionId, a user or device id). Required; at most [MaxSessionLen] bytes.
	Session string
	// Provider is the push transport (fcm, apns, lpns). Required.
	Provider pushwire.Provider
	// Token is the provider's device token (FCM registration token, APNs
	// device token, LPNS device id). Required; at most [MaxTokenLen] bytes.
	Token string
	// AppID is the APNs topic or FCM project the token belongs to. May be empty.
	AppID string
	// Environment is "", "production" or "sandbox" (APNs).
	Environment string
	// Labels are optional application-defined string attributes (platform,
	// app version, locale...). At most [MaxLabels] entries.
	Labels map[string]string
	// CreatedAt is when the binding's key was first registered. It survives
	// re-registration and moves between sessions. Set by the registry.
	CreatedAt time.Time
	// UpdatedAt is when the binding was last registered. Set by the registry.
	UpdatedAt time.Time
	// ExpiresAt is when the binding stops being returned; zero means never.
	// Set by the registry from [Config.TTL] unless the caller passes a
	// non-zero value to Register, which is then kept as given.
	ExpiresAt time.Time
	// PayloadKeys are the device's keys for end-to-end payload encryption
	// (RFC 8291, package seal), as a Web Push subscription gives them; nil
	// means the device registered none and its pushes go out unsealed.
	// Register checks them with seal.ParseKeys (a bad key is
	// [ErrBadPayloadKeys]) and stores them in canonical form (base64url
	// without padding). They belong to the registration: registering the
	// binding again replaces them, and registering it without keys removes
	// them, as a new Web Push subscription replaces the old one. The
	// pointer of a Device returned by a [Registry] is a fresh copy.
	//
	// The authentication secret is not public: [Device.LogValue] and the
	// keys' own String method leave it out.
	PayloadKeys *pushwire.PayloadKeys
}

// Key identifies a binding: a token is unique per provider, app id and
// environment. It is a comparable plain value, safe to copy and share.
type Key struct {
	// Provider is the push transport.
	Provider pushwire.Provider
	// AppID is the APNs topic or FCM project; may be empty.
	AppID string
	// Environment is "", "production" or "sandbox".
	Environment string
	// Token is the device token.
	Token string
}

// Key returns the unique key of d.
func (d Device) Key() Key {
	return Key{Provider: d.Provider, AppID: d.AppID, Environment: d.Environment, Token: d.Token}
}

// LogValue implements slog.LogValuer: a Device logs its session, provider,
// the last characters of its token ([pushwire.Redact]), app id,
// environment, expiry and whether it has payload keys, never the keys
// themselves nor its labels.
func (d Device) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs,
		slog.String("session", d.Session),
		slog.String("provider", string(d.Provider)),
		slog.String("token", pushwire.Redact(d.Token)))
	if d.AppID != "" {
		attrs = append(attrs, slog.String("appId", d.AppID))
	}
	if d.Environment != "" {
		attrs = append(attrs, slog.String("environment", d.Environment))
	}
	if !d.ExpiresAt.IsZero() {
		attrs = append(attrs, slog.Time("expiresAt", d.ExpiresAt))
	}
	attrs = append(attrs, slog.Bool("payloadKeys", d.PayloadKeys != nil))
	return slog.GroupValue(attrs...)
}

// Live reports whether d has not expired at now.
func (d Device) Live(now time.Time) bool {
	return d.ExpiresAt.IsZero() || now.Before(d.ExpiresAt)
}

// Registry stores device bindings. Implementations in this repository ([Memory],
// registry/sqlite, registry/postgres, registry/redis) are safe for concurrent
// use and pass the registry/registrytest conformance suite.
//
// Errors: validation failures wrap [ErrInvalid] (and a more specific sentinel
// such as [ErrEmptySession]); a missing binding is [ErrNotFound]; operations
// after Close return [ErrClosed]; a cancelled context returns the context's
// error. Expired bindings behave exactly like absent ones.
type Registry interface {
	// Register inserts or updates the binding d.Key(). A token registered
	// again under another session moves to it. UpdatedAt is set to now and
	// ExpiresAt to now+TTL (unless d.ExpiresAt is set); CreatedAt is kept
	// from an existing live binding. When the session then holds more than
	// MaxDevicesPerSession live bindings the least recently updated others
	// are evicted. Register returns the binding as stored.
	Register(ctx context.Context, d Device) (Device, error)
	// Lookup returns the live bindings of session, most recently updated
	// first. An unknown session yields an empty result and no error.
	Lookup(ctx context.Context, session string) ([]Device, error)
	// Get returns the live binding for k, or ErrNotFound.
	Get(ctx context.Context, k Key) (Device, error)
	// Unregister removes the binding for k, or returns ErrNotFound when there
	// is no live binding for it.
	Unregister(ctx context.Context, k Key) error
	// RemoveSession removes every binding of session and reports how many
	// live bindings it removed.
	RemoveSession(ctx context.Context, session string) (int, error)
	// Invalidate removes the binding for k if it was last updated at or
	// before asOf (a provider's "invalid since" time), and reports whether it
	// removed one. A binding registered again after asOf survives. A zero
	// asOf removes the binding unconditionally.
	Invalidate(ctx context.Context, k Key, asOf time.Time) (bool, error)
	// Close releases the registry's resources and stops its background
	// goroutines. It is idempotent.
	Close() error
}

// Sentinel errors. Validation errors match both ErrInvalid and their specific
// sentinel with errors.Is.
var (
	// ErrNotFound means there is no live binding for the key.
	ErrNotFound = errors.New("registry: binding not found")
	// ErrInvalid is matched by every validation error; nothing is stored.
	ErrInvalid = errors.New("registry: invalid binding")
	// ErrClosed is returned by operations on a closed registry.
	ErrClosed = errors.New("registry: closed")

	// ErrEmptySession means the session key is empty.
	ErrEmptySession = errors.New("empty session")
	// ErrBadSession means the session key is too long or has control
	// characters or invalid UTF-8.
	ErrBadSession = errors.New("bad session")
	// ErrUnknownProvider means the provider is not fcm, apns or lpns.
	ErrUnknownProvider = errors.New("unknown provider")
	// ErrBadToken means the token is empty, longer than MaxTokenLen or has
	// control characters or invalid UTF-8.
	ErrBadToken = errors.New("bad token")
	// ErrBadAppID means the app id is too long or has control characters.
	ErrBadAppID = errors.New("bad app id")
	// ErrBadEnvironment means the environment is not "", "production" or "sandbox".
	ErrBadEnvironment = errors.New("bad environment")
	// ErrBadLabels means there are too many labels, or a label key or value
	// is empty (keys only), too long or has control characters.
	ErrBadLabels = errors.New("bad labels")
	// ErrBadExpiry means Register was given an ExpiresAt that is not after
	// now, or is after the year 9999 (UTC), the latest every backend stores
	// exactly: later instants overflow the Unix microseconds some use.
	ErrBadExpiry = errors.New("bad expiry")
	// ErrBadPayloadKeys means Device.PayloadKeys are not a P-256 public key
	// in uncompressed form and a 16-byte authentication secret, both
	// base64url (see seal.ParseKeys).
	ErrBadPayloadKeys = errors.New("bad payload keys")
)

// Sanity limits enforced by [ValidateDevice] and [ValidateKey], in bytes
// unless noted.
const (
	// MaxSessionLen bounds Device.Session.
	MaxSessionLen = 1024
	// MaxTokenLen bounds Device.Token (4 KiB).
	MaxTokenLen = 4096
	// MaxAppIDLen bounds Device.AppID.
	MaxAppIDLen = 256
	// MaxLabels bounds the number of entries in Device.Labels.
	MaxLabels = 32
	// MaxLabelKeyLen bounds each label key.
	MaxLabelKeyLen = 128
	// MaxLabelValLen bounds each label value.
	MaxLabelValLen = 1024
)

// Environments an APNs token can belong to (Device.Environment).
const (
	// EnvironmentProduction is the APNs production environment.
	EnvironmentProduction = "production"
	// EnvironmentSandbox is the APNs development (sandbox) environment.
	EnvironmentSandbox = "sandbox"
)

// Config configures every registry backend. The zero value is usable. A
// Config is a plain value, read (never modified) by the registry it
// configures; Now and Logger must be safe for concurrent use.
type Config struct {
	// MaxDevicesPerSession caps the live bindings per session; registering
	// one more evicts the least recently updated. Bindings updated in the
	// same microsecond are ordered as the backend orders them (the memory
	// backend puts the later registration first; PostgreSQL and Redis order
	// such ties by key). Zero means 16; negative means no cap.
	MaxDevicesPerSession int
	// TTL is how long a registration stays live. Zero means 30 days;
	// negative means bindings never expire.
	TTL time.Duration
	// SweepInterval is how often backends without native expiry delete
	// expired bindings. Zero means one minute; negative disables the sweeper
	// (expired bindings are still never returned).
	SweepInterval time.Duration
	// Now is the clock; nil means time.Now. Registries store times in UTC
	// truncated to microseconds.
	Now func() time.Time
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Defaults applied to zero Config fields.
const (
	// DefaultMaxDevicesPerSession is the cap when Config.MaxDevicesPerSession is zero.
	DefaultMaxDevicesPerSession = 16
	// DefaultTTL is the binding lifetime when Config.TTL is zero (30 days).
	DefaultTTL = 30 * 24 * time.Hour
	// DefaultSweepInterval is the sweep period when Config.SweepInterval is zero.
	DefaultSweepInterval = time.Minute
)

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.MaxDevicesPerSession == 0 {
		c.MaxDevicesPerSession = DefaultMaxDevicesPerSession
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// clock returns the current time from c.Now (time.Now when nil) in UTC,
// truncated to microseconds: the precision every backend stores.
func (c Config) clock() time.Time {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	return store.Truncate(now())
}

// prepare validates d and fills in the timestamps Register stores, for a
// registration at now (already truncated): UpdatedAt and CreatedAt become now
// (backends keep an existing binding's CreatedAt) and ExpiresAt now+TTL unless
// d.ExpiresAt was given. Labels are copied; an empty map becomes nil.
// Payload keys are copied in canonical form. The other backends do the same
// with backend.Prepare; registrytest holds both to one behaviour.
func (c Config) prepare(d Device, now time.Time) (Device, error) {
	if err := ValidateDevice(d); err != nil {
		return Device{}, err
	}
	c = c.withDefaults()
	d.CreatedAt, d.UpdatedAt = now, now
	switch {
	case !d.ExpiresAt.IsZero():
		d.ExpiresAt = store.Truncate(d.ExpiresAt)
		if !d.ExpiresAt.After(now) {
			return Device{}, invalid(ErrBadExpiry, "expiry is not in the future")
		}
		if d.ExpiresAt.UTC().Year() > 9999 {
			return Device{}, invalid(ErrBadExpiry, "expiry is after the year 9999")
		}
	case c.TTL > 0:
		d.ExpiresAt = now.Add(c.TTL)
	}
	d.Labels = store.CloneLabels(d.Labels)
	d.PayloadKeys = store.CanonicalKeys(d.PayloadKeys)
	return d, nil
}

// ValidationError describes why a device or key was rejected. It matches
// [ErrInvalid] and its specific sentinel with errors.Is. Its message never
// contains the token. It is immutable and safe for concurrent use.
type ValidationError struct {
	// Sentinel is the specific cause (ErrEmptySession, ErrBadToken, ...).
	Sentinel error
	// Detail is a short lower-case explanation.
	Detail string
}

// notFound is the error returned when k has no live binding: it matches
// ErrNotFound and names the provider and the redacted token.
func notFound(k Key) error {
	return fmt.Errorf("%w: %s token %s", ErrNotFound, k.Provider, pushwire.Redact(k.Token))
}

func invalid(sentinel error, detail string) error {
	return &ValidationError{Sentinel: sentinel, Detail: detail}
}

// Error returns a lower-case description.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("registry: invalid binding: %s: %s", e.Sentinel, e.Detail)
}

// Unwrap exposes ErrInvalid and the specific sentinel.
func (e *ValidationError) Unwrap() []error { return []error{ErrInvalid, e.Sentinel} }

// ValidateSession checks a session key: non-empty, at most MaxSessionLen
// bytes, valid UTF-8 without control characters.
func ValidateSession(s string) error {
	if s == "" {
		return invalid(ErrEmptySession, "session is required")
	}
	if len(s) > MaxSessionLen {
		return invalid(ErrBadSession, fmt.Sprintf("session is longer than %d bytes", MaxSessionLen))
	}
	if !cleanText(s) {
		return invalid(ErrBadSession, "session has control characters or invalid utf-8")
	}
	return nil
}

// ValidateKey checks the fields of a key.
func ValidateKey(k Key) error {
	if !k.Provider.Valid() {
		return invalid(ErrUnknownProvider, fmt.Sprintf("provider %q", truncateForError(string(k.Provider))))
	}
	switch {
	case k.Token == "":
		return invalid(ErrBadToken, "token is required")
	case len(k.Token) > MaxTokenLen:
		return invalid(ErrBadToken, fmt.Sprintf("token is longer than %d bytes", MaxTokenLen))
	case !cleanText(k.Token):
		return invalid(ErrBadToken, "token has control characters or invalid utf-8")
	}
	if len(k.AppID) > MaxAppIDLen {
		return invalid(ErrBadAppID, fmt.Sprintf("app id is longer than %d bytes", MaxAppIDLen))
	}
	if !cleanText(k.AppID) {
		return invalid(ErrBadAppID, "app id has control characters or invalid utf-8")
	}
	switch k.Environment {
	case "", EnvironmentProduction, EnvironmentSandbox:
	default:
		return invalid(ErrBadEnvironment, fmt.Sprintf("environment %q", truncateForError(k.Environment)))
	}
	return nil
}

// ValidateDevice checks every caller-supplied field of d, the payload keys
// included.
func ValidateDevice(d Device) error {
	if err := ValidateSession(d.Session); err != nil {
		return err
	}
	if err := ValidateKey(d.Key()); err != nil {
		return err
	}
	if len(d.Labels) > MaxLabels {
		return invalid(ErrBadLabels, fmt.Sprintf("more than %d labels", MaxLabels))
	}
	for k, v := range d.Labels {
		switch {
		case k == "":
			return invalid(ErrBadLabels, "empty label key")
		case len(k) > MaxLabelKeyLen:
			return invalid(ErrBadLabels, fmt.Sprintf("label key longer than %d bytes", MaxLabelKeyLen))
		case len(v) > MaxLabelValLen:
			return invalid(ErrBadLabels, fmt.Sprintf("label value longer than %d bytes", MaxLabelValLen))
		case !cleanText(k) || !cleanText(v):
			return invalid(ErrBadLabels, "label has control characters or invalid utf-8")
		}
	}
	if k := d.PayloadKeys; k != nil {
		if _, err := seal.ParseKeys(k.P256DH, k.Auth); err != nil {
			// seal's errors hold no key material.
			return invalid(ErrBadPayloadKeys, err.Error())
		}
	}
	return nil
}

// cleanText reports whether s is valid UTF-8 without C0/C1 control
// characters or DEL.
func cleanText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= 0x80 {
			return cleanUnicode(s[i:])
		}
	}
	return true
}

func cleanUnicode(s string) bool {
	for _, r := range s {
		if r == 0xFFFD || r < 0x20 || (r >= 0x7f && r < 0xa0) {
			// 0xFFFD is what range yields for invalid UTF-8; a literal
			// replacement character is rejected too, which is harmless.
			return false
		}
	}
	return true
}

func truncateForError(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return s
}
