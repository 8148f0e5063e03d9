package registry_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/registrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newMemory(t *testing.T, cfg registry.Config) registry.Registry {
	m, err := registry.NewMemory(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, m.CheckIntegrity(context.Background())); m.Close() })
	return m
}

func TestMemoryConformance(t *testing.T) {
	registrytest.Run(t, newMemory)
}

func TestValidationErrorMessage(t *testing.T) {
	err := registry.ValidateDevice(registry.Device{Session: "s", Provider: "fcm", Token: "secret-token\n"})
	require.Error(t, err)
	var ve *registry.ValidationError
	require.True(t, errors.As(err, &ve))
	assert.Equal(t, registry.ErrBadToken, ve.Sentinel)
	assert.NotContains(t, err.Error(), "secret-token")
	assert.Contains(t, err.Error(), "bad token")
}

// FuzzRegister feeds arbitrary fields to Register: it either rejects them
// with ErrInvalid and stores nothing, or stores them faithfully.
func FuzzRegister(f *testing.F) {
	f.Add("session", "fcm", "token", "app", "", "k", "v")
	f.Add("", "apns", "0123abcd", "com.example", "sandbox", "", "")
	f.Add("s", "lpns", "a\x00b", "", "production", "k", "v\n")
	f.Add("s\xff", "FCM", "", "\x1b", "dev", "ü", "📱")
	m, err := registry.NewMemory(registry.Config{SweepInterval: -1, MaxDevicesPerSession: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, session, provider, token, app, env, lk, lv string) {
		d := registry.Device{Session: session, Provider: pushwire.Provider(provider), Token: token, AppID: app, Environment: env}
		if lk != "" || lv != "" {
			d.Labels = map[string]string{lk: lv}
		}
		got, err := m.Register(ctx, d)
		if err != nil {
			if !errors.Is(err, registry.ErrInvalid) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if len(token) > 6 && utf8.ValidString(token) && strings.Contains(err.Error(), token) {
				t.Fatalf("error leaks the token: %v", err)
			}
			if registry.ValidateKey(d.Key()) == nil {
				if _, gerr := m.Get(ctx, d.Key()); !errors.Is(gerr, registry.ErrNotFound) {
					t.Fatalf("invalid device stored: %v", gerr)
				}
			}
			return
		}
		if got.Key() != d.Key() || got.Session != session {
			t.Fatalf("stored %+v for %+v", got, d)
		}
		back, err := m.Get(ctx, d.Key())
		if err != nil || back.Session != session || back.Token != token {
			t.Fatalf("get after register: %+v, %v", back, err)
		}
		if err := m.Unregister(ctx, d.Key()); err != nil {
			t.Fatal(err)
		}
		if err := m.CheckIntegrity(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

const benchPopulation = 30_000

func benchMemory(b *testing.B) *registry.Memory {
	m, err := registry.NewMemory(registry.Config{SweepInterval: -1})
	require.NoError(b, err)
	b.Cleanup(func() { m.Close() })
	registrytest.Populate(b, m, benchPopulation)
	return m
}

// BenchmarkLookup: a session with three devices.
func BenchmarkLookup(b *testing.B) {
	m := benchMemory(b)
	registrytest.BenchLookup(b, m, benchPopulation)
}

// BenchmarkRegister: re-registration of known tokens (upsert).
func BenchmarkRegister(b *testing.B) {
	m := benchMemory(b)
	registrytest.BenchRegister(b, m, benchPopulation)
}

// BenchmarkRegisterNew: first registration of new tokens (insert), three per
// session.
func BenchmarkRegisterNew(b *testing.B) {
	m, err := registry.NewMemory(registry.Config{SweepInterval: -1})
	require.NoError(b, err)
	defer m.Close()
	devs := make([]registry.Device, b.N)
	for i := range devs {
		devs[i] = registrytest.BenchDevice(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := m.Register(ctx, devs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFootprint1M measures the heap held by 1,000,000 bindings (three
// FCM devices of 152-byte tokens per session, no labels). Run it with
// -benchtime=1x.
func BenchmarkFootprint1M(b *testing.B) {
	const n = 1_000_000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m, err := registry.NewMemory(registry.Config{SweepInterval: -1})
		require.NoError(b, err)
		registrytest.Populate(b, m, n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		require.Equal(b, n, m.Len())
		held := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		b.ReportMetric(held/(1<<20), "MiB/1M")
		b.ReportMetric(held/n, "B/binding")
		m.Close()
	}
}

// One token under several keys: the first sits in the main index, the others
// overflow; removing and re-adding any of them keeps both indexes right.
func TestMemorySharedToken(t *testing.T) {
	ctx := context.Background()
	m, err := registry.NewMemory(registry.Config{SweepInterval: -1})
	require.NoError(t, err)
	defer m.Close()
	keys := []registry.Key{
		{Provider: pushwire.ProviderAPNs, AppID: "a", Token: "tok"},
		{Provider: pushwire.ProviderAPNs, AppID: "b", Token: "tok"},
		{Provider: pushwire.ProviderFCM, AppID: "a", Token: "tok"},
	}
	reg := func(i int) {
		k := keys[i]
		_, err := m.Register(ctx, registry.Device{Session: "s" + strconv.Itoa(i), Provider: k.Provider, AppID: k.AppID, Token: k.Token})
		require.NoError(t, err)
	}
	for i := range keys {
		reg(i)
	}
	for _, order := range [][]int{{0, 1, 2}, {1, 0, 2}, {2, 1, 0}} {
		for _, i := range order {
			require.NoError(t, m.Unregister(ctx, keys[i]))
			require.NoError(t, m.CheckIntegrity(ctx))
			_, err := m.Get(ctx, keys[i])
			require.ErrorIs(t, err, registry.ErrNotFound)
			for j := range keys {
				if j == i {
					continue
				}
				reg(j) // re-registering the others must update, not duplicate
			}
			reg(i)
			require.NoError(t, m.CheckIntegrity(ctx))
			require.Equal(t, len(keys), m.Len())
			for j, k := range keys {
				d, err := m.Get(ctx, k)
				require.NoError(t, err)
				assert.Equal(t, "s"+strconv.Itoa(j), d.Session)
			}
		}
	}
}

// Registrations in the same microsecond (a coarse or a test's clock): the
// later one counts as the more recent, so the first is evicted.
func TestMemoryCapTiesEvictTheEarlier(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m, err := registry.NewMemory(registry.Config{Now: func() time.Time { return now }, MaxDevicesPerSession: 2, SweepInterval: -1})
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	for _, tok := range []string{"token-a-0000000000", "token-b-0000000000", "token-c-0000000000"} {
		_, err := m.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: tok})
		require.NoError(t, err)
	}
	list, err := m.Lookup(ctx, "s")
	require.NoError(t, err)
	got := make([]string, 0, len(list))
	for _, d := range list {
		got = append(got, d.Token)
	}
	assert.Equal(t, []string{"token-c-0000000000", "token-b-0000000000"}, got)
}

// The first three bindings of a session live inline in it: registering the
// second and the third costs what registering any binding costs, the first
// one allocation more (the session), the fourth one more too (its list
// moves out of line).
func TestMemorySmallSessionsInline(t *testing.T) {
	const runs = 1000
	m, err := registry.NewMemory(registry.Config{SweepInterval: -1})
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	register := func(nth int) float64 {
		ds := make([]registry.Device, runs+1) // AllocsPerRun adds a warm-up run
		for i := range ds {
			ds[i] = registry.Device{Session: "s" + strconv.Itoa(i), Provider: pushwire.ProviderFCM, Token: "t" + strconv.Itoa(i) + "-" + strconv.Itoa(nth)}
		}
		i := 0
		return testing.AllocsPerRun(runs, func() {
			if _, err := m.Register(ctx, ds[i]); err != nil {
				t.Fatal(err)
			}
			i++
		})
	}
	first, second, third, fourth := register(1), register(2), register(3), register(4)
	assert.Equal(t, second+1, first, "the first binding of a session: and the session")
	assert.Equal(t, second, third, "the third binding still fits inline")
	assert.Equal(t, third+1, fourth, "the fourth binding: and the list out of line")
	list, err := m.Lookup(ctx, "s7")
	require.NoError(t, err)
	assert.Len(t, list, 4)
}
