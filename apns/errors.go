package apns

import (
	"errors"
	"strconv"
	"time"

	"github.com/pushwire/pushwire"
)

// Reasons APNs gives for a rejected request, exactly as Apple spells them in
// the "reason" member of an error response.
const (
	ReasonBadCollapseID               = "BadCollapseId"
	ReasonBadDeviceToken              = "BadDeviceToken"
	ReasonBadExpirationDate           = "BadExpirationDate"
	ReasonBadMessageID                = "BadMessageId"
	ReasonBadPriority                 = "BadPriority"
	ReasonBadTopic                    = "BadTopic"
	ReasonDeviceTokenNotForTopic      = "DeviceTokenNotForTopic"
	ReasonDuplicateHeaders            = "DuplicateHeaders"
	ReasonIdleTimeout                 = "IdleTimeout"
	ReasonInvalidPushType             = "InvalidPushType"
	ReasonMissingDeviceToken          = "MissingDeviceToken"
	ReasonMissingTopic                = "MissingTopic"
	ReasonPayloadEmpty                = "PayloadEmpty"
	ReasonTopicDisallowed             = "TopicDisallowed"
	ReasonBadCertificate              = "BadCertificate"
	ReasonBadCertificateEnvironment   = "BadCertificateEnvironment"
	ReasonExpiredProviderToken        = "ExpiredProviderToken"
	ReasonForbidden                   = "Forbidden"
	ReasonInvalidProviderToken        = "InvalidProviderToken"
	ReasonMissingProviderToken        = "MissingProviderToken"
	ReasonUnrelatedKeyIDInToken       = "UnrelatedKeyIdInToken"
	ReasonBadEnvironmentKeyIDInToken  = "BadEnvironmentKeyIdInToken"
	ReasonBadPath                     = "BadPath"
	ReasonMethodNotAllowed            = "MethodNotAllowed"
	ReasonExpiredToken                = "ExpiredToken"
	ReasonUnregistered                = "Unregistered"
	ReasonPayloadTooLarge             = "PayloadTooLarge"
	ReasonTooManyProviderTokenUpdates = "TooManyProviderTokenUpdates"
	ReasonTooManyRequests             = "TooManyRequests"
	ReasonInternalServerError         = "InternalServerError"
	ReasonServiceUnavailable          = "ServiceUnavailable"
	ReasonShutdown                    = "Shutdown"
)

// Sentinel errors, one per reason in Apple's table. An [*Error] matches the
// sentinel of its reason with errors.Is.
var (
	ErrBadCollapseID               = errors.New("apns: collapse id too long")
	ErrBadDeviceToken              = errors.New("apns: bad device token")
	ErrBadExpirationDate           = errors.New("apns: bad expiration date")
	ErrBadMessageID                = errors.New("apns: bad apns-id")
	ErrBadPriority                 = errors.New("apns: bad priority")
	ErrBadTopic                    = errors.New("apns: bad topic")
	ErrDeviceTokenNotForTopic      = errors.New("apns: device token not for topic")
	ErrDuplicateHeaders            = errors.New("apns: duplicate headers")
	ErrIdleTimeout                 = errors.New("apns: idle timeout")
	ErrInvalidPushType             = errors.New("apns: invalid push type")
	ErrMissingDeviceToken          = errors.New("apns: missing device token")
	ErrMissingTopic                = errors.New("apns: missing topic")
	ErrPayloadEmpty                = errors.New("apns: payload empty")
	ErrTopicDisallowed             = errors.New("apns: topic disallowed")
	ErrBadCertificate              = errors.New("apns: bad certificate")
	ErrBadCertificateEnvironment   = errors.New("apns: certificate for the wrong environment")
	ErrExpiredProviderToken        = errors.New("apns: expired provider token")
	ErrForbidden                   = errors.New("apns: forbidden")
	ErrInvalidProviderToken        = errors.New("apns: invalid provider token")
	ErrMissingProviderToken        = errors.New("apns: missing provider token")
	ErrUnrelatedKeyIDInToken       = errors.New("apns: key id in token unrelated to the team")
	ErrBadEnvironmentKeyIDInToken  = errors.New("apns: key id in token for the wrong environment")
	ErrBadPath                     = errors.New("apns: bad path")
	ErrMethodNotAllowed            = errors.New("apns: method not allowed")
	ErrExpiredToken                = errors.New("apns: device token expired")
	ErrUnregistered                = errors.New("apns: device token unregistered")
	ErrPayloadTooLarge             = errors.New("apns: payload too large")
	ErrTooManyProviderTokenUpdates = errors.New("apns: too many provider token updates")
	ErrTooManyRequests             = errors.New("apns: too many requests for the device token")
	ErrInternalServerError         = errors.New("apns: internal server error")
	ErrServiceUnavailable          = errors.New("apns: service unavailable")
	ErrShutdown                    = errors.New("apns: server shutting down")
)

