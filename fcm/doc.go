// Package fcm is a small, low-allocation client for the Firebase Cloud
// Messaging HTTP v1 API.
//
// A [Client] authenticates with a service-account JSON (through
// golang.org/x/oauth2/google) or any oauth2.TokenSource, caches the access
// token, and sends one request per message
// (POST /v1/projects/{project}/messages:send) over one shared connection pool
// (HTTP/2 over TLS). All sends of a client, including the fan-out helpers
// [Client.SendEach] and [Client.SendEachForMulticast], share one bounded
// concurrency limit.
//
// Messages are validated before any request is made (exactly one target,
// reserved data keys, ttl range, size limits). Failures are reported as
// [*Error], which carries the HTTP status (Status), the google.rpc status
// (RPCStatus), the FCM error code and the Retry-After delay, and matches the
// pushwire error classes with errors.Is:
//
//   - UNREGISTERED and INVALID_ARGUMENT about the token (a BadRequest field
//     violation on "message.token", or without field violations FCM's
//     message that the registration token is not valid): pushwire.ErrDeadToken;
//     INVALID_ARGUMENT about the message is pushwire.ErrPermanent and never
//     prunes a token
//   - QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, other 5xx, bare 429, network
//     errors: pushwire.ErrRetryable
//   - SENDER_ID_MISMATCH, THIRD_PARTY_AUTH_ERROR, 401, 403, 404 without
//     UNREGISTERED: pushwire.ErrConfiguration (and pushwire.ErrPermanent)
//   - anything else: pushwire.ErrPermanent
//
// A 401 without an FCM error code means the access token was refused: the
// client fetches a new token and tries once more before reporting it.
//
// Retries follow [RetryPolicy]: by default UNAVAILABLE, INTERNAL, other 5xx
// and network errors are retried up to 3 attempts with exponential backoff
// and full jitter, honouring Retry-After and never waiting past the context
// deadline; QUOTA_EXCEEDED and 429 are returned with their Retry-After unless
// RetryQuota is set; permanent errors are never retried.
//
// A send whose context ends returns the error of pushwire.ContextError
// (retryable; it matches pushwire.ErrUnknownOutcome once the request was
// written, as does a network error after the request was written). A send
// after Close or Shutdown began returns an error matching
// pushwire.ErrClosed. [Client.Close] cancels the sends under way and waits
// for them; [Client.Shutdown] waits for them until its context ends. The
// client passes the sendertest conformance suite.
//
// The sub-package fcmtest is a fake FCM server for tests.
package fcm
