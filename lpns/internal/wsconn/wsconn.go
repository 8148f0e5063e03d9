// Package wsconn is the small seam between lpns and the WebSocket library it
// uses (github.com/coder/websocket). lpns only needs to read and write text
// messages and close with a status code, so another library can replace this
// one by reimplementing the few functions here.
package wsconn

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// Conn is a message-oriented WebSocket connection carrying text frames.
// Read must be called from one goroutine at a time; Write and Close are safe
// for concurrent use.
type Conn interface {
	// Read returns the next text message. Binary messages are an error.
	Read(ctx context.Context) ([]byte, error)
	// Write sends one text message. If ctx ends during the write, the
	// connection is closed.
	Write(ctx context.Context, p []byte) error
	// Close performs the closing handshake with code and reason.
	Close(code int, reason string) error
	// CloseNow closes the connection without a handshake, also while a
	// Close is waiting for the peer's answer.
	CloseNow() error
	// Subprotocol returns the negotiated subprotocol.
	Subprotocol() string
}

// ErrBinary is returned by Read for a binary message.
var ErrBinary = errors.New("wsconn: binary message")

// AcceptOptions configure Accept.
type AcceptOptions struct {
	Subprotocols   []string
	OriginPatterns []string
	// SkipOriginCheck disables the Origin header check (native clients send none).
	SkipOriginCheck bool
	ReadLimit       int64
	// OnControl, when set, is called for each ping and pong frame from the
	// peer, which the library handles inside Read (or inside Close, while
	// it waits for the peer's close frame) without returning them. A ping
	// is answered only when it returns true. It runs in the reading
	// goroutine and must not block or call Read or Close.
	OnControl func() bool
}

// Accept upgrades an HTTP request to a WebSocket connection.
func Accept(w http.ResponseWriter, r *http.Request, o AcceptOptions) (Conn, error) {
	rec := &hijackRecorder{ResponseWriter: w}
	opts := &websocket.AcceptOptions{
		Subprotocols:       o.Subprotocols,
		OriginPatterns:     o.OriginPatterns,
		InsecureSkipVerify: o.SkipOriginCheck,
		CompressionMode:    websocket.CompressionDisabled,
	}
	if f := o.OnControl; f != nil {
		opts.OnPingReceived = func(context.Context, []byte) bool { return f() }
		opts.OnPongReceived = func(context.Context, []byte) { f() }
	}
	c, err := websocket.Accept(rec, r, opts)
	if err != nil {
		return nil, err
	}
	if o.ReadLimit != 0 {
		c.SetReadLimit(o.ReadLimit)
	}
	return conn{c: c, nc: rec.nc}, nil
}

// hijackRecorder keeps the hijacked network connection so that CloseNow
// can cut it even while a closing handshake is waiting for the peer.
type hijackRecorder struct {
	http.ResponseWriter
	nc net.Conn
}

func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.nc = nc
	return nc, brw, err
}

// DialOptions configure Dial.
type DialOptions struct {
	HTTPClient   *http.Client
	Header       http.Header
	Subprotocols []string
	ReadLimit    int64
}

// Dial opens a client connection. The response is returned on failure when
// the server answered the handshake (for its status code).
func Dial(ctx context.Context, url string, o DialOptions) (Conn, *http.Response, error) {
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:      o.HTTPClient,
		HTTPHeader:      o.Header,
		Subprotocols:    o.Subprotocols,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, resp, err
	}
	if o.ReadLimit != 0 {
		c.SetReadLimit(o.ReadLimit)
	}
	return conn{c: c}, resp, nil
}

// CloseStatus returns the close code carried by err, or -1.
func CloseStatus(err error) int {
	return int(websocket.CloseStatus(err))
}

// CloseReason returns the close reason carried by err, or "".
func CloseReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

// IsMessageTooBig reports whether err is a read-limit violation.
func IsMessageTooBig(err error) bool {
	return errors.Is(err, websocket.ErrMessageTooBig)
}

type conn struct {
	c  *websocket.Conn
	nc net.Conn // server side: the hijacked connection
}

func (c conn) Read(ctx context.Context) ([]byte, error) {
	typ, p, err := c.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, ErrBinary
	}
	return p, nil
}

func (c conn) Write(ctx context.Context, p []byte) error {
	return c.c.Write(ctx, websocket.MessageText, p)
}

func (c conn) Close(code int, reason string) error {
	return c.c.Close(websocket.StatusCode(code), reason)
}

func (c conn) CloseNow() error {
	if c.nc != nil {
		// Unblocks a Close that waits for an unresponsive peer.
		_ = c.nc.Close()
	}
	return c.c.CloseNow()
}

func (c conn) Subprotocol() string { return c.c.Subprotocol() }
