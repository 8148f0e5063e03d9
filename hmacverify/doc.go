// Package hmacverify authenticates Avaya Experience Platform (AXP) push
// notification callbacks.
//
// AXP POSTs a JSON event such as
//
//	{"eventId": "…", "conversationId": "…", "customerId": "…",
//	 "sessionId": "…", "eventDate": "2024-03-18T11:00:24.481Z"}
//
// to the connector's callback URL, with the header X-hmac set to the
// lower-case hex HMAC-SHA256 of eventId immediately followed by sessionId,
// keyed with the secret configured in AXP.
//
// [SignatureHeader] is that header's canonical Go spelling, X-Hmac; header
// names are case-insensitive and every function here accepts any spelling.
//
// [Sign] and [Verify] compute and check that signature; Verify does not
// allocate and compares in constant time, and [VerifyAny] checks several
// secrets without telling by its timing which one matched. [ParseEvent] reads
// a body: the five members above must be strings (eventDate is kept as
// received, in whatever form; [Event.Time] reads the usual ones), and the
// body's other string members are kept in [Event.Extra].
//
// A [Verifier] checks whole requests: it reads the body with a size limit,
// parses the event, accepts any of several secrets (rotation) and optionally
// rejects stale and replayed events.
// [Verifier.Middleware] wraps the callback handler and answers rejected
// requests itself with a small JSON error:
//
//	413 body larger than Config.MaxBodyBytes             ErrTooLarge
//	408 body not received within Config.BodyTimeout      ErrTimeout
//	400 malformed JSON, missing eventId or sessionId,
//	    an event member that is not a string             ErrMalformed
//	401 missing or wrong X-hmac                          ErrMissingSignature, ErrInvalidSignature
//	401 eventDate missing, unreadable or outside
//	    ±Config.ReplayWindow                             ErrStale
//	409 eventId already seen within the window           ErrReplay
//	503 the seen-set or secret source failed             ErrUnavailable
//	500 misconfiguration (an empty secret)               ErrInvalidConfig
//
// Note that the signature covers eventId and sessionId only: eventDate,
// conversationId, customerId and the other members are not authenticated by
// AXP. Replay
// protection therefore rests on the seen-set, which remembers each eventId for
// Config.Remember (twice the window by default). With replay protection on,
// a replayed event is told apart (ErrReplay, 409) so that a connector can
// treat it as already processed; Config.ErrorHandler can answer it with 200.
//
// A server that must look at the event before it knows which secrets apply
// (a connector that finds them through the event's session) composes the
// same steps itself: [ReadEvent] (body limits and timeout of [ReadBody], then
// ParseEvent), [Signature], then VerifyAny with the secrets it chose, and a
// [SeenSet] for duplicates.
//
// The package depends on the standard library only.
package hmacverify
