package connector

import (
	"time"

	"github.com/pushwire/pushwire"
)

// Delivery outcomes passed to [Metrics.Delivery] and logged.
const (
	OutcomeDelivered = "delivered"
	OutcomeDead      = "dead_token" // the provider says the token is invalid; pruned
	OutcomeRetryable = "retryable"  // temporary failure that outlasted the retries or the deadline
	OutcomePermanent = "permanent"  // the message or the configuration was rejected
	OutcomeTimeout   = "timeout"    // the delivery deadline passed before the request was written
	OutcomeUnknown   = "unknown"    // the request was written and its answer never came
)

// Callback results passed to [Metrics.Callback].
const (
	CallbackDelivered = "delivered" // some device accepted the push
	CallbackUnknown   = "unknown"   // nothing delivered or failed for sure; some outcome unknown (202)
	CallbackPruned    = "pruned"    // only dead tokens, all pruned
	CallbackFailed    = "failed"    // nothing delivered, some push failed (500)
	CallbackNoDevice  = "no_device" // the session has no device
	CallbackDuplicate = "duplicate" // already handled: nothing pushed
)

// Metrics receives the connector's measurements. Implementations must be
// safe for concurrent use and fast; the connector calls them inline. The
// example program adapts it to Prometheus.
type Metrics interface {
	// Request is called once per HTTP request with its route (Route...
	// constants), status code and duration.
	Request(route string, status int, d time.Duration)
	// Delivery is called once per device push with its outcome (Outcome...
	// constants) and duration.
	Delivery(provider pushwire.Provider, outcome string, d time.Duration)
	// Pruned is called for each dead token removed from the registry.
	Pruned(provider pushwire.Provider)
	// Callback is called once per verified callback with its result (a
	// Callback... constant).
	Callback(result string)
}

type nopMetrics struct{}

func (nopMetrics) Request(string, int, time.Duration)                {}
func (nopMetrics) Delivery(pushwire.Provider, string, time.Duration) {}
func (nopMetrics) Pruned(pushwire.Provider)                          {}
func (nopMetrics) Callback(string)                                   {}
