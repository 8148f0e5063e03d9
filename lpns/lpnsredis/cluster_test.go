package lpnsredis_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/lpns/lpnsredis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	url := testenv.URL(t, testenv.RedisURL)
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Ping(context.Background()).Err())
	return c
}

// auth accepts "device" tokens as is: the cluster, not auth, is under test.
var auth = lpns.AuthenticatorFunc(func(_ context.Context, _ *http.Request, tok string) (lpns.Identity, error) {
	return lpns.Identity{DeviceID: tok}, nil
})

type node struct {
	srv *lpns.Server
	ts  *httptest.Server
	url string
}

func (n *node) kill() {
	n.ts.Listener.Close()
	_ = n.srv.Close()
	n.ts.Close()
}

func startNode(t testing.TB, rdb *redis.Client, prefix, name string) *node {
	t.Helper()
	cl, err := lpnsredis.New(lpnsredis.Config{Client: rdb, Prefix: prefix})
	require.NoError(t, err)
	srv, err := lpns.NewServer(context.Background(), lpns.Config{Authenticator: auth, NodeID: name, Cluster: cl,
		KeepaliveTimeout: 2 * time.Second, AckTimeout: time.Second})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	n := &node{srv: srv, ts: ts, url: "ws" + strings.TrimPrefix(ts.URL, "http")}
	t.Cleanup(n.kill)
	return n
}

func prefix(t testing.TB) string {
	return "lpnstest:" + strings.ReplaceAll(t.Name(), "/", "_") + ":" + time.Now().Format("150405.000000") + ":"
}

func client(t testing.TB, device string, urls ...string) (*lpns.Client, chan lpns.Notification) {
	t.Helper()
	got := make(chan lpns.Notification, 1024)
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: urls,
		Token: func(context.Context) (string, error) { return device, nil },
		Handler: func(_ context.Context, n lpns.Notification) error {
			select {
			case got <- n:
			default: // benchmarks do not read them
			}
			return nil
		},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, KeepaliveInterval: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, got
}

func TestRoutingWithNodeKilled(t *testing.T) {
	rdb := redisClient(t)
	p := prefix(t)
	n1, n2, n3 := startNode(t, rdb, p, "n1"), startNode(t, rdb, p, "n2"), startNode(t, rdb, p, "n3")
	ctx := context.Background()

	phone, got := client(t, "phone-1", n1.url, n2.url, n3.url)
	_, node, _ := phone.Connected()
	require.Equal(t, "n1", node)

	// n3 has no connection for the device: it routes through n1.
	require.NoError(t, n3.srv.SendPayload(ctx, "phone-1", []byte(`{"call":1}`)))
	n := <-got
	assert.Equal(t, "n1", n.Node)
	assert.JSONEq(t, `{"call":1}`, string(n.Payload))
	assert.ErrorIs(t, n3.srv.SendPayload(ctx, "nobody", []byte(`{}`)), lpns.ErrNotConnected)

	// Keep sending from n3 while n1 dies.
	var acked, failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if n3.srv.SendPayload(ctx, "phone-1", []byte(`{}`)) == nil {
				acked.Add(1)
			} else {
				failed.Add(1)
			}
		}
	}()
	require.Eventually(t, func() bool { return acked.Load() >= 3 }, 5*time.Second, 10*time.Millisecond)
	n1.kill()
	require.Eventually(t, func() bool { _, n, ok := phone.Connected(); return ok && n == "n2" }, 5*time.Second, 10*time.Millisecond,
		"the phone moves to the next node")
	before := acked.Load()
	require.Eventually(t, func() bool { return acked.Load() >= before+5 }, 5*time.Second, 10*time.Millisecond,
		"delivery continues through n2")
	close(stop)
	<-done
	t.Logf("acked %d, failed %d while failing over", acked.Load(), failed.Load())

	// The phone stays on n2 and n2 answers for itself too.
	require.NoError(t, n2.srv.SendPayload(ctx, "phone-1", []byte(`{}`)))
	_, node, _ = phone.Connected()
	assert.Equal(t, "n2", node)
}

