// Package lpnsredis implements lpns.Cluster on Redis: a session directory
// (one key per device naming the node that holds its connection, with a TTL
// refreshed on every keepalive) and a routing bus (one pub/sub channel per
// node) that carries notifications to the node holding a device and the
// outcome back to the node that was asked to send.
//
// Keys and channels (Prefix defaults to "lpns:"):
//
//	<prefix>dev:<device id>   string, node id, PX = session TTL
//	<prefix>node:<node id>    pub/sub channel of a node
//
// When a node dies its directory entries expire within one keepalive window
// and a quarter; a send to such an entry meanwhile finds no subscriber on the
// node's channel and reports lpns.ErrNotConnected at once.
package lpnsredis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/lpns"
)

// Config configures a Cluster; New copies it.
type Config struct {
	// Client is the Redis client (required); the Cluster does not close it.
	Client redis.UniversalClient
	// Prefix namespaces keys and channels (default "lpns:").
	Prefix string
	// Logger receives diagnostics (default: discard).
	Logger *slog.Logger

	// CommandTimeout bounds each Redis command the Cluster issues on its
	// own, outside any caller's context: publishing the outcome of a
	// delivery back to the node that asked for it, and the directory
	// lookup before acting on a request to drop a replaced connection
	// (default DefaultCommandTimeout).
	CommandTimeout time.Duration
	// DisconnectTimeout bounds Disconnect's wait for the answer of the node
	// holding the device, within the caller's context (default
	// DefaultDisconnectTimeout).
	DisconnectTimeout time.Duration
	// RouteTimeout bounds a Route whose context has no deadline, and is
	// then the delivery time given to the node holding the device
	// (default DefaultRouteTimeout). lpns.Server always routes with a
	// deadline (its AckTimeout and a quarter).
	RouteTimeout time.Duration
}

// Default timeouts of Config.
const (
	DefaultCommandTimeout    = 2 * time.Second
	DefaultDisconnectTimeout = 2 * time.Second
	DefaultRouteTimeout      = 2 * time.Second
)

// Cluster is an lpns.Cluster on Redis. Pass it in lpns.Config.Cluster; the
// Server starts and closes it. It is safe for concurrent use.
type Cluster struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	node    string
	h       lpns.ClusterHandler
	sub     *redis.PubSub
	seq     atomic.Uint64
	mu      sync.Mutex
	pending map[string]chan string
}

var _ lpns.Cluster = (*Cluster)(nil)

// New validates cfg and returns a Cluster. It does no I/O: the Server
// starts the Cluster (Start) within the context given to lpns.NewServer.
func New(cfg Config) (*Cluster, error) {
	if cfg.Client == nil {
		return nil, fmt.Errorf("lpnsredis: %w: redis Client is required", pushwire.ErrConfiguration)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "lpns:"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CommandTimeout < 0 || cfg.DisconnectTimeout < 0 || cfg.RouteTimeout < 0 {
		return nil, fmt.Errorf("lpnsredis: %w: negative timeout", pushwire.ErrConfiguration)
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&cfg.CommandTimeout, DefaultCommandTimeout}, {&cfg.DisconnectTimeout, DefaultDisconnectTimeout}, {&cfg.RouteTimeout, DefaultRouteTimeout}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cluster{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, pending: make(map[string]chan string)}, nil
}

// message is what travels on node channels.
type message struct {
	Op      string          `json:"op"`              // deliver, disconnect, result
	Req     string          `json:"req,omitempty"`   // request id, echoed in the result
	Reply   string          `json:"reply,omitempty"` // node to answer
	Device  string          `json:"device,omitempty"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Budget  int64           `json:"budgetMs,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Outcome string          `json:"outcome,omitempty"`
}

func (c *Cluster) devKey(device string) string { return c.cfg.Prefix + "dev:" + device }
func (c *Cluster) channel(node string) string  { return c.cfg.Prefix + "node:" + node }

// Start subscribes to node's channel and waits for Redis to confirm the
// subscription, until ctx ends.
func (c *Cluster) Start(ctx context.Context, node string, h lpns.ClusterHandler) error {
	if c.sub != nil {
		return errors.New("lpnsredis: already started")
	}
	c.node, c.h = node, h
	sub := c.cfg.Client.Subscribe(ctx, c.channel(node))
	if _, err := sub.Receive(ctx); err != nil {
		_ = sub.Close()
		return fmt.Errorf("lpnsredis: subscribe: %w", err)
	}
	c.sub = sub
	ch := sub.Channel(redis.WithChannelSize(1024))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for m := range ch {
			c.handle(m.Payload)
		}
	}()
	return nil
}

