package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/registrytest"
	"github.com/pushwire/pushwire/registry/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(tb testing.TB, cfg registry.Config, path string) *sqlite.Registry {
	tb.Helper()
	r, err := sqlite.New(context.Background(), sqlite.Config{Path: path, Config: cfg})
	require.NoError(tb, err)
	tb.Cleanup(func() { assert.NoError(tb, r.Close()) })
	return r
}

func newRegistry(t *testing.T, cfg registry.Config) registry.Registry {
	return open(t, cfg, filepath.Join(t.TempDir(), "registry.db"))
}

func TestConformance(t *testing.T) {
	registrytest.Run(t, newRegistry)
}

// Two registries (as two processes would) share one file: the busy timeout
// arbitrates between their writers.
func TestSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	cfg := registry.Config{MaxDevicesPerSession: 4, TTL: time.Hour}
	var wg sync.WaitGroup
	regs := make([]*sqlite.Registry, 2)
	errs := make([]error, 2)
	for i := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			regs[i], errs[i] = sqlite.New(context.Background(), sqlite.Config{Path: path, Config: cfg})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "concurrent open and migration")
		t.Cleanup(func() { regs[i].Close() })
	}
	registrytest.Stress(t, registrytest.StressConfig{Workers: 4, Ops: 100}, regs[0], regs[1])
}

func TestSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	r := open(t, registry.Config{}, path)
	d := registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: "abc", AppID: "com.x", Labels: map[string]string{"k": "v"}}
	want, err := r.Register(ctx, d)
	require.NoError(t, err)
	require.NoError(t, r.Close())

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var version int
	require.NoError(t, db.QueryRow("PRAGMA user_version").Scan(&version))
	assert.Equal(t, sqlite.SchemaVersion, version)
	var mode string
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)
	var idx int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'devices_expires'").Scan(&idx))
	assert.Equal(t, 1, idx)

	// Reopening keeps the data and does not migrate again.
	r2 := open(t, registry.Config{}, path)
	got, err := r2.Get(ctx, d.Key())
	require.NoError(t, err)
	assert.Equal(t, want, got)

	// A newer schema is refused.
	_, err = db.Exec("PRAGMA user_version = 99")
	require.NoError(t, err)
	_, err = sqlite.New(ctx, sqlite.Config{Path: path})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
}

func TestSweeper(t *testing.T) {
	ctx := context.Background()
	clk := registrytest.NewClock(time.Now())
	path := filepath.Join(t.TempDir(), "r.db")
	r := open(t, registry.Config{Now: clk.Now, TTL: time.Minute, SweepInterval: 5 * time.Millisecond, MaxDevicesPerSession: -1}, path)
	for i := range 3 {
		_, err := r.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: fmt.Sprint("t", i)})
		require.NoError(t, err)
	}
	clk.Advance(2 * time.Minute)
	_, err := r.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "fresh"})
	require.NoError(t, err)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	// The background sweeper deletes the three expired rows.
	require.Eventually(t, func() bool {
		var n int
		return db.QueryRow("SELECT count(*) FROM devices").Scan(&n) == nil && n == 1
	}, 10*time.Second, 5*time.Millisecond)
}

func TestSweepBatches(t *testing.T) {
	ctx := context.Background()
	clk := registrytest.NewClock(time.Now())
	r := open(t, registry.Config{Now: clk.Now, TTL: time.Minute, SweepInterval: -1, MaxDevicesPerSession: -1},
		filepath.Join(t.TempDir(), "r.db"))
	const n = 1200 // more than one batch
	for i := range n {
		_, err := r.Register(ctx, registry.Device{Session: fmt.Sprint("s", i%10), Provider: pushwire.ProviderFCM, Token: fmt.Sprint("t", i)})
		require.NoError(t, err)
	}
	got, err := r.Sweep(ctx)
	require.NoError(t, err)
	assert.Zero(t, got)
	clk.Advance(2 * time.Minute)
	got, err = r.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, n, got)
}

func TestConfigErrors(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		_, err := sqlite.New(context.Background(), sqlite.Config{Path: p})
		assert.ErrorIs(t, err, pushwire.ErrConfiguration, p)
	}
	dir := filepath.Join(t.TempDir(), "no", "such", "dir")
	_, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(dir, "x.db")})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	assert.ErrorContains(t, err, "directory "+dir+" of")
	assert.NotContains(t, err.Error(), "out of memory")
}

// A new database file, and the WAL files beside it, are readable by their
// owner only; an existing file keeps its mode.
func TestNewFileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.db")
	r := open(t, registry.Config{}, path)
	_, err := r.Register(context.Background(), registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "tok-0123456789abcdef"})
	require.NoError(t, err)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		require.NoError(t, err, p)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
	}

	existing := filepath.Join(dir, "existing.db")
	require.NoError(t, os.WriteFile(existing, nil, 0o640))
	open(t, registry.Config{}, existing)
	fi, err := os.Stat(existing)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "an existing file is left as it is")
}
