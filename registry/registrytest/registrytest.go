package registrytest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
)

// Factory returns a fresh, empty registry configured with cfg.
type Factory func(t *testing.T, cfg registry.Config) registry.Registry

// Lister is implemented by registries that can enumerate all live bindings.
type Lister interface {
	All(ctx context.Context) ([]registry.Device, error)
}

// Checker is implemented by registries that can verify their internal
// indexes: no index entry without its binding, no binding missing from its
// session's index.
type Checker interface {
	CheckIntegrity(ctx context.Context) error
}

// Clock is a manual clock for Config.Now. It starts at the given time and
// moves only when Advance is called. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// start is near real time (some backends also use native expiry driven by
// the server clock) and on a whole second.
func start() time.Time { return time.Now().UTC().Truncate(time.Second) }

// Run runs the conformance suite against registries made by newRegistry.
func Run(t *testing.T, newRegistry Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f Factory)
	}{
		{"RegisterLookup", testRegisterLookup},
		{"UnknownSession", testUnknownSession},
		{"Upsert", testUpsert},
		{"Move", testMove},
		{"KeyFields", testKeyFields},
		{"Expiry", testExpiry},
		{"ExpiryBoundary", testExpiryBoundary},
		{"ExpiredReRegistered", testExpiredReRegistered},
		{"ExplicitExpiry", testExplicitExpiry},
		{"NoTTL", testNoTTL},
		{"CapEviction", testCapEviction},
		{"DefaultCap", testDefaultCap},
		{"CapIgnoresExpired", testCapIgnoresExpired},
		{"CapEvictsExpiredFirst", testCapEvictsExpiredFirst},
		{"ClockStepsBack", testClockStepsBack},
		{"Invalidate", testInvalidate},
		{"Unregister", testUnregister},
		{"RemoveSession", testRemoveSession},
		{"Validation", testValidation},
		{"Limits", testLimits},
		{"Labels", testLabels},
		{"PayloadKeys", testPayloadKeys},
		{"PayloadKeysRemoved", testPayloadKeysRemoved},
		{"ContextCanceled", testContextCanceled},
		{"Closed", testClosed},
		{"ConcurrentCap", testConcurrentCap},
		{"ConcurrentStress", testStress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newRegistry)
		})
	}
}

func dev(session string, n int) registry.Device {
	return registry.Device{
		Session:  session,
		Provider: pushwire.ProviderFCM,
		Token:    fmt.Sprintf("tok-%s-%03d", session, n),
		AppID:    "project-1",
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func assertTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	assert.Truef(t, want.Equal(got), "%s: want %v, got %v", what, want, got)
}

func tokens(ds []registry.Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Token
	}
	return out
}

func testRegisterLookup(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, TTL: time.Hour})

	d0 := dev("alice", 0)
	d0.Provider, d0.AppID, d0.Environment = pushwire.ProviderAPNs, "com.example.app", registry.EnvironmentSandbox
	d0.Labels = map[string]string{"platform": "ios", "version": "1.2.3"}
	t0 := clk.Now()
	got, err := r.Register(ctx, d0)
	require.NoError(t, err)
	assert.Equal(t, "alice", got.Session)
	assert.Equal(t, d0.Key(), got.Key())
	assert.Equal(t, d0.Labels, got.Labels)
	assertTime(t, t0, got.CreatedAt, "CreatedAt")
	assertTime(t, t0, got.UpdatedAt, "UpdatedAt")
	assertTime(t, t0.Add(time.Hour), got.ExpiresAt, "ExpiresAt")

	clk.Advance(time.Second)
	_, err = r.Register(ctx, dev("alice", 1))
	require.NoError(t, err)
	clk.Advance(time.Second)
	_, err = r.Register(ctx, dev("alice", 2))
	require.NoError(t, err)
	_, err = r.Register(ctx, dev("bob", 0))
	require.NoError(t, err)

	list, err := r.Lookup(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []string{dev("alice", 2).Token, dev("alice", 1).Token, d0.Token}, tokens(list), "newest first")
	require.Len(t, list, 3)
	last := list[2]
	assert.Equal(t, d0.Key(), last.Key())
	assert.Equal(t, "alice", last.Session)
	assert.Equal(t, d0.Labels, last.Labels)
	assertTime(t, t0, last.CreatedAt, "CreatedAt")
	assertTime(t, t0, last.UpdatedAt, "UpdatedAt")
	assertTime(t, t0.Add(time.Hour), last.ExpiresAt, "ExpiresAt")
	assert.Nil(t, list[0].Labels, "no labels stays nil")

	g, err := r.Get(ctx, d0.Key())
	require.NoError(t, err)
	assert.Equal(t, last, g)

	bob, err := r.Lookup(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, []string{dev("bob", 0).Token}, tokens(bob))
}

