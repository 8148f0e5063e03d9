package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/postgres"
	"github.com/pushwire/pushwire/registry/registrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pgURL returns PUSHWIRE_POSTGRES_URL, skipping the test when it is unset
// (failing instead under CI).
func pgURL(tb testing.TB) string {
	tb.Helper()
	return testenv.URL(tb, testenv.PostgresURL)
}

// uniqueSchema returns a fresh schema name, dropped when the test ends.
func uniqueSchema(tb testing.TB) string {
	url := pgURL(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pwtest_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if !assert.NoError(tb, err) {
			return
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		assert.NoError(tb, err)
	})
	return schema
}

func open(tb testing.TB, cfg registry.Config, schema string) *postgres.Registry {
	tb.Helper()
	r, err := postgres.New(context.Background(), postgres.Config{Config: cfg, URL: pgURL(tb), Schema: schema})
	require.NoError(tb, err)
	tb.Cleanup(func() { r.Close() })
	return r
}

func newRegistry(t *testing.T, cfg registry.Config) registry.Registry {
	return open(t, cfg, uniqueSchema(t))
}

func TestConformance(t *testing.T) {
	registrytest.Run(t, newRegistry)
}

// Several instances start at once (migrations race) and then write the same
// tokens concurrently.
func TestInstances(t *testing.T) {
	schema := uniqueSchema(t)
	cfg := registry.Config{MaxDevicesPerSession: 4, TTL: time.Hour}
	regs := make([]registry.Registry, 3)
	var wg sync.WaitGroup
	errs := make([]error, len(regs))
	for i := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := postgres.New(context.Background(), postgres.Config{Config: cfg, URL: pgURL(t), Schema: schema})
			if err == nil {
				t.Cleanup(func() { r.Close() })
				regs[i] = r
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err, "concurrent open and migration")
	}
	registrytest.Stress(t, registrytest.StressConfig{Workers: 6, Ops: 100}, regs...)

	ctx := context.Background()
	pool := regs[0].(*postgres.Registry).Pool()
	var version int
	require.NoError(t, pool.QueryRow(ctx, "SELECT version FROM "+pgx.Identifier{schema, "pushwire_registry_version"}.Sanitize()).Scan(&version))
	assert.Equal(t, postgres.SchemaVersion, version)
	var rows int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "pushwire_registry_version"}.Sanitize()).Scan(&rows))
	assert.Equal(t, 1, rows, "one version row")
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	schema := uniqueSchema(t)
	r := open(t, registry.Config{}, schema)
	d := registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: "abc", AppID: "com.x", Labels: map[string]string{"a": "b"}}
	want, err := r.Register(ctx, d)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	r2 := open(t, registry.Config{}, schema)
	got, err := r2.Get(ctx, d.Key())
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestSweeper(t *testing.T) {
	ctx := context.Background()
	schema := uniqueSchema(t)
	clk := registrytest.NewClock(time.Now())
	r := open(t, registry.Config{Now: clk.Now, TTL: time.Minute, SweepInterval: 5 * time.Millisecond}, schema)
	for _, tok := range []string{"a", "b", "c"} {
		_, err := r.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: tok})
		require.NoError(t, err)
	}
	count := func() int {
		var n int
		require.NoError(t, r.Pool().QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "pushwire_devices"}.Sanitize()).Scan(&n))
		return n
	}
	assert.Equal(t, 3, count())
	clk.Advance(2 * time.Minute)
	require.Eventually(t, func() bool { return count() == 0 }, 10*time.Second, 5*time.Millisecond, "sweeper deletes expired rows")
}

func TestSweepBatches(t *testing.T) {
	ctx := context.Background()
	clk := registrytest.NewClock(time.Now())
	r := open(t, registry.Config{Now: clk.Now, TTL: time.Minute, SweepInterval: -1, MaxDevicesPerSession: -1}, uniqueSchema(t))
	const n = 2500 // more than one sweep batch
	for i := range n {
		_, err := r.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "t" + hex.EncodeToString([]byte{byte(i >> 8), byte(i)})})
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

func TestExistingPool(t *testing.T) {
	ctx := context.Background()
	schema := uniqueSchema(t)
	pool, err := pgxpool.New(ctx, pgURL(t))
	require.NoError(t, err)
	defer pool.Close()
	r, err := postgres.New(ctx, postgres.Config{Pool: pool, Schema: schema})
	require.NoError(t, err)
	_, err = r.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderLPNS, Token: "dev-1"})
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.NoError(t, pool.Ping(ctx), "a pool passed in is not closed")
}

