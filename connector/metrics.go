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
	OutcomeTimeout   = "timeout"    // the delivery deadline passed
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
	// Callback is called once per verified callback with its result:
	// "delivered", "no_device", "duplicate", "pruned" or "failed".
	Callback(result string)
}

type nopMetrics struct{}

func (nopMetrics) Request(string, int, time.Duration)                {}
func (nopMetrics) Delivery(pushwire.Provider, string, time.Duration) {}
func (nopMetrics) Pruned(pushwire.Provider)                          {}
func (nopMetrics) Callback(string)                                   {}