// Close unsubscribes and waits for in-flight deliveries to finish.
func (c *Cluster) Close() error {
	c.cancel()
	var err error
	if c.sub != nil {
		err = c.sub.Close()
	}
	c.wg.Wait()
	return err
}

func (c *Cluster) handle(raw string) {
	var m message
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		c.log.Warn("lpnsredis: bad bus message")
		return
	}
	switch m.Op {
	case "result":
		c.mu.Lock()
		ch := c.pending[m.Req]
		delete(c.pending, m.Req)
		c.mu.Unlock()
		if ch != nil {
			ch <- m.Outcome
		}
	case "deliver":
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			budget := time.Duration(m.Budget) * time.Millisecond
			ctx, cancel := context.WithTimeout(c.ctx, max(budget, time.Millisecond))
			err := c.h.DeliverLocal(ctx, m.Device, m.ID, m.Payload)
			cancel()
			c.reply(m, outcome(err))
		}()
	case "disconnect":
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if m.Reason == "replaced" && c.claimedHere(m.Device) {
				c.log.Debug("lpnsredis: stale replacement ignored", "device", pushwire.Redact(m.Device))
				return
			}
			found := c.h.DisconnectLocal(m.Device, m.Reason)
			if m.Reply != "" {
				c.reply(m, map[bool]string{true: "found", false: "not-found"}[found])
			}
		}()
	}
}

// claimedHere reports whether the directory names this node for device. A
// "replaced" request is sent by a node that claimed the device; when the
// directory names this node again by the time it arrives, the device came
// back here after that claim, and its connection here is the newer one.
// On a Redis error it reports false: the replacement goes ahead.
func (c *Cluster) claimedHere(device string) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.CommandTimeout)
	defer cancel()
	node, err := c.cfg.Client.Get(ctx, c.devKey(device)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		c.log.Warn("lpnsredis: directory lookup failed", "err", err)
	}
	return node == c.node
}

func (c *Cluster) reply(m message, out string) {
	b, _ := json.Marshal(message{Op: "result", Req: m.Req, Outcome: out})
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CommandTimeout)
	defer cancel()
	if err := c.cfg.Client.Publish(ctx, c.channel(m.Reply), b).Err(); err != nil {
		c.log.Warn("lpnsredis: reply failed", "err", err)
	}
}

func outcome(err error) string {
	switch {
	case err == nil:
		return string(lpns.OutcomeAcked)
	case errors.Is(err, pushwire.ErrUnknownOutcome): // written: the device may have it
		return string(lpns.OutcomeNotAcked)
	case errors.Is(err, lpns.ErrNotConnected), errors.Is(err, lpns.ErrServerClosed):
		return string(lpns.OutcomeNotConnected)
	case errors.Is(err, lpns.ErrNotAcknowledged):
		return string(lpns.OutcomeNotAcked)
	case errors.Is(err, lpns.ErrPayloadTooLarge):
		return string(lpns.OutcomeTooLarge)
	case errors.Is(err, lpns.ErrInvalidPayload):
		return string(lpns.OutcomeInvalid)
	}
	return string(lpns.OutcomeError)
}

func outcomeErr(o string) error {
	switch lpns.Outcome(o) {
	case lpns.OutcomeAcked:
		return nil
	case lpns.OutcomeNotConnected:
		return fmt.Errorf("%w: on its node", lpns.ErrNotConnected)
	case lpns.OutcomeNotAcked:
		return lpns.ErrNotAcknowledged
	case lpns.OutcomeTooLarge:
		return lpns.ErrPayloadTooLarge
	case lpns.OutcomeInvalid:
		return lpns.ErrInvalidPayload
	}
	return fmt.Errorf("%w: remote node failed", lpns.ErrNotAcknowledged)
}