// Client-side errors that are not APNs reasons.
var (
	// ErrClosed is returned by Push and Send after Close.
	ErrClosed = errors.New("apns: client closed")
	// ErrConnection marks a transport failure (connection refused or reset,
	// GOAWAY, failed PING health check, TLS error). It is retryable.
	ErrConnection = errors.New("apns: connection failure")
	// ErrInvalidPayload is a payload that is not a JSON object; APNs has no
	// reason of its own for it, the client rejects it before sending.
	ErrInvalidPayload = errors.New("apns: payload is not a json object")
	// ErrSigning marks a failure to sign the provider token. The error also
	// matches pushwire.ErrConfiguration (and ErrPermanent).
	ErrSigning = errors.New("apns: cannot sign provider token")
)

// reasonInfo is one row of Apple's response table.
type reasonInfo struct {
	status   int
	sentinel error
	class    error
}

// reasons maps every documented reason to its status, sentinel and class.
var reasons = map[string]reasonInfo{
	ReasonBadCollapseID:               {400, ErrBadCollapseID, pushwire.ErrPermanent},
	ReasonBadDeviceToken:              {400, ErrBadDeviceToken, pushwire.ErrDeadToken},
	ReasonBadExpirationDate:           {400, ErrBadExpirationDate, pushwire.ErrPermanent},
	ReasonBadMessageID:                {400, ErrBadMessageID, pushwire.ErrPermanent},
	ReasonBadPriority:                 {400, ErrBadPriority, pushwire.ErrPermanent},
	ReasonBadTopic:                    {400, ErrBadTopic, pushwire.ErrConfiguration},
	ReasonDeviceTokenNotForTopic:      {400, ErrDeviceTokenNotForTopic, pushwire.ErrDeadToken},
	ReasonDuplicateHeaders:            {400, ErrDuplicateHeaders, pushwire.ErrPermanent},
	ReasonIdleTimeout:                 {400, ErrIdleTimeout, pushwire.ErrRetryable},
	ReasonInvalidPushType:             {400, ErrInvalidPushType, pushwire.ErrPermanent},
	ReasonMissingDeviceToken:          {400, ErrMissingDeviceToken, pushwire.ErrPermanent},
	ReasonMissingTopic:                {400, ErrMissingTopic, pushwire.ErrConfiguration},
	ReasonPayloadEmpty:                {400, ErrPayloadEmpty, pushwire.ErrPermanent},
	ReasonTopicDisallowed:             {400, ErrTopicDisallowed, pushwire.ErrConfiguration},
	ReasonBadCertificate:              {403, ErrBadCertificate, pushwire.ErrConfiguration},
	ReasonBadCertificateEnvironment:   {403, ErrBadCertificateEnvironment, pushwire.ErrConfiguration},
	ReasonExpiredProviderToken:        {403, ErrExpiredProviderToken, pushwire.ErrConfiguration},
	ReasonForbidden:                   {403, ErrForbidden, pushwire.ErrConfiguration},
	ReasonInvalidProviderToken:        {403, ErrInvalidProviderToken, pushwire.ErrConfiguration},
	ReasonMissingProviderToken:        {403, ErrMissingProviderToken, pushwire.ErrConfiguration},
	ReasonUnrelatedKeyIDInToken:       {403, ErrUnrelatedKeyIDInToken, pushwire.ErrConfiguration},
	ReasonBadEnvironmentKeyIDInToken:  {403, ErrBadEnvironmentKeyIDInToken, pushwire.ErrConfiguration},
	ReasonBadPath:                     {404, ErrBadPath, pushwire.ErrPermanent},
	ReasonMethodNotAllowed:            {405, ErrMethodNotAllowed, pushwire.ErrPermanent},
	ReasonExpiredToken:                {410, ErrExpiredToken, pushwire.ErrDeadToken},
	ReasonUnregistered:                {410, ErrUnregistered, pushwire.ErrDeadToken},
	ReasonPayloadTooLarge:             {413, ErrPayloadTooLarge, pushwire.ErrPermanent},
	ReasonTooManyProviderTokenUpdates: {429, ErrTooManyProviderTokenUpdates, pushwire.ErrRetryable},
	ReasonTooManyRequests:             {429, ErrTooManyRequests, pushwire.ErrRetryable},
	ReasonInternalServerError:         {500, ErrInternalServerError, pushwire.ErrRetryable},
	ReasonServiceUnavailable:          {503, ErrServiceUnavailable, pushwire.ErrRetryable},
	ReasonShutdown:                    {503, ErrShutdown, pushwire.ErrRetryable},
}

