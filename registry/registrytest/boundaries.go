package registrytest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/registry"
)

// A binding is live until the microsecond before its ExpiresAt and expired
// from ExpiresAt on. An explicit ExpiresAt is compared with now at the
// stored precision: less than a microsecond after now is now.
func testExpiryBoundary(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, TTL: time.Hour, SweepInterval: -1})
	d := dev("s", 0)
	got, err := r.Register(ctx, d)
	require.NoError(t, err)
	require.True(t, got.ExpiresAt.Equal(clk.Now().Add(time.Hour)))

	clk.Advance(time.Hour - time.Microsecond)
	_, err = r.Get(ctx, d.Key())
	require.NoError(t, err, "live a microsecond before ExpiresAt")
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, []string{d.Token}, tokens(list))

	clk.Advance(time.Microsecond)
	require.True(t, got.ExpiresAt.Equal(clk.Now()))
	_, err = r.Get(ctx, d.Key())
	assert.ErrorIs(t, err, registry.ErrNotFound, "expired at ExpiresAt")
	list, err = r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Empty(t, list)
	if l, ok := r.(Lister); ok {
		all, err := l.All(ctx)
		require.NoError(t, err)
		assert.Empty(t, all)
	}
	assert.ErrorIs(t, r.Unregister(ctx, d.Key()), registry.ErrNotFound)

	e := dev("s", 1)
	e.ExpiresAt = clk.Now().Add(999 * time.Nanosecond)
	_, err = r.Register(ctx, e)
	assert.ErrorIs(t, err, registry.ErrBadExpiry, "less than a microsecond ahead is not in the future")
	e.ExpiresAt = clk.Now().Add(time.Microsecond)
	got, err = r.Register(ctx, e)
	require.NoError(t, err, "a microsecond ahead is in the future")
	assertTime(t, e.ExpiresAt, got.ExpiresAt, "ExpiresAt")
}

// A key registered again once its binding has expired, without anything
// removing the expired one first, starts a new binding: a new CreatedAt, in
// the session it is registered to now.
func testExpiredReRegistered(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, TTL: time.Hour, SweepInterval: -1})
	same, moved := dev("s", 0), dev("s", 1)
	for _, d := range []registry.Device{same, moved} {
		_, err := r.Register(ctx, d)
		require.NoError(t, err)
	}
	t1 := clk.Advance(time.Hour) // both have just expired
	moved.Session = "t"
	for _, d := range []registry.Device{same, moved} {
		got, err := r.Register(ctx, d)
		require.NoError(t, err)
		assertTime(t, t1, got.CreatedAt, d.Session+": CreatedAt of the new binding")
		g, err := r.Get(ctx, d.Key())
		require.NoError(t, err)
		assert.Equal(t, d.Session, g.Session)
		assertTime(t, t1, g.CreatedAt, d.Session+": CreatedAt stored")
	}
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, []string{same.Token}, tokens(list))
	list, err = r.Lookup(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, []string{moved.Token}, tokens(list))
}

// Config{} caps a session at DefaultMaxDevicesPerSession.
func testDefaultCap(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now})
	n := registry.DefaultMaxDevicesPerSession
	for i := range n + 1 {
		_, err := r.Register(ctx, dev("s", i))
		require.NoError(t, err)
		clk.Advance(time.Second)
	}
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	require.Len(t, list, n)
	assert.Equal(t, dev("s", n).Token, list[0].Token)
	assert.Equal(t, dev("s", 1).Token, list[n-1].Token)
	_, err = r.Get(ctx, dev("s", 0).Key())
	assert.ErrorIs(t, err, registry.ErrNotFound, "the least recently updated is evicted")
}

// The cap counts live bindings only: an expired binding goes before a live
// one, even a live one updated longer ago.
func testCapEvictsExpiredFirst(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, MaxDevicesPerSession: 2, TTL: time.Hour, SweepInterval: -1})
	_, err := r.Register(ctx, dev("s", 0))
	require.NoError(t, err)
	clk.Advance(time.Second)
	short := dev("s", 1)
	short.ExpiresAt = clk.Now().Add(time.Minute)
	_, err = r.Register(ctx, short)
	require.NoError(t, err)
	clk.Advance(2 * time.Minute) // short expired; device 0 live, the oldest
	_, err = r.Register(ctx, dev("s", 2))
	require.NoError(t, err)
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, []string{dev("s", 2).Token, dev("s", 0).Token}, tokens(list))
	if l, ok := r.(Lister); ok {
		all, err := l.All(ctx)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{dev("s", 2).Token, dev("s", 0).Token}, tokens(all))
	}
}

// A clock stepped back (an NTP correction) makes a registration older than
// the ones before it: Lookup still orders by UpdatedAt, and the cap still
// keeps the binding just registered and evicts the others, newer or not.
func testClockStepsBack(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, MaxDevicesPerSession: -1})
	for i := range 4 {
		clk.Advance(time.Second)
		_, err := r.Register(ctx, dev("s", i))
		require.NoError(t, err)
	}
	clk.Advance(-2500 * time.Millisecond) // between devices 0 and 1
	_, err := r.Register(ctx, dev("s", 3))
	require.NoError(t, err)
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, []string{dev("s", 2).Token, dev("s", 1).Token, dev("s", 3).Token, dev("s", 0).Token}, tokens(list))
	for i := 1; i < len(list); i++ {
		assert.False(t, list[i].UpdatedAt.After(list[i-1].UpdatedAt), "Lookup order")
	}

	clk2 := NewClock(start())
	capped := f(t, registry.Config{Now: clk2.Now, MaxDevicesPerSession: 1})
	_, err = capped.Register(ctx, dev("c", 0))
	require.NoError(t, err)
	clk2.Advance(-time.Second)
	_, err = capped.Register(ctx, dev("c", 1))
	require.NoError(t, err)
	list, err = capped.Lookup(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, []string{dev("c", 1).Token}, tokens(list), "the binding just registered stays")
	_, err = capped.Get(ctx, dev("c", 0).Key())
	assert.ErrorIs(t, err, registry.ErrNotFound)
}

