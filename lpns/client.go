package lpns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushwire/pushwire/lpns/internal/clock"
	"github.com/pushwire/pushwire/lpns/internal/wsconn"
	"github.com/pushwire/pushwire/seal"
)

// Notification is a notification received by a Client. It is a plain value;
// Payload must not be modified while shared.
type Notification struct {
	// ID is the notification id (also the apns-id of a fallback push).
	ID string
	// Payload is the JSON payload.
	Payload json.RawMessage
	// CreatedAt is when the server accepted it.
	CreatedAt time.Time
	// Node is the server node that delivered it.
	Node string
	// Content is the decrypted content of a sealed notification, set by a
	// Client with ClientConfig.PayloadKeys; nil for a notification that
	// was not sealed (or a Client without keys). Payload stays as
	// received.
	Content *seal.Content
}

// ClientConfig configures a Client. URLs, Token and Handler are required.
// NewClient copies it; the callbacks may be called concurrently with each
// other and must be safe for that.
type ClientConfig struct {
	// URLs lists the server nodes in priority order (ws:// or wss://).
	URLs []string
	// Token returns the current bearer token. It is called before every
	// connection attempt and, while connected, before the token expires to
	// refresh it in band.
	Token func(ctx context.Context) (string, error)
	// Handler receives each notification; when it returns nil the client
	// acknowledges the notification. It runs on the connection's read loop.
	Handler func(ctx context.Context, n Notification) error
	// KeepaliveInterval is how often to send keepalives (default: half the
	// window the server announces).
	KeepaliveInterval time.Duration
	// RefreshBefore is how long before token expiry to refresh (default one
	// minute, at most half the remaining lifetime).
	RefreshBefore time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay, which grows
	// exponentially with full jitter (defaults 100 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds the handshake including the hello frame (default 10 s).
	DialTimeout time.Duration
	// HTTPClient is used for the handshake (TLS settings); default
	// http.DefaultClient.
	HTTPClient *http.Client
	// PayloadKeys, when set, are the device's keys for end-to-end payload
	// encryption (the private half of what it registered, package seal).
	// The client opens every sealed notification with them before the
	// Handler sees it and puts the content in Notification.Content; a
	// sealed notification that does not open (sealed for other keys, or
	// altered) is logged, not handed to the Handler and not acknowledged.
	// NewClient checks them (an error matching pushwire.ErrConfiguration).
	PayloadKeys *seal.PrivateKeys
	// OnConnect and OnDisconnect observe connections.
	OnConnect    func(url, node string)
	OnDisconnect func(url string, code int, reason string)
	// Logger receives diagnostics (default: discard).
	Logger *slog.Logger

	clock clock.Clock // keepalives, refreshes, backoff; tests set a fake
}

// ErrClientStopped is reported by Client.Err when the server ended the
// session for good (replaced, logged out, device or user deleted, network
// not provisioned) or Close was called.
var ErrClientStopped = errors.New("lpns: client stopped")

// Client is the device side of the protocol: it keeps one connection to the
// first reachable node of its list, sends keepalives, refreshes its token,
// hands notifications to the handler and acknowledges them, and on failure
// reconnects to the next node with backoff and jitter. Once connected it
// stays on the node it reached. Safe for concurrent use.
type Client struct {
	cfg    ClientConfig
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	url, node string
	connected chan struct{} // closed while connected
	err       error
	done      chan struct{}
}

