package dispatch

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pushwire/pushwire"
)

// The delay before retry n is drawn from [0, c], c = MinBackoff·2^(n-1)
// capped at MaxBackoff, both ends included; a longer Retry-After wins.
func TestBackoff(t *testing.T) {
	tests := []struct {
		min, max time.Duration
		n        int
		ceiling  time.Duration
	}{
		{1, 8, 1, 1},
		{1, 8, 2, 2},
		{1, 8, 3, 4},
		{1, 8, 4, 8}, // at MaxBackoff exactly
		{1, 8, 5, 8}, // capped
		{3, 8, 2, 6},
		{1, 3, 2, 2}, // MinBackoff == MaxBackoff>>1: the shift is taken
		{1, 3, 3, 3},
		{3, 8, 3, 8},
		{4, 4, 1, 4},
		{4, 4, 9, 4},
		// Past the width of a Duration the doubling saturates at MaxBackoff,
		// where the shift would wrap to 0 or a negative value.
		{1 << 34, 1<<34 + 3, 31, 1<<34 + 3},
		{1 << 33, 1<<33 + 3, 31, 1<<33 + 3},
		{3, 5, 31, 5},
		{3, 5, 32, 5},
		{3, 5, 1000, 5},
		{1, 1 << 40, 33, 1 << 32}, // the doubling, not MaxBackoff, past 32 retries
		{1, 1 << 62, 63, 1 << 62},
		{1, math.MaxInt64, 63, 1 << 62},
		{1, math.MaxInt64, 64, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64, 1, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-%d#%d", tt.min, tt.max, tt.n), func(t *testing.T) {
			p := RetryPolicy{MinBackoff: tt.min, MaxBackoff: tt.max}
			seen := map[time.Duration]bool{}
			for range 400 {
				d := p.backoff(tt.n, nil)
				if !assert.GreaterOrEqual(t, d, time.Duration(0)) || !assert.LessOrEqual(t, d, tt.ceiling) {
					break
				}
				seen[d] = true
			}
			if tt.ceiling <= 8 {
				assert.True(t, seen[0], "0 is drawn")
				assert.True(t, seen[tt.ceiling], "the ceiling is drawn")
			} else {
				assert.Greater(t, len(seen), 300, "jittered")
			}
		})
	}
	// Retry-After: a delay at least as long.
	p := RetryPolicy{MinBackoff: 1, MaxBackoff: 8}
	ra := &pushwire.Error{Class: pushwire.ErrRetryable, Retry: time.Hour}
	assert.Equal(t, time.Hour, p.backoff(1, ra))
	short := &pushwire.Error{Class: pushwire.ErrRetryable, Retry: 2}
	for range 100 {
		d := p.backoff(4, short)
		assert.GreaterOrEqual(t, d, time.Duration(2))
		assert.LessOrEqual(t, d, time.Duration(8))
	}
}

// Zero fields take their defaults; negative ones and a MaxBackoff shorter
// than MinBackoff (defaults included) are configuration errors.
func TestRetryPolicyDefaults(t *testing.T) {
	tests := []struct {
		in, want RetryPolicy
		ok       bool
	}{
		{RetryPolicy{}, RetryPolicy{DefaultMaxAttempts, DefaultMinBackoff, DefaultMaxBackoff}, true},
		{RetryPolicy{MaxAttempts: 1}, RetryPolicy{1, DefaultMinBackoff, DefaultMaxBackoff}, true},
		{RetryPolicy{MinBackoff: time.Second}, RetryPolicy{DefaultMaxAttempts, time.Second, DefaultMaxBackoff}, true},
		{RetryPolicy{MaxBackoff: time.Second}, RetryPolicy{DefaultMaxAttempts, DefaultMinBackoff, time.Second}, true},
		{RetryPolicy{MinBackoff: 7, MaxBackoff: 7}, RetryPolicy{DefaultMaxAttempts, 7, 7}, true},
		{RetryPolicy{MaxBackoff: DefaultMinBackoff - 1}, RetryPolicy{}, false},
		{RetryPolicy{MinBackoff: DefaultMaxBackoff + 1}, RetryPolicy{}, false},
		{RetryPolicy{MinBackoff: 8, MaxBackoff: 7}, RetryPolicy{}, false},
		{RetryPolicy{MaxAttempts: -1}, RetryPolicy{}, false},
		{RetryPolicy{MinBackoff: -1}, RetryPolicy{}, false},
		{RetryPolicy{MaxBackoff: -1}, RetryPolicy{}, false},
	}
	for _, tt := range tests {
		got, err := tt.in.withDefaults()
		if !tt.ok {
			assert.ErrorIs(t, err, pushwire.ErrConfiguration, "%+v", tt.in)
			continue
		}
		assert.NoError(t, err, "%+v", tt.in)
		assert.Equal(t, tt.want, got)
	}
}