// Every limit is accepted at its value (a byte more is refused, see
// testValidation), and so is text a control-character check must not
// catch: spaces and no-break spaces after non-ASCII characters.
func testLimits(t *testing.T, f Factory) {
	ctx := ctxT(t)
	r := f(t, registry.Config{MaxDevicesPerSession: -1})
	labels := func(n, keyLen, valLen int) map[string]string {
		m := make(map[string]string, n)
		for i := range n {
			k := fmt.Sprintf("k%02d", i)
			m[k+strings.Repeat("k", keyLen-len(k))] = strings.Repeat("v", valLen)
		}
		return m
	}
	cases := []struct {
		name string
		mod  func(d *registry.Device)
	}{
		{"session of MaxSessionLen bytes", func(d *registry.Device) { d.Session = strings.Repeat("s", registry.MaxSessionLen) }},
		{"token of MaxTokenLen bytes", func(d *registry.Device) { d.Token = strings.Repeat("t", registry.MaxTokenLen) }},
		{"app id of MaxAppIDLen bytes", func(d *registry.Device) { d.AppID = strings.Repeat("a", registry.MaxAppIDLen) }},
		{"MaxLabels labels", func(d *registry.Device) { d.Labels = labels(registry.MaxLabels, 3, 1) }},
		{"label key of MaxLabelKeyLen bytes", func(d *registry.Device) { d.Labels = labels(1, registry.MaxLabelKeyLen, 1) }},
		{"label value of MaxLabelValLen bytes", func(d *registry.Device) { d.Labels = labels(1, 3, registry.MaxLabelValLen) }},
		{"space after non-ASCII", func(d *registry.Device) { d.Token = "tøken with space" }},
		{"no-break space", func(d *registry.Device) { d.Token = "no-break\u00a0space" }},
		{"non-ASCII session and label", func(d *registry.Device) {
			d.Session = "sessiøn Ω"
			d.Labels = map[string]string{"ключ": "знач\u00a0ение ✓"}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := dev(fmt.Sprintf("l%d", i), 0)
			tc.mod(&d)
			_, err := r.Register(ctx, d)
			require.NoError(t, err)
			g, err := r.Get(ctx, d.Key())
			require.NoError(t, err)
			assert.Equal(t, d.Session, g.Session)
			assert.Equal(t, d.Key(), g.Key())
			assert.Equal(t, d.Labels, g.Labels)
			list, err := r.Lookup(ctx, d.Session)
			require.NoError(t, err)
			assert.Equal(t, []string{d.Token}, tokens(list))
		})
	}
}

// A binding removed in any way takes its payload keys with it: the key
// registered again without keys has none, while another binding keeps its
// own.
func testPayloadKeysRemoved(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, MaxDevicesPerSession: 2, TTL: time.Hour, SweepInterval: -1})
	keep := dev("keep", 0)
	keep.PayloadKeys = newPayloadKeys(t)
	_, err := r.Register(ctx, keep)
	require.NoError(t, err)

	removals := []struct {
		name   string
		remove func(d registry.Device)
	}{
		{"unregister", func(d registry.Device) { require.NoError(t, r.Unregister(ctx, d.Key())) }},
		{"invalidate", func(d registry.Device) {
			ok, err := r.Invalidate(ctx, d.Key(), time.Time{})
			require.NoError(t, err)
			require.True(t, ok)
		}},
		{"remove session", func(d registry.Device) {
			n, err := r.RemoveSession(ctx, d.Session)
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}},
		{"eviction", func(d registry.Device) {
			for i := 1; i <= 2; i++ {
				clk.Advance(time.Second)
				_, err := r.Register(ctx, dev(d.Session, i))
				require.NoError(t, err)
			}
			_, err := r.Get(ctx, d.Key())
			require.ErrorIs(t, err, registry.ErrNotFound)
		}},
	}
	for _, rm := range removals {
		d := dev("rm-"+strings.ReplaceAll(rm.name, " ", "-"), 0)
		d.PayloadKeys = newPayloadKeys(t)
		_, err := r.Register(ctx, d)
		require.NoError(t, err)
		rm.remove(d)
		if c, ok := r.(Checker); ok {
			assert.NoError(t, c.CheckIntegrity(ctx), rm.name)
		}
		d.PayloadKeys = nil
		clk.Advance(time.Second)
		_, err = r.Register(ctx, d)
		require.NoError(t, err)
		g, err := r.Get(ctx, d.Key())
		require.NoError(t, err)
		assert.Nil(t, g.PayloadKeys, rm.name)
	}
	g, err := r.Get(ctx, keep.Key())
	require.NoError(t, err)
	require.NotNil(t, g.PayloadKeys)
	assert.Equal(t, *keep.PayloadKeys, *g.PayloadKeys)
}
