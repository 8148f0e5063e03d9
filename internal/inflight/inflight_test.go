package inflight_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/internal/inflight"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// send starts a send registered in s that runs until its context ends or
// release is closed; it returns a channel closed when the send returned.
func send(t *testing.T, s *inflight.Set[*int], release <-chan struct{}) (<-chan struct{}, *atomic.Bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := new(int)
	require.True(t, s.Begin(k, cancel))
	done := make(chan struct{})
	cancelled := new(atomic.Bool)
	go func() {
		defer close(done)
		defer s.End(k)
		select {
		case <-ctx.Done():
			cancelled.Store(true)
		case <-release:
		}
		cancel()
	}()
	return done, cancelled
}

func TestBeginAfterRefuse(t *testing.T) {
	var s inflight.Set[*int]
	assert.False(t, s.Refused())
	s.Refuse()
	assert.True(t, s.Refused())
	called := false
	assert.False(t, s.Begin(new(int), func() { called = true }))
	s.Cancel()
	assert.False(t, called, "a refused send is not registered")
	s.Wait() // nothing registered: returns at once
}

func TestCancelEndsSendsUnderWay(t *testing.T) {
	var s inflight.Set[*int]
	never := make(chan struct{})
	done1, c1 := send(t, &s, never)
	done2, c2 := send(t, &s, never)
	s.Cancel()
	s.Wait()
	<-done1
	<-done2
	assert.True(t, c1.Load())
	assert.True(t, c2.Load())
	assert.False(t, s.Begin(new(int), func() {}), "Cancel refuses later sends")
}

func TestEndedSendIsNotCancelled(t *testing.T) {
	var s inflight.Set[*int]
	cancelled := false
	k := new(int)
	require.True(t, s.Begin(k, func() { cancelled = true }))
	s.End(k)
	s.Cancel()
	assert.False(t, cancelled)
}

func TestShutdownWaitsThenCloses(t *testing.T) {
	var s inflight.Set[*int]
	release := make(chan struct{})
	done, cancelled := send(t, &s, release)
	var closed atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- s.Shutdown(context.Background(), func() error { closed.Store(true); return errors.New("close error") })
	}()
	require.Eventually(t, s.Refused, 5*time.Second, time.Millisecond)
	assert.False(t, s.Begin(new(int), func() {}), "no new send during Shutdown")
	select {
	case <-errc:
		t.Fatal("Shutdown returned while a send was under way")
	case <-time.After(50 * time.Millisecond):
	}
	assert.False(t, closed.Load(), "closeFn waits for the sends")
	close(release)
	assert.EqualError(t, <-errc, "close error")
	<-done
	assert.True(t, closed.Load())
	assert.False(t, cancelled.Load(), "a graceful shutdown lets the send finish")
}

func TestShutdownContextEndsFirst(t *testing.T) {
	var s inflight.Set[*int]
	never := make(chan struct{})
	done, cancelled := send(t, &s, never)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Shutdown(ctx, func() error { s.Cancel(); return nil })
	assert.ErrorIs(t, err, context.Canceled)
	<-done
	assert.True(t, cancelled.Load(), "closeFn's cancel ended the send")
}