func testUnknownSession(t *testing.T, f Factory) {
	ctx := ctxT(t)
	r := f(t, registry.Config{})
	list, err := r.Lookup(ctx, "nobody")
	require.NoError(t, err)
	assert.Empty(t, list)
	_, err = r.Get(ctx, dev("nobody", 0).Key())
	assert.ErrorIs(t, err, registry.ErrNotFound)
	n, err := r.RemoveSession(ctx, "nobody")
	require.NoError(t, err)
	assert.Zero(t, n)
}

func testUpsert(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, TTL: time.Hour})
	d := dev("s", 0)
	d.Labels = map[string]string{"v": "1"}
	t0 := clk.Now()
	_, err := r.Register(ctx, d)
	require.NoError(t, err)

	t1 := clk.Advance(10 * time.Minute)
	d.Labels = map[string]string{"v": "2"}
	got, err := r.Register(ctx, d)
	require.NoError(t, err)
	assertTime(t, t0, got.CreatedAt, "CreatedAt kept")
	assertTime(t, t1, got.UpdatedAt, "UpdatedAt refreshed")
	assertTime(t, t1.Add(time.Hour), got.ExpiresAt, "ExpiresAt refreshed")
	assert.Equal(t, map[string]string{"v": "2"}, got.Labels)

	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	require.Len(t, list, 1, "upsert must not duplicate")
	assert.Equal(t, got, list[0])

	// Re-registering with no labels clears them.
	d.Labels = nil
	got, err = r.Register(ctx, d)
	require.NoError(t, err)
	assert.Nil(t, got.Labels)
	g, err := r.Get(ctx, d.Key())
	require.NoError(t, err)
	assert.Nil(t, g.Labels)
}

func testMove(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, TTL: time.Hour})
	d := dev("old", 0)
	t0 := clk.Now()
	_, err := r.Register(ctx, d)
	require.NoError(t, err)
	_, err = r.Register(ctx, dev("old", 1))
	require.NoError(t, err)

	t1 := clk.Advance(time.Minute)
	d.Session = "new"
	got, err := r.Register(ctx, d)
	require.NoError(t, err)
	assert.Equal(t, "new", got.Session)
	assertTime(t, t0, got.CreatedAt, "CreatedAt kept across a move")
	assertTime(t, t1, got.UpdatedAt, "UpdatedAt")
	assertTime(t, t1.Add(time.Hour), got.ExpiresAt, "ExpiresAt")

	old, err := r.Lookup(ctx, "old")
	require.NoError(t, err)
	assert.Equal(t, []string{dev("old", 1).Token}, tokens(old))
	nw, err := r.Lookup(ctx, "new")
	require.NoError(t, err)
	assert.Equal(t, []string{d.Token}, tokens(nw))
	g, err := r.Get(ctx, d.Key())
	require.NoError(t, err)
	assert.Equal(t, "new", g.Session)

	// Moving the last device away leaves an empty session behind.
	last := dev("old", 1)
	last.Session = "new"
	_, err = r.Register(ctx, last)
	require.NoError(t, err)
	old, err = r.Lookup(ctx, "old")
	require.NoError(t, err)
	assert.Empty(t, old)
	n, err := r.RemoveSession(ctx, "old")
	require.NoError(t, err)
	assert.Zero(t, n)
	nw, err = r.Lookup(ctx, "new")
	require.NoError(t, err)
	assert.Len(t, nw, 2)
}

func testKeyFields(t *testing.T, f Factory) {
	ctx := ctxT(t)
	r := f(t, registry.Config{})
	base := registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: "abcdef0123", AppID: "com.example"}
	variants := []registry.Device{base}
	v := base
	v.Provider = pushwire.ProviderFCM
	variants = append(variants, v)
	v = base
	v.Provider = pushwire.ProviderLPNS
	variants = append(variants, v)
	v = base
	v.AppID = "com.example.other"
	variants = append(variants, v)
	v = base
	v.AppID = ""
	variants = append(variants, v)
	v = base
	v.Environment = registry.EnvironmentProduction
	variants = append(variants, v)
	v = base
	v.Environment = registry.EnvironmentSandbox
	variants = append(variants, v)
	for i, d := range variants {
		d.Session = fmt.Sprintf("s%d", i)
		_, err := r.Register(ctx, d)
		require.NoError(t, err)
	}
	for i, d := range variants {
		g, err := r.Get(ctx, d.Key())
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("s%d", i), g.Session, "each key field distinguishes a binding")
		assert.Equal(t, d.Key(), g.Key())
	}
	// Tokens are compared exactly (no case folding) and may hold any
	// printable text, including separators a backend might use internally.
	odd := []string{"ABCDEF0123", "a:b|c", "ünïcødé-tøken", "with space", strings.Repeat("x", registry.MaxTokenLen)}
	for i, tok := range odd {
		d := base
		d.Token = tok
		d.Session = fmt.Sprintf("odd%d", i)
		_, err := r.Register(ctx, d)
		require.NoError(t, err)
		g, err := r.Get(ctx, d.Key())
		require.NoError(t, err)
		assert.Equal(t, d.Session, g.Session)
		assert.Equal(t, tok, g.Token)
	}
	g, err := r.Get(ctx, base.Key())
	require.NoError(t, err)
	assert.Equal(t, "s0", g.Session)
}

