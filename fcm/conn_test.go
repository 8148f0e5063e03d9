package fcm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loopbackPair returns both ends of a loopback TCP connection.
func loopbackPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-acc
	require.NotNil(t, server)
	t.Cleanup(func() { _ = server.Close() })
	return client, server
}

// Concurrent writers' records arrive whole and, per writer, in order; Close
// lets queued records leave first.
func TestBatchConnKeepsRecordsWholeAndInOrder(t *testing.T) {
	cc, sc := loopbackPair(t)
	bc := newBatchConn(cc)
	const writers, each, size = 4, 400, 100
	received := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(sc)
		received <- b
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := make([]byte, size)
			for i := range each {
				binary.BigEndian.PutUint32(rec, uint32(w))
				binary.BigEndian.PutUint32(rec[4:], uint32(i))
				for j := 8; j < size; j++ {
					rec[j] = byte(w + i + j)
				}
				n, err := bc.Write(rec)
				assert.NoError(t, err)
				assert.Equal(t, size, n)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, bc.Close())
	data := <-received
	require.Len(t, data, writers*each*size)
	next := make([]int, writers)
	for ; len(data) > 0; data = data[size:] {
		w := int(binary.BigEndian.Uint32(data))
		i := int(binary.BigEndian.Uint32(data[4:]))
		require.Less(t, w, writers)
		require.Equal(t, next[w], i, "writer %d", w)
		next[w]++
		for j := 8; j < size; j++ {
			require.Equal(t, byte(w+i+j), data[j], "record %d of writer %d torn", i, w)
		}
	}
}

// Once the peer is gone, writes fail (after the first failed write(2)); after
// Close they fail with net.ErrClosed.
func TestBatchConnErrors(t *testing.T) {
	cc, sc := loopbackPair(t)
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

	cc2, _ := loopbackPair(t)
	bc2 := newBatchConn(cc2)
	require.NoError(t, bc2.Close())
	_, err = bc2.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
}

// The client's own transport (batched writes) over TLS and HTTP/2: many
// concurrent sends arrive intact.
func TestOwnTransportOverHTTP2(t *testing.T) {
	srv := fcmtest.NewServer(fcmtest.Config{TLS: true})
	defer srv.Close()
	tr := newTransport(8, true)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	c, err := New(context.Background(), Config{
		CredentialsJSON: srv.ServiceAccountJSON(), Endpoint: srv.URL,
		HTTPClient: &http.Client{Transport: tr}, MaxConcurrency: 8,
	})
	require.NoError(t, err)
	defer tr.CloseIdleConnections()
	defer c.Close()
	const n = 300
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Send(context.Background(), pushwire.Message{
				Token: fmt.Sprintf("tok-%d", i), Data: map[string]string{"i": fmt.Sprint(i)}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, i)
	}
	got := srv.Messages()
	require.Len(t, got, n)
	for _, r := range got {
		assert.Equal(t, "tok-"+r.Message.Data["i"], r.Message.Token)
	}
	assert.Equal(t, 1, srv.Connections(), "one HTTP/2 connection")
}
