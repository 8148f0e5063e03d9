package connector_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/connector/connectortest"
)

// The in-memory stores pass the conformance suites every store runs
// (connectortest), here beside the code they test.

func TestMemoryConfigStoreConformance(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Opener {
		s := connector.NewMemoryConfigStore()
		return func(*testing.T) connector.ConfigStore { return s }
	})
}

func TestMemoryDeduperConformance(t *testing.T) {
	connectortest.RunDeduper(t, connectortest.DeduperBackend{
		New: func(t *testing.T, now func() time.Time) connectortest.DeduperOpener {
			d, err := connector.NewMemoryDeduper(connector.MemoryDeduperConfig{Now: now})
			require.NoError(t, err)
			return func(*testing.T) connector.Deduper { return d }
		},
	})
}

// TestMemoryDeduperRoom: expired and evicted events leave no trace that
// could take room from, or forget, a live one: a full store of expired
// events keeps every new one; an event evicted and then claimed again, or
// recorded again after it expired, is remembered for its whole TTL.
func TestMemoryDeduperRoom(t *testing.T) {
	ctx := context.Background()
	const ttl = time.Minute
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	d, err := connector.NewMemoryDeduper(connector.MemoryDeduperConfig{Capacity: 3, Now: clk.Now})
	require.NoError(t, err)
	claim := func(k string, ttl time.Duration) connector.Claim {
		t.Helper()
		c, err := d.Claim(ctx, k, ttl)
		require.NoError(t, err)
		return c
	}
	isNew := func(k string) bool { t.Helper(); return claim(k, ttl).New }

	for _, k := range []string{"a", "b", "c"} {
		require.True(t, isNew(k))
	}
	clk.Add(ttl)
	for _, k := range []string{"d", "e", "f"} {
		assert.True(t, isNew(k), "%s: new", k)
	}
	assert.Equal(t, 3, d.Len(), "the expired ones are gone")
	for _, k := range []string{"d", "e", "f"} {
		assert.False(t, isNew(k), "%s: kept", k)
	}

	// Evicted, then claimed again half a TTL later: known until then
	// plus the TTL.
	assert.True(t, isNew("g"), "evicts d")
	clk.Add(ttl / 2)
	assert.True(t, isNew("d"), "d was evicted")
	clk.Add(ttl/2 + time.Second) // d's first claim would have expired
	assert.True(t, isNew("h"))
	assert.False(t, isNew("d"), "d's second claim is still live")

	// Recorded after it expired: a new entry, live for the TTL.
	clk.Add(ttl)
	require.NoError(t, d.Record(ctx, "d", map[string]connector.DeviceOutcome{"x": connector.DeviceDelivered}, ttl))
	clk.Add(ttl / 2)
	assert.True(t, isNew("i"))
	c := claim("d", ttl)
	assert.False(t, c.New)
	assert.Equal(t, map[string]connector.DeviceOutcome{"x": connector.DeviceDelivered}, c.Outcomes)

	// TTLs of their own: a short-lived event behind a long-lived one
	// expires on time.
	claim("long", time.Hour)
	claim("short", time.Second)
	clk.Add(time.Second)
	// Claimed again, for two hours: short now outlives long, whose expiry
	// must clear what is left behind it without touching short.
	assert.True(t, claim("short", 2*time.Hour).New, "short expired behind long")
	assert.False(t, claim("long", time.Hour).New)
	clk.Add(time.Hour)
	assert.True(t, isNew("after long"))
	assert.False(t, claim("short", time.Hour).New, "short lives two hours from its second claim")
}