func testExpiry(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, TTL: time.Hour, SweepInterval: -1})
	d := dev("s", 0)
	_, err := r.Register(ctx, d)
	require.NoError(t, err)
	other := dev("s", 1)
	clk.Advance(30 * time.Minute)
	_, err = r.Register(ctx, other)
	require.NoError(t, err)

	clk.Advance(29 * time.Minute)
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Len(t, list, 2, "both live before the TTL")

	clk.Advance(2 * time.Minute) // d is 61 minutes old
	list, err = r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, []string{other.Token}, tokens(list), "expired binding never returned")
	_, err = r.Get(ctx, d.Key())
	assert.ErrorIs(t, err, registry.ErrNotFound)
	ok, err := r.Invalidate(ctx, d.Key(), time.Time{})
	require.NoError(t, err)
	assert.False(t, ok, "invalidating an expired binding removes nothing live")
	if l, ok := r.(Lister); ok {
		all, err := l.All(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{other.Token}, tokens(all))
	}

	// Registering the expired key again starts a new binding.
	t2 := clk.Now()
	got, err := r.Register(ctx, d)
	require.NoError(t, err)
	assertTime(t, t2, got.CreatedAt, "CreatedAt of a re-registered expired binding")

	clk.Advance(2 * time.Hour)
	list, err = r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Empty(t, list)
	assert.ErrorIs(t, r.Unregister(ctx, d.Key()), registry.ErrNotFound)
	n, err := r.RemoveSession(ctx, "s")
	require.NoError(t, err)
	assert.Zero(t, n, "RemoveSession counts live bindings only")
}

func testExplicitExpiry(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, TTL: time.Hour})
	d := dev("s", 0)
	d.ExpiresAt = clk.Now().Add(5 * time.Minute)
	got, err := r.Register(ctx, d)
	require.NoError(t, err)
	assertTime(t, d.ExpiresAt, got.ExpiresAt, "explicit ExpiresAt kept")
	clk.Advance(6 * time.Minute)
	_, err = r.Get(ctx, d.Key())
	assert.ErrorIs(t, err, registry.ErrNotFound)

	d.ExpiresAt = clk.Now()
	_, err = r.Register(ctx, d)
	assert.ErrorIs(t, err, registry.ErrInvalid)
	assert.ErrorIs(t, err, registry.ErrBadExpiry)
	_, err = r.Get(ctx, d.Key())
	assert.ErrorIs(t, err, registry.ErrNotFound, "nothing stored")

	// The end of the year 9999 is stored exactly; later is refused (it
	// would overflow the Unix microseconds some backends store).
	d.ExpiresAt = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	_, err = r.Register(ctx, d)
	require.NoError(t, err)
	got, err = r.Get(ctx, d.Key())
	require.NoError(t, err, "a binding expiring in the year 9999 is live")
	assertTime(t, d.ExpiresAt, got.ExpiresAt, "the year 9999 round-trips")
	d.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err = r.Register(ctx, d)
	assert.ErrorIs(t, err, registry.ErrBadExpiry)
}

func testNoTTL(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, TTL: -1})
	got, err := r.Register(ctx, dev("s", 0))
	require.NoError(t, err)
	assert.True(t, got.ExpiresAt.IsZero(), "negative TTL: no expiry")
	clk.Advance(10 * 365 * 24 * time.Hour)
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Len(t, list, 1)
	assert.True(t, list[0].ExpiresAt.IsZero())

	// The default TTL is 30 days.
	clk2 := NewClock(start())
	r2 := f(t, registry.Config{Now: clk2.Now})
	got, err = r2.Register(ctx, dev("s", 0))
	require.NoError(t, err)
	assertTime(t, clk2.Now().Add(registry.DefaultTTL), got.ExpiresAt, "default TTL")
}

