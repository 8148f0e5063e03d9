package fcm

import (
	"context"
	"net"
	"sync"
	"time"
)

// batchConn sits under TLS on the client's own connections to an https
// endpoint. Go's HTTP/2 transport flushes every frame it writes for a
// request (HEADERS, then DATA), and TLS turns each flush into a record and a
// write(2). batchConn queues the encrypted records instead; a goroutine,
// started when the queue gets its first record and ending when the queue is
// empty, writes everything queued by then with one write(2). With many sends
// in flight the records of several requests leave together.
//
// A Write returns once its bytes are queued; a failed write(2) fails the
// writes after it (and the transport's reads, as the connection breaks).
// Writers wait while maxQueued bytes are queued, so a peer that stops
// reading still pushes back.
type batchConn struct {
	net.Conn

	mu       sync.Mutex
	cond     sync.Cond // signalled when the queue shrinks or the flusher stops
	queue    []byte
	spare    []byte // the previous batch's buffer, reused as the next queue
	err      error
	flushing bool
	closed   bool
}

const (
	maxQueued  = 256 << 10
	maxSpare   = 1 << 20
	closeGrace = 100 * time.Millisecond // for queued records when closing
)

func newBatchConn(c net.Conn) *batchConn {
	b := &batchConn{Conn: c}
	b.cond.L = &b.mu
	return b
}

// Write queues p for the flusher.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && len(b.queue) >= maxQueued {
		b.cond.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	b.queue = append(b.queue, p...)
	if !b.flushing {
		b.flushing = true
		go b.flush()
	}
	return len(p), nil
}

// flush writes batches until the queue is empty or a write fails.
func (b *batchConn) flush() {
	b.mu.Lock()
	for len(b.queue) > 0 && b.err == nil {
		batch := b.queue
		b.queue, b.spare = b.spare[:0], nil
		b.cond.Broadcast()
		b.mu.Unlock()
		_, err := b.Conn.Write(batch)
		b.mu.Lock()
		if cap(batch) <= maxSpare {
			b.spare = batch[:0]
		}
		if err != nil && b.err == nil {
			b.err = err
		}
	}
	b.queue = b.queue[:0]
	b.flushing = false
	b.cond.Broadcast()
	b.mu.Unlock()
}

// Close gives queued records closeGrace to leave, then closes the
// connection; later writes fail with net.ErrClosed.
func (b *batchConn) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		if b.flushing {
			_ = b.Conn.SetWriteDeadline(time.Now().Add(closeGrace))
			for b.flushing {
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

// batchDial wraps d's connections in batchConn.
func batchDial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newBatchConn(c), nil
	}
}
