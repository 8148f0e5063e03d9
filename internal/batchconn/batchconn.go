// Package batchconn coalesces a connection's writes. Go's HTTP/2 transport
// flushes each frame it writes for a request (HEADERS, then DATA), and TLS
// turns each flush into a record and a write(2); with many requests in flight
// those small writes dominate a push client's CPU. A connection from this
// package, placed under TLS, queues the encrypted records and writes
// everything queued so far with one write(2). The fcm and apns clients use it
// on the connections of the transports they build.
package batchconn

import (
	"context"
	"net"
	"sync"
	"time"
)

// batchConn queues the records written to it; one goroutine per connection, started when a record is queued and ending
// when the queue is empty, writes everything queued so far with a single
// write(2). Under load the records of many requests leave together; with a
// single push in flight its HEADERS and DATA records usually do.
type batchConn struct {
	net.Conn

	mu      sync.Mutex
	cond    sync.Cond // signalled when the flusher has written a batch or stopped
	queue   []byte    // records not yet handed to the flusher
	spare   []byte    // the flusher's previous batch, reused as the next queue
	err     error     // first write error (or net.ErrClosed): later writes fail with it
	writing bool      // a flusher goroutine is running
	closed  bool
	flushFn func() // b.flush, bound once: go b.flush() would allocate a closure per start
}

const (
	// maxQueued bounds the bytes waiting for the flusher: a writer that
	// finds this much queued waits, so a server that stops reading still
	// pushes back on the transport as a full socket buffer would.
	maxQueued = 256 << 10
	// maxSpare bounds the batch buffer kept for reuse.
	maxSpare = 1 << 20
	// closeGrace bounds how long Close waits for queued records (a GOAWAY,
	// an RST_STREAM, TLS close_notify) to leave.
	closeGrace = 100 * time.Millisecond
)

// New wraps c so that its writes are queued and written in batches. A Write
// returns once its bytes are queued; a failed write(2) fails the writes after
// it (and reads fail as the connection breaks). Writers wait while 256 KiB
// are queued, so a peer that stops reading still pushes back. Close gives
// queued bytes 100 ms to leave. The connection is safe for concurrent use.
func New(c net.Conn) net.Conn { return newBatchConn(c) }

func newBatchConn(c net.Conn) *batchConn {
	b := &batchConn{Conn: c}
	b.cond.L = &b.mu
	b.flushFn = b.flush
	return b
}

// Write queues p and returns; the flusher writes it. A write error is
// reported by a later Write (and by reads, as the connection fails).
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	for b.err == nil && len(b.queue) >= maxQueued {
		b.cond.Wait()
	}
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	b.queue = append(b.queue, p...)
	if !b.writing {
		b.writing = true
		go b.flushFn()
	}
	b.mu.Unlock()
	return len(p), nil
}

// flush writes queued bytes until the queue is empty or a write fails.
func (b *batchConn) flush() {
	b.mu.Lock()
	for len(b.queue) > 0 && b.err == nil {
		batch := b.queue
		b.queue = b.spare[:0]
		b.spare = nil
		b.cond.Broadcast() // room in the queue again
		b.mu.Unlock()
		_, err := b.Conn.Write(batch)
		b.mu.Lock()
		if cap(batch) <= maxSpare {
			b.spare = batch[:0]
		}
		if err != nil {
			b.err = err
		}
		b.cond.Broadcast()
	}
	b.queue = b.queue[:0]
	b.writing = false
	b.cond.Broadcast()
	b.mu.Unlock()
}

// Close lets queued records leave (for at most closeGrace), then closes the
// connection. Later writes fail with net.ErrClosed.
func (b *batchConn) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		if b.writing {
			_ = b.Conn.SetWriteDeadline(time.Now().Add(closeGrace))
			for b.writing {
				b.cond.Wait()
			}
		}
		if b.err == nil {
			b.err = net.ErrClosed
		}
		b.cond.Broadcast()
	}
	b.mu.Unlock()
	return b.Conn.Close()
}

// Dialer returns a DialContext function, for http.Transport, whose
// connections batch their writes.
func Dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newBatchConn(c), nil
	}
}
