// Package fcm is a small, low-allocation client for the Firebase Cloud
// Messaging HTTP v1 API.
//
// A [Client] authenticates with a service-account JSON (through
// golang.org/x/oauth2/google) or any oauth2.TokenSource, caches the access
// token, and sends one request per message
// (POST /v1/projects/{project}/messages:send) over one shared connection pool
// (HTTP/2 over TLS). All sends of a client, including the fan-out helpers
// [Client.SendAll] and [Client.SendMulticast], share one bounded concurrency
// limit.
//
// Messages are validated before any request is made (exactly one target,
// reserved data keys, ttl range, size limits). Failures are reported as
// [*Error], which carries the HTTP status, the google.rpc status, the FCM
// error code and the Retry-After delay, and matches the pushwire error
// classes with errors.Is:
//
//   - UNREGISTERED and token-related INVALID_ARGUMENT: pushwire.ErrDeadToken
//   - QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, other 5xx, bare 429, network
//     errors: pushwire.ErrRetryable
//   - SENDER_ID_MISMATCH, THIRD_PARTY_AUTH_ERROR, 401, 403, 404 without
//     UNREGISTERED: pushwire.ErrConfiguration (and pushwire.ErrPermanent)
//   - anything else: pushwire.ErrPermanent
//
// The sub-package fcmtest is a fake FCM server for tests.
package fcm
