package apns

import (
	"errors"
	"strconv"
	"time"

	"github.com/pushwire/pushwire"
)

// Reason is why APNs rejected a request, exactly as Apple spells it in the
// "reason" member of an error response. The constants below are every reason
// Apple documents; an answer may carry one that is not listed (a newer one),
// which [Error] then classifies by its HTTP status. Test an error's reason
// with errors.As:
//
//	var e *apns.Error
//	if errors.As(err, &e) && e.Reason == apns.ReasonUnregistered { … }
//
// The pushwire class (errors.Is with pushwire.ErrDeadToken, ErrRetryable,
// ErrPermanent, ErrConfiguration) is what most callers branch on.
type Reason string

// Reasons Apple documents, with the HTTP status APNs answers them with and
// their pushwire class.
const (
	// ReasonBadCollapseID (400, ErrPermanent): The apns-collapse-id header is longer than 64 bytes.
	ReasonBadCollapseID Reason = "BadCollapseId"
	// ReasonBadDeviceToken (400, ErrDeadToken): The device token is malformed, or for the other environment (sandbox or production).
	ReasonBadDeviceToken Reason = "BadDeviceToken"
	// ReasonBadExpirationDate (400, ErrPermanent): The apns-expiration header is bad.
	ReasonBadExpirationDate Reason = "BadExpirationDate"
	// ReasonBadMessageID (400, ErrPermanent): The apns-id header is not a canonical UUID.
	ReasonBadMessageID Reason = "BadMessageId"
	// ReasonBadPriority (400, ErrPermanent): The apns-priority header is not 10, 5 or 1 (or 10 for a background push).
	ReasonBadPriority Reason = "BadPriority"
	// ReasonBadTopic (400, ErrConfiguration): The apns-topic header is invalid (for example without the suffix the push type needs).
	ReasonBadTopic Reason = "BadTopic"
	// ReasonDeviceTokenNotForTopic (400, ErrDeadToken): The device token does not match the topic.
	ReasonDeviceTokenNotForTopic Reason = "DeviceTokenNotForTopic"
	// ReasonDuplicateHeaders (400, ErrPermanent): A header was repeated.
	ReasonDuplicateHeaders Reason = "DuplicateHeaders"
	// ReasonIdleTimeout (400, ErrRetryable): The connection was idle too long.
	ReasonIdleTimeout Reason = "IdleTimeout"
	// ReasonInvalidPushType (400, ErrPermanent): The apns-push-type header is not one Apple defines.
	ReasonInvalidPushType Reason = "InvalidPushType"
	// ReasonMissingDeviceToken (400, ErrPermanent): The request path has no device token.
	ReasonMissingDeviceToken Reason = "MissingDeviceToken"
	// ReasonMissingTopic (400, ErrConfiguration): The apns-topic header is missing and required.
	ReasonMissingTopic Reason = "MissingTopic"
	// ReasonPayloadEmpty (400, ErrPermanent): The payload is empty.
	ReasonPayloadEmpty Reason = "PayloadEmpty"
	// ReasonTopicDisallowed (400, ErrConfiguration): Pushing to this topic is not allowed.
	ReasonTopicDisallowed Reason = "TopicDisallowed"
	// ReasonBadCertificate (403, ErrConfiguration): The client certificate is invalid.
	ReasonBadCertificate Reason = "BadCertificate"
	// ReasonBadCertificateEnvironment (403, ErrConfiguration): The client certificate is for the other environment.
	ReasonBadCertificateEnvironment Reason = "BadCertificateEnvironment"
	// ReasonExpiredProviderToken (403, ErrConfiguration): The provider token is stale; the client renews it and retries once.
	ReasonExpiredProviderToken Reason = "ExpiredProviderToken"
	// ReasonForbidden (403, ErrConfiguration): The action is not allowed.
	ReasonForbidden Reason = "Forbidden"
	// ReasonInvalidProviderToken (403, ErrConfiguration): The provider token is invalid or its signature cannot be verified.
	ReasonInvalidProviderToken Reason = "InvalidProviderToken"
	// ReasonMissingProviderToken (403, ErrConfiguration): Neither a certificate nor a provider token authenticated the request.
	ReasonMissingProviderToken Reason = "MissingProviderToken"
	// ReasonUnrelatedKeyIDInToken (403, ErrConfiguration): The provider token's key id is not the team's.
	ReasonUnrelatedKeyIDInToken Reason = "UnrelatedKeyIdInToken"
	// ReasonBadEnvironmentKeyIDInToken (403, ErrConfiguration): The provider token's key is for the other environment.
	ReasonBadEnvironmentKeyIDInToken Reason = "BadEnvironmentKeyIdInToken"
	// ReasonBadPath (404, ErrPermanent): The request path is invalid.
	ReasonBadPath Reason = "BadPath"
	// ReasonMethodNotAllowed (405, ErrPermanent): The method is not POST.
	ReasonMethodNotAllowed Reason = "MethodNotAllowed"
	// ReasonExpiredToken (410, ErrDeadToken): The device token has expired.
	ReasonExpiredToken Reason = "ExpiredToken"
	// ReasonUnregistered (410, ErrDeadToken): The device token is no longer active for the topic; the Error's Timestamp says since when.
	ReasonUnregistered Reason = "Unregistered"
	// ReasonPayloadTooLarge (413, ErrPermanent): The payload is larger than 4096 bytes (5120 for VoIP).
	ReasonPayloadTooLarge Reason = "PayloadTooLarge"
	// ReasonTooManyProviderTokenUpdates (429, ErrRetryable): The provider token changed too often.
	ReasonTooManyProviderTokenUpdates Reason = "TooManyProviderTokenUpdates"
	// ReasonTooManyRequests (429, ErrRetryable): Too many requests were sent to the same device token.
	ReasonTooManyRequests Reason = "TooManyRequests"
	// ReasonInternalServerError (500, ErrRetryable): APNs had an internal error.
	ReasonInternalServerError Reason = "InternalServerError"
	// ReasonServiceUnavailable (503, ErrRetryable): APNs is unavailable.
	ReasonServiceUnavailable Reason = "ServiceUnavailable"
	// ReasonShutdown (503, ErrRetryable): The APNs server is shutting down.
	ReasonShutdown Reason = "Shutdown"
)

