package batchconn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { _ = server.Close() })
	return client, server
}

// Records written one after another arrive in order, and records written
// concurrently arrive whole.
func TestBatchConnOrder(t *testing.T) {
	cc, sc := tcpPair(t)
	bc := newBatchConn(cc)
	const writers, perWriter, size = 4, 500, 64
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(sc)
		got <- b
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := make([]byte, size)
			for i := range perWriter {
				binary.BigEndian.PutUint32(rec[0:], uint32(w))
				binary.BigEndian.PutUint32(rec[4:], uint32(i))
				for j := 8; j < size; j++ {
					rec[j] = byte(w*31 + i + j)
				}
				n, err := bc.Write(rec)
				assert.NoError(t, err)
				assert.Equal(t, size, n)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, bc.Close())
	data := <-got
	require.Len(t, data, writers*perWriter*size)
	next := make([]int, writers)
	for len(data) > 0 {
		rec := data[:size]
		data = data[size:]
		w := int(binary.BigEndian.Uint32(rec[0:]))
		i := int(binary.BigEndian.Uint32(rec[4:]))
		require.Less(t, w, writers)
		require.Equal(t, next[w], i, "writer %d out of order", w)
		next[w]++
		for j := 8; j < size; j++ {
			require.Equal(t, byte(w*31+i+j), rec[j], "record torn")
		}
	}
	for w := range writers {
		assert.Equal(t, perWriter, next[w])
	}
}

// Close lets what was queued leave before the connection closes.
func TestBatchConnCloseDelivers(t *testing.T) {
	cc, sc := tcpPair(t)
	bc := newBatchConn(cc)
	want := bytes.Repeat([]byte("0123456789"), 10000)
	for i := 0; i < len(want); i += 1000 {
		_, err := bc.Write(want[i : i+1000])
		require.NoError(t, err)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(sc)
		got <- b
	}()
	require.NoError(t, bc.Close())
	assert.Equal(t, want, <-got)
	_, err := bc.Write([]byte("late"))
	assert.ErrorIs(t, err, net.ErrClosed)
}

// A failed write is reported by later writes.
func TestBatchConnWriteError(t *testing.T) {
	cc, sc := net.Pipe()
	bc := newBatchConn(cc)
	require.NoError(t, sc.Close())
	var err error
	for err == nil {
		_, err = bc.Write([]byte("x"))
	}
	assert.True(t, errors.Is(err, io.ErrClosedPipe), "got %v", err)
	_ = bc.Close()
}

// A peer that does not read pushes back once maxQueued bytes wait, and Close
// (bounded by closeGrace) releases the blocked writer.
func TestBatchConnBackpressure(t *testing.T) {
	cc, sc := net.Pipe() // unbuffered: nothing is written until the peer reads
	defer sc.Close()
	bc := newBatchConn(cc)
	chunk := make([]byte, 32<<10)
	blocked := make(chan error, 1)
	go func() {
		for {
			if _, err := bc.Write(chunk); err != nil {
				blocked <- err
				return
			}
		}
	}()
	// The writer goroutine can only stop by blocking (the pipe never takes
	// the flusher's batch) and then failing once Close runs.
	require.Eventually(t, func() bool {
		bc.mu.Lock()
		defer bc.mu.Unlock()
		return len(bc.queue) >= maxQueued
	}, 10*time.Second, time.Millisecond)
	require.NoError(t, bc.Close())
	assert.Error(t, <-blocked) // the grace deadline or the close
}

// Once the peer is gone, writes fail (after the first failed write(2)); after
// Close they fail with net.ErrClosed.
func TestBatchConnErrorsAndClose(t *testing.T) {
	cc, sc := tcpPair(t)
	bc := newBatchConn(cc)
	require.NoError(t, sc.(*net.TCPConn).SetLinger(0)) // reset, not FIN
	require.NoError(t, sc.Close())
	var err error
	for range 10000 {
		if _, err = bc.Write(make([]byte, 1024)); err != nil {
			break
		}
	}
	require.Error(t, err)
	assert.NoError(t, bc.Close())

	cc2, _ := tcpPair(t)
	bc2 := newBatchConn(cc2)
	require.NoError(t, bc2.Close())
	_, err = bc2.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
