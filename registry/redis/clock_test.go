package redis_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/redis"
)

// The keys' native expiry does not depend on the Redis server's clock: with
// the registry's clock 10 s behind the server's, a binding living 5 s is
// still there, and its key and index live about 5 s.
func TestServerClockAhead(t *testing.T) {
	ctx := context.Background()
	c := shared(t)
	prefix := uniquePrefix(t)
	t.Cleanup(func() { dropPrefix(t, c, prefix) })
	behind := func() time.Time { return time.Now().Add(-10 * time.Second) }
	r := open(t, registry.Config{Now: behind, TTL: 5 * time.Second}, prefix)
	d := registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "clock-token"}
	_, err := r.Register(ctx, d)
	require.NoError(t, err)

	_, err = r.Get(ctx, d.Key())
	require.NoError(t, err, "the binding just registered")
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Len(t, list, 1)
	for _, key := range []string{prefix + "b:" + redis.BindingID(d.Key()), prefix + "s:s"} {
		ttl, err := c.PTTL(ctx, key).Result()
		require.NoError(t, err)
		assert.InDelta(t, 5*time.Second, ttl, float64(time.Second), "lifetime of %s", key)
	}
}

// stallProxy forwards TCP to upstream; while stalled it holds the answers.
type stallProxy struct {
	ln      net.Listener
	stalled atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func newStallProxy(t *testing.T, upstream string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = down.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, down, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(up, down) }()
			go func() {
				defer p.wg.Done()
				buf := make([]byte, 32<<10)
				for {
					n, err := up.Read(buf)
					for p.stalled.Load() {
						time.Sleep(5 * time.Millisecond)
					}
					if n > 0 {
						if _, werr := down.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		p.stalled.Store(false)
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// A deadline that passes while Redis is slow to answer ends the call with
// the context's error.
func TestDeadlineDuringCall(t *testing.T) {
	u, err := url.Parse(redisURL(t))
	require.NoError(t, err)
	p := newStallProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	r, err := redis.New(context.Background(), redis.Config{URL: u.String(), KeyPrefix: uniquePrefix(t)})
	require.NoError(t, err)
	defer r.Close()

	p.stalled.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := r.Lookup(ctx, "s"); done <- err }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Second): // go-redis's read timeout is 3 s
		t.Fatal("Lookup outlived its deadline")
	}
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
	p.stalled.Store(false)
}
