// Package conntrack tracks the connections a transport dialed, so that a
// client's Close can close those still open once its requests are done:
// a connection that a cancelled HTTP/2 stream left busy for a moment is
// skipped by http.Transport.CloseIdleConnections and would otherwise stay
// open, with its goroutines, until the idle timeout.
package conntrack

import (
	"context"
	"net"
	"sync"
)

// Set is a set of tracked connections. The zero value is ready to use; it
// is safe for concurrent use.
type Set struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

// DialFunc is the type of http.Transport.DialContext.
type DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// Dialer wraps dial so that the connections it returns are tracked.
func (s *Set) Dialer(dial DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, set: s}
		s.mu.Lock()
		if s.conns == nil {
			s.conns = make(map[*trackedConn]struct{})
		}
		s.conns[tc] = struct{}{}
		s.mu.Unlock()
		return tc, nil
	}
}

// CloseAll closes every tracked connection still open.
func (s *Set) CloseAll() {
	s.mu.Lock()
	list := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		list = append(list, c)
	}
	s.mu.Unlock()
	for _, c := range list {
		_ = c.Close()
	}
}

// trackedConn is a connection that leaves its set when closed.
type trackedConn struct {
	net.Conn
	set *Set
}

func (c *trackedConn) Close() error {
	c.set.mu.Lock()
	delete(c.set.conns, c)
	c.set.mu.Unlock()
	return c.Conn.Close()
}
