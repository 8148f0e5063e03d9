package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/redis"
	"github.com/pushwire/pushwire/registry/registrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// redisURL returns PUSHWIRE_REDIS_URL, skipping the test when it is unset
// (failing instead under CI).
func redisURL(tb testing.TB) string {
	tb.Helper()
	return testenv.URL(tb, testenv.RedisURL)
}

func uniquePrefix(tb testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "pwtest:" + hex.EncodeToString(b[:]) + ":"
}

// shared is a client for test bookkeeping (cleanup, raw inspection).
func shared(tb testing.TB) *goredis.Client {
	opt, err := goredis.ParseURL(redisURL(tb))
	require.NoError(tb, err)
	c := goredis.NewClient(opt)
	tb.Cleanup(func() { c.Close() })
	return c
}

func dropPrefix(tb testing.TB, c *goredis.Client, prefix string) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) > 0 {
		assert.NoError(tb, c.Del(ctx, keys...).Err())
	}
}

func open(tb testing.TB, cfg registry.Config, prefix string) *redis.Registry {
	tb.Helper()
	r, err := redis.New(context.Background(), redis.Config{Config: cfg, URL: redisURL(tb), KeyPrefix: prefix})
	require.NoError(tb, err)
	tb.Cleanup(func() { r.Close() })
	return r
}

func newRegistry(t *testing.T, cfg registry.Config) registry.Registry {
	c := shared(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { dropPrefix(t, c, prefix) })
	return open(t, cfg, prefix)
}

func TestConformance(t *testing.T) {
	registrytest.Run(t, newRegistry)
}

// Several instances sharing one Redis race on the same tokens.
func TestInstancesStress(t *testing.T) {
	c := shared(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { dropPrefix(t, c, prefix) })
	cfg := registry.Config{MaxDevicesPerSession: 4, TTL: time.Hour}
	registrytest.Stress(t, registrytest.StressConfig{Workers: 6, Ops: 200},
		open(t, cfg, prefix), open(t, cfg, prefix), open(t, cfg, prefix))
	// Raw check: every index member has its binding in that session.
	ctx := context.Background()
	idx, err := c.Keys(ctx, prefix+"s:*").Result()
	require.NoError(t, err)
	members := 0
	for _, k := range idx {
		session := strings.TrimPrefix(k, prefix+"s:")
		ids, err := c.ZRange(ctx, k, 0, -1).Result()
		require.NoError(t, err)
		for _, id := range ids {
			members++
			s, err := c.HGet(ctx, prefix+"b:"+id, "s").Result()
			require.NoError(t, err, "index entry without its binding")
			assert.Equal(t, session, s)
		}
	}
	bindings, err := c.Keys(ctx, prefix+"b:*").Result()
	require.NoError(t, err)
	assert.Equal(t, len(bindings), members, "every binding indexed exactly once")
}

func TestNativeExpiryAndLazyCleanup(t *testing.T) {
	ctx := context.Background()
	c := shared(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { dropPrefix(t, c, prefix) })
	clk := registrytest.NewClock(time.Now())
	r := open(t, registry.Config{Now: clk.Now, TTL: time.Hour}, prefix)
	d := registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: "abc", AppID: "com.x"}
	got, err := r.Register(ctx, d)
	require.NoError(t, err)

	bkey := prefix + "b:" + redis.BindingID(d.Key())
	ttl, err := c.PTTL(ctx, bkey).Result()
	require.NoError(t, err)
	assert.InDelta(t, got.ExpiresAt.Sub(clk.Now()), ttl, float64(time.Second), "binding key carries native expiry: its lifetime")
	at, err := c.PExpireTime(ctx, bkey).Result()
	require.NoError(t, err)
	iat, err := c.PExpireTime(ctx, prefix+"s:s").Result()
	require.NoError(t, err)
	assert.InDelta(t, at.Milliseconds(), iat.Milliseconds(), 5, "index expires with its binding")

	// Simulate native expiry: the index entry dangles until the next lookup.
	require.NoError(t, c.Del(ctx, bkey).Err())
	require.Error(t, r.CheckIntegrity(ctx), "the checker sees the dangling entry")
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Empty(t, list)
	n, err := c.Exists(ctx, prefix+"s:s").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "lookup removed the dangling index entry")
	require.NoError(t, r.CheckIntegrity(ctx))

	// Logical expiry (the client clock) removes binding and entry on lookup.
	_, err = r.Register(ctx, d)
	require.NoError(t, err)
	clk.Advance(2 * time.Hour)
	list, err = r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Empty(t, list)
	n, err = c.Exists(ctx, bkey, prefix+"s:s").Result()
	require.NoError(t, err)
	assert.Zero(t, n)

	// Without TTL nothing carries an expiry.
	r2 := open(t, registry.Config{TTL: -1}, prefix)
	_, err = r2.Register(ctx, d)
	require.NoError(t, err)
	ttl, err = c.PTTL(ctx, bkey).Result()
	require.NoError(t, err)
	assert.Equal(t, time.Duration(-1), ttl)
}