func testCapEviction(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, MaxDevicesPerSession: 3})
	for i := range 3 {
		_, err := r.Register(ctx, dev("s", i))
		require.NoError(t, err)
		clk.Advance(time.Second)
	}
	// Refresh device 0: device 1 becomes the least recently updated.
	_, err := r.Register(ctx, dev("s", 0))
	require.NoError(t, err)
	clk.Advance(time.Second)
	_, err = r.Register(ctx, dev("s", 3))
	require.NoError(t, err)
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, []string{dev("s", 3).Token, dev("s", 0).Token, dev("s", 2).Token}, tokens(list))
	_, err = r.Get(ctx, dev("s", 1).Key())
	assert.ErrorIs(t, err, registry.ErrNotFound, "evicted binding is gone")

	// Moving a token into a full session evicts there, and leaves its old
	// session alone.
	clk.Advance(time.Second)
	_, err = r.Register(ctx, dev("t", 0))
	require.NoError(t, err)
	clk.Advance(time.Second)
	_, err = r.Register(ctx, dev("t", 1))
	require.NoError(t, err)
	clk.Advance(time.Second)
	mv := dev("t", 0)
	mv.Session = "s"
	_, err = r.Register(ctx, mv)
	require.NoError(t, err)
	list, err = r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, []string{mv.Token, dev("s", 3).Token, dev("s", 0).Token}, tokens(list))
	list, err = r.Lookup(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, []string{dev("t", 1).Token}, tokens(list))

	// Re-registering a device already in a full session evicts nothing.
	clk.Advance(time.Second)
	_, err = r.Register(ctx, dev("s", 0))
	require.NoError(t, err)
	list, err = r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Len(t, list, 3)
}

func testCapIgnoresExpired(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now, MaxDevicesPerSession: 3, TTL: time.Hour, SweepInterval: -1})
	_, err := r.Register(ctx, dev("s", 0))
	require.NoError(t, err)
	clk.Advance(30 * time.Minute)
	_, err = r.Register(ctx, dev("s", 1))
	require.NoError(t, err)
	_, err = r.Register(ctx, dev("s", 2))
	require.NoError(t, err)
	clk.Advance(31 * time.Minute) // device 0 expired, 1 and 2 live
	_, err = r.Register(ctx, dev("s", 3))
	require.NoError(t, err)
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{dev("s", 1).Token, dev("s", 2).Token, dev("s", 3).Token}, tokens(list),
		"an expired binding does not count against the cap")
}

func testInvalidate(t *testing.T, f Factory) {
	ctx := ctxT(t)
	clk := NewClock(start())
	r := f(t, registry.Config{Now: clk.Now})
	d := dev("s", 0)
	t0 := clk.Now()
	_, err := r.Register(ctx, d)
	require.NoError(t, err)

	// The provider saw the token die before the app registered it (again).
	ok, err := r.Invalidate(ctx, d.Key(), t0.Add(-time.Millisecond))
	require.NoError(t, err)
	assert.False(t, ok, "registered after asOf: survives")
	_, err = r.Get(ctx, d.Key())
	require.NoError(t, err)

	// asOf equal to UpdatedAt removes it.
	ok, err = r.Invalidate(ctx, d.Key(), t0)
	require.NoError(t, err)
	assert.True(t, ok)
	_, err = r.Get(ctx, d.Key())
	assert.ErrorIs(t, err, registry.ErrNotFound)
	ok, err = r.Invalidate(ctx, d.Key(), t0)
	require.NoError(t, err)
	assert.False(t, ok, "second invalidation finds nothing")

	// The app re-registers after the provider's timestamp: the token survives
	// a late invalidation carrying the old timestamp.
	_, err = r.Register(ctx, d)
	require.NoError(t, err)
	clk.Advance(time.Minute)
	t1 := clk.Now()
	_, err = r.Register(ctx, d)
	require.NoError(t, err)
	ok, err = r.Invalidate(ctx, d.Key(), t1.Add(-time.Second))
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = r.Invalidate(ctx, d.Key(), t1.Add(time.Hour))
	require.NoError(t, err)
	assert.True(t, ok, "asOf later than UpdatedAt removes it")

	// Sub-microsecond asOf values compare at the stored precision.
	_, err = r.Register(ctx, d)
	require.NoError(t, err)
	ok, err = r.Invalidate(ctx, d.Key(), t1.Add(999*time.Nanosecond))
	require.NoError(t, err)
	assert.True(t, ok)

	// A zero asOf removes unconditionally.
	clk.Advance(time.Minute)
	_, err = r.Register(ctx, d)
	require.NoError(t, err)
	ok, err = r.Invalidate(ctx, d.Key(), time.Time{})
	require.NoError(t, err)
	assert.True(t, ok)
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Empty(t, list)

	ok, err = r.Invalidate(ctx, dev("s", 99).Key(), time.Time{})
	require.NoError(t, err)
	assert.False(t, ok, "unknown key")
}

