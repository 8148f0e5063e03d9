// The pushwire.Sender conformance suite (package sendertest) run against
// the Sender, in front of a sender that can be closed and one that cannot.

package sealsend_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/seal/sealsend"
	"github.com/pushwire/pushwire/sendertest"
)

// memProvider is an in-memory provider that answers as scripted.
type memProvider struct {
	mu       sync.Mutex
	script   map[string]sendertest.Outcome
	received map[string]int
}

// memSender sends to a memProvider and keeps the Sender promises.
type memSender struct {
	p      *memProvider
	stop   context.Context
	kill   context.CancelFunc
	mu     sync.Mutex
	closed bool
	sends  sync.WaitGroup
}

func (s *memSender) Send(ctx context.Context, m pushwire.Message) error {
	if err := ctx.Err(); err != nil {
		return pushwire.ContextError("memory", err, false)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("memory: %w", pushwire.ErrClosed)
	}
	s.sends.Add(1)
	s.mu.Unlock()
	defer s.sends.Done()
	s.p.mu.Lock()
	s.p.received[m.Token]++
	o := s.p.script[m.Token]
	s.p.mu.Unlock()
	switch o := o.(type) {
	case sendertest.DeadToken:
		return &pushwire.Error{Class: pushwire.ErrDeadToken, Since: o.Since}
	case sendertest.Retryable:
		return &pushwire.Error{Class: pushwire.ErrRetryable, Retry: o.RetryAfter}
	case sendertest.Permanent:
		return &pushwire.Error{Class: pushwire.ErrPermanent}
	case sendertest.Configuration:
		return &pushwire.Error{Class: pushwire.ErrConfiguration}
	case sendertest.Drop:
		return pushwire.UnknownOutcome(&pushwire.Error{Class: pushwire.ErrRetryable})
	case sendertest.Hang:
		select {
		case <-ctx.Done():
			return pushwire.ContextError("memory", ctx.Err(), true)
		case <-s.stop.Done():
			return pushwire.UnknownOutcome(fmt.Errorf("memory: %w", pushwire.ErrClosed))
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

func TestSenderTestSuite(t *testing.T) {
	dev := newDevice(t)
	sendertest.Run(t, func(t *testing.T) sendertest.Harness {
		p := &memProvider{script: map[string]sendertest.Outcome{}, received: map[string]int{}}
		stop, kill := context.WithCancel(context.Background())
		next := &memSender{p: p, stop: stop, kill: kill}
		s, err := sealsend.New(sealsend.Config{Next: next, Provider: pushwire.ProviderFCM, Strict: true})
		if err != nil {
			t.Fatal(err)
		}
		return sendertest.Harness{
			Sender: s, Close: s.Close, Shutdown: s.Shutdown,
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
			Message: func(token string) pushwire.Message {
				return pushwire.Message{Token: token, Data: map[string]string{"sessionId": "sendertest"}, PayloadKeys: dev.wire}
			},
		}
	})
}

// sendOnly hides memSender's Close: the Sender must end sends itself.
type sendOnly struct{ s *memSender }

func (o sendOnly) Send(ctx context.Context, m pushwire.Message) error { return o.s.Send(ctx, m) }

func TestSenderTestSuiteNoCloser(t *testing.T) {
	dev := newDevice(t)
	sendertest.Run(t, func(t *testing.T) sendertest.Harness {
		p := &memProvider{script: map[string]sendertest.Outcome{}, received: map[string]int{}}
		stop, kill := context.WithCancel(context.Background())
		next := &memSender{p: p, stop: stop, kill: kill}
		t.Cleanup(func() { _ = next.Close() })
		s, err := sealsend.New(sealsend.Config{Next: sendOnly{next}, Provider: pushwire.ProviderFCM})
		if err != nil {
			t.Fatal(err)
		}
		return sendertest.Harness{
			Sender: s, Close: s.Close, Shutdown: s.Shutdown,
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
			Message: func(token string) pushwire.Message {
				return pushwire.Message{Token: token, Data: map[string]string{"sessionId": "sendertest"}, PayloadKeys: dev.wire}
			},
		}
	})
}
