package pushwire

import (
	"errors"
	"time"
	"unicode/utf8"
)

// Error classes. Every error a provider client returns for a rejected or failed
// delivery matches exactly one of ErrDeadToken, ErrRetryable and ErrPermanent
// with errors.Is; configuration errors match ErrConfiguration and ErrPermanent.
var (
	// ErrDeadToken means the device token is no longer valid (the app was
	// uninstalled, the token expired or was never valid): remove it from the
	// registry. [DeadSince] may tell since when.
	ErrDeadToken = errors.New("pushwire: device token is no longer valid")
	// ErrRetryable means the failure is temporary (overload, outage, network):
	// try again later, no sooner than [RetryAfter] says when it says so.
	ErrRetryable = errors.New("pushwire: temporary delivery failure")
	// ErrPermanent means the message cannot be delivered as it is: retrying
	// the same request will fail the same way.
	ErrPermanent = errors.New("pushwire: permanent delivery failure")
	// ErrConfiguration means the sender is misconfigured (bad credentials,
	// wrong project or topic). It also matches ErrPermanent.
	ErrConfiguration = errors.New("pushwire: sender configuration error")
)

// Error is a classified delivery error. Provider packages return their own
// typed errors, which also match the classes above; Error serves senders that
// have no richer type of their own, and wrappers that classify a foreign error.
type Error struct {
	// Class is one of ErrDeadToken, ErrRetryable, ErrPermanent or ErrConfiguration.
	Class error
	// Provider is the transport that failed, when known.
	Provider Provider
	// Reason is a short machine-readable reason (for example "Unregistered").
	Reason string
	// Retry is how long to wait before retrying, when the provider said so.
	Retry time.Duration
	// Since is when the token became invalid, when the provider said so.
	Since time.Time
	// Err is the underlying error, if any.
	Err error
}

// Error returns a lower-case description without secrets or tokens.
func (e *Error) Error() string {
	msg := "delivery failed"
	if e.Class != nil {
		msg = e.Class.Error()
	}
	if e.Provider != "" {
		msg = string(e.Provider) + ": " + msg
	}
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap exposes the class and the underlying error to errors.Is and errors.As.
// When Class is set, a class the underlying error carries is hidden, so that
// a wrapper reclassifying a classified error still matches exactly one class;
// everything else in the underlying error stays visible.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 3)
	if e.Class != nil {
		errs = append(errs, e.Class)
		if e.Class == ErrConfiguration {
			errs = append(errs, ErrPermanent)
		}
	}
	if e.Err != nil {
		if e.Class != nil {
			errs = append(errs, declassified{e.Err})
		} else {
			errs = append(errs, e.Err)
		}
	}
	return errs
}

// declassified is an error with its classes hidden from errors.Is. It has no
// Unwrap (errors.Is would walk past an Is method into the chain); Is, As,
// RetryAfter and DeadSince ask the error it holds instead.
type declassified struct{ err error }

func (d declassified) Error() string { return d.err.Error() }

func (d declassified) Is(target error) bool {
	switch target {
	case ErrDeadToken, ErrRetryable, ErrPermanent, ErrConfiguration:
		return false
	}
	return errors.Is(d.err, target)
}

func (d declassified) As(target any) bool { return errors.As(d.err, target) }

func (d declassified) RetryAfter() time.Duration {
	ra, _ := RetryAfter(d.err)
	return ra
}

func (d declassified) DeadSince() time.Time {
	ds, _ := DeadSince(d.err)
	return ds
}

// RetryAfter returns the provider's requested delay.
func (e *Error) RetryAfter() time.Duration { return e.Retry }

// DeadSince returns when the token became invalid (zero when unknown).
func (e *Error) DeadSince() time.Time { return e.Since }

// RetryAfter reports the delay a provider asked for before a retry, found on
// any error in err's chain that has a RetryAfter() time.Duration method and
// returns a positive duration.
func RetryAfter(err error) (time.Duration, bool) {
	for _, e := range walk(err) {
		if ra, ok := e.(interface{ RetryAfter() time.Duration }); ok {
			if d := ra.RetryAfter(); d > 0 {
				return d, true
			}
		}
	}
	return 0, false
}

// DeadSince reports since when a provider says a token has been invalid (the
// APNs 410 timestamp), found on any error in err's chain that has a
// DeadSince() time.Time method returning a non-zero time. A registry should
// only remove the token if it was not registered again after that time.
func DeadSince(err error) (time.Time, bool) {
	for _, e := range walk(err) {
		if ds, ok := e.(interface{ DeadSince() time.Time }); ok {
			if t := ds.DeadSince(); !t.IsZero() {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// walk lists err and every error it wraps, depth first.
func walk(err error) []error {
	var out []error
	var visit func(error)
	visit = func(e error) {
		if e == nil || len(out) > 64 {
			return
		}
		out = append(out, e)
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			visit(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				visit(x)
			}
		}
	}
	visit(err)
	return out
}

// Redact shortens a device token, key id or other identifier for logs and
// error strings: it keeps at most the last six characters.
func Redact(token string) string {
	const keep = 6
	n := utf8.RuneCountInString(token)
	if n == 0 {
		return ""
	}
	show := keep
	if n <= keep {
		show = n - n/2
	}
	// Cut at a character boundary, so the result stays valid UTF-8.
	i := len(token)
	for range show {
		_, size := utf8.DecodeLastRuneInString(token[:i])
		i -= size
	}
	return "…" + token[i:]
}