// reasonInvalidPayload is the client's own reason for a payload that is not
// a JSON object.
const reasonInvalidPayload = "InvalidPayload"

// info returns the table row of reason, including the client's own reasons.
func info(reason string) (reasonInfo, bool) {
	if reason == reasonInvalidPayload {
		return reasonInfo{0, ErrInvalidPayload, pushwire.ErrPermanent}, true
	}
	i, ok := reasons[reason]
	return i, ok
}

// Reasons returns every reason in Apple's table with the HTTP status APNs
// answers it with. The map is a fresh copy.
func Reasons() map[string]int {
	out := make(map[string]int, len(reasons))
	for r, info := range reasons {
		out[r] = info.status
	}
	return out
}

// StatusForReason returns the HTTP status APNs uses for reason, or 0 when the
// reason is not in Apple's table.
func StatusForReason(reason string) int { return reasons[reason].status }

// Error is a failed push: a rejection by APNs (Status and Reason set), a
// rejection by the client's own validation before sending (Status 0, Reason
// set to the reason APNs would have given), or a transport failure (Reason
// empty, Err set and matching [ErrConnection]).
//
// Error matches, with errors.Is, the sentinel of its reason (for example
// [ErrUnregistered]) and exactly one pushwire class: ErrDeadToken for
// BadDeviceToken, DeviceTokenNotForTopic, ExpiredToken and Unregistered;
// ErrRetryable for TooManyRequests, TooManyProviderTokenUpdates, IdleTimeout,
// 5xx, Shutdown and transport failures; ErrConfiguration (and ErrPermanent)
// for certificate, provider-token and topic problems; ErrPermanent for the
// rest. An Error is immutable once returned and safe to share.
type Error struct {
	// Status is the HTTP status of the APNs response; 0 when none was received.
	Status int
	// Reason is Apple's reason string ("Unregistered"), or "" for transport failures.
	Reason string
	// Timestamp is when APNs last learned the token was invalid (410 responses).
	Timestamp time.Time
	// APNsID is the apns-id of the notification.
	APNsID string
	// Token is the device token, redacted to its last characters.
	Token string
	// Retry is the delay the server asked for (Retry-After), if any; one
	// too long for a Duration is clamped to the longest whole seconds it holds.
	Retry time.Duration
	// Err is the underlying cause (a transport error), if any.
	Err error
}

// Error returns a lower-case description without secrets or full tokens.
func (e *Error) Error() string {
	msg := "apns: "
	switch {
	case e.Reason != "" && e.Status != 0:
		msg += "rejected with " + strconv.Itoa(e.Status) + " " + e.Reason
	case e.Reason != "":
		msg += "invalid notification (" + e.Reason + ")"
	case e.Status != 0:
		msg += "rejected with status " + strconv.Itoa(e.Status)
	default:
		msg += "push failed"
	}
	if e.Token != "" {
		msg += " for token " + e.Token
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Class returns the pushwire class of e: ErrDeadToken, ErrRetryable,
// ErrPermanent or ErrConfiguration.
func (e *Error) Class() error {
	if ri, ok := info(e.Reason); ok {
		return ri.class
	}
	switch {
	case e.Status == 0 && e.Reason == "":
		return pushwire.ErrRetryable // transport failure
	case e.Status == 410:
		return pushwire.ErrDeadToken
	case e.Status == 429 || e.Status >= 500:
		return pushwire.ErrRetryable
	case e.Status == 403:
		return pushwire.ErrConfiguration
	}
	return pushwire.ErrPermanent
}

// Unwrap exposes the reason's sentinel, the pushwire class and the
// underlying error to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 4)
	if ri, ok := info(e.Reason); ok {
		errs = append(errs, ri.sentinel)
	}
	class := e.Class()
	errs = append(errs, class)
	if class == pushwire.ErrConfiguration {
		errs = append(errs, pushwire.ErrPermanent)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// RetryAfter returns the delay the server asked for, if any.
func (e *Error) RetryAfter() time.Duration { return e.Retry }

// DeadSince returns the 410 timestamp: since when the token has been invalid
// for the topic (zero when unknown).
func (e *Error) DeadSince() time.Time { return e.Timestamp }

// Temporary reports whether retrying the same push later may succeed.
func (e *Error) Temporary() bool { return e.Class() == pushwire.ErrRetryable }
