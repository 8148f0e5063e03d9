package dispatch

import (
	"math/rand/v2"
	"time"

	"github.com/pushwire/pushwire"
)

// Defaults of [RetryPolicy].
const (
	DefaultMaxAttempts = 3
	DefaultMinBackoff  = 100 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
)

// RetryPolicy says how a send that failed with a temporary error
// (pushwire.ErrRetryable) is retried on the same path. Before retry n it
// waits a random delay between 0 and min(MaxBackoff, MinBackoff·2^(n-1))
// (full jitter), or the provider's Retry-After when that is longer; a wait
// that would pass the deadline is not started: the device fails with the
// last error. Never retried: an outcome that may have reached the provider
// (pushwire.ErrUnknownOutcome), a closed sender (pushwire.ErrClosed), the
// local attempt of a phone (it falls back instead). The zero value means 3
// attempts, 100 ms to 5 s apart. It is a plain value.
type RetryPolicy struct {
	// MaxAttempts is the number of sends per path, the first included; 0
	// means [DefaultMaxAttempts], 1 disables retries.
	MaxAttempts int
	// MinBackoff is the backoff unit; 0 means [DefaultMinBackoff].
	MinBackoff time.Duration
	// MaxBackoff caps the jittered delay; 0 means [DefaultMaxBackoff]. A
	// longer Retry-After is still honoured when the deadline allows it.
	MaxBackoff time.Duration
}

func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.MaxAttempts < 0 || p.MinBackoff < 0 || p.MaxBackoff < 0 {
		return p, configError("retry policy values must not be negative")
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MinBackoff == 0 {
		p.MinBackoff = DefaultMinBackoff
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.MaxBackoff < p.MinBackoff {
		return p, configError("retry MaxBackoff is shorter than MinBackoff")
	}
	return p, nil
}

// backoff is the wait before retry n (n ≥ 1) after err.
func (p RetryPolicy) backoff(n int, err error) time.Duration {
	ceil := p.MaxBackoff
	// MinBackoff·2^(n-1) when that is at most MaxBackoff (the shift then
	// cannot overflow), else MaxBackoff.
	if s := n - 1; p.MinBackoff <= p.MaxBackoff>>s {
		ceil = p.MinBackoff << s
	}
	// ceil+1 as a uint64 does not overflow when ceil is math.MaxInt64.
	d := time.Duration(rand.Uint64N(uint64(ceil) + 1))
	if ra, ok := pushwire.RetryAfter(err); ok && ra > d {
		d = ra
	}
	return d
}