func testUnregister(t *testing.T, f Factory) {
	ctx := ctxT(t)
	r := f(t, registry.Config{})
	for i := range 3 {
		_, err := r.Register(ctx, dev("s", i))
		require.NoError(t, err)
	}
	require.NoError(t, r.Unregister(ctx, dev("s", 1).Key()))
	err := r.Unregister(ctx, dev("s", 1).Key())
	assert.ErrorIs(t, err, registry.ErrNotFound)
	assert.NotContains(t, err.Error(), dev("s", 1).Token, "error must not carry the full token")
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{dev("s", 0).Token, dev("s", 2).Token}, tokens(list))
	_, err = r.Get(ctx, dev("s", 1).Key())
	assert.ErrorIs(t, err, registry.ErrNotFound)
}

func testRemoveSession(t *testing.T, f Factory) {
	ctx := ctxT(t)
	r := f(t, registry.Config{})
	for i := range 4 {
		_, err := r.Register(ctx, dev("s", i))
		require.NoError(t, err)
	}
	_, err := r.Register(ctx, dev("keep", 0))
	require.NoError(t, err)
	n, err := r.RemoveSession(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Empty(t, list)
	for i := range 4 {
		_, err = r.Get(ctx, dev("s", i).Key())
		assert.ErrorIs(t, err, registry.ErrNotFound)
	}
	list, err = r.Lookup(ctx, "keep")
	require.NoError(t, err)
	assert.Len(t, list, 1)
	n, err = r.RemoveSession(ctx, "s")
	require.NoError(t, err)
	assert.Zero(t, n)
	// The session can be used again.
	_, err = r.Register(ctx, dev("s", 0))
	require.NoError(t, err)
	list, err = r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func testValidation(t *testing.T, f Factory) {
	ctx := ctxT(t)
	r := f(t, registry.Config{})
	manyLabels := map[string]string{}
	for i := range registry.MaxLabels + 1 {
		manyLabels[fmt.Sprintf("k%d", i)] = "v"
	}
	cases := []struct {
		name string
		mod  func(d *registry.Device)
		want error
	}{
		{"empty session", func(d *registry.Device) { d.Session = "" }, registry.ErrEmptySession},
		{"long session", func(d *registry.Device) { d.Session = strings.Repeat("s", registry.MaxSessionLen+1) }, registry.ErrBadSession},
		{"control char in session", func(d *registry.Device) { d.Session = "a\nb" }, registry.ErrBadSession},
		{"empty provider", func(d *registry.Device) { d.Provider = "" }, registry.ErrUnknownProvider},
		{"unknown provider", func(d *registry.Device) { d.Provider = "mpns" }, registry.ErrUnknownProvider},
		{"provider case", func(d *registry.Device) { d.Provider = "FCM" }, registry.ErrUnknownProvider},
		{"empty token", func(d *registry.Device) { d.Token = "" }, registry.ErrBadToken},
		{"token over 4 KiB", func(d *registry.Device) { d.Token = strings.Repeat("t", registry.MaxTokenLen+1) }, registry.ErrBadToken},
		{"NUL in token", func(d *registry.Device) { d.Token = "abc\x00def" }, registry.ErrBadToken},
		{"newline in token", func(d *registry.Device) { d.Token = "abc\ndef" }, registry.ErrBadToken},
		{"tab in token", func(d *registry.Device) { d.Token = "abc\tdef" }, registry.ErrBadToken},
		{"DEL in token", func(d *registry.Device) { d.Token = "abc\x7fdef" }, registry.ErrBadToken},
		{"C1 control in token", func(d *registry.Device) { d.Token = "abc\u0085def" }, registry.ErrBadToken},
		{"invalid utf-8 in token", func(d *registry.Device) { d.Token = "abc\xffdef" }, registry.ErrBadToken},
		{"byte 0x80 in token", func(d *registry.Device) { d.Token = "abc\x80def" }, registry.ErrBadToken},
		{"invalid utf-8 first in token", func(d *registry.Device) { d.Token = "\xffabcdef" }, registry.ErrBadToken},
		{"C1 control first in token", func(d *registry.Device) { d.Token = "\u0085abcdef" }, registry.ErrBadToken},
		{"C1 control after non-ASCII in token", func(d *registry.Device) { d.Token = "tøken\u009fabc" }, registry.ErrBadToken},
		{"DEL after non-ASCII in token", func(d *registry.Device) { d.Token = "tøken\x7fabc" }, registry.ErrBadToken},
		{"control char after non-ASCII in token", func(d *registry.Device) { d.Token = "tøken\x1fabc" }, registry.ErrBadToken},
		{"long app id", func(d *registry.Device) { d.AppID = strings.Repeat("a", registry.MaxAppIDLen+1) }, registry.ErrBadAppID},
		{"control char in app id", func(d *registry.Device) { d.AppID = "com.\x1bexample" }, registry.ErrBadAppID},
		{"bad environment", func(d *registry.Device) { d.Environment = "development" }, registry.ErrBadEnvironment},
		{"too many labels", func(d *registry.Device) { d.Labels = manyLabels }, registry.ErrBadLabels},
		{"empty label key", func(d *registry.Device) { d.Labels = map[string]string{"": "v"} }, registry.ErrBadLabels},
		{"long label key", func(d *registry.Device) {
			d.Labels = map[string]string{strings.Repeat("k", registry.MaxLabelKeyLen+1): "v"}
		}, registry.ErrBadLabels},
		{"long label value", func(d *registry.Device) {
			d.Labels = map[string]string{"k": strings.Repeat("v", registry.MaxLabelValLen+1)}
		}, registry.ErrBadLabels},
		{"control char in label", func(d *registry.Device) { d.Labels = map[string]string{"k": "a\rb"} }, registry.ErrBadLabels},
	}
	for _, bad := range badPayloadKeys(t) {
		keys := bad.keys
		cases = append(cases, struct {
			name string
			mod  func(d *registry.Device)
			want error
		}{"payload keys: " + bad.name, func(d *registry.Device) { d.PayloadKeys = &keys }, registry.ErrBadPayloadKeys})
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := dev(fmt.Sprintf("v%d", i), 0)
			tc.mod(&d)
			_, err := r.Register(ctx, d)
			require.Error(t, err)
			assert.ErrorIs(t, err, registry.ErrInvalid)
			assert.ErrorIs(t, err, tc.want)
			if d.Token != "" && len(d.Token) > 8 {
				assert.NotContains(t, err.Error(), d.Token, "error must not carry the token")
			}
			if k := d.PayloadKeys; k != nil && len(k.Auth) > 4 {
				assert.NotContains(t, err.Error(), k.Auth, "error must not carry the auth secret")
			}
			// Nothing stored.
			if registry.ValidateKey(d.Key()) == nil {
				_, err = r.Get(ctx, d.Key())
				assert.ErrorIs(t, err, registry.ErrNotFound)
			}
			if registry.ValidateSession(d.Session) == nil {
				list, err := r.Lookup(ctx, d.Session)
				require.NoError(t, err)
				assert.Empty(t, list)
			}
			if registry.ValidateKey(d.Key()) != nil {
				_, err = r.Get(ctx, d.Key())
				assert.ErrorIs(t, err, registry.ErrInvalid)
				assert.ErrorIs(t, r.Unregister(ctx, d.Key()), registry.ErrInvalid)
				_, err = r.Invalidate(ctx, d.Key(), time.Time{})
				assert.ErrorIs(t, err, registry.ErrInvalid)
			}
			if registry.ValidateSession(d.Session) != nil {
				_, err = r.Lookup(ctx, d.Session)
				assert.ErrorIs(t, err, registry.ErrInvalid)
				_, err = r.RemoveSession(ctx, d.Session)
				assert.ErrorIs(t, err, registry.ErrInvalid)
			}
		})
	}
	if l, ok := r.(Lister); ok {
		all, err := l.All(ctx)
		require.NoError(t, err)
		assert.Empty(t, all, "no invalid binding was stored")
	}
}

