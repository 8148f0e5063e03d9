package lpns

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Serve accepts connections on ln (plain, or a tls.NewListener for wss://)
// and serves the WebSocket endpoint on them without net/http: each
// connection's goroutine reads the upgrade request with small buffers, runs
// ServeHTTP and then the connection's read loop. An idle connection then
// costs less memory than behind http.Server, which keeps its own 4 KiB read
// and write buffers, request state and a deeper stack for every connection
// (see bench/README.md). Any request path is accepted; only WebSocket
// upgrades succeed.
//
// The TLS handshake and the upgrade request must complete within
// Config.HandshakeTimeout and the request headers fit in
// Config.MaxHeaderBytes. Serve returns ErrServerClosed after Shutdown or
// Close, which also close ln. Other Accept errors are logged and retried
// with a backoff (5 ms doubling to 1 s), except net.ErrClosed: Serve returns
// it when ln was closed by someone else.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Anything else may pass (EMFILE/ENFILE once descriptors are
			// freed, ECONNABORTED, a timeout): retry with backoff, as
			// net/http's Server does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("lpns: accept failed; retrying", "err", err, "delay", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.quit:
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		delay = 0
		if !s.track(nc) {
			_ = nc.Close()
			return ErrServerClosed
		}
		go s.serveConn(nc)
	}
}

// track counts a connection in the handshake phase; false when closing.
func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	if s.pending == nil {
		s.pending = make(map[net.Conn]struct{})
	}
	s.pending[nc] = struct{}{}
	return true
}

// untrack ends the handshake phase of nc.
func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, nc)
}

func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	defer s.untrack(nc)
	_ = nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if tc, ok := nc.(*tls.Conn); ok {
		// The TLS handshake needs a deep stack; run it in a short-lived
		// goroutine so that this one, which stays parked in the read loop
		// for the life of the connection, keeps a small stack.
		errc := make(chan error, 1)
		go func() { errc <- tc.Handshake() }()
		if err := <-errc; err != nil {
			_ = nc.Close()
			return
		}
	}
	lr := &io.LimitedReader{R: nc, N: int64(s.cfg.MaxHeaderBytes)}
	br := bufio.NewReaderSize(lr, 1024)
	req, err := http.ReadRequest(br)
	if err != nil {
		status := http.StatusBadRequest
		if lr.N <= 0 {
			status = http.StatusRequestHeaderFieldsTooLarge
		}
		if !errors.Is(err, io.EOF) {
			w := &rawResponse{nc: nc, header: http.Header{}}
			reason := "bad-request"
			if status == http.StatusRequestHeaderFieldsTooLarge {
				reason = "headers-too-large"
			}
			handshakeError(w, status, reason, http.StatusText(status))
			w.finish()
		}
		_ = nc.Close()
		return
	}
	req.RemoteAddr = nc.RemoteAddr().String()
	if tc, ok := nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		req.TLS = &st
	}
	w := &rawResponse{nc: nc, br: br, lr: lr, header: http.Header{}, onHijack: func() { s.untrack(nc) }}
	s.ServeHTTP(w, req)
	if !w.hijacked {
		w.finish()
		_ = nc.Close()
	}
}

// rawResponse is the minimal http.ResponseWriter and http.Hijacker that
// Serve hands to ServeHTTP.
type rawResponse struct {
	nc       net.Conn
	br       *bufio.Reader
	lr       *io.LimitedReader
	header   http.Header
	status   int
	body     bytes.Buffer
	hijacked bool
	onHijack func()
}

func (w *rawResponse) Header() http.Header { return w.header }

func (w *rawResponse) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *rawResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.body.Len()+len(p) > 4096 {
		return 0, errors.New("lpns: response too large")
	}
	return w.body.Write(p)
}

func (w *rawResponse) writeHead(bw *bufio.Writer) error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", w.status, http.StatusText(w.status))
	if err := w.header.Write(bw); err != nil {
		return err
	}
	_, _ = bw.WriteString("\r\n")
	return nil
}

// finish writes a complete non-upgrade response.
func (w *rawResponse) finish() {
	w.header.Set("Content-Length", strconv.Itoa(w.body.Len()))
	w.header.Set("Connection", "close")
	bw := bufio.NewWriterSize(w.nc, 512)
	if w.writeHead(bw) == nil {
		_, _ = bw.Write(w.body.Bytes())
		_ = bw.Flush()
	}
}

// Hijack sends the 101 response and hands the connection over with small
// buffers, clearing the handshake deadline and header limit.
func (w *rawResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.br == nil || w.hijacked {
		return nil, nil, errors.New("lpns: cannot hijack")
	}
	bw := bufio.NewWriterSize(w.nc, 1024)
	if err := w.writeHead(bw); err != nil {
		return nil, nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	w.onHijack()
	w.onHijack = nil
	w.lr.N = math.MaxInt64
	_ = w.nc.SetDeadline(time.Time{})
	return w.nc, bufio.NewReadWriter(w.br, bw), nil
}
