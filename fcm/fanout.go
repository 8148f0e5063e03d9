package fcm

import (
	"context"
	"sync"
)

// Result is the outcome of one message of a fan-out.
type Result struct {
	// Name is the message name FCM assigned, empty on failure.
	Name string
	// Err is nil when FCM accepted the message.
	Err error
}

// SendEach sends msgs concurrently within the client's concurrency limit and
// returns one Result per message, in input order. It is named after the
// Firebase Admin SDK's SendEach, which replaced SendAll when FCM's batch
// endpoint was shut down: one request per message. When ctx ends, messages not
// yet started are not sent; their Result carries the context error.
func (c *Client) SendEach(ctx context.Context, msgs []*Message) []Result {
	results := make([]Result, len(msgs))
	c.fanOut(ctx, results, func(i int) *Message { return msgs[i] })
	return results
}

// SendEachForMulticast sends a copy of m to each of tokens (m must have no
// target of its own) and returns one Result per token, in input order. It
// shares the client's concurrency limit like SendEach and is named after the
// Firebase Admin SDK's method (formerly SendMulticast).
func (c *Client) SendEachForMulticast(ctx context.Context, m *Message, tokens []string) []Result {
	results := make([]Result, len(tokens))
	if m == nil || m.Token != "" || m.FID != "" || m.Topic != "" || m.Condition != "" {
		err := invalid("message", "multicast template must be non-nil and have no target")
		for i := range results {
			results[i].Err = err
		}
		return results
	}
	c.fanOut(ctx, results, func(i int) *Message {
		mm := *m
		mm.Token = tokens[i]
		return &mm
	})
	return results
}

func (c *Client) fanOut(ctx context.Context, results []Result, msg func(int) *Message) {
	var wg sync.WaitGroup
	for i := range results {
		if err := c.acquire(ctx); err != nil {
			err = c.ended(ctx, false)
			for j := i; j < len(results); j++ {
				results[j].Err = err
			}
			break
		}
		m := msg(i)
		if m == nil {
			c.release()
			results[i].Err = invalid("message", "nil message")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, err := c.deliver(ctx, m, true, true)
			results[i] = Result{Name: name, Err: err}
		}()
	}
	wg.Wait()
}
