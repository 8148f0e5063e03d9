package fcmtest

import (
	"strconv"
	"time"
)

// Failure is a scripted answer. Build one with the constructors below or set
// the fields directly. A Failure with only Delay set answers normally after
// the delay (a slow response).
type Failure struct {
	// Code is the FCM error code put in the FcmError detail ("UNREGISTERED",
	// "QUOTA_EXCEEDED", ...). Empty for a status-only answer.
	Code string
	// Status is the answer's HTTP status; when zero it follows from Code.
	Status int
	// RPCStatus is the google.rpc status name; when empty it follows from
	// Status.
	RPCStatus string
	// Message is the error message; a default follows from Code.
	Message string
	// Field, when set, adds a BadRequest field violation for that field
	// (for example "message.token").
	Field string
	// Bare answers with the status line (and Retry-After) only, no body,
	// as a front end rate limiter would.
	Bare bool
	// RetryAfter is the Retry-After header value (seconds or HTTP date).
	RetryAfter string
	// Delay is how long to wait before answering.
	Delay time.Duration
	// Drop closes the connection without answering.
	Drop bool
	// Hang holds the request, read in full, without an answer until the
	// client abandons it or the server closes (after Delay, if set). The
	// connection is not otherwise affected.
	Hang bool
	// Times is how often the failure applies; 0 means until cleared. It
	// is ignored by FailNext, which takes a count.
	Times int
}

// Unregistered answers 404 NOT_FOUND with FcmError UNREGISTERED (the app
// was uninstalled or the token expired).
func Unregistered() Failure { return Failure{Code: "UNREGISTERED"} }

// InvalidToken answers 400 INVALID_ARGUMENT about the registration token,
// as FCM does for a malformed token.
func InvalidToken() Failure {
	return Failure{Code: "INVALID_ARGUMENT", Field: "message.token",
		Message: "The registration token is not a valid FCM registration token"}
}

// InvalidArgument answers 400 INVALID_ARGUMENT about the message (not the
// token).
func InvalidArgument(msg string) Failure {
	return Failure{Code: "INVALID_ARGUMENT", Field: "message", Message: msg}
}

// SenderIDMismatch answers 403 with FcmError SENDER_ID_MISMATCH.
func SenderIDMismatch() Failure { return Failure{Code: "SENDER_ID_MISMATCH"} }

// ThirdPartyAuthError answers 401 with FcmError THIRD_PARTY_AUTH_ERROR.
func ThirdPartyAuthError() Failure { return Failure{Code: "THIRD_PARTY_AUTH_ERROR"} }

// QuotaExceeded answers 429 RESOURCE_EXHAUSTED with FcmError QUOTA_EXCEEDED
// and a QuotaFailure detail; retryAfter > 0 adds a Retry-After header in
// whole seconds.
func QuotaExceeded(retryAfter time.Duration) Failure {
	return Failure{Code: "QUOTA_EXCEEDED", RetryAfter: seconds(retryAfter)}
}

// TooManyRequests answers a bare 429 without body or FcmError.
func TooManyRequests(retryAfter time.Duration) Failure {
	return Failure{Status: 429, Bare: true, RetryAfter: seconds(retryAfter)}
}

// Unavailable answers 503 UNAVAILABLE with FcmError UNAVAILABLE.
func Unavailable(retryAfter time.Duration) Failure {
	return Failure{Code: "UNAVAILABLE", RetryAfter: seconds(retryAfter)}
}

// Internal answers 500 INTERNAL with FcmError INTERNAL.
func Internal() Failure { return Failure{Code: "INTERNAL"} }

// Slow answers normally after d.
func Slow(d time.Duration) Failure { return Failure{Delay: d} }

// Drop closes the connection without answering, after reading the request.
func Drop() Failure { return Failure{Drop: true} }

// Hang reads the request and never answers it: the request ends when the
// client gives up on it or the server closes.
func Hang() Failure { return Failure{Hang: true} }

func seconds(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

var codeDefaults = map[string]struct {
	status int
	rpc    string
	msg    string
}{
	"UNREGISTERED":           {404, "NOT_FOUND", "Requested entity was not found."},
	"INVALID_ARGUMENT":       {400, "INVALID_ARGUMENT", "Request contains an invalid argument."},
	"SENDER_ID_MISMATCH":     {403, "PERMISSION_DENIED", "SenderId mismatch"},
	"THIRD_PARTY_AUTH_ERROR": {401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"},
	"QUOTA_EXCEEDED":         {429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send requests'."},
	"UNAVAILABLE":            {503, "UNAVAILABLE", "The service is currently unavailable."},
	"INTERNAL":               {500, "INTERNAL", "Internal error encountered."},
	"UNSPECIFIED_ERROR":      {500, "UNKNOWN", "Unknown error."},
}

var statusNames = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
	404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
	501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

// isAnswer reports whether f produces an error answer (rather than only a
// delay).
func (f Failure) isAnswer() bool {
	return f.Drop || f.Hang || f.Code != "" || f.Status != 0
}

func (f Failure) apiError() *apiError {
	e := &apiError{httpStatus: f.Status, status: f.RPCStatus, message: f.Message,
		fcmCode: f.Code, retryAfter: f.RetryAfter, bare: f.Bare}
	if d, ok := codeDefaults[f.Code]; ok {
		if e.httpStatus == 0 {
			e.httpStatus = d.status
		}
		if e.status == "" && e.httpStatus == d.status {
			e.status = d.rpc
		}
		if e.message == "" {
			e.message = d.msg
		}
	}
	if e.httpStatus == 0 {
		e.httpStatus = 500
	}
	if e.status == "" {
		e.status = statusNames[e.httpStatus]
		if e.status == "" {
			e.status = "UNKNOWN"
		}
	}
	if e.message == "" {
		e.message = "Scripted failure."
	}
	if f.Field != "" {
		e.violations = []fieldViolation{{Field: f.Field, Description: e.message}}
	}
	e.quota = f.Code == "QUOTA_EXCEEDED"
	return e
}
