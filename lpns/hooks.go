package lpns

import "time"

// Outcome is the result of one Send, reported to Hooks.OnSend (a plain
// string value).
type Outcome string

// Send outcomes.
const (
	OutcomeAcked        Outcome = "acked"
	OutcomeNotConnected Outcome = "not-connected"
	OutcomeNotAcked     Outcome = "not-acked"
	OutcomeTooLarge     Outcome = "too-large"
	OutcomeInvalid      Outcome = "invalid"
	OutcomeError        Outcome = "error"
)

// Hooks receive observability events. Every field is optional. Hooks are
// called synchronously from connection and Send goroutines: keep them fast
// (increment a counter, observe a histogram). They must be safe for
// concurrent use.
type Hooks struct {
	// OnConnect is called when a device's connection is established.
	OnConnect func(id Identity)
	// OnDisconnect is called when a connection ends, with the close code the
	// server sent or received (or 1006 when the socket just dropped).
	OnDisconnect func(id Identity, code int, reason string)
	// OnAuthFailure is called for a rejected upgrade or refresh, with a
	// reason: missing-token, invalid-token, token-expired, wrong-device,
	// auth-error, no-subprotocol.
	OnAuthFailure func(reason string)
	// OnKeepaliveTimeout is called when a connection missed its keepalive.
	OnKeepaliveTimeout func(id Identity)
	// OnSend is called once per Send with its outcome; latency is from the
	// start of Send to the ack (or failure). routed tells whether another
	// node delivered it.
	OnSend func(outcome Outcome, latency time.Duration, routed bool)
	// OnLateAck is called for an ack that arrived after its Send gave up.
	OnLateAck func(deviceID, notificationID string)
}
