package registry_test

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
	"github.com/pushwire/pushwire/registry"
)

func TestRunSweeper(t *testing.T) {
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		registry.RunSweeper(ctx, time.Millisecond, log, "test", func(context.Context) (int, error) {
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