func testLabels(t *testing.T, f Factory) {
	ctx := ctxT(t)
	r := f(t, registry.Config{})
	d := dev("s", 0)
	in := map[string]string{"platform": "android", "locale": "de-CH", "emoji": "📱"}
	d.Labels = in
	_, err := r.Register(ctx, d)
	require.NoError(t, err)
	in["platform"] = "mutated" // the caller's map is not retained
	got, err := r.Get(ctx, d.Key())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"platform": "android", "locale": "de-CH", "emoji": "📱"}, got.Labels)
	got.Labels["platform"] = "mutated" // nor is the returned one shared
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "android", list[0].Labels["platform"])
	// An empty map is stored as no labels.
	d.Labels = map[string]string{}
	got, err = r.Register(ctx, d)
	require.NoError(t, err)
	assert.Nil(t, got.Labels)
}

func testContextCanceled(t *testing.T, f Factory) {
	r := f(t, registry.Config{})
	ok := ctxT(t)
	_, err := r.Register(ok, dev("s", 0))
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Register(ctx, dev("s", 1))
	assert.ErrorIs(t, err, context.Canceled)
	_, err = r.Lookup(ctx, "s")
	assert.ErrorIs(t, err, context.Canceled)
	_, err = r.Get(ctx, dev("s", 0).Key())
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, r.Unregister(ctx, dev("s", 0).Key()), context.Canceled)
	_, err = r.RemoveSession(ctx, "s")
	assert.ErrorIs(t, err, context.Canceled)
	_, err = r.Invalidate(ctx, dev("s", 0).Key(), time.Time{})
	assert.ErrorIs(t, err, context.Canceled)
	if l, ok := r.(Lister); ok {
		_, err = l.All(ctx)
		assert.ErrorIs(t, err, context.Canceled)
	}
	if c, ok := r.(Checker); ok {
		assert.ErrorIs(t, c.CheckIntegrity(ctx), context.Canceled)
	}

	// Nothing changed.
	list, err := r.Lookup(ok, "s")
	require.NoError(t, err)
	assert.Equal(t, []string{dev("s", 0).Token}, tokens(list))
}

