package connector

import (
	"fmt"
	"sync"
	"time"

	"github.com/pushwire/pushwire"
)

// RateLimit configures the per-client-address token bucket of the
// registration and admin routes. It is a plain value.
type RateLimit struct {
	// Rate is the sustained number of requests per second per address.
	// Zero means DefaultRateLimit; negative disables rate limiting.
	Rate float64
	// Burst is the bucket size. Zero means DefaultRateBurst (or Rate when
	// larger).
	Burst int
	// MaxClients bounds the addresses tracked at once; when full, idle
	// buckets are dropped first, then arbitrary ones. Zero means
	// DefaultRateClients.
	MaxClients int
}

// limiter is a set of token buckets keyed by client address, with bounded
// memory. It is safe for concurrent use.
type limiter struct {
	rate    float64
	burst   float64
	max     int
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// newLimiter builds the limiter rl describes; zero fields take defRate,
// defBurst and DefaultRateClients. A negative Rate yields nil (no limit).
func newLimiter(rl RateLimit, defRate float64, defBurst int, now func() time.Time) (*limiter, error) {
	if rl.Rate < 0 {
		return nil, nil
	}
	if rl.Burst < 0 || rl.MaxClients < 0 {
		return nil, fmt.Errorf("connector: %w: negative rate limit burst or client count", pushwire.ErrConfiguration)
	}
	if rl.Rate == 0 {
		rl.Rate = defRate
	}
	if rl.Burst == 0 {
		rl.Burst = defBurst
		if float64(rl.Burst) < rl.Rate {
			rl.Burst = int(rl.Rate)
		}
	}
	if rl.MaxClients == 0 {
		rl.MaxClients = DefaultRateClients
	}
	return &limiter{rate: rl.Rate, burst: float64(rl.Burst), max: rl.MaxClients, now: now,
		buckets: make(map[string]*bucket)}, nil
}

// allow takes a token from key's bucket. When none is left it reports how
// long until one is.
func (l *limiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	} else if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// blocked reports, without taking a token, whether key's bucket is empty,
// and how long until it holds one.
func (l *limiter) blocked(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return false, 0
	}
	tokens := b.tokens
	if el := now.Sub(b.last).Seconds(); el > 0 {
		tokens = min(l.burst, tokens+el*l.rate)
	}
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / l.rate * float64(time.Second))
}

// evict makes room: it drops every bucket that has refilled (an idle client
// is indistinguishable from a new one), at most once per second, and then, if
// still full, arbitrary buckets down to 7/8 of the limit.
func (l *limiter) evict(now time.Time) {
	if now.Sub(l.swept) >= time.Second {
		l.swept = now
		full := time.Duration(l.burst / l.rate * float64(time.Second))
		for k, b := range l.buckets {
			if now.Sub(b.last) >= full {
				delete(l.buckets, k)
			}
		}
	}
	target := l.max - l.max/8 - 1
	for k := range l.buckets {
		if len(l.buckets) <= target {
			break
		}
		delete(l.buckets, k)
	}
}

// size reports how many addresses are tracked (for tests through export_test).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
