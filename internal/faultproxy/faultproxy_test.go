package faultproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/internal/faultproxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo starts a line echo server and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func start(t *testing.T) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(echo(t))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

func dial(t *testing.T, p *faultproxy.Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, line string) (string, error) {
	t.Helper()
	_, err := c.Write([]byte(line + "\n"))
	require.NoError(t, err)
	s, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return s[:len(s)-1], nil
}

func TestNewRefusesEmptyTarget(t *testing.T) {
	_, err := faultproxy.New("")
	assert.Error(t, err)
}

func TestPassForwards(t *testing.T) {
	p := start(t)
	c, r := dial(t, p)
	got, err := roundTrip(t, c, r, "hello")
	require.NoError(t, err)
	assert.Equal(t, "hello", got)
	assert.Equal(t, faultproxy.Pass, p.Mode())
	assert.Equal(t, 1, p.Accepted())
	assert.Equal(t, 1, p.Open())
}

func TestHangHoldsThenReleases(t *testing.T) {
	p := start(t)
	c, r := dial(t, p)
	_, err := roundTrip(t, c, r, "warm")
	require.NoError(t, err)

	p.SetMode(faultproxy.Hang)
	_, err = c.Write([]byte("held\n"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	_, err = r.ReadString('\n')
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "nothing may pass while hung")

	// A connection opened during the hang is accepted and held too.
	c2, r2 := dial(t, p)
	_, err = c2.Write([]byte("late\n"))
	require.NoError(t, err)

	p.SetMode(faultproxy.Pass)
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	got, err := r.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "held\n", got, "held bytes flow once resumed")
	got, err = r2.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "late\n", got)
}

func TestBlackHoleDropsForGood(t *testing.T) {
	p := start(t)
	p.SetMode(faultproxy.BlackHole)
	c, r := dial(t, p)
	_, err := c.Write([]byte("lost\n"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	_, err = r.ReadString('\n')
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	// Even after the network heals, what went into the hole is gone and the
	// black-holed connection never reaches the server.
	p.SetMode(faultproxy.Pass)
	_, err = c.Write([]byte("after\n"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	_, err = r.ReadString('\n')
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	// A new connection works again.
	c2, r2 := dial(t, p)
	got, err := roundTrip(t, c2, r2, "back")
	require.NoError(t, err)
	assert.Equal(t, "back", got)
}

func TestDelay(t *testing.T) {
	p := start(t)
	c, r := dial(t, p)
	const d = 50 * time.Millisecond
	p.SetDelay(d)
	begin := time.Now()
	got, err := roundTrip(t, c, r, "slow")
	require.NoError(t, err)
	assert.Equal(t, "slow", got)
	// Both directions wait: the round trip takes at least twice the delay.
	assert.GreaterOrEqual(t, time.Since(begin), 2*d)
}

func TestResetClosesEveryConnection(t *testing.T) {
	p := start(t)
	c, r := dial(t, p)
	_, err := roundTrip(t, c, r, "x")
	require.NoError(t, err)
	p.SetMode(faultproxy.Hang) // a reset also ends links held by a hang
	assert.Equal(t, 1, p.Reset())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = r.ReadString('\n')
	require.Error(t, err)
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the client must see the connection end, got %v", err)
	require.Eventually(t, func() bool { return p.Open() == 0 }, 5*time.Second, 10*time.Millisecond)

	p.SetMode(faultproxy.Pass)
	c2, r2 := dial(t, p)
	got, err := roundTrip(t, c2, r2, "again")
	require.NoError(t, err)
	assert.Equal(t, "again", got)
}

func TestCloseIsIdempotentAndEndsHungLinks(t *testing.T) {
	p, err := faultproxy.New(echo(t))
	require.NoError(t, err)
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	p.SetMode(faultproxy.Hang)
	_, err = c.Write([]byte("x\n"))
	require.NoError(t, err)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	_, err = net.DialTimeout("tcp", p.Addr(), time.Second)
	assert.Error(t, err, "the listener is closed")
}

func TestUnreachableTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	p, err := faultproxy.New(addr)
	require.NoError(t, err)
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the client sees the connection closed, got %v", err)
}

func TestModeString(t *testing.T) {
	assert.Equal(t, "pass", faultproxy.Pass.String())
	assert.Equal(t, "hang", faultproxy.Hang.String())
	assert.Equal(t, "black-hole", faultproxy.BlackHole.String())
	assert.Equal(t, "mode(9)", faultproxy.Mode(9).String())
}
