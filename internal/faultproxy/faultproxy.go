// Package faultproxy is a small TCP proxy for fault-injection tests: it sits
// between the code under test and a real server (Redis, PostgreSQL, a fake
// FCM) and can pass traffic, hold it (a hung server: connections stay open,
// nothing is answered until traffic passes again), delay it, drop it for
// good (a black hole) or reset every connection. Freezing a shared server
// with SIGSTOP would stall every other test; a proxy freezes only the
// connections that go through it.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what the proxy does with the bytes it reads.
type Mode int

// Modes.
const (
	// Pass forwards traffic both ways (the default).
	Pass Mode = iota
	// Hang holds traffic in both directions: connections are accepted and
	// stay open, bytes read are kept back, and flow again once the mode
	// returns to Pass, as with a server frozen and then resumed.
	Hang
	// BlackHole drops traffic in both directions for good: bytes read are
	// discarded, and new connections are accepted but never reach the
	// server.
	BlackHole
)

// String names m.
func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Hang:
		return "hang"
	case BlackHole:
		return "black-hole"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ErrClosed is returned by the methods of a closed Proxy.
var ErrClosed = errors.New("faultproxy: closed")

// Proxy forwards TCP connections from a loopback listener to a target. It
// is safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	cond     *sync.Cond
	mode     Mode
	delay    time.Duration
	closed   bool
	links    map[*link]struct{}
	accepted int

	wg sync.WaitGroup
}

type link struct {
	client net.Conn
	server net.Conn // nil until dialled, and for a black-holed connection; guarded by Proxy.mu
	dead   bool     // closed; guarded by Proxy.mu
}

// New starts a proxy on 127.0.0.1 with an ephemeral port that forwards to
// target (host:port).
func New(target string) (*Proxy, error) {
	if target == "" {
		return nil, errors.New("faultproxy: empty target")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, target: target, links: make(map[*link]struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's address (host:port); point the code under test at it.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetMode switches what happens to traffic, on open connections too.
// Switching from Hang to Pass releases the bytes held back.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	p.mode = m
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Mode reports the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// SetDelay makes every chunk of traffic wait d before it is forwarded (0
// removes the delay). It applies in Pass mode.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Reset closes every open connection abruptly (TCP RST, on both sides);
// new connections are accepted as the mode says. It returns how many
// connections it reset.
func (p *Proxy) Reset() int {
	p.mu.Lock()
	var conns []net.Conn
	n := len(p.links)
	for l := range p.links {
		conns = append(conns, p.killLocked(l)...)
	}
	p.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	return n
}

// Open is the number of connections open through the proxy now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Accepted is the number of connections accepted since the proxy started.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Close stops the listener, closes every connection and waits for the
// proxy's goroutines to return. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	err := p.ln.Close()
	p.Reset()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.accepted++
		mode := p.mode
		l := &link{client: c}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l, mode)
	}
}

func (p *Proxy) serve(l *link, mode Mode) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		conns := p.killLocked(l)
		p.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	if mode == BlackHole {
		// Never reach the server: swallow what the client sends until it
		// or the proxy closes the connection.
		_, _ = io.Copy(io.Discard, l.client)
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.closed || l.dead {
		p.mu.Unlock()
		s.Close()
		return
	}
	l.server = s
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.pump(l, s, l.client); done <- struct{}{} }()
	go func() { p.pump(l, l.client, s); done <- struct{}{} }()
	<-done // one direction ended: end the link, which ends the other
	p.mu.Lock()
	conns := p.killLocked(l)
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	<-done
}

// pump copies src to dst chunk by chunk, applying the mode to each chunk.
func (p *Proxy) pump(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			forward, delay := p.wait(l)
			if delay > 0 {
				time.Sleep(delay)
			}
			if forward {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// wait blocks while the proxy hangs, and reports whether a chunk read now
// is forwarded (false in BlackHole mode, once the link or the proxy is
// closed) and its delay.
func (p *Proxy) wait(l *link) (forward bool, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == Hang && !p.closed && !l.dead {
		p.cond.Wait()
	}
	return p.mode == Pass && !p.closed && !l.dead, p.delay
}

// killLocked marks l dead, wakes its pumps and returns the connections to
// close (the first time only). p.mu must be held.
func (p *Proxy) killLocked(l *link) []net.Conn {
	if l.dead {
		return nil
	}
	l.dead = true
	p.cond.Broadcast()
	conns := []net.Conn{l.client}
	if l.server != nil {
		conns = append(conns, l.server)
	}
	return conns
}
