// Package sendertest is a conformance suite for any [pushwire.Sender], the
// counterpart of package registrytest for registries. It checks the promises
// of the root package on a sender wired to a fake provider that can script
// outcomes:
//
//   - every error matches exactly one of pushwire.ErrDeadToken, ErrRetryable
//     and ErrPermanent (ErrConfiguration also matches ErrPermanent), with
//     pushwire.RetryAfter and pushwire.DeadSince where the provider said;
//   - a context that ends before or during Send gives the error of
//     pushwire.ContextError: retryable, still matching context.Canceled or
//     context.DeadlineExceeded, and matching pushwire.ErrUnknownOutcome when
//     the provider had received the request; a connection dropped after the
//     provider read the request is an unknown outcome too;
//   - Send after Close or Shutdown began matches pushwire.ErrClosed (class
//     ErrRetryable) and reaches no provider; Close is idempotent, cancels the
//     sends under way and waits for them; Shutdown waits for them until its
//     context ends, then does what Close does; no goroutine outlives them;
//   - concurrent sends are race-free (run the suite with -race);
//   - no error string holds more than the last 6 characters of a token.
//
// A test gives [Run] a function that builds a fresh [Harness] for each
// subtest: the sender, its Close and Shutdown, a way to script the fake's
// answer for a token ([Harness.Script], with the outcomes [Accept],
// [DeadToken], [Retryable], [Permanent], [Configuration], [Hang] and [Drop])
// and a count of the requests the fake received for a token
// ([Harness.Received]). An outcome the fake cannot produce is declared by
// Script returning an error that wraps errors.ErrUnsupported: the subtests
// that need it are skipped with that error as the reason. Wrapper senders
// (a sender that routes to others, or one that seals payloads) run the same
// suite with a harness that scripts the senders they wrap.
//
// Senders that retry internally must be configured by the harness so that
// each scripted outcome is seen once (one attempt per send); test retries
// separately.
//
// The suite starts and ends each subtest with go.uber.org/goleak: it must
// not run in parallel with other tests of the package.
package sendertest