func testClosed(t *testing.T, f Factory) {
	ctx := ctxT(t)
	r := f(t, registry.Config{})
	_, err := r.Register(ctx, dev("s", 0))
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "Close is idempotent")
	_, err = r.Register(ctx, dev("s", 1))
	assert.ErrorIs(t, err, registry.ErrClosed)
	_, err = r.Lookup(ctx, "s")
	assert.ErrorIs(t, err, registry.ErrClosed)
	_, err = r.Get(ctx, dev("s", 0).Key())
	assert.ErrorIs(t, err, registry.ErrClosed)
	assert.ErrorIs(t, r.Unregister(ctx, dev("s", 0).Key()), registry.ErrClosed)
	_, err = r.RemoveSession(ctx, "s")
	assert.ErrorIs(t, err, registry.ErrClosed)
	_, err = r.Invalidate(ctx, dev("s", 0).Key(), time.Time{})
	assert.ErrorIs(t, err, registry.ErrClosed)
	if l, ok := r.(Lister); ok {
		_, err = l.All(ctx)
		assert.ErrorIs(t, err, registry.ErrClosed)
	}
}

// testConcurrentCap has many goroutines register new tokens into one session
// at once: the cap must hold however the registrations interleave.
func testConcurrentCap(t *testing.T, f Factory) {
	ctx := ctxT(t)
	const capN, workers, each = 4, 16, 8
	r := f(t, registry.Config{MaxDevicesPerSession: capN})
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := r.Register(ctx, dev("crowded", w*each+i)); err != nil {
					errc <- err
					return
				}
				// Every committed state must respect the cap, not just the last.
				list, err := r.Lookup(ctx, "crowded")
				if err != nil {
					errc <- err
					return
				}
				if len(list) > capN {
					errc <- fmt.Errorf("lookup saw %d devices in a session capped at %d", len(list), capN)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
	}
	list, err := r.Lookup(ctx, "crowded")
	require.NoError(t, err)
	assert.Len(t, list, capN, "cap enforced under concurrent registration")
	if l, ok := r.(Lister); ok {
		all, err := l.All(ctx)
		require.NoError(t, err)
		assert.Len(t, all, capN, "evicted bindings are gone, not just hidden")
	}
}

func testStress(t *testing.T, f Factory) {
	r := f(t, registry.Config{MaxDevicesPerSession: 4, TTL: time.Hour})
	Stress(t, StressConfig{}, r)
}

// StressConfig sizes [Stress]. Zero fields take small defaults that keep the
// run short under the race detector.
type StressConfig struct {
	Workers  int // goroutines per registry; default 8
	Ops      int // operations per goroutine; default 150
	Sessions int // distinct sessions; default 6
	Tokens   int // distinct tokens; default 20
	// Cap is the registries' MaxDevicesPerSession, checked after the run;
	// zero means 4 (what the suite configures), negative skips the check.
	Cap int
}