// NewClient validates cfg and starts connecting in the background.
func NewClient(cfg ClientConfig) (*Client, error) {
	if len(cfg.URLs) == 0 || cfg.Token == nil || cfg.Handler == nil {
		return nil, configError("URLs, Token and Handler are required")
	}
	if cfg.PayloadKeys != nil {
		if err := cfg.PayloadKeys.Validate(); err != nil {
			return nil, configError("PayloadKeys: " + err.Error())
		}
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = time.Minute
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.clock == nil {
		cfg.clock = clock.Real{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel,
		connected: make(chan struct{}), done: make(chan struct{})}
	c.wg.Add(1)
	go c.run()
	return c, nil
}

// Dial starts a Client and waits until it is connected or ctx ends.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := c.WaitConnected(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// WaitConnected waits until the client is connected and returns the URL of
// the node. It returns the client's Err once the client stopped, or
// ctx.Err() when ctx ends first.
func (c *Client) WaitConnected(ctx context.Context) (string, error) {
	for {
		// Read the state afresh on every round: the channel of a
		// connection that ended is replaced, so a closed channel is never
		// waited on twice.
		c.mu.Lock()
		ch, url := c.connected, c.url
		c.mu.Unlock()
		if url != "" {
			return url, nil
		}
		select {
		case <-ch:
		case <-c.done:
			return "", c.Err()
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Connected returns the URL and node name of the current connection.
func (c *Client) Connected() (url, node string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.url, c.node, c.url != ""
}

// Done is closed when the client stopped (see Err).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped (wrapping ErrClientStopped), or nil
// while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close stops the client: it closes the connection (code 1000) and waits for
// its goroutines to end.
func (c *Client) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

func (c *Client) stop(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *Client) setConnected(url, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.url, c.node = url, node
	if url != "" {
		close(c.connected)
	} else {
		c.connected = make(chan struct{})
	}
}

func (c *Client) run() {
	defer c.wg.Done()
	defer close(c.done)
	idx, failures := 0, 0
	for c.ctx.Err() == nil {
		url := c.cfg.URLs[idx]
		conn, hello, err := c.connect(url)
		if err != nil {
			c.log.Debug("lpns client: connect failed", "url", url, "err", err)
			failures++
			idx = (idx + 1) % len(c.cfg.URLs)
			c.sleep(c.backoff(failures))
			continue
		}
		failures = 0
		code, reason := c.serve(conn, url, hello)
		if c.cfg.OnDisconnect != nil {
			c.cfg.OnDisconnect(url, code, reason)
		}
		switch code {
		case CloseReplaced, CloseLoggedOut, CloseDeviceGone, CloseUserGone, CloseNetwork:
			c.stop(fmt.Errorf("%w: server closed the session (%d %s)", ErrClientStopped, code, reason))
			return
		case CloseShutdown: // go elsewhere now, with a little jitter
			idx = (idx + 1) % len(c.cfg.URLs)
			c.sleep(rand.N(c.cfg.MinBackoff + 1))
		case CloseUnauthorized, CloseRateLimited, CloseBadFrame: // same node, fresh token, after a pause
			failures++
			c.sleep(c.backoff(failures))
		default: // node failed or connection lost: next node
			idx = (idx + 1) % len(c.cfg.URLs)
			c.sleep(rand.N(c.cfg.MinBackoff + 1))
		}
	}
	c.stop(fmt.Errorf("%w: closed", ErrClientStopped))
}

// backoff returns an exponential delay with full jitter.
func (c *Client) backoff(failures int) time.Duration {
	d := c.cfg.MinBackoff
	for i := 1; i < failures && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

func (c *Client) sleep(d time.Duration) {
	t := c.cfg.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
	case <-c.ctx.Done():
	}
}

func (c *Client) connect(url string) (wsconn.Conn, Frame, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
	defer cancel()
	tok, err := c.cfg.Token(ctx)
	if err != nil {
		return nil, Frame{}, fmt.Errorf("token: %w", err)
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	conn, resp, err := wsconn.Dial(ctx, url, wsconn.DialOptions{HTTPClient: c.cfg.HTTPClient, Header: h,
		Subprotocols: []string{Subprotocol}, ReadLimit: 64 << 10})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, Frame{}, err
	}
	data, err := conn.Read(ctx)
	if err != nil {
		_ = conn.CloseNow()
		return nil, Frame{}, err
	}
	hello, err := ParseFrame(data)
	if err != nil || hello.Type != FrameHello {
		_ = conn.Close(CloseBadFrame, "expected hello")
		return nil, Frame{}, fmt.Errorf("lpns client: expected hello frame")
	}
	return conn, hello, nil
}

// serve runs one connection until it ends and returns the close code.
func (c *Client) serve(conn wsconn.Conn, url string, hello Frame) (int, string) {
	c.setConnected(url, hello.Node)
	defer c.setConnected("", "")
	if c.cfg.OnConnect != nil {
		c.cfg.OnConnect(url, hello.Node)
	}
	closed := make(chan struct{})
	stopClose := context.AfterFunc(c.ctx, func() {
		defer close(closed)
		_ = conn.Close(1000, "client closing")
	})
	defer func() {
		if !stopClose() {
			<-closed // Close is running: wait for it
		}
	}()

	var lastRecv atomic.Int64
	lastRecv.Store(c.cfg.clock.Now().UnixNano())
	var expires atomic.Int64
	if !hello.ExpiresAt.IsZero() {
		expires.Store(hello.ExpiresAt.UnixNano())
	}
	connDone := make(chan struct{})
	kick := make(chan struct{}, 1)
	var kwg sync.WaitGroup
	kwg.Add(1)
	go func() {
		defer kwg.Done()
		c.keepalive(conn, hello, &lastRecv, &expires, kick, connDone)
	}()
	defer func() { close(connDone); kwg.Wait() }()

	var errFrame Frame
	for {
		data, err := conn.Read(context.Background())
		if err != nil {
			code, reason := wsconn.CloseStatus(err), wsconn.CloseReason(err)
			if code == -1 {
				code, reason = 1006, "connection lost"
			}
			if errFrame.Code != 0 && code == 1006 {
				reason = errFrame.Reason
			}
			return code, reason
		}
		lastRecv.Store(c.cfg.clock.Now().UnixNano())
		f, err := ParseFrame(data)
		if err != nil {
			_ = conn.Close(CloseBadFrame, "bad frame")
			continue
		}
		switch f.Type {
		case FrameNotification:
			n := Notification{ID: f.ID, Payload: f.Payload, CreatedAt: f.CreatedAt, Node: hello.Node}
			if !c.open(&n) {
				continue
			}
			if err := c.cfg.Handler(c.ctx, n); err == nil {
				_ = c.write(conn, Frame{Type: FrameAck, ID: f.ID})
			}
		case FrameRefreshAck:
			if !f.ExpiresAt.IsZero() {
				expires.Store(f.ExpiresAt.UnixNano())
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		case FrameError:
			errFrame = f
			c.log.Info("lpns client: server error", "code", f.Code, "reason", f.Reason)
		}
	}
}

// open decrypts n when it is sealed and the client has payload keys, and
// reports whether n goes to the Handler.
func (c *Client) open(n *Notification) bool {
	if c.cfg.PayloadKeys == nil || !n.Sealed() {
		return true
	}
	content, err := n.Open(*c.cfg.PayloadKeys)
	if err != nil {
		c.log.Warn("lpns client: sealed notification does not open", "id", n.ID, "err", err)
		return false
	}
	n.Content = &content
	return true
}

func (c *Client) write(conn wsconn.Conn, f Frame) error {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	return conn.Write(ctx, encodeFrame(f))
}

// keepalive sends keepalives and token refreshes, and drops a connection
// on which nothing arrived for two and a half keepalive intervals (at least
// a second): a half-open socket.
func (c *Client) keepalive(conn wsconn.Conn, hello Frame, lastRecv, expires *atomic.Int64, kick <-chan struct{}, done <-chan struct{}) {
	interval := c.cfg.KeepaliveInterval
	if interval <= 0 {
		interval = time.Duration(max(hello.Keepalive, 1)) * time.Second / 2
	}
	clk := c.cfg.clock
	t := clk.NewTimer(interval)
	defer t.Stop()
	// The first keepalive comes after a random half to full interval so
	// that clients that (re)connected together do not keep in step.
	nextKeepalive := clk.Now().Add(interval/2 + rand.N(interval/2+1))
	// The refresh time of an expiry is decided once, when the expiry is
	// learnt: a wake-up in between (a kick, a keepalive) must not push it
	// later, as recomputing "half the remaining lifetime" would.
	var (
		seenExp      int64     // expiry refreshAt was computed for
		refreshAt    time.Time // when to refresh seenExp; zero: no expiry
		refreshedFor int64     // expiry already refreshed; wait for its refresh-ack
	)
	for {
		now := clk.Now()
		if e := expires.Load(); e != seenExp {
			seenExp, refreshAt = e, time.Time{}
			if e != 0 {
				exp := time.Unix(0, e)
				refreshAt = exp.Add(-min(c.cfg.RefreshBefore, exp.Sub(now)/2))
			}
		}
		pending := !refreshAt.IsZero() && seenExp != refreshedFor
		wake := nextKeepalive
		if pending && refreshAt.Before(wake) {
			wake = refreshAt
		}
		t.Reset(max(wake.Sub(now), 0))
		select {
		case <-done:
			return
		case <-c.ctx.Done():
			return
		case <-kick:
			continue
		case <-t.C():
		}
		now = clk.Now()
		if pending && !now.Before(refreshAt) {
			refreshedFor = seenExp
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
			tok, err := c.cfg.Token(ctx)
			cancel()
			if err == nil {
				err = c.write(conn, Frame{Type: FrameRefresh, Token: tok})
			}
			if err != nil {
				c.log.Warn("lpns client: token refresh failed", "err", err)
			}
		}
		if !now.Before(nextKeepalive) {
			if time.Duration(now.UnixNano()-lastRecv.Load()) > max(2*interval+interval/2, time.Second) {
				c.log.Info("lpns client: no traffic from server, reconnecting")
				_ = conn.CloseNow()
				return
			}
			if err := c.write(conn, Frame{Type: FrameKeepalive}); err != nil {
				return
			}
			nextKeepalive = now.Add(interval)
		}
	}
}
