package apns

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The delay before retry n is drawn from [d/2, d), d = MinBackoff·2^(n-1)
// capped at MaxBackoff; a delay of one nanosecond or less is not halved.
func TestBackoff(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		min, max time.Duration
		attempt  int
		d        time.Duration // the ceiling before jitter
	}{
		{10 * ms, 80 * ms, 1, 10 * ms},
		{10 * ms, 80 * ms, 2, 20 * ms},
		{10 * ms, 80 * ms, 3, 40 * ms},
		{10 * ms, 80 * ms, 4, 80 * ms},  // at MaxBackoff
		{10 * ms, 80 * ms, 5, 80 * ms},  // capped
		{10 * ms, 80 * ms, 60, 80 * ms}, // no overflow however many attempts
		{10 * ms, 70 * ms, 4, 70 * ms},  // the doubling passes MaxBackoff: capped
		{10 * ms, 10 * ms, 1, 10 * ms},
		{10 * ms, 10 * ms, 3, 10 * ms},
		{3, 3, 1, 3},
		{2, 2, 1, 2},
		// Durations near the largest: doubling never overflows.
		{1 << 62, 1 << 62, 2, 1 << 62},
		{1<<62 + 1, math.MaxInt64, 2, math.MaxInt64},
		{100 * ms, math.MaxInt64, 40, math.MaxInt64},
		{100 * ms, math.MaxInt64, 1000, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v-%v#%d", tt.min, tt.max, tt.attempt), func(t *testing.T) {
			c := &Client{retry: RetryPolicy{MinBackoff: tt.min, MaxBackoff: tt.max}}
			seen := map[time.Duration]bool{}
			for range 200 {
				d := c.backoff(tt.attempt)
				assert.GreaterOrEqual(t, d, tt.d/2)
				assert.Less(t, d, tt.d)
				seen[d] = true
			}
			if tt.d > 3 {
				assert.Greater(t, len(seen), 1, "jittered")
			}
		})
	}
	for _, d := range []time.Duration{1, 0} {
		c := &Client{retry: RetryPolicy{MinBackoff: d, MaxBackoff: d}}
		assert.Equal(t, d, c.backoff(1), "%v is not halved", d)
		assert.Equal(t, d, c.backoff(5))
	}
}