func TestRealExpiry(t *testing.T) {
	ctx := context.Background()
	c := shared(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { dropPrefix(t, c, prefix) })
	r := open(t, registry.Config{TTL: 50 * time.Millisecond}, prefix)
	d := registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "tok"}
	_, err := r.Register(ctx, d)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		n, err := c.Exists(ctx, prefix+"b:"+redis.BindingID(d.Key()), prefix+"s:s").Result()
		return err == nil && n == 0
	}, 5*time.Second, 10*time.Millisecond, "Redis expires binding and index natively")
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestCheckIntegrityDetectsCorruption(t *testing.T) {
	ctx := context.Background()
	c := shared(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { dropPrefix(t, c, prefix) })
	r := open(t, registry.Config{}, prefix)
	d := registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "tok"}
	_, err := r.Register(ctx, d)
	require.NoError(t, err)
	require.NoError(t, r.CheckIntegrity(ctx))
	// A binding missing from its index.
	require.NoError(t, c.ZRem(ctx, prefix+"s:s", redis.BindingID(d.Key())).Err())
	assert.Error(t, r.CheckIntegrity(ctx))
	// An index entry pointing into another session.
	require.NoError(t, c.ZAdd(ctx, prefix+"s:other", goredis.Z{Score: 1, Member: redis.BindingID(d.Key())}).Err())
	assert.Error(t, r.CheckIntegrity(ctx))
}

// roundTrips counts commands sent to the server.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

func TestOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := shared(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { dropPrefix(t, c, prefix) })
	hook := &roundTrips{}
	opt, err := goredis.ParseURL(redisURL(t))
	require.NoError(t, err)
	client := goredis.NewClient(opt)
	defer client.Close()
	client.AddHook(hook)
	r, err := redis.New(ctx, redis.Config{Client: client, KeyPrefix: prefix, Config: registry.Config{MaxDevicesPerSession: 2}})
	require.NoError(t, err)
	defer r.Close()
	d := registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "t0"}
	ops := []struct {
		name string
		fn   func() error
	}{
		{"register", func() error { _, err := r.Register(ctx, d); return err }},
		{"register with eviction", func() error {
			for _, tok := range []string{"t1", "t2"} {
				e := d
				e.Token = tok
				if _, err := r.Register(ctx, e); err != nil {
					return err
				}
			}
			return nil
		}},
		{"lookup", func() error { _, err := r.Lookup(ctx, "s"); return err }},
		{"get", func() error {
			_, err := r.Get(ctx, registry.Key{Provider: pushwire.ProviderFCM, Token: "t2"})
			return err
		}},
		{"invalidate", func() error {
			_, err := r.Invalidate(ctx, registry.Key{Provider: pushwire.ProviderFCM, Token: "t2"}, time.Time{})
			return err
		}},
		{"remove session", func() error { _, err := r.RemoveSession(ctx, "s"); return err }},
	}
	for _, op := range ops {
		before := hook.n.Load()
		require.NoError(t, op.fn(), op.name)
		want := int64(1)
		if op.name == "register with eviction" {
			want = 2 // two registrations
		}
		assert.Equal(t, want, hook.n.Load()-before, op.name)
	}
	// Client is not owned: still usable after Close.
	require.NoError(t, r.Close())
	assert.NoError(t, client.Ping(ctx).Err())
}

func TestConfigErrors(t *testing.T) {
	_, err := redis.New(context.Background(), redis.Config{})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	_, err = redis.New(context.Background(), redis.Config{URL: "http://not-redis"})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	_, err = redis.New(context.Background(), redis.Config{URL: "redis://127.0.0.1:1/0"})
	assert.Error(t, err, "nothing listens on port 1")
}