// Stress has many goroutines register, move, unregister, invalidate and
// remove the same few tokens and sessions through every registry in regs
// (several instances over one shared store simulate a fleet), then checks
// that the result is consistent: every token in exactly one session, Get and
// Lookup agree, no session over the cap, and, where the registry supports
// it, that Lister and Checker agree.
func Stress(t *testing.T, cfg StressConfig, regs ...registry.Registry) {
	t.Helper()
	require.NotEmpty(t, regs)
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Ops <= 0 {
		cfg.Ops = 150
	}
	if cfg.Sessions <= 0 {
		cfg.Sessions = 6
	}
	if cfg.Tokens <= 0 {
		cfg.Tokens = 20
	}
	if cfg.Cap == 0 {
		cfg.Cap = 4
	}
	ctx := ctxT(t)
	session := func(i int) string { return fmt.Sprintf("stress-s%d", i) }
	key := func(i int) registry.Key {
		return registry.Key{Provider: pushwire.ProviderAPNs, AppID: "com.example", Environment: registry.EnvironmentProduction, Token: fmt.Sprintf("stress-token-%02d", i)}
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(regs)*cfg.Workers)
	for ri, r := range regs {
		for w := range cfg.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(ri), uint64(w)))
				for range cfg.Ops {
					k := key(rng.IntN(cfg.Tokens))
					s := session(rng.IntN(cfg.Sessions))
					var err error
					switch p := rng.IntN(100); {
					case p < 60:
						_, err = r.Register(ctx, registry.Device{Session: s, Provider: k.Provider, AppID: k.AppID, Environment: k.Environment, Token: k.Token})
					case p < 72:
						_, err = r.Invalidate(ctx, k, time.Now())
					case p < 80:
						_, err = r.Invalidate(ctx, k, time.Now().Add(-time.Second))
					case p < 88:
						if err = r.Unregister(ctx, k); errors.Is(err, registry.ErrNotFound) {
							err = nil
						}
					case p < 92:
						_, err = r.RemoveSession(ctx, s)
					case p < 96:
						var list []registry.Device
						if list, err = r.Lookup(ctx, s); err == nil && cfg.Cap > 0 && len(list) > cfg.Cap {
							err = fmt.Errorf("lookup saw %d devices in a session capped at %d", len(list), cfg.Cap)
						}
					default:
						if _, err = r.Get(ctx, k); errors.Is(err, registry.ErrNotFound) {
							err = nil
						}
					}
					if err != nil {
						errc <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
	}

	// Check the indexes first: lookups may repair stale entries lazily.
	for _, r := range regs {
		if c, ok := r.(Checker); ok {
			require.NoError(t, c.CheckIntegrity(ctx), "index integrity after the stress run")
		}
	}
	for _, r := range regs {
		// Every token: Get's session must list it; no other session may.
		inSession := map[string]string{} // token -> session per Lookup
		for si := range cfg.Sessions {
			s := session(si)
			list, err := r.Lookup(ctx, s)
			require.NoError(t, err)
			if cfg.Cap > 0 {
				assert.LessOrEqualf(t, len(list), cfg.Cap, "session %s over the cap", s)
			}
			for i, d := range list {
				assert.Equal(t, s, d.Session)
				prev, dup := inSession[d.Token]
				assert.Falsef(t, dup, "token %s listed by sessions %s and %s", d.Token, prev, s)
				inSession[d.Token] = s
				if i > 0 {
					assert.False(t, d.UpdatedAt.After(list[i-1].UpdatedAt), "Lookup order")
				}
			}
		}
		for ti := range cfg.Tokens {
			k := key(ti)
			d, err := r.Get(ctx, k)
			if errors.Is(err, registry.ErrNotFound) {
				_, listed := inSession[k.Token]
				assert.Falsef(t, listed, "token %s listed by session %s but Get finds nothing", k.Token, inSession[k.Token])
				continue
			}
			require.NoError(t, err)
			assert.Equalf(t, d.Session, inSession[k.Token], "token %s: Get says session %q, Lookup says %q", k.Token, d.Session, inSession[k.Token])
		}
		if l, ok := r.(Lister); ok {
			all, err := l.All(ctx)
			require.NoError(t, err)
			got := map[string]string{}
			for _, d := range all {
				_, dup := got[d.Token]
				assert.Falsef(t, dup, "All lists token %s twice", d.Token)
				got[d.Token] = d.Session
			}
			assert.Equal(t, inSession, got, "All agrees with Lookup")
		}
	}
	// Instances over one store must agree with each other.
	if len(regs) > 1 {
		first, err := snapshot(ctx, regs[0], cfg.Sessions, session)
		require.NoError(t, err)
		for _, r := range regs[1:] {
			other, err := snapshot(ctx, r, cfg.Sessions, session)
			require.NoError(t, err)
			assert.Equal(t, first, other, "instances disagree")
		}
	}
}

func snapshot(ctx context.Context, r registry.Registry, n int, session func(int) string) (map[string][]string, error) {
	out := map[string][]string{}
	for i := range n {
		list, err := r.Lookup(ctx, session(i))
		if err != nil {
			return nil, err
		}
		toks := tokens(list)
		slices.Sort(toks)
		out[session(i)] = toks
	}
	return out, nil
}
