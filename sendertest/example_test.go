package sendertest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/sendertest"
)

// memory is the provider name of the example sender.
const memory pushwire.Provider = "memory"

// fakeProvider is a tiny in-memory provider that answers as scripted.
type fakeProvider struct {
	mu       sync.Mutex
	script   map[string]sendertest.Outcome
	received map[string]int
}

// memSender is a sender to a fakeProvider that keeps the pushwire.Sender
// promises: classified errors, ContextError, ErrClosed, Close and Shutdown.
type memSender struct {
	p    *fakeProvider
	stop context.Context // cancelled by Close: ends the sends under way
	kill context.CancelFunc

	mu     sync.Mutex
	closed bool
	sends  sync.WaitGroup
}

func newMemSender(p *fakeProvider) *memSender {
	stop, kill := context.WithCancel(context.Background())
	return &memSender{p: p, stop: stop, kill: kill}
}

func (s *memSender) Send(ctx context.Context, m pushwire.Message) error {
	if err := ctx.Err(); err != nil {
		return pushwire.ContextError(memory, err, false)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("memory: send to %s: %w", pushwire.Redact(m.Token), pushwire.ErrClosed)
	}
	s.sends.Add(1)
	s.mu.Unlock()
	defer s.sends.Done()

	s.p.mu.Lock()
	s.p.received[m.Token]++  // the request is written: from here on an
	o := s.p.script[m.Token] // unanswered send has an unknown outcome
	s.p.mu.Unlock()
	switch o := o.(type) {
	case sendertest.DeadToken:
		return &pushwire.Error{Class: pushwire.ErrDeadToken, Provider: memory, Reason: "Unregistered", Since: o.Since}
	case sendertest.Retryable:
		return &pushwire.Error{Class: pushwire.ErrRetryable, Provider: memory, Reason: "Unavailable", Retry: o.RetryAfter}
	case sendertest.Permanent:
		return &pushwire.Error{Class: pushwire.ErrPermanent, Provider: memory, Reason: "InvalidMessage"}
	case sendertest.Configuration:
		return &pushwire.Error{Class: pushwire.ErrConfiguration, Provider: memory, Reason: "Forbidden"}
	case sendertest.Drop:
		return pushwire.UnknownOutcome(&pushwire.Error{Class: pushwire.ErrRetryable, Provider: memory, Reason: "connection lost"})
	case sendertest.Hang:
		select {
		case <-ctx.Done():
			return pushwire.ContextError(memory, ctx.Err(), true)
		case <-s.stop.Done():
			return pushwire.UnknownOutcome(fmt.Errorf("memory: send to %s: %w", pushwire.Redact(m.Token), pushwire.ErrClosed))
		}
	}
	return nil
}

func (s *memSender) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.kill()
	s.sends.Wait()
	return nil
}

func (s *memSender) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.sends.Wait(); close(done) }()
	select {
	case <-done:
		return s.Close()
	case <-ctx.Done():
		_ = s.Close()
		return ctx.Err()
	}
}

// newMemHarness is what a test hands to sendertest.Run:
//
//	func TestMemSender(t *testing.T) { sendertest.Run(t, newMemHarness) }
func newMemHarness(t *testing.T) sendertest.Harness {
	p := &fakeProvider{script: map[string]sendertest.Outcome{}, received: map[string]int{}}
	s := newMemSender(p)
	return sendertest.Harness{
		Sender:   s,
		Close:    s.Close,
		Shutdown: s.Shutdown,
		Script: func(token string, o sendertest.Outcome) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.script[token] = o
			return nil
		},
		Received: func(token string) int {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.received[token]
		},
	}
}

// A harness wires a sender to a fake that answers as scripted; the suite
// runs in a test with sendertest.Run(t, newMemHarness). Here the harness is
// driven by hand to show what the suite checks.
func Example() {
	h := newMemHarness(nil)
	defer h.Close()
	ctx := context.Background()
	tok := sendertest.DefaultToken(1)

	_ = h.Script(tok, sendertest.DeadToken{})
	err := h.Sender.Send(ctx, pushwire.Message{Token: tok})
	fmt.Println("dead token:", errors.Is(err, pushwire.ErrDeadToken))

	_ = h.Script(tok, sendertest.Drop{})
	err = h.Sender.Send(ctx, pushwire.Message{Token: tok})
	fmt.Println("dropped:", errors.Is(err, pushwire.ErrRetryable), errors.Is(err, pushwire.ErrUnknownOutcome))

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	err = h.Sender.Send(canceled, pushwire.Message{Token: tok})
	fmt.Println("canceled:", errors.Is(err, pushwire.ErrRetryable), errors.Is(err, context.Canceled))

	_ = h.Close()
	err = h.Sender.Send(ctx, pushwire.Message{Token: tok})
	fmt.Println("closed:", errors.Is(err, pushwire.ErrClosed), errors.Is(err, pushwire.ErrRetryable))
	fmt.Println("received:", h.Received(tok))
	// Output:
	// dead token: true
	// dropped: true true
	// canceled: true true
	// closed: true true
	// received: 2
}
