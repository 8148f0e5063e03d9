package connector

import "github.com/pushwire/pushwire/hmacverify"

// Deduper remembers the callbacks already handled, keyed by eventId and
// sessionId: Seen records a callback until Config.DedupeTTL from now and
// reports whether it was handled before, and Forget lets a callback whose
// delivery failed through again. It is the [hmacverify.SeenSet] idea (the
// same interface; [hmacverify.MemorySeenSet] is the in-memory one and the
// default), under a name of the connector's own so that it can grow, without
// changing hmacverify, into a store that remembers each event's per-device
// outcomes.
//
// Implementations must be safe for concurrent use; a shared one (Redis, SQL)
// lets several connector instances suppress each other's duplicates.
type Deduper interface {
	hmacverify.SeenSet
}
