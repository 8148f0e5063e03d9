package lpns_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/lpns"
)

// serveLean runs srv.Serve on a loopback listener and returns its ws:// URL.
func serveLean(t *testing.T, cfg lpns.Config) (*lpns.Server, string) {
	t.Helper()
	if cfg.Authenticator == nil {
		cfg.Authenticator = testAuth
	}
	srv, err := lpns.NewServer(context.Background(), cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		assert.ErrorIs(t, <-done, lpns.ErrServerClosed)
	})
	return srv, "ws://" + ln.Addr().String() + "/lpns"
}

func TestServeLean(t *testing.T) {
	srv, url := serveLean(t, lpns.Config{NodeID: "lean"})
	got := newNotifications()
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{url},
		Token: staticToken(testToken("dev-1", time.Hour)), Handler: got.handler})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, srv.SendPayload(context.Background(), "dev-1", []byte(`{"a":1}`)))
	n := <-got.ch
	assert.Equal(t, "lean", n.Node)
	assert.JSONEq(t, `{"a":1}`, string(n.Payload))
	assert.Contains(t, srv.Sessions()[0].RemoteAddr, "127.0.0.1:")

	// Hostile input still ends only that connection.
	rc, _ := rawDial(t, url, testToken("dev-2", 0))
	rc.sendRaw(websocket.MessageText, []byte("nope"))
	_, code := rc.waitClose()
	assert.Equal(t, lpns.CloseBadFrame, code)
}

func TestServeLeanRejects(t *testing.T) {
	_, url := serveLean(t, lpns.Config{HandshakeTimeout: 200 * time.Millisecond, MaxHeaderBytes: 2048})
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/lpns")
	status := func(raw string) int {
		t.Helper()
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer nc.Close()
		_, _ = io.WriteString(nc, raw)
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	tests := []struct {
		name string
		req  string
		want int
	}{
		{"not http", "hello\r\n\r\n", http.StatusBadRequest},
		{"plain GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
		{"no token", "GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol: lpns.v1\r\n\r\n", http.StatusUnauthorized},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 4000) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, status(tt.req))
		})
	}
	t.Run("silent connection is closed after the handshake timeout", func(t *testing.T) {
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer nc.Close()
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = nc.Read(make([]byte, 1))
		assert.ErrorIs(t, err, io.EOF)
	})
}

func TestServeLeanShutdown(t *testing.T) {
	srv, err := lpns.NewServer(context.Background(), lpns.Config{Authenticator: testAuth})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	url := "ws://" + ln.Addr().String() + "/"
	rc, _ := rawDial(t, url, testToken("dev-1", 0))
	// A connection stuck before its upgrade does not hold Shutdown up.
	stuck, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer stuck.Close()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	errFrame, ce := rc.closeOf()
	assert.Equal(t, lpns.CloseShutdown, int(ce.Code))
	assert.Equal(t, "server-shutdown", ce.Reason)
	assert.Equal(t, 503, errFrame.Code)
	assert.Equal(t, "server-shutdown", errFrame.Reason)
	select {
	case err := <-done:
		assert.True(t, errors.Is(err, lpns.ErrServerClosed))
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	assert.ErrorIs(t, srv.Serve(ln), lpns.ErrServerClosed)
}

func TestServeLeanTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	cert := makeCert(t, nil, key)
	srv, err := lpns.NewServer(context.Background(), lpns.Config{Authenticator: testAuth, HandshakeTimeout: 2 * time.Second})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}},
		MinVersion: tls.VersionTLS12})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tln) }()
	defer func() { _ = srv.Close(); <-done }()

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer hc.CloseIdleConnections()
	got := newNotifications()
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{"wss://" + ln.Addr().String() + "/"},
		Token: staticToken(testToken("tls-dev", 0)), Handler: got.handler, HTTPClient: hc})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, srv.SendPayload(context.Background(), "tls-dev", []byte(`{}`)))

	// A client that does not speak TLS is dropped.
	nc, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	_, _ = io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(nc)
	assert.NoError(t, err, "closed by the server")
	assert.Equal(t, 1, srv.Count())
}

// flakyListener fails its first Accept as a listener out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failed atomic.Bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed.Swap(true) {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestServeRetriesTransientAcceptErrors(t *testing.T) {
	var logs bytes.Buffer
	srv, err := lpns.NewServer(context.Background(), lpns.Config{Authenticator: testAuth, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fl := &flakyListener{Listener: ln}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(fl) }()

	// EMFILE is not a timeout, yet it passes once descriptors are freed:
	// Serve keeps accepting.
	rawDial(t, "ws://"+ln.Addr().String()+"/", testToken("dev-1", 0))
	assert.True(t, fl.failed.Load(), "the first Accept failed")
	assert.Equal(t, 1, srv.Count())

	require.NoError(t, srv.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, lpns.ErrServerClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	assert.Contains(t, logs.String(), "too many open files", "the failure is logged") // Serve has returned: no race
}
