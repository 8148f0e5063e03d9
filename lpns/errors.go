package lpns

import (
	"errors"

	"github.com/pushwire/pushwire"
)

// classError is a sentinel error that also matches a pushwire error class
// (and, if set, another sentinel).
type classError struct {
	msg   string
	class error
	also  error
}

func (e *classError) Error() string { return e.msg }

// Is reports whether target is the error's pushwire class or its other
// sentinel.
func (e *classError) Is(target error) bool {
	return target == e.class || (e.also != nil && target == e.also)
}

// Errors returned by Server.Send. They match the
// pushwire classes noted with errors.Is.
var (
	// ErrNotConnected means no node has a live connection for the device
	// (matches pushwire.ErrRetryable).
	ErrNotConnected error = &classError{"lpns: device not connected", pushwire.ErrRetryable, nil}
	// ErrNotAcknowledged means the notification was written but the device
	// did not acknowledge it in time, or its connection closed first (matches
	// pushwire.ErrRetryable). Send returns it wrapped by
	// pushwire.UnknownOutcome: the device may have received it.
	ErrNotAcknowledged error = &classError{"lpns: notification not acknowledged", pushwire.ErrRetryable, nil}
	// ErrPayloadTooLarge means the payload exceeds Config.MaxPayloadBytes
	// (matches pushwire.ErrPermanent).
	ErrPayloadTooLarge error = &classError{"lpns: payload too large", pushwire.ErrPermanent, nil}
	// ErrInvalidPayload means the payload is not valid JSON or the device id
	// is empty (matches pushwire.ErrPermanent).
	ErrInvalidPayload error = &classError{"lpns: invalid payload", pushwire.ErrPermanent, nil}
	// ErrServerClosed is returned by Send once Shutdown or Close began, and
	// by a send that Close (or Shutdown past its deadline) ended; Serve
	// returns it too. It matches pushwire.ErrClosed and, as its class,
	// pushwire.ErrRetryable: another node may deliver.
	ErrServerClosed error = &classError{"lpns: server closed", pushwire.ErrRetryable, pushwire.ErrClosed}
)

// configError is an invalid configuration: it matches
// pushwire.ErrConfiguration and pushwire.ErrPermanent.
func configError(detail string) error {
	return &pushwire.Error{Class: pushwire.ErrConfiguration, Provider: pushwire.ProviderLPNS, Err: errors.New(detail)}
}

// Authentication errors. Authenticators should wrap one of them so the
// server can report auth failures by reason.
var (
	// ErrTokenMissing means the request carried no bearer token.
	ErrTokenMissing = errors.New("lpns: missing bearer token")
	// ErrTokenInvalid means the token is malformed, badly signed or for
	// another issuer or audience.
	ErrTokenInvalid = errors.New("lpns: invalid token")
	// ErrTokenExpired means the token has expired.
	ErrTokenExpired = errors.New("lpns: token expired")
)

// authReason names an authentication failure for hooks and error frames.
func authReason(err error) string {
	switch {
	case errors.Is(err, ErrTokenMissing):
		return "missing-token"
	case errors.Is(err, ErrTokenExpired):
		return "token-expired"
	case errors.Is(err, ErrTokenInvalid):
		return "invalid-token"
	case errors.Is(err, errWrongDevice):
		return "wrong-device"
	default:
		return "auth-error"
	}
}

var errWrongDevice = errors.New("lpns: token is for another device")
