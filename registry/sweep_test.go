package registry_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/registrytest"
)

func TestMemorySweeper(t *testing.T) {
	clk := registrytest.NewClock(time.Now())
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := registry.NewMemory(registry.Config{Now: clk.Now, TTL: time.Minute, SweepInterval: time.Millisecond, Logger: log})
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	for _, tok := range []string{"a1", "a2", "a3"} {
		_, err := m.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderLPNS, Token: tok})
		require.NoError(t, err)
	}
	clk.Advance(30 * time.Second)
	_, err = m.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderLPNS, Token: "b"})
	require.NoError(t, err)
	require.Equal(t, 4, m.Len())
	clk.Advance(31 * time.Second)
	// The background sweeper removes the three expired bindings and says
	// so to the configured logger.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "count=3") }, 10*time.Second, time.Millisecond)
	assert.Contains(t, logs.String(), "registry: swept expired bindings")
	require.Equal(t, 1, m.Len())
	require.NoError(t, m.CheckIntegrity(ctx))
	list, err := m.Lookup(ctx, "s")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "b", list[0].Token)
}

// sweeperIDs returns the ids of the goroutines NewMemory started (sweepers).
func sweeperIDs() map[string]bool {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	ids := map[string]bool{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "created by github.com/pushwire/pushwire/registry.NewMemory") {
			id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
			ids[id] = true
		}
	}
	return ids
}

// NewMemory starts a sweeper unless SweepInterval is negative: a zero
// SweepInterval means the default interval, not none.
func TestMemorySweeperStarted(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		want     int
	}{{0, 1}, {time.Hour, 1}, {-1, 0}} {
		before := sweeperIDs()
		m, err := registry.NewMemory(registry.Config{SweepInterval: tc.interval})
		require.NoError(t, err)
		started := 0
		for id := range sweeperIDs() {
			if !before[id] {
				started++
			}
		}
		assert.Equal(t, tc.want, started, "SweepInterval %v", tc.interval)
		require.NoError(t, m.Close())
	}
}

// Sweep removes expired bindings in batches of at most 4096, taking the
// write lock once per batch, so that registrations and lookups wait for one
// batch at most, not for the whole sweep. The clock, read once per batch,
// records the number of bindings left at the start of each.
func TestMemorySweepBatches(t *testing.T) {
	const batch, tokens = 4096, 4100
	clk := registrytest.NewClock(time.Now())
	var (
		m         *registry.Memory
		recording bool
		left      []int
	)
	now := func() time.Time {
		if recording {
			left = append(left, m.Len())
		}
		return clk.Now()
	}
	m, err := registry.NewMemory(registry.Config{Now: now, TTL: time.Minute, SweepInterval: -1, MaxDevicesPerSession: -1})
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	// Each token under two app ids: the second binding of a token sits in
	// the overflow index, so batches end in either index.
	for i := range tokens {
		for _, app := range []string{"a", "b"} {
			_, err := m.Register(ctx, registry.Device{Session: "s" + strconv.Itoa(i%7), Provider: pushwire.ProviderFCM, AppID: app, Token: "t" + strconv.Itoa(i)})
			require.NoError(t, err)
		}
	}
	recording = true
	assert.Zero(t, m.Sweep(), "nothing expired yet")
	assert.Equal(t, []int{2 * tokens}, left)
	left = nil
	clk.Advance(2 * time.Minute)
	assert.Equal(t, 2*tokens, m.Sweep())
	assert.Equal(t, []int{2 * tokens, 2*tokens - batch, 2*tokens - 2*batch}, left, "bindings left at each batch")
	assert.Zero(t, m.Len())
	require.NoError(t, m.CheckIntegrity(ctx))
}

// A write that meets an expired binding deletes it at once (Len counts
// expired bindings until then), whatever it answers.
func TestMemoryDeletesExpiredOnWrite(t *testing.T) {
	clk := registrytest.NewClock(time.Now())
	m, err := registry.NewMemory(registry.Config{Now: clk.Now, TTL: time.Minute, SweepInterval: -1})
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	d := registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "token-0"}
	_, err = m.Register(ctx, d)
	require.NoError(t, err)
	clk.Advance(time.Minute)
	_, err = m.Get(ctx, d.Key())
	require.ErrorIs(t, err, registry.ErrNotFound)
	require.Equal(t, 1, m.Len(), "expired, not yet deleted")
	ok, err := m.Invalidate(ctx, d.Key(), time.Time{})
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Zero(t, m.Len(), "Invalidate deleted the expired binding")

	_, err = m.Register(ctx, d)
	require.NoError(t, err)
	clk.Advance(time.Minute)
	assert.ErrorIs(t, m.Unregister(ctx, d.Key()), registry.ErrNotFound)
	assert.Zero(t, m.Len(), "Unregister deleted the expired binding")
	require.NoError(t, m.CheckIntegrity(ctx))
}

// logHook is a slog.Handler that calls fn for every record.
type logHook struct{ fn func(slog.Record) }

func (h logHook) Enabled(context.Context, slog.Level) bool { return true }

func (h logHook) Handle(_ context.Context, r slog.Record) error { h.fn(r); return nil }

func (h logHook) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h logHook) WithGroup(string) slog.Handler { return h }

// Close waits for a sweep under way: once it returns, the registry calls
// neither the configured clock nor the logger again.
func TestMemoryCloseWaitsForSweep(t *testing.T) {
	clk := registrytest.NewClock(time.Now())
	var (
		armed, closeReturned, loggedAfterClose atomic.Bool
		entered, release                       = make(chan struct{}), make(chan struct{})
		logged                                 = make(chan struct{})
		logOnce                                sync.Once
	)
	now := func() time.Time {
		if armed.CompareAndSwap(true, false) { // the sweeper's next reading
			close(entered)
			<-release
		}
		return clk.Now()
	}
	log := slog.New(logHook{func(r slog.Record) {
		if r.Message == "registry: swept expired bindings" {
			loggedAfterClose.Store(closeReturned.Load())
			logOnce.Do(func() { close(logged) })
		}
	}})
	m, err := registry.NewMemory(registry.Config{Now: now, TTL: time.Minute, SweepInterval: time.Millisecond, Logger: log})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = m.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "token-0"})
	require.NoError(t, err)
	armed.Store(true) // the time is read after the release, so after the advance
	clk.Advance(time.Minute)
	<-entered // a sweep is under way, about to find the expired binding

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		assert.NoError(t, m.Close())
		closeReturned.Store(true)
	}()
	for {
		if _, err := m.Lookup(ctx, "s"); errors.Is(err, registry.ErrClosed) {
			break
		}
		runtime.Gosched()
	}
	for range 100 {
		runtime.Gosched() // let Close return, if it does not wait
	}
	close(release)
	<-closed
	<-logged
	assert.False(t, loggedAfterClose.Load(), "the sweep logged after Close returned")
	assert.Zero(t, m.Len(), "the sweep under way finished before Close returned")
}
