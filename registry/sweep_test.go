package registry_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/registry"
)

// syncBuffer is a bytes.Buffer safe for the sweeper goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunSweeper(t *testing.T) {
	var logs syncBuffer
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
