package connector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSessionCacheBounded: the session cache never holds more than its
// size; when full, expired entries go first (all of them), then enough
// others to leave an eighth of the room free; the entry put is always kept.
func TestSessionCacheBounded(t *testing.T) {
	const size, ttl = 16, time.Minute
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSessionCache(ttl, size, func() time.Time { return now })
	require.NotNil(t, s)
	cfgs := configSet{{ID: "c"}}
	for i := range size {
		s.put(fmt.Sprint("s", i), cfgs)
	}
	assert.Len(t, s.m, size, "at the size: nothing evicted")
	for i := range size {
		ids, ok := s.get(fmt.Sprint("s", i))
		require.True(t, ok)
		assert.Equal(t, []string{"c"}, ids)
	}
	s.put("s0", cfgs) // already there: no eviction
	assert.Len(t, s.m, size)

	s.put("new", cfgs)
	assert.LessOrEqual(t, len(s.m), size-size/8, "just over: room made")
	_, ok := s.get("new")
	assert.True(t, ok)

	now = now.Add(ttl)
	for i := range size {
		s.put(fmt.Sprint("t", i), cfgs)
	}
	for i := range size {
		_, ok := s.get(fmt.Sprint("t", i))
		assert.True(t, ok, "t%d: the expired entries made room for every new one", i)
	}
	assert.Len(t, s.m, size)

	assert.Nil(t, newSessionCache(0, size, time.Now), "no TTL: no cache")
	assert.Nil(t, newSessionCache(ttl, 0, time.Now), "no room: no cache")
}

// TestSessionCacheReplacesIDs: a session's entry follows its
// configurations: other ids of the same count replace the old ones, whether
// some or none of them are the same.
func TestSessionCacheReplacesIDs(t *testing.T) {
	s := newSessionCache(time.Minute, 8, time.Now)
	s.put("s", configSet{{ID: "a"}, {ID: "b"}})
	s.put("s", configSet{{ID: "a"}, {ID: "c"}})
	ids, ok := s.get("s")
	require.True(t, ok)
	assert.Equal(t, []string{"a", "c"}, ids)
	s.put("s", configSet{{ID: "x"}, {ID: "y"}})
	ids, _ = s.get("s")
	assert.Equal(t, []string{"x", "y"}, ids)
	s.put("s", configSet{{ID: "a"}})
	ids, _ = s.get("s")
	assert.Equal(t, []string{"a"}, ids)
	s.drop("s")
	_, ok = s.get("s")
	assert.False(t, ok)
}

// TestInflight: the limit on callbacks in progress admits exactly max,
// refuses the next, and admits again after a release; a limit of 0 admits
// everything.
func TestInflight(t *testing.T) {
	f := &inflight{max: 2}
	assert.False(t, f.full())
	require.True(t, f.acquire())
	assert.False(t, f.full(), "just under")
	require.True(t, f.acquire())
	assert.True(t, f.full(), "at the limit")
	assert.False(t, f.acquire(), "just over")
	assert.False(t, f.acquire(), "a refusal takes no place")
	f.release()
	assert.False(t, f.full())
	assert.True(t, f.acquire())

	none := &inflight{}
	for range 100 {
		require.True(t, none.acquire())
	}
	assert.False(t, none.full())
	none.release()
	assert.Zero(t, none.n.Load(), "an unlimited count is not kept")
}