func TestNewerSchemaRejected(t *testing.T) {
	ctx := context.Background()
	schema := uniqueSchema(t)
	r := open(t, registry.Config{}, schema)
	_, err := r.Pool().Exec(ctx, "UPDATE "+pgx.Identifier{schema, "pushwire_registry_version"}.Sanitize()+" SET version = 99")
	require.NoError(t, err)
	_, err = postgres.New(ctx, postgres.Config{URL: pgURL(t), Schema: schema})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
}

// tracer counts statements sent and statements prepared.
type tracer struct {
	mu              sync.Mutex
	queries, prepds int
}

func (tr *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	tr.mu.Lock()
	tr.queries++
	tr.mu.Unlock()
	return ctx
}
func (tr *tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (tr *tracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	tr.mu.Lock()
	tr.prepds++
	tr.mu.Unlock()
	return ctx
}
func (tr *tracer) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

func (tr *tracer) count() (int, int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.queries, tr.prepds
}

// Once statements are prepared on the connection, every operation is one
// statement, and so one round trip.
func TestOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	schema := uniqueSchema(t)
	pc, err := pgxpool.ParseConfig(pgURL(t))
	require.NoError(t, err)
	tr := &tracer{}
	pc.ConnConfig.Tracer = tr
	pc.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	require.NoError(t, err)
	defer pool.Close()
	r, err := postgres.New(ctx, postgres.Config{Pool: pool, Schema: schema, Config: registry.Config{SweepInterval: -1, MaxDevicesPerSession: 2}})
	require.NoError(t, err)
	defer r.Close()
	k := registry.Key{Provider: pushwire.ProviderFCM, Token: "t2"}
	ops := []struct {
		name string
		fn   func() error
	}{
		{"register", func() error {
			for _, tok := range []string{"t0", "t1", "t2"} { // the third evicts
				if _, err := r.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: tok}); err != nil {
					return err
				}
			}
			return nil
		}},
		{"lookup", func() error { _, err := r.Lookup(ctx, "s"); return err }},
		{"get", func() error { _, err := r.Get(ctx, k); return err }},
		{"invalidate", func() error { _, err := r.Invalidate(ctx, k, time.Now()); return err }},
		{"unregister", func() error { _ = r.Unregister(ctx, k); return nil }},
		{"remove session", func() error { _, err := r.RemoveSession(ctx, "s"); return err }},
	}
	for _, o := range ops {
		name, op := o.name, o.fn
		require.NoError(t, op(), name) // warm up: prepares the statement
		q0, p0 := tr.count()
		require.NoError(t, op(), name)
		q1, p1 := tr.count()
		want := 1
		if name == "register" {
			want = 3
		}
		assert.Equal(t, want, q1-q0, "%s: statements", name)
		assert.Zero(t, p1-p0, "%s: no new prepare", name)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := postgres.New(context.Background(), postgres.Config{})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	_, err = postgres.New(context.Background(), postgres.Config{URL: "::not a url"})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	_, err = postgres.New(context.Background(), postgres.Config{URL: "postgres://127.0.0.1:1/x", UnlockTimeout: -time.Nanosecond})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
}

// A row locked by another transaction that stays in the session (here a
// bare FOR UPDATE; in production a DELETE whose recheck failed, or a move
// that rolls back) still counts toward the cap: the eviction waits for it
// instead of skipping it and letting the session grow past the cap.
func TestEvictionWaitsForLockedRow(t *testing.T) {
	ctx := context.Background()
	schema := uniqueSchema(t)
	r := open(t, registry.Config{MaxDevicesPerSession: 2, SweepInterval: -1}, schema)
	dev := func(tok string) registry.Device {
		return registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: tok}
	}
	for _, tok := range []string{"oldest", "newer"} {
		_, err := r.Register(ctx, dev(tok))
		require.NoError(t, err)
	}
	tx, err := r.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT 1 FROM "+pgx.Identifier{schema, "pushwire_devices"}.Sanitize()+" WHERE token = 'oldest' FOR UPDATE")
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { _, err := r.Register(ctx, dev("newest")); done <- err }()
	// Wait until the registration blocks on the lock (or, wrongly, returns).
	// Asked outside tx: a transaction sees one snapshot of the activity.
	waiting := func() bool {
		var n int
		err := r.Pool().QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%pushwire_register%'").Scan(&n)
		return err == nil && n > 0
	}
	require.Eventually(t, func() bool { return len(done) > 0 || waiting() }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-done)

	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	tokens := make([]string, 0, len(list))
	for _, d := range list {
		tokens = append(tokens, d.Token)
	}
	assert.Equal(t, []string{"newest", "newer"}, tokens, "the oldest is evicted once its lock is released")
}
