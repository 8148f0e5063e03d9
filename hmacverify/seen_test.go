package hmacverify_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/hmacverify"
)

func TestMemorySeenSet(t *testing.T) {
	ctx := context.Background()
	now := testNow
	s, err := hmacverify.NewMemorySeenSet(hmacverify.MemorySeenConfig{Capacity: 3, Now: func() time.Time { return now }})
	require.NoError(t, err)

	seen := func(id string, ttl time.Duration) bool {
		t.Helper()
		already, err := s.Seen(ctx, id, now.Add(ttl))
		require.NoError(t, err)
		return already
	}
	assert.False(t, seen("a", time.Minute))
	assert.True(t, seen("a", time.Minute))
	assert.False(t, seen("b", 2*time.Minute))
	assert.False(t, seen("c", 3*time.Minute))
	assert.Equal(t, 3, s.Len())

	// Full: adding d forgets a, the id closest to expiry.
	assert.False(t, seen("d", 4*time.Minute))
	assert.Equal(t, 3, s.Len())
	assert.EqualValues(t, 1, s.Evicted())
	assert.True(t, seen("b", time.Minute))
	assert.False(t, seen("a", time.Minute), "a was evicted")
	assert.EqualValues(t, 2, s.Evicted())

	// Expiry: past b's and c's horizons they are forgotten without eviction.
	now = now.Add(3*time.Minute + time.Second)
	assert.False(t, seen("b", time.Minute))
	assert.False(t, seen("c", time.Minute))
	assert.True(t, seen("d", time.Minute))
	assert.EqualValues(t, 2, s.Evicted())

	// An id whose horizon has already passed (or is now) is not remembered.
	n := s.Len()
	assert.False(t, seen("e", -time.Second))
	assert.False(t, seen("e", 0))
	assert.Equal(t, n, s.Len(), "nothing stored")
	roomy, err := hmacverify.NewMemorySeenSet(hmacverify.MemorySeenConfig{Capacity: 10, Now: func() time.Time { return now }})
	require.NoError(t, err)
	for _, ttl := range []time.Duration{-time.Second, 0} {
		already, err := roomy.Seen(ctx, "e", now.Add(ttl))
		require.NoError(t, err)
		assert.False(t, already)
		assert.Zero(t, roomy.Len(), "an id past its horizon is not stored (ttl %s)", ttl)
	}

	// An id is remembered until just before its horizon, not at it.
	assert.False(t, seen("f", time.Minute))
	now = now.Add(time.Minute - time.Nanosecond)
	assert.True(t, seen("f", time.Minute), "just before the horizon")
	assert.False(t, seen("g", time.Nanosecond))
	now = now.Add(time.Nanosecond)
	assert.False(t, seen("g", time.Minute), "at the horizon")
}

func TestMemorySeenSetLongIDs(t *testing.T) {
	s, err := hmacverify.NewMemorySeenSet(hmacverify.MemorySeenConfig{})
	require.NoError(t, err)
	long := strings.Repeat("x", 64<<10)
	until := time.Now().Add(time.Hour)
	already, err := s.Seen(context.Background(), long, until)
	require.NoError(t, err)
	assert.False(t, already)
	already, err = s.Seen(context.Background(), long[:len(long)-1]+"y", until)
	require.NoError(t, err)
	assert.False(t, already, "ids differing in the last byte are distinct")
	already, err = s.Seen(context.Background(), long, until)
	require.NoError(t, err)
	assert.True(t, already)
}

func TestMemorySeenSetConcurrent(t *testing.T) {
	s, err := hmacverify.NewMemorySeenSet(hmacverify.MemorySeenConfig{Capacity: 1000})
	require.NoError(t, err)
	until := time.Now().Add(time.Hour)
	const workers, ids = 8, 50
	var firsts atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < ids; i++ {
				already, err := s.Seen(context.Background(), fmt.Sprint("id-", i), until)
				assert.NoError(t, err)
				if !already {
					firsts.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, ids, firsts.Load(), "each id is new exactly once")
	assert.Equal(t, ids, s.Len())
}

func TestNewMemorySeenSetConfig(t *testing.T) {
	_, err := hmacverify.NewMemorySeenSet(hmacverify.MemorySeenConfig{Capacity: -1})
	assert.ErrorIs(t, err, hmacverify.ErrInvalidConfig)
}

func TestMemorySeenSetForget(t *testing.T) {
	ctx := context.Background()
	now := testNow
	s, err := hmacverify.NewMemorySeenSet(hmacverify.MemorySeenConfig{Capacity: 3, Now: func() time.Time { return now }})
	require.NoError(t, err)
	seen := func(id string, ttl time.Duration) bool {
		t.Helper()
		already, err := s.Seen(ctx, id, now.Add(ttl))
		require.NoError(t, err)
		return already
	}
	assert.False(t, seen("a", time.Minute))
	require.NoError(t, s.Forget(ctx, "a"))
	require.NoError(t, s.Forget(ctx, "never seen"))
	assert.Zero(t, s.Len())
	assert.False(t, seen("a", 3*time.Minute), "forgotten: new again")
	assert.True(t, seen("a", time.Minute))

	// The forgotten record's expiry (1 minute) does not take the new one
	// (3 minutes) with it.
	now = now.Add(2 * time.Minute)
	assert.True(t, seen("a", time.Minute))

	// A forgotten entry makes room without counting as an eviction.
	require.NoError(t, s.Forget(ctx, "a"))
	assert.False(t, seen("b", time.Hour))
	assert.False(t, seen("c", time.Hour))
	assert.False(t, seen("d", time.Hour))
	assert.Equal(t, 3, s.Len())
	assert.Zero(t, s.Evicted())
	assert.True(t, seen("b", time.Hour))
}
