package registry

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/seal"
)

// healthyMemory returns a registry holding sessions "a" (three bindings,
// registered a second apart, the first with payload keys) and "b" (one
// binding whose token is also in "a", so it sits in the overflow index).
func healthyMemory(t *testing.T) *Memory {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m, err := NewMemory(Config{Now: func() time.Time { return now }, SweepInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	ctx := context.Background()
	keys, err := seal.GenerateKeys()
	require.NoError(t, err)
	p256dh, auth := keys.Public().Encode()
	for i, d := range []Device{
		{Session: "a", Provider: pushwire.ProviderFCM, Token: "token-0", PayloadKeys: &pushwire.PayloadKeys{P256DH: p256dh, Auth: auth}},
		{Session: "a", Provider: pushwire.ProviderFCM, Token: "token-1"},
		{Session: "a", Provider: pushwire.ProviderFCM, Token: "token-2"},
		{Session: "b", Provider: pushwire.ProviderAPNs, AppID: "com.example", Token: "token-0"},
	} {
		now = now.Add(time.Duration(i) * time.Second)
		_, err := m.Register(ctx, d)
		require.NoError(t, err)
	}
	require.Len(t, m.overflow, 1)
	require.Len(t, m.keys, 1)
	require.NoError(t, m.CheckIntegrity(ctx))
	return m
}

func (m *Memory) entry(t *testing.T, session string, i int) *memEntry {
	t.Helper()
	s := m.sessions[session]
	require.NotNil(t, s)
	require.Greater(t, len(s.devs), i)
	return s.devs[i]
}

// CheckIntegrity, which registrytest relies on to find corrupt indexes,
// reports each corruption it claims to detect.
func TestCheckIntegrityDetects(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(t *testing.T, m *Memory)
		want    string
	}{
		{"session stored under another name", func(t *testing.T, m *Memory) {
			m.sessions["b"].name = "c"
		}, `session "c" stored under "b"`},
		{"empty session", func(t *testing.T, m *Memory) {
			s := &memSession{name: "ghost"}
			s.devs = s.small[:0]
			m.sessions["ghost"] = s
		}, `session "ghost" is empty`},
		{"binding of another session", func(t *testing.T, m *Memory) {
			m.entry(t, "a", 1).sess = m.sessions["b"]
		}, `session "a" lists a binding of another session`},
		{"listed binding missing from the key index", func(t *testing.T, m *Memory) {
			e := m.entry(t, "a", 1)
			twin := *e
			m.byToken[e.token] = &twin
		}, `session "a" lists a binding missing from the key index`},
		{"listed binding missing from the overflow index", func(t *testing.T, m *Memory) {
			e := m.entry(t, "b", 0)
			delete(m.overflow, e.key())
			m.count--
		}, `session "b" lists a binding missing from the key index`},
		{"session out of order", func(t *testing.T, m *Memory) {
			s := m.sessions["a"]
			s.devs[0], s.devs[1] = s.devs[1], s.devs[0]
		}, `session "a" is out of order`},
		{"indexed binding without a session", func(t *testing.T, m *Memory) {
			e := &memEntry{token: "stray", app: m.entry(t, "a", 0).app}
			m.index(e)
		}, "indexed binding without a session"},
		{"payload keys of a removed binding", func(t *testing.T, m *Memory) {
			e := m.entry(t, "a", 2)
			gone := *e
			m.keys[&gone] = m.keys[e]
		}, "payload keys of a binding missing from the key index"},
		{"count off", func(t *testing.T, m *Memory) {
			m.count++
		}, "key index has 4 bindings (count 5), sessions list 4"},
		{"binding missing from every session", func(t *testing.T, m *Memory) {
			s := m.sessions["a"]
			s.devs = s.devs[:len(s.devs)-1]
		}, "key index has 4 bindings (count 4), sessions list 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := healthyMemory(t)
			tc.corrupt(t, m)
			assert.ErrorContains(t, m.CheckIntegrity(context.Background()), tc.want)
		})
	}
}

// App identities (app id, provider, environment) are interned: the bindings
// of one app share one copy, and the table stops growing at maxInternedApps
// (bindings of further apps carry their own copy).
func TestMemoryInternsApps(t *testing.T) {
	m, err := NewMemory(Config{SweepInterval: -1, MaxDevicesPerSession: -1})
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	reg := func(token, app string) *memEntry {
		d := Device{Session: "s-" + app, Provider: pushwire.ProviderAPNs, AppID: app, Environment: EnvironmentProduction, Token: token}
		_, err := m.Register(ctx, d)
		require.NoError(t, err)
		e := m.find(toMemKey(d.Key()))
		require.NotNil(t, e)
		return e
	}
	a1, a2, b := reg("token-1", "com.a"), reg("token-2", "com.a"), reg("token-3", "com.b")
	assert.Same(t, a1.app, a2.app, "one app, one copy")
	assert.NotSame(t, a1.app, b.app)
	assert.Len(t, m.apps, 2)

	for i := range maxInternedApps {
		reg(fmt.Sprintf("token-app-%d", i), fmt.Sprintf("app-%d", i))
	}
	assert.Len(t, m.apps, maxInternedApps, "bounded")
	last := fmt.Sprintf("app-%d", maxInternedApps-1)
	e1, e2 := reg("token-x1", last), reg("token-x2", last)
	assert.NotSame(t, e1.app, e2.app, "not interned past the bound")
	assert.Equal(t, memApp{appID: last, prov: 2, env: 1}, *e1.app)
	d, err := m.Get(ctx, Key{Provider: pushwire.ProviderAPNs, AppID: last, Environment: EnvironmentProduction, Token: "token-x2"})
	require.NoError(t, err)
	assert.Equal(t, last, d.AppID)
	require.NoError(t, m.CheckIntegrity(ctx))
}

// A removed binding is released: its session's list keeps no reference to
// it (the bindings of a session live in a slice whose tail outlives them).
func TestMemoryReleasesRemovedBinding(t *testing.T) {
	m := healthyMemory(t)
	ctx := context.Background()
	oldest := func() weak.Pointer[memEntry] {
		s := m.sessions["a"]
		return weak.Make(s.devs[len(s.devs)-1])
	}()
	require.NoError(t, m.Unregister(ctx, Key{Provider: pushwire.ProviderFCM, Token: "token-0"}))
	require.Len(t, m.sessions["a"].devs, 2)
	runtime.GC()
	assert.Nil(t, oldest.Value(), "the removed binding is still reachable")
}