func TestCrossNodeReplacementAndDisconnect(t *testing.T) {
	rdb := redisClient(t)
	p := prefix(t)
	n1, n2 := startNode(t, rdb, p, "n1"), startNode(t, rdb, p, "n2")
	ctx := context.Background()

	codes := make(chan int, 4)
	old, err := lpns.Dial(ctx, lpns.ClientConfig{URLs: []string{n1.url},
		Token: func(context.Context) (string, error) { return "phone-2", nil }, Handler: func(context.Context, lpns.Notification) error { return nil },
		OnDisconnect: func(_ string, code int, _ string) { codes <- code }})
	require.NoError(t, err)
	defer old.Close()
	newer, _ := client(t, "phone-2", n2.url)
	_ = newer
	assert.Equal(t, lpns.CloseReplaced, <-codes, "the older connection on n1 is replaced")
	require.Eventually(t, func() bool { return n1.srv.Count() == 0 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, n1.srv.SendPayload(ctx, "phone-2", []byte(`{}`)), "routed to n2")

	found, err := n1.srv.Disconnect(ctx, "phone-2", lpns.ReasonLoggedOut)
	require.NoError(t, err)
	assert.True(t, found)
	<-newer.Done()
	assert.ErrorIs(t, newer.Err(), lpns.ErrClientStopped)
	require.Eventually(t, func() bool {
		return n1.srv.SendPayload(ctx, "phone-2", []byte(`{}`)) != nil
	}, 5*time.Second, 10*time.Millisecond)
	assert.ErrorIs(t, n1.srv.SendPayload(ctx, "phone-2", []byte(`{}`)), lpns.ErrNotConnected)
	found, err = n1.srv.Disconnect(ctx, "phone-2", lpns.ReasonLoggedOut)
	require.NoError(t, err)
	assert.False(t, found)
}

func TestNewValidates(t *testing.T) {
	_, err := lpnsredis.New(lpnsredis.Config{})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
}

func TestStaleDirectoryEntry(t *testing.T) {
	rdb := redisClient(t)
	p := prefix(t)
	n1 := startNode(t, rdb, p, "n1")
	ctx := context.Background()
	// A node that crashed leaves its claims behind until they expire.
	require.NoError(t, rdb.Set(ctx, p+"dev:phone-3", "ghost", time.Minute).Err())
	err := n1.srv.SendPayload(ctx, "phone-3", []byte(`{}`))
	assert.ErrorIs(t, err, lpns.ErrNotConnected)
	assert.Contains(t, err.Error(), "gone")
	_, err = rdb.Get(ctx, p+"dev:phone-3").Result()
	assert.ErrorIs(t, err, redis.Nil, "the stale claim is removed")

	found, err := n1.srv.Disconnect(ctx, "phone-3", lpns.ReasonLoggedOut)
	require.NoError(t, err)
	assert.False(t, found)
}

func TestCloseAfterShutdown(t *testing.T) {
	rdb := redisClient(t)
	cl, err := lpnsredis.New(lpnsredis.Config{Client: rdb, Prefix: prefix(t)})
	require.NoError(t, err)
	srv, err := lpns.NewServer(context.Background(), lpns.Config{Authenticator: auth, NodeID: "a", Cluster: cl})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	assert.NoError(t, srv.Close(), "the Cluster is closed once")
	assert.NoError(t, srv.Shutdown(ctx))
}

// holdPublish holds back the next PUBLISH of a Redis client once armed,
// as a slow network or a busy subscriber would delay the message.
type holdPublish struct {
	armed   atomic.Bool
	held    chan struct{} // a PUBLISH is held
	release chan struct{} // let it go
	sent    chan struct{} // it was published
}

func (h *holdPublish) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *holdPublish) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *holdPublish) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "publish" || !h.armed.CompareAndSwap(true, false) {
			return next(ctx, cmd)
		}
		h.held <- struct{}{}
		<-h.release
		defer close(h.sent)
		return next(ctx, cmd)
	}
}

// dialDevice opens a raw lpns.v1 connection for device.
func dialDevice(url, device string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+device)
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{lpns.Subprotocol}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	return c, err
}

// closeCode reads c until it closes and returns the close code.
func closeCode(c *websocket.Conn) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return int(websocket.CloseStatus(err))
		}
	}
}