// reasonInfo is one row of Apple's response table.
type reasonInfo struct {
	status int
	class  error
}

// reasons maps every documented reason to its HTTP status and class.
var reasons = map[Reason]reasonInfo{
	ReasonBadCollapseID:               {400, pushwire.ErrPermanent},
	ReasonBadDeviceToken:              {400, pushwire.ErrDeadToken},
	ReasonBadExpirationDate:           {400, pushwire.ErrPermanent},
	ReasonBadMessageID:                {400, pushwire.ErrPermanent},
	ReasonBadPriority:                 {400, pushwire.ErrPermanent},
	ReasonBadTopic:                    {400, pushwire.ErrConfiguration},
	ReasonDeviceTokenNotForTopic:      {400, pushwire.ErrDeadToken},
	ReasonDuplicateHeaders:            {400, pushwire.ErrPermanent},
	ReasonIdleTimeout:                 {400, pushwire.ErrRetryable},
	ReasonInvalidPushType:             {400, pushwire.ErrPermanent},
	ReasonMissingDeviceToken:          {400, pushwire.ErrPermanent},
	ReasonMissingTopic:                {400, pushwire.ErrConfiguration},
	ReasonPayloadEmpty:                {400, pushwire.ErrPermanent},
	ReasonTopicDisallowed:             {400, pushwire.ErrConfiguration},
	ReasonBadCertificate:              {403, pushwire.ErrConfiguration},
	ReasonBadCertificateEnvironment:   {403, pushwire.ErrConfiguration},
	ReasonExpiredProviderToken:        {403, pushwire.ErrConfiguration},
	ReasonForbidden:                   {403, pushwire.ErrConfiguration},
	ReasonInvalidProviderToken:        {403, pushwire.ErrConfiguration},
	ReasonMissingProviderToken:        {403, pushwire.ErrConfiguration},
	ReasonUnrelatedKeyIDInToken:       {403, pushwire.ErrConfiguration},
	ReasonBadEnvironmentKeyIDInToken:  {403, pushwire.ErrConfiguration},
	ReasonBadPath:                     {404, pushwire.ErrPermanent},
	ReasonMethodNotAllowed:            {405, pushwire.ErrPermanent},
	ReasonExpiredToken:                {410, pushwire.ErrDeadToken},
	ReasonUnregistered:                {410, pushwire.ErrDeadToken},
	ReasonPayloadTooLarge:             {413, pushwire.ErrPermanent},
	ReasonTooManyProviderTokenUpdates: {429, pushwire.ErrRetryable},
	ReasonTooManyRequests:             {429, pushwire.ErrRetryable},
	ReasonInternalServerError:         {500, pushwire.ErrRetryable},
	ReasonServiceUnavailable:          {503, pushwire.ErrRetryable},
	ReasonShutdown:                    {503, pushwire.ErrRetryable},
}

// Status returns the HTTP status APNs answers r with, or 0 when r is not a
// reason Apple documents.
func (r Reason) Status() int { return reasons[r].status }

// Client-side errors that are not APNs reasons.
var (
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

// reasonInvalidPayload is the client's own reason for a payload that is not
// a JSON object.
const reasonInvalidPayload Reason = "InvalidPayload"

// Error is a failed push: a rejection by APNs (Status and Reason set), a
// rejection by the client's own validation before sending (Status 0, Reason
// set to the reason APNs would have given), or a transport failure (Reason
// empty, Err set and matching [ErrConnection]).
//
// Read the reason with errors.As and compare Reason with the [Reason]
// constants. Error matches, with errors.Is, exactly one pushwire class:
// ErrDeadToken for
// BadDeviceToken, DeviceTokenNotForTopic, ExpiredToken and Unregistered;
// ErrRetryable for TooManyRequests, TooManyProviderTokenUpdates, IdleTimeout,
// 5xx, Shutdown and transport failures; ErrConfiguration (and ErrPermanent)
// for certificate, provider-token and topic problems; ErrPermanent for the
// rest. An Error is immutable once returned and safe to share.
type Error struct {
	// Status is the HTTP status of the APNs response; 0 when none was received.
	Status int
	// Reason is Apple's reason ([ReasonUnregistered], …), or "" for
	// transport failures.
	Reason Reason
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

	written bool // the request was written and no answer came
}

// Error returns a lower-case description without secrets or full tokens.
func (e *Error) Error() string {
	msg := "apns: "
	switch {
	case e.Reason != "" && e.Status != 0:
		msg += "rejected with " + strconv.Itoa(e.Status) + " " + string(e.Reason)
	case e.Reason != "":
		msg += "invalid notification (" + string(e.Reason) + ")"
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
	if ri, ok := reasons[e.Reason]; ok {
		return ri.class
	}
	// Not a reason Apple documents: a newer one, none, or the client's own
	// (InvalidPayload, status 0: permanent).
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

// Unwrap exposes the pushwire class and the underlying error to errors.Is
// and errors.As (and ErrInvalidPayload for a payload the client refused).
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 4)
	if e.Reason == reasonInvalidPayload {
		errs = append(errs, ErrInvalidPayload)
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
