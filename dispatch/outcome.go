package dispatch

import (
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
)

// Outcome is what became of the push to one device.
type Outcome int

// Outcomes; see the package documentation.
const (
	// Failed: a permanent or configuration error, or temporary errors until
	// the retry budget or the deadline ran out (the zero value).
	Failed Outcome = iota
	// Delivered: the provider, or the phone over local push, accepted it.
	Delivered
	// Dead: the provider said the token is gone; the binding was
	// invalidated unless registered again since.
	Dead
	// Unknown: the request was written and its answer never came; the
	// device may have received it.
	Unknown
)

// String returns "failed", "delivered", "dead" or "unknown".
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Dead:
		return "dead"
	case Unknown:
		return "unknown"
	}
	return "failed"
}

// Path is the way a push went: to FCM, to APNs or over local push.
type Path string

// Paths.
const (
	PathNone  Path = ""      // no sender was tried
	PathFCM   Path = "fcm"   // Firebase Cloud Messaging
	PathAPNs  Path = "apns"  // Apple Push Notification service
	PathLocal Path = "local" // local push (LPNS) over the phone's own connection
)

// pathOf returns the path of provider p.
func pathOf(p pushwire.Provider) Path {
	switch p {
	case pushwire.ProviderFCM:
		return PathFCM
	case pushwire.ProviderAPNs:
		return PathAPNs
	case pushwire.ProviderLPNS:
		return PathLocal
	}
	return PathNone
}

// Delivery is the outcome of the push to one device (one phone, when
// several bindings share a [LabelDevice]). It is a plain value.
type Delivery struct {
	// Device is the binding the outcome is about: the one that delivered,
	// or the last one tried.
	Device registry.Device
	// Phone is the device's [LabelDevice] label, empty when it has none.
	Phone string
	// Outcome is what became of the push.
	Outcome Outcome
	// Path is the way of the last attempt (the way it was delivered, for
	// Delivered); PathNone when no sender was tried.
	Path Path
	// Err is the last error; nil when delivered.
	Err error
	// Attempts counts the sends made to the last path (1 plus retries; 0
	// when none was made).
	Attempts int
	// Latency is the time from the start of the device's delivery to its
	// outcome, local attempt and retries included.
	Latency time.Duration
	// LocalErr is why the local attempt did not deliver, when the phone was
	// tried locally first and then through a remote provider.
	LocalErr error
	// Sealed reports that the push of the last path was sealed end to end
	// with the binding's payload keys (see [SealMode]).
	Sealed bool
	// Pruned reports that a Dead binding was removed from the registry. It
	// is false when the binding was registered again since (kept on
	// purpose) or when removing it failed (PruneErr).
	Pruned bool
	// PruneErr is the registry's error when removing a dead binding failed.
	PruneErr error
}

// Retries is the number of sends after the first on the last path.
func (d Delivery) Retries() int { return max(d.Attempts-1, 0) }

// Result is the outcome of one notification: one Delivery per device, in
// the registry's order (most recently registered first; a phone at the
// place of its first binding). It is a plain value.
type Result struct {
	// Session is the session notified.
	Session string
	// Deliveries holds one entry per device.
	Deliveries []Delivery
}

// Counts sums a [Result] by outcome, the figures of a delivery summary.
type Counts struct {
	Delivered int // accepted by a provider or acknowledged locally
	Dead      int // the provider said the token is gone
	Pruned    int // of Dead: bindings removed from the registry
	Failed    int // not delivered
	Unknown   int // may have been delivered
	// Local, APNs and FCM split Delivered by path.
	Local, APNs, FCM int
}

// Counts sums r by outcome.
func (r Result) Counts() Counts {
	var c Counts
	for i := range r.Deliveries {
		d := &r.Deliveries[i]
		switch d.Outcome {
		case Delivered:
			c.Delivered++
			switch d.Path {
			case PathLocal:
				c.Local++
			case PathAPNs:
				c.APNs++
			case PathFCM:
				c.FCM++
			}
		case Dead:
			c.Dead++
			if d.Pruned {
				c.Pruned++
			}
		case Unknown:
			c.Unknown++
		default:
			c.Failed++
		}
	}
	return c
}
