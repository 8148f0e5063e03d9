// Package connectortest holds the conformance suites of the connector's
// pluggable stores, the counterparts of registrytest: [Run] for
// [connector.ConfigStore] and [RunDeduper] for [connector.Deduper]. Every
// store (memory, SQLite, PostgreSQL, Redis) runs them against a real server.
package connectortest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
)

// Opener opens a handle on one backend. Every call must return a handle on
// the same data (a second process's view), so the suite can check that
// changes made through one are seen by another.
type Opener func(t *testing.T) connector.ConfigStore

// NewBackend creates a fresh, empty, isolated backend (a new file, schema or
// key prefix) for one test and returns how to open handles on it. Cleanup
// belongs in t.Cleanup.
type NewBackend func(t *testing.T) Opener

// WatchTimeout bounds how long the suite waits for a change notification
// before it fails. It is a failure bound, not a measured figure.
const WatchTimeout = 10 * time.Second

// Run runs the conformance suite.
func Run(t *testing.T, newBackend NewBackend) {
	t.Run("GetMissing", func(t *testing.T) { testGetMissing(t, newBackend(t)(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newBackend(t)(t)) })
	t.Run("Replace", func(t *testing.T) { testReplace(t, newBackend(t)(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newBackend(t)(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newBackend(t)(t)) })
	t.Run("InvalidID", func(t *testing.T) { testInvalidID(t, newBackend(t)(t)) })
	t.Run("NoAliasing", func(t *testing.T) { testNoAliasing(t, newBackend(t)(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newBackend(t)(t)) })
	t.Run("SharedBetweenHandles", func(t *testing.T) { testShared(t, newBackend(t)) })
	t.Run("Watch", func(t *testing.T) { testWatch(t, newBackend(t)) })
}

var ctx = context.Background()

// Sample returns a configuration with every field set.
func Sample(id string) connector.PushConfig {
	created := time.Date(2026, 3, 18, 11, 0, 24, 481_123_456, time.UTC)
	return connector.PushConfig{
		ID:                id,
		FCMServiceAccount: json.RawMessage(`{"type":"service_account","project_id":"p"}`),
		Secrets:           [][]byte{[]byte("s1"), {0, 1, 2, 255}},
		APNs: &connector.APNsCredential{Key: []byte("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"),
			KeyID: "ABCDEFGHIJ", TeamID: "0123456789", Topic: "com.example.app", Environment: connector.APNsSandbox},
		Sealed:    []byte{1, 2, 3, 0, 254},
		CreatedAt: created,
		UpdatedAt: created.Add(time.Hour).In(time.FixedZone("x", 3600)),
	}
}

// AssertEqual checks that got holds what want holds, times compared as
// instants.
func AssertEqual(t *testing.T, want, got connector.PushConfig) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, string(want.FCMServiceAccount), string(got.FCMServiceAccount))
	assert.Equal(t, len(want.Secrets), len(got.Secrets))
	for i := range min(len(want.Secrets), len(got.Secrets)) {
		assert.Equal(t, want.Secrets[i], got.Secrets[i])
	}
	assert.Equal(t, want.APNs, got.APNs)
	assert.Equal(t, len(want.Sealed) > 0, len(got.Sealed) > 0)
	if len(want.Sealed) > 0 {
		assert.Equal(t, want.Sealed, got.Sealed)
	}
	assert.True(t, want.CreatedAt.Equal(got.CreatedAt), "CreatedAt %v, want %v", got.CreatedAt, want.CreatedAt)
	assert.True(t, want.UpdatedAt.Equal(got.UpdatedAt), "UpdatedAt %v, want %v", got.UpdatedAt, want.UpdatedAt)
}

func testGetMissing(t *testing.T, s connector.ConfigStore) {
	_, err := s.Get(ctx, "missing")
	assert.ErrorIs(t, err, connector.ErrConfigNotFound)
	list, err := s.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)
}

func testRoundTrip(t *testing.T, s connector.ConfigStore) {
	for _, pc := range []connector.PushConfig{
		Sample("full"),
		{ID: "bare"},
		{ID: "sealed-only", Sealed: []byte("opaque"), CreatedAt: time.Unix(1, 1), UpdatedAt: time.Unix(2, 2)},
		{ID: "id.with.punct_-", Secrets: [][]byte{[]byte("x")}},
	} {
		require.NoError(t, s.Put(ctx, pc))
		got, err := s.Get(ctx, pc.ID)
		require.NoError(t, err, pc.ID)
		AssertEqual(t, pc, got)
	}
}

func testReplace(t *testing.T, s connector.ConfigStore) {
	require.NoError(t, s.Put(ctx, Sample("a")))
	next := connector.PushConfig{ID: "a", Secrets: [][]byte{[]byte("new")}, UpdatedAt: time.Unix(100, 0)}
	require.NoError(t, s.Put(ctx, next))
	got, err := s.Get(ctx, "a")
	require.NoError(t, err)
	AssertEqual(t, next, got)
	list, err := s.List(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func testList(t *testing.T, s connector.ConfigStore) {
	ids := []string{"c", "a", "b2", "b10", "B"}
	for _, id := range ids {
		require.NoError(t, s.Put(ctx, Sample(id)))
	}
	list, err := s.List(ctx)
	require.NoError(t, err)
	var got []string
	for _, pc := range list {
		got = append(got, pc.ID)
		AssertEqual(t, Sample(pc.ID), pc)
	}
	assert.Equal(t, []string{"B", "a", "b10", "b2", "c"}, got, "ordered by id, bytewise")
}

func testDelete(t *testing.T, s connector.ConfigStore) {
	require.NoError(t, s.Put(ctx, Sample("a")))
	require.NoError(t, s.Put(ctx, Sample("b")))
	existed, err := s.Delete(ctx, "a")
	require.NoError(t, err)
	assert.True(t, existed)
	existed, err = s.Delete(ctx, "a")
	require.NoError(t, err)
	assert.False(t, existed)
	_, err = s.Get(ctx, "a")
	assert.ErrorIs(t, err, connector.ErrConfigNotFound)
	list, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "b", list[0].ID)
	// Put after Delete brings it back.
	require.NoError(t, s.Put(ctx, Sample("a")))
	_, err = s.Get(ctx, "a")
	assert.NoError(t, err)
}

func testInvalidID(t *testing.T, s connector.ConfigStore) {
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'a'
	}
	for _, id := range []string{"", "has space", "slash/", string(long)} {
		err := s.Put(ctx, connector.PushConfig{ID: id})
		assert.ErrorIs(t, err, pushwire.ErrConfiguration, "%q", id)
	}
	assert.NoError(t, s.Put(ctx, connector.PushConfig{ID: string(long[:128])}), "128 characters is the limit")
}

func testNoAliasing(t *testing.T, s connector.ConfigStore) {
	pc := Sample("a")
	require.NoError(t, s.Put(ctx, pc))
	pc.Secrets[0][0] = 'X'
	pc.FCMServiceAccount[0] = ' '
	pc.Sealed[0] = 9
	pc.APNs.Key[0] = 'X'
	got, err := s.Get(ctx, "a")
	require.NoError(t, err)
	AssertEqual(t, Sample("a"), got)
}

func testConcurrent(t *testing.T, s connector.ConfigStore) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				id := fmt.Sprintf("w%d-%d", w, i%3)
				if err := s.Put(ctx, Sample(id)); err != nil {
					errs <- err
					return
				}
				if _, err := s.Get(ctx, id); err != nil {
					errs <- err
					return
				}
				if i%4 == 3 {
					if _, err := s.Delete(ctx, id); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, err := s.List(ctx)
	require.NoError(t, err)
}

func testShared(t *testing.T, open Opener) {
	a, b := open(t), open(t)
	require.NoError(t, a.Put(ctx, Sample("x")))
	got, err := b.Get(ctx, "x")
	require.NoError(t, err)
	AssertEqual(t, Sample("x"), got)
	existed, err := b.Delete(ctx, "x")
	require.NoError(t, err)
	assert.True(t, existed)
	_, err = a.Get(ctx, "x")
	assert.ErrorIs(t, err, connector.ErrConfigNotFound)
}

// testWatch checks a ConfigWatcher: a change through another handle is
// announced, for Put and for Delete, after the "" that says it listens.
func testWatch(t *testing.T, open Opener) {
	a := open(t)
	w, ok := a.(connector.ConfigWatcher)
	if !ok {
		t.Skip("the store does not implement connector.ConfigWatcher")
	}
	events := make(chan string, 64)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Watch(wctx, func(id string) { events <- id }) }()
	next := func() string {
		t.Helper()
		select {
		case id := <-events:
			return id
		case <-time.After(WatchTimeout):
			t.Fatal("no change notification")
			return ""
		}
	}
	require.Equal(t, "", next(), "first the listening signal")
	b := open(t)
	require.NoError(t, b.Put(ctx, Sample("w1")))
	assert.Equal(t, "w1", next())
	require.NoError(t, b.Put(ctx, connector.PushConfig{ID: "w1"}))
	assert.Equal(t, "w1", next())
	_, err := b.Delete(ctx, "w1")
	require.NoError(t, err)
	assert.Equal(t, "w1", next())
	require.NoError(t, a.Put(ctx, Sample("w2")))
	assert.Equal(t, "w2", next(), "its own changes too")

	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(WatchTimeout):
		t.Fatal("Watch did not return after its context ended")
	}
}
