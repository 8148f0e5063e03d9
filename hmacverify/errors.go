package hmacverify

import (
	"errors"
	"fmt"
	"net/http"
)

// Errors returned by [Verify] and [Verifier.VerifyRequest]. Test them with
// errors.Is; [StatusCode] maps them to the HTTP status the middleware answers.
var (
	// ErrMissingSignature means the request carries no X-hmac value (401).
	ErrMissingSignature = errors.New("hmacverify: missing signature")
	// ErrInvalidSignature means the X-hmac value is not the HMAC of the event
	// under any accepted secret, or is not 64 hex digits (401).
	ErrInvalidSignature = errors.New("hmacverify: invalid signature")
	// ErrMalformed means the body is not a JSON object with non-empty string
	// eventId and sessionId, or one of the event's members (eventId,
	// conversationId, customerId, sessionId, eventDate) is not a string, or
	// is repeated (400).
	ErrMalformed = errors.New("hmacverify: malformed event")
	// ErrTooLarge means the body exceeds the configured limit (413).
	ErrTooLarge = errors.New("hmacverify: request body too large")
	// ErrTimeout means the body did not arrive within the body timeout (408).
	ErrTimeout = errors.New("hmacverify: timed out reading the request body")
	// ErrStale means replay protection is on and eventDate is missing, not
	// a time [Event.Time] reads, or outside the accepted window around the
	// current time (401). The
	// signature itself was valid. It answers 401 rather than 400 because the
	// request is refused as not fresh, and because AXP backs off after
	// repeated errors other than 400 and 500: a lasting clock skew then slows
	// it down instead of failing every event at full rate.
	ErrStale = errors.New("hmacverify: event date outside the accepted window")
	// ErrReplay means replay protection is on and the eventId was already
	// seen (409). The signature was valid: a connector may treat the event as
	// already processed.
	ErrReplay = errors.New("hmacverify: event already seen")
	// ErrUnavailable means a dependency (the seen-set or the secret source)
	// failed; the request may succeed later (503).
	ErrUnavailable = errors.New("hmacverify: verification temporarily unavailable")
	// ErrInvalidConfig is the class of configuration errors (500 when met
	// while serving a request).
	ErrInvalidConfig = errors.New("hmacverify: invalid configuration")
	// ErrNoSecret means a secret is empty. An empty secret is a configuration
	// error, never a key. It matches ErrInvalidConfig.
	ErrNoSecret = fmt.Errorf("%w: empty secret", ErrInvalidConfig)
)

// StatusCode returns the HTTP status the middleware answers for err: 413,
// 408, 400, 401, 409, 503 or 500 (for nil and unknown errors as well as
// configuration errors). See the package documentation for the table.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, ErrMalformed):
		return http.StatusBadRequest
	case errors.Is(err, ErrMissingSignature), errors.Is(err, ErrInvalidSignature), errors.Is(err, ErrStale):
		return http.StatusUnauthorized
	case errors.Is(err, ErrReplay):
		return http.StatusConflict
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// message returns the text of the JSON error response for err. Details are
// given for malformed requests only; server-side failures stay generic.
func message(err error) string {
	switch StatusCode(err) {
	case http.StatusRequestEntityTooLarge:
		return "request body too large"
	case http.StatusRequestTimeout:
		return "timed out reading the request body"
	case http.StatusBadRequest:
		if m := err.Error(); len(m) > len("hmacverify: ") {
			return m[len("hmacverify: "):]
		}
		return "malformed event"
	case http.StatusUnauthorized:
		switch {
		case errors.Is(err, ErrMissingSignature):
			return "missing signature"
		case errors.Is(err, ErrStale):
			return "stale event"
		}
		return "invalid signature"
	case http.StatusConflict:
		return "event already processed"
	case http.StatusServiceUnavailable:
		return "temporarily unavailable"
	}
	return "internal error"
}
