package fcm

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pushwire/pushwire"
)

// ErrorCode is an FCM error code (the errorCode of the FcmError detail).
type ErrorCode string

// FCM error codes (the FcmError errorCode values). See the package
// documentation for how each is classified.
const (
	CodeUnspecified         ErrorCode = "UNSPECIFIED_ERROR"
	CodeInvalidArgument     ErrorCode = "INVALID_ARGUMENT"
	CodeUnregistered        ErrorCode = "UNREGISTERED"
	CodeSenderIDMismatch    ErrorCode = "SENDER_ID_MISMATCH"
	CodeQuotaExceeded       ErrorCode = "QUOTA_EXCEEDED"
	CodeUnavailable         ErrorCode = "UNAVAILABLE"
	CodeInternal            ErrorCode = "INTERNAL"
	CodeThirdPartyAuthError ErrorCode = "THIRD_PARTY_AUTH_ERROR"
)

// ErrInvalidMessage is matched (errors.Is) by every validation error: the
// message was refused before any request was made. It also matches
// pushwire.ErrPermanent.
var ErrInvalidMessage = errors.New("fcm: invalid message")

// FieldViolation is one entry of a google.rpc.BadRequest detail.
type FieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// QuotaViolation is one entry of a google.rpc.QuotaFailure detail.
type QuotaViolation struct {
	Subject     string `json:"subject"`
	Description string `json:"description"`
}

// ErrorInfo is a google.rpc.ErrorInfo detail.
type ErrorInfo struct {
	Reason   string            `json:"reason"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata"`
}

// Error is a failed send: an error answer from FCM, a failed token fetch or a
// network error. It matches exactly one of pushwire.ErrDeadToken,
// pushwire.ErrRetryable and pushwire.ErrPermanent with errors.Is
// (configuration errors match pushwire.ErrConfiguration and ErrPermanent).
// Its Error string never contains the device token or the access token.
type Error struct {
	// Status is the HTTP status code, 0 when no response was received.
	Status int
	// RPCStatus is the google.rpc status name ("NOT_FOUND",
	// "UNAVAILABLE", ...) of the error body, empty when it had none.
	RPCStatus string
	// Code is the FCM error code, empty when the answer had no FcmError
	// detail (a bare 429, for example).
	Code ErrorCode
	// Message is the human-readable message from the answer.
	Message string
	// Retry is the delay asked for by the Retry-After header (seconds or
	// HTTP date). For QUOTA_EXCEEDED without the header it is one minute,
	// the minimum FCM asks for.
	Retry time.Duration
	// FieldViolations lists the BadRequest field violations.
	FieldViolations []FieldViolation
	// QuotaViolations lists the QuotaFailure violations.
	QuotaViolations []QuotaViolation
	// ErrorInfo is the ErrorInfo detail, when present.
	ErrorInfo *ErrorInfo
	// Attempts is how many requests were made for this message.
	Attempts int
	// Err is the underlying error (network or token error), if any.
	Err error

	class   error
	src     *tokenSource // the token source whose access token the request carried
	written bool         // the request was written and no answer came
}

// Class returns the pushwire class of e: pushwire.ErrDeadToken,
// pushwire.ErrRetryable, pushwire.ErrConfiguration or pushwire.ErrPermanent.
func (e *Error) Class() error {
	if e.class != nil {
		return e.class
	}
	return classify(e)
}

// Is reports whether target is e's class (or pushwire.ErrPermanent for a
// configuration error).
func (e *Error) Is(target error) bool {
	c := e.Class()
	if target == c {
		return true
	}
	return c == pushwire.ErrConfiguration && target == pushwire.ErrPermanent
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// RetryAfter returns the delay FCM asked for before a retry (0 if none).
func (e *Error) RetryAfter() time.Duration { return e.Retry }

// Error describes e in lower case without tokens or secrets.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("fcm: ")
	switch {
	case e.Status != 0:
		b.WriteString("send failed: http ")
		b.WriteString(strconv.Itoa(e.Status))
		if e.RPCStatus != "" {
			b.WriteString(" ")
			b.WriteString(e.RPCStatus)
		}
		if e.Code != "" {
			b.WriteString(" (")
			b.WriteString(string(e.Code))
			b.WriteString(")")
		}
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(truncate(e.Message, 200))
		}
	case e.Message != "":
		b.WriteString(e.Message)
	default:
		b.WriteString("send failed")
	}
	if e.Retry > 0 {
		b.WriteString("; retry after ")
		b.WriteString(e.Retry.String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// tokenRelated reports whether an INVALID_ARGUMENT answer is about the
// registration token. FCM uses INVALID_ARGUMENT both for malformed tokens and
// for malformed messages; only the former means the token should be pruned,
// and a valid token must never be pruned because a message was malformed.
// When the answer has BadRequest field violations they decide: the token is
// at fault only when one names "message.token". Without them the message
// decides, and only FCM's own sentence about the token counts ("The
// registration token is not a valid FCM registration token"), not any
// message that mentions a registration token somewhere (FCM quotes the
// offending value of a malformed field in its message).
func (e *Error) tokenRelated() bool {
	if len(e.FieldViolations) > 0 {
		for _, v := range e.FieldViolations {
			if v.Field == "message.token" {
				return true
			}
		}
		return false
	}
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(e.Message)), invalidTokenMessage)
}

// invalidTokenMessage is how FCM's message about a malformed registration
// token begins, in lower case.
const invalidTokenMessage = "the registration token is not a valid"

func classify(e *Error) error {
	switch e.Code {
	case CodeUnregistered:
		return pushwire.ErrDeadToken
	case CodeInvalidArgument:
		if e.tokenRelated() {
			return pushwire.ErrDeadToken
		}
		return pushwire.ErrPermanent
	case CodeQuotaExceeded, CodeUnavailable, CodeInternal:
		return pushwire.ErrRetryable
	case CodeSenderIDMismatch, CodeThirdPartyAuthError:
		return pushwire.ErrConfiguration
	}
	switch s := e.Status; {
	case s == 0:
		return pushwire.ErrRetryable // network error
	case s == 429 || s >= 500:
		return pushwire.ErrRetryable
	case s == 401 || s == 403:
		return pushwire.ErrConfiguration
	case s == 404:
		// NOT_FOUND without UNREGISTERED: a wrong project or endpoint, not
		// a dead token. Pruning tokens on a misconfiguration would wipe a
		// registry.
		return pushwire.ErrConfiguration
	case s == 400 && e.RPCStatus == "INVALID_ARGUMENT" && e.tokenRelated():
		return pushwire.ErrDeadToken
	}
	return pushwire.ErrPermanent
}

// parseRetryAfter parses a Retry-After header value: delay seconds or an
// HTTP date. It returns 0 for empty, malformed or past values.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	if d > 24*time.Hour {
		d = 24 * time.Hour
	}
	return d
}

// ValidationError is a message refused before any request was made. It
// matches [ErrInvalidMessage] and pushwire.ErrPermanent with errors.Is.
type ValidationError struct {
	// Field is the offending field in FCM's JSON naming ("message.data").
	Field string
	// Reason says what is wrong.
	Reason string
}

// Error describes the problem.
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "fcm: invalid message: " + e.Reason
	}
	return "fcm: invalid message: " + e.Field + ": " + e.Reason
}

// Is matches ErrInvalidMessage and pushwire.ErrPermanent.
func (e *ValidationError) Is(target error) bool {
	return target == ErrInvalidMessage || target == pushwire.ErrPermanent
}

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }
