package store_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/registry/internal/store"
)

func TestRunSweeper(t *testing.T) {
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.RunSweeper(ctx, time.Millisecond, log, "test", func(context.Context) (int, error) {
			if calls.Add(1)%2 == 1 {
				return 0, errors.New("boom")
			}
			return 3, nil
		})
	}()
	require.Eventually(t, func() bool { return calls.Load() >= 4 }, 10*time.Second, time.Millisecond)
	cancel()
	<-done
	out := logs.String()
	assert.Contains(t, out, "registry: test sweep failed")
	assert.Contains(t, out, "err=boom")
	assert.Contains(t, out, "count=3")
}

func TestTruncate(t *testing.T) {
	loc := time.FixedZone("x", 3600)
	in := time.Date(2025, 1, 2, 3, 4, 5, 123456789, loc)
	got := store.Truncate(in)
	assert.Equal(t, time.UTC, got.Location())
	assert.Equal(t, 123456000, got.Nanosecond())
	assert.True(t, store.Truncate(time.Time{}).IsZero())
}

func TestCloneLabels(t *testing.T) {
	assert.Nil(t, store.CloneLabels(nil))
	assert.Nil(t, store.CloneLabels(map[string]string{}))
	in := map[string]string{"a": "b"}
	out := store.CloneLabels(in)
	assert.Equal(t, in, out)
	out["a"] = "c"
	assert.Equal(t, "b", in["a"], "a copy")
}
