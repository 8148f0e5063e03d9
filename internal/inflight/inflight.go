// Package inflight tracks the sends under way of a sender, so that it can
// close the way net/http.Server does: Close refuses new sends, cancels
// those under way and waits for them to return; Shutdown refuses new sends
// and waits for those under way until its context ends.
package inflight

import (
	"context"
	"sync"
)

// Set is the sends under way, each identified by a key of type K (the
// send's own state, so that no id has to be made up). The zero value is
// ready to use; a Set must not be copied after first use. It is safe for
// concurrent use.
type Set[K comparable] struct {
	mu      sync.Mutex // guards closed, cancels and the Adds of wg
	closed  bool
	cancels map[K]context.CancelFunc
	wg      sync.WaitGroup
}

// Begin registers the send k, which cancel ends. It reports false, and
// registers nothing, once Refuse was called: the send must then fail as
// closed. Every Begin that reported true must be followed by End(k).
func (s *Set[K]) Begin(k K, cancel context.CancelFunc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.cancels == nil {
		s.cancels = make(map[K]context.CancelFunc)
	}
	s.cancels[k] = cancel
	s.wg.Add(1)
	return true
}

// End unregisters the send k.
func (s *Set[K]) End(k K) {
	s.mu.Lock()
	delete(s.cancels, k)
	s.mu.Unlock()
	s.wg.Done()
}

// Refuse makes every later Begin report false.
func (s *Set[K]) Refuse() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// Refused reports whether Refuse was called.
func (s *Set[K]) Refused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Cancel refuses later sends and cancels those under way. It does not wait
// for them: call Wait.
func (s *Set[K]) Cancel() {
	s.mu.Lock()
	s.closed = true
	for _, cancel := range s.cancels {
		cancel()
	}
	s.mu.Unlock()
}

// Wait blocks until every registered send has ended.
func (s *Set[K]) Wait() { s.wg.Wait() }

// Shutdown refuses later sends and waits for those under way; then it
// calls closeFn (the sender's Close) and returns its error. When ctx ends
// first, it calls closeFn at once (which cancels the sends, so they end
// soon), waits for the sends to return and returns ctx's error.
func (s *Set[K]) Shutdown(ctx context.Context, closeFn func() error) error {
	s.Refuse()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return closeFn()
	case <-ctx.Done():
		_ = closeFn()
		<-done
		return ctx.Err()
	}
}
