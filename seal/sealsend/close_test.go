package sealsend_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// blocker is a Next whose sends to token "t" wait for release or their
// context, reporting when they have started and counting those that have
// returned; other sends succeed at once.
type blocker struct {
	started  chan struct{}
	release  chan struct{}
	returned atomic.Int32
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}, 16), release: make(chan struct{})}
}

func (b *blocker) Send(ctx context.Context, m pushwire.Message) error {
	if m.Token != "t" {
		return nil
	}
	b.started <- struct{}{}
	defer b.returned.Add(1)
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return pushwire.ContextError(pushwire.ProviderFCM, ctx.Err(), true)
	}
}

// shutdownRecorder is a Next with only a Shutdown method.
type shutdownRecorder struct {
	mu    sync.Mutex
	calls []error // the context's error at each call
}

func (s *shutdownRecorder) Send(context.Context, pushwire.Message) error { return nil }

func (s *shutdownRecorder) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, ctx.Err())
	return ctx.Err()
}

func TestCloseForwardsOnceAndRefuses(t *testing.T) {
	dev := newDevice(t)
	next := &recorder{}
	s, err := sealsend.New(sealsend.Config{Next: next, Provider: pushwire.ProviderFCM})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.NoError(t, s.Shutdown(context.Background()))
	assert.Equal(t, 1, next.closed, "Next closed once")

	token := "fcm-token-abcdefghijklmnop"
	for _, keys := range []*pushwire.PayloadKeys{dev.wire, nil} {
		err := s.Send(context.Background(), pushwire.Message{Token: token, PayloadKeys: keys})
		require.ErrorIs(t, err, pushwire.ErrClosed)
		assert.ErrorIs(t, err, pushwire.ErrRetryable)
		assert.NotContains(t, err.Error(), token[:len(token)-6])
	}
	assert.Empty(t, next.sent())
}

func TestCloseCancelsSendsUnderWay(t *testing.T) {
	next := newBlocker()
	s, err := sealsend.New(sealsend.Config{Next: next, Provider: pushwire.ProviderFCM})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Send(context.Background(), pushwire.Message{Token: "t"}) }()
	<-next.started
	require.NoError(t, s.Close())
	assert.Equal(t, int32(1), next.returned.Load(), "Close returned before the send under way")
	select {
	case err := <-done:
		assert.ErrorIs(t, err, pushwire.ErrClosed)
		assert.ErrorIs(t, err, pushwire.ErrUnknownOutcome, "the request may have been written")
		assert.ErrorIs(t, err, pushwire.ErrRetryable)
		assert.NotErrorIs(t, err, pushwire.ErrPermanent)
	case <-time.After(5 * time.Second): // Send returns an instant after Close has waited for it
		t.Fatal("the send under way did not end with Close")
	}
}

func TestShutdownWaitsForSendsUnderWay(t *testing.T) {
	next := newBlocker()
	s, err := sealsend.New(sealsend.Config{Next: next, Provider: pushwire.ProviderFCM})
	require.NoError(t, err)
	sent := make(chan error, 1)
	go func() { sent <- s.Send(context.Background(), pushwire.Message{Token: "t"}) }()
	<-next.started

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// New sends are refused while Shutdown waits.
	require.Eventually(t, func() bool {
		return errors.Is(s.Send(context.Background(), pushwire.Message{Token: "u"}), pushwire.ErrClosed)
	}, 5*time.Second, time.Millisecond)
	select {
	case <-shut:
		t.Fatal("Shutdown returned with a send under way")
	default:
	}
	close(next.release)
	require.NoError(t, <-sent, "the send under way completes")
	require.NoError(t, <-shut)
}

func TestShutdownContextEnds(t *testing.T) {
	next := newBlocker()
	s, err := sealsend.New(sealsend.Config{Next: next, Provider: pushwire.ProviderFCM})
	require.NoError(t, err)
	sent := make(chan error, 1)
	go func() { sent <- s.Send(context.Background(), pushwire.Message{Token: "t"}) }()
	<-next.started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Shutdown(ctx), context.DeadlineExceeded)
	assert.ErrorIs(t, <-sent, pushwire.ErrClosed, "then the send was ended, as Close does")
}

func TestShutdownForwardsToNextShutdown(t *testing.T) {
	next := &shutdownRecorder{}
	s, err := sealsend.New(sealsend.Config{Next: next, Provider: pushwire.ProviderAPNs})
	require.NoError(t, err)
	require.NoError(t, s.Shutdown(context.Background()))
	require.NoError(t, s.Close())
	assert.Equal(t, []error{nil}, next.calls, "Next shut down once, with the caller's live context")

	// Close of a Next that has only Shutdown: called with an ended context.
	next2 := &shutdownRecorder{}
	s2, err := sealsend.New(sealsend.Config{Next: next2, Provider: pushwire.ProviderAPNs})
	require.NoError(t, err)
	require.NoError(t, s2.Close())
	require.Len(t, next2.calls, 1)
	assert.ErrorIs(t, next2.calls[0], context.Canceled)
}

func TestCloseWithoutCloser(t *testing.T) {
	var n int
	s, err := sealsend.New(sealsend.Config{Next: pushwire.SenderFunc(func(context.Context, pushwire.Message) error { n++; return nil }), Provider: pushwire.ProviderLPNS})
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), pushwire.Message{Token: "t"}))
	require.NoError(t, s.Shutdown(context.Background()))
	assert.Equal(t, 1, n)
}