var (
	claimRefresh = redis.NewScript(`local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`)
	releaseIfMine = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// Claim records the device on this node and tells a previous node to drop
// its older connection. That node ignores the request if the directory
// names it again when the request arrives (the device has come back to it
// since).
func (c *Cluster) Claim(ctx context.Context, deviceID string, ttl time.Duration) error {
	old, err := c.cfg.Client.SetArgs(ctx, c.devKey(deviceID), c.node, redis.SetArgs{TTL: ttl, Get: true}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("lpnsredis: claim: %w", err)
	}
	if old != "" && old != c.node {
		b, _ := json.Marshal(message{Op: "disconnect", Device: deviceID, Reason: "replaced"})
		if err := c.cfg.Client.Publish(ctx, c.channel(old), b).Err(); err != nil {
			return fmt.Errorf("lpnsredis: evict: %w", err)
		}
	}
	return nil
}

// Refresh extends the claim; false means another node holds the device.
func (c *Cluster) Refresh(ctx context.Context, deviceID string, ttl time.Duration) (bool, error) {
	n, err := claimRefresh.Run(ctx, c.cfg.Client, []string{c.devKey(deviceID)}, c.node, ttl.Milliseconds()).Int()
	if err != nil {
		return true, fmt.Errorf("lpnsredis: refresh: %w", err)
	}
	return n == 1, nil
}

// Release deletes the claim if this node still holds it.
func (c *Cluster) Release(ctx context.Context, deviceID string) error {
	if err := releaseIfMine.Run(ctx, c.cfg.Client, []string{c.devKey(deviceID)}, c.node).Err(); err != nil {
		return fmt.Errorf("lpnsredis: release: %w", err)
	}
	return nil
}

// lookupAndPublish finds the node holding a device and, unless it is this
// node, publishes a request to it: one round trip.
var lookupAndPublish = redis.NewScript(`local n = redis.call('GET', KEYS[1])
if not n then return {'', 0} end
if n == ARGV[1] then return {n, -1} end
return {n, redis.call('PUBLISH', ARGV[2] .. n, ARGV[3])}`)

// errLocal tells the caller that this node holds the device.
var errLocal = errors.New("lpnsredis: device is local")

// request sends m to the node holding deviceID and waits for the result.
func (c *Cluster) request(ctx context.Context, deviceID string, m message) (string, error) {
	m.Req = c.node + ":" + strconv.FormatUint(c.seq.Add(1), 36)
	m.Reply = c.node
	ch := make(chan string, 1)
	c.mu.Lock()
	c.pending[m.Req] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, m.Req)
		c.mu.Unlock()
	}()
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	res, err := lookupAndPublish.Run(ctx, c.cfg.Client, []string{c.devKey(deviceID)}, c.node, c.cfg.Prefix+"node:", b).Slice()
	if err != nil {
		return "", fmt.Errorf("%w: lpnsredis: route: %w", lpns.ErrNotConnected, err)
	}
	if len(res) != 2 {
		return "", fmt.Errorf("%w: lpnsredis: unexpected script reply", lpns.ErrNotConnected)
	}
	node, _ := res[0].(string)
	receivers, _ := res[1].(int64)
	switch {
	case node == "":
		return "", lpns.ErrNotConnected
	case receivers < 0:
		return "", errLocal
	case receivers == 0: // the node is gone: forget its stale claim
		_ = releaseIfMine.Run(ctx, c.cfg.Client, []string{c.devKey(deviceID)}, node).Err()
		return "", fmt.Errorf("%w: its node %s is gone", lpns.ErrNotConnected, node)
	}
	select {
	case out := <-ch:
		return out, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Route delivers through the node holding deviceID.
func (c *Cluster) Route(ctx context.Context, deviceID, id string, payload []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RouteTimeout)
		defer cancel()
	}
	dl, _ := ctx.Deadline()
	// Leave the remote node room to report its outcome.
	budget := time.Until(dl) * 4 / 5
	out, err := c.request(ctx, deviceID, message{Op: "deliver", Device: deviceID, ID: id, Payload: payload, Budget: budget.Milliseconds()})
	switch {
	case errors.Is(err, errLocal):
		return c.h.DeliverLocal(ctx, deviceID, id, payload)
	case err != nil:
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return fmt.Errorf("%w: routed delivery timed out", lpns.ErrNotAcknowledged)
		}
		return err
	}
	return outcomeErr(out)
}

// Disconnect asks the node holding deviceID to close its connection.
func (c *Cluster) Disconnect(ctx context.Context, deviceID, reason string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DisconnectTimeout)
	defer cancel()
	out, err := c.request(ctx, deviceID, message{Op: "disconnect", Device: deviceID, Reason: reason})
	switch {
	case errors.Is(err, errLocal):
		return c.h.DisconnectLocal(deviceID, reason), nil
	case errors.Is(err, lpns.ErrNotConnected):
		return false, nil
	case err != nil:
		return false, err
	}
	return out == "found", nil
}
