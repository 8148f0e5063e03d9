// Package apns is a client for the Apple Push Notification service (APNs)
// HTTP/2 provider API.
//
// A [Client] is built from a [Config] with [New]. It authenticates with a
// provider token ([TokenAuth]: an ES256 JWT signed with a .p8 key, cached and
// renewed inside Apple's 20–60 minute window) or with a TLS client
// certificate (PEM or PKCS#12, see [LoadCertificatePEM] and [LoadPKCS12]). It
// speaks HTTP/2 through the standard library's transport with PING health
// checks, bounds the number of pushes in flight, dials one connection at a
// time (more when a connection's stream limit is reached), retries temporary
// failures by resending the same request (the same apns-id when the
// notification has one) and returns a typed [*Error] for every rejection:
// its Reason is one of the [Reason] constants (Apple's table, each with its
// HTTP status and class), and it matches exactly one pushwire error class
// with errors.Is (ErrDeadToken, ErrRetryable, ErrPermanent; ErrConfiguration
// also matches ErrPermanent).
//
// The client's own transport batches each connection's writes: the TLS
// records the HTTP/2 transport flushes for many concurrent pushes (and the
// HEADERS and DATA records of one push) leave in one write system call. A
// transport injected through [Config.HTTPClient] is used as it is.
//
// [Client.Push] sends a [Notification] with full control over the APNs
// headers and payload (raw JSON or the typed [Payload] builder).
// [Client.Send] implements pushwire.Sender for provider-neutral messages.
//
// A push whose context ends returns the error of pushwire.ContextError
// (retryable; it matches pushwire.ErrUnknownOutcome once the request was
// written, as does a connection failure after the request was written). A
// push after Close or Shutdown began returns an error matching
// pushwire.ErrClosed. [Client.Close] cancels the pushes under way and waits
// for them; [Client.Shutdown] waits for them until its context ends. The
// client passes the sendertest conformance suite.
//
// The apnstest sub-package is a fake APNs server for tests.
package apns
