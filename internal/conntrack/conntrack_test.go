package conntrack_test

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/internal/conntrack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCloseAll(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var set conntrack.Set
	dial := set.Dialer((&net.Dialer{}).DialContext)
	var conns []net.Conn
	for range 3 {
		c, err := dial(context.Background(), "tcp", ln.Addr().String())
		require.NoError(t, err)
		conns = append(conns, c)
	}
	require.NoError(t, conns[0].Close(), "a connection closed by its user leaves the set")
	set.CloseAll()
	for i := range 3 {
		peer := <-accepted
		_, err := peer.Read(make([]byte, 1))
		assert.Error(t, err, "the peer of connection %d sees it closed", i)
		peer.Close()
	}
	_, err = conns[1].Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed, "CloseAll closed the connection")
	set.CloseAll() // nothing left: no effect

	_, err = set.Dialer(func(context.Context, string, string) (net.Conn, error) { return nil, net.ErrClosed })(context.Background(), "tcp", "x")
	assert.ErrorIs(t, err, net.ErrClosed, "a failed dial is passed on")
}