// A node's request to drop a device's older connection ("replaced") that
// arrives after the device has connected to that node again must not
// close the newer connection.
func TestDelayedReplacementSparesNewerConnection(t *testing.T) {
	rdb := redisClient(t)
	slow := redisClient(t)
	hold := &holdPublish{held: make(chan struct{}, 1), release: make(chan struct{}), sent: make(chan struct{})}
	slow.AddHook(hold)
	p := prefix(t)
	a, b := startNode(t, rdb, p, "a"), startNode(t, slow, p, "b")
	ctx := context.Background()

	first, err := dialDevice(a.url, "phone-4")
	require.NoError(t, err)
	defer first.CloseNow()
	_, _, err = first.Read(ctx) // hello: claimed on a
	require.NoError(t, err)

	// The device moves to b; b's request that a drop the first connection
	// is held back.
	hold.armed.Store(true)
	onB := make(chan *websocket.Conn, 1)
	go func() {
		c, err := dialDevice(b.url, "phone-4")
		if err != nil {
			c = nil
		}
		onB <- c
	}()
	<-hold.held
	// The device comes back to a: a replaces both older connections.
	second, err := dialDevice(a.url, "phone-4")
	require.NoError(t, err)
	defer second.CloseNow()
	assert.Equal(t, lpns.CloseReplaced, closeCode(first), "replaced on a")
	if c := <-onB; assert.NotNil(t, c) {
		assert.Equal(t, lpns.CloseReplaced, closeCode(c), "replaced on b")
		_ = c.CloseNow()
	}

	// Now b's stale request reaches a, followed by a disconnect whose close
	// code tells which of the two closed the second connection.
	close(hold.release)
	<-hold.sent
	require.Eventually(t, func() bool { return b.srv.Count() == 0 }, 5*time.Second, 10*time.Millisecond,
		"b's connection, replaced while its claim was held, is gone")
	found, err := b.srv.Disconnect(ctx, "phone-4", lpns.ReasonLoggedOut)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, lpns.CloseLoggedOut, closeCode(second), "the stale replacement spared the newer connection")
}

// NewServer starts the Cluster within its context: a Redis that accepts
// connections and never answers does not hold it beyond that context.
func TestNewServerStartHonoursContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- nc // read nothing, answer nothing
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1})
	defer rdb.Close()
	cl, err := lpnsredis.New(lpnsredis.Config{Client: rdb, Prefix: prefix(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		if nc, ok := <-accepted; ok {
			defer nc.Close()
			cancel() // the subscription is under way: give up
		}
	}()
	srv, err := lpns.NewServer(ctx, lpns.Config{Authenticator: auth, NodeID: "a", Cluster: cl})
	cancel()
	require.Error(t, err)
	assert.Nil(t, srv)
	assert.ErrorIs(t, err, context.Canceled, "NewServer returns when its context ends")
	require.NoError(t, cl.Close())
	require.NoError(t, ln.Close())
	for nc := range accepted {
		_ = nc.Close()
	}
}

func TestNewValidatesTimeouts(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, cfg := range []lpnsredis.Config{
		{Client: rdb, CommandTimeout: -1},
		{Client: rdb, DisconnectTimeout: -time.Second},
		{Client: rdb, RouteTimeout: -time.Millisecond},
	} {
		_, err := lpnsredis.New(cfg)
		assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	}
	_, err := lpnsredis.New(lpnsredis.Config{Client: rdb, CommandTimeout: time.Millisecond, DisconnectTimeout: time.Millisecond,
		RouteTimeout: time.Millisecond})
	assert.NoError(t, err)
}

// DisconnectTimeout and RouteTimeout bound the wait for a node that holds
// the device in the directory and never answers.
func TestTimeoutsBoundWaitsForAMuteNode(t *testing.T) {
	rdb := redisClient(t)
	p := prefix(t)
	ctx := context.Background()
	mute := rdb.Subscribe(ctx, p+"node:mute") // a node that reads its channel and never answers
	defer mute.Close()
	_, err := mute.Receive(ctx)
	require.NoError(t, err)
	require.NoError(t, rdb.Set(ctx, p+"dev:phone-5", "mute", time.Minute).Err())

	cl, err := lpnsredis.New(lpnsredis.Config{Client: rdb, Prefix: p, DisconnectTimeout: 50 * time.Millisecond,
		RouteTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	srv, err := lpns.NewServer(ctx, lpns.Config{Authenticator: auth, NodeID: "a", Cluster: cl})
	require.NoError(t, err)
	defer srv.Close()

	wait, cancel := context.WithTimeout(ctx, time.Hour) // far beyond the configured timeouts
	defer cancel()
	_, err = srv.Disconnect(wait, "phone-5", lpns.ReasonLoggedOut)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NoError(t, wait.Err(), "the configured timeout ended the wait, not the caller's context")

	// Route without a deadline: lpns.Server always gives one, other
	// callers may not.
	err = cl.Route(ctx, "phone-5", "n-1", []byte(`{}`))
	assert.ErrorIs(t, err, lpns.ErrNotAcknowledged)
}
