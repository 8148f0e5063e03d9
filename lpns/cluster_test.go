package lpns_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/lpns/internal/clock"
)

// hub is an in-process cluster: a directory of which node holds which
// device, and a bus that hands a routed notification to that node's
// handler. Each node gets its own lpns.Cluster from node().
type hub struct {
	mu     sync.Mutex
	nodes  map[string]lpns.ClusterHandler
	holder map[string]string // device → node
}

func newHub() *hub {
	return &hub{nodes: make(map[string]lpns.ClusterHandler), holder: make(map[string]string)}
}

// node returns the Cluster of one node. route, when set, replaces the bus
// for Route: it gets the routed context and the delivery through the bus.
func (h *hub) node(route func(ctx context.Context, deliver func() error) error) *hubNode {
	return &hubNode{hub: h, route: route}
}

// hold makes the directory name node for device, as a claim would.
func (h *hub) hold(device, node string) {
	h.mu.Lock()
	h.holder[device] = node
	h.mu.Unlock()
}

// holderOf returns the handler of the node holding device, if any.
func (h *hub) holderOf(device string) lpns.ClusterHandler {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nodes[h.holder[device]]
}

type hubNode struct {
	hub   *hub
	name  string
	route func(ctx context.Context, deliver func() error) error
}

func (n *hubNode) Start(_ context.Context, node string, h lpns.ClusterHandler) error {
	n.name = node
	n.hub.mu.Lock()
	n.hub.nodes[node] = h
	n.hub.mu.Unlock()
	return nil
}

func (n *hubNode) Claim(_ context.Context, device string, _ time.Duration) error {
	n.hub.mu.Lock()
	prev := n.hub.nodes[n.hub.holder[device]]
	if n.hub.holder[device] == n.name {
		prev = nil
	}
	n.hub.holder[device] = n.name
	n.hub.mu.Unlock()
	if prev != nil {
		prev.DisconnectLocal(device, "replaced")
	}
	return nil
}

func (n *hubNode) Refresh(_ context.Context, device string, _ time.Duration) (bool, error) {
	n.hub.mu.Lock()
	defer n.hub.mu.Unlock()
	return n.hub.holder[device] == n.name, nil
}

func (n *hubNode) Release(_ context.Context, device string) error {
	n.hub.mu.Lock()
	defer n.hub.mu.Unlock()
	if n.hub.holder[device] == n.name {
		delete(n.hub.holder, device)
	}
	return nil
}

// Route hands the notification to the node holding the device and waits
// for its outcome, which crosses the bus as an outcome code (as it does
// between processes): the error it returns is a bare sentinel, or ctx's
// error when the wait for the answer ended.
func (n *hubNode) Route(ctx context.Context, device, id string, payload []byte) error {
	deliver := func() error {
		h := n.hub.holderOf(device)
		if h == nil {
			return fmt.Errorf("%w: no node holds it", lpns.ErrNotConnected)
		}
		err := h.DeliverLocal(ctx, device, id, payload)
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return overTheBus(err)
	}
	if n.route != nil {
		return n.route(ctx, deliver)
	}
	return deliver()
}

// overTheBus reduces a node's delivery error to what an outcome code
// carries back.
func overTheBus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pushwire.ErrUnknownOutcome), errors.Is(err, lpns.ErrNotAcknowledged):
		return lpns.ErrNotAcknowledged
	case errors.Is(err, lpns.ErrNotConnected), errors.Is(err, lpns.ErrServerClosed):
		return lpns.ErrNotConnected
	case errors.Is(err, lpns.ErrPayloadTooLarge):
		return lpns.ErrPayloadTooLarge
	case errors.Is(err, lpns.ErrInvalidPayload):
		return lpns.ErrInvalidPayload
	}
	return fmt.Errorf("%w: remote node failed", lpns.ErrNotAcknowledged)
}

func (n *hubNode) Disconnect(_ context.Context, device, reason string) (bool, error) {
	h := n.hub.holderOf(device)
	if h == nil {
		return false, nil
	}
	return h.DisconnectLocal(device, reason), nil
}

func (n *hubNode) Close() error {
	n.hub.mu.Lock()
	delete(n.hub.nodes, n.name)
	n.hub.mu.Unlock()
	return nil
}

// sendLog records OnSend: outcome and routed flag.
type sendLog struct {
	mu   sync.Mutex
	seen []sent
}

type sent struct {
	Outcome lpns.Outcome
	Routed  bool
}

func (l *sendLog) hooks() lpns.Hooks {
	return lpns.Hooks{OnSend: func(o lpns.Outcome, _ time.Duration, routed bool) {
		l.mu.Lock()
		l.seen = append(l.seen, sent{o, routed})
		l.mu.Unlock()
	}}
}

func (l *sendLog) all() []sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sent(nil), l.seen...)
}

// twoNodes starts node "a" (sends logged) and node "b" (on clkB) sharing
// one hub; route, when set, scripts a's Route.
type twoNodes struct {
	a, b *testServer
	hub  *hub
	clkB *clock.Fake
	log  *sendLog
}

func newTwoNodes(t *testing.T, cfgA, cfgB lpns.Config, route func(context.Context, func() error) error) *twoNodes {
	t.Helper()
	n := &twoNodes{hub: newHub(), clkB: newClock(), log: &sendLog{}}
	cfgA.NodeID, cfgA.Cluster, cfgA.Hooks = "a", n.hub.node(route), n.log.hooks()
	cfgB.NodeID, cfgB.Cluster = "b", n.hub.node(nil)
	n.a = newTestServer(t, cfgA)
	n.b = newTestServer(t, lpns.WithClock(cfgB, n.clkB))
	return n
}

// A routed notification reaches the device through the node holding it,
// and the sending node reports it acknowledged and routed; a device of the
// sending node itself is not routed.
func TestRoutedSendAcknowledged(t *testing.T) {
	n := newTwoNodes(t, lpns.Config{}, lpns.Config{}, nil)
	got := newNotifications()
	for _, at := range []*testServer{n.b, n.a} {
		c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{at.url},
			Token: staticToken(testToken("dev-"+at.NodeID(), 0)), Handler: got.handler})
		require.NoError(t, err)
		defer c.Close()
	}
	require.NoError(t, n.a.SendNotification(context.Background(), "dev-b", "n-1", []byte(`{"x":1}`)))
	x := <-got.ch
	assert.Equal(t, "n-1", x.ID)
	assert.Equal(t, "b", x.Node, "delivered by the node holding the device")
	require.NoError(t, n.a.SendNotification(context.Background(), "dev-a", "n-2", []byte(`{}`)))
	assert.Equal(t, "a", (<-got.ch).Node)
	assert.Equal(t, []sent{{lpns.OutcomeAcked, true}, {lpns.OutcomeAcked, false}}, n.log.all())
}

// An acknowledgement that comes back through the Cluster is a delivery,
// even when the caller's context ends as it arrives.
func TestRoutedAckAsContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := newTwoNodes(t, lpns.Config{}, lpns.Config{}, func(_ context.Context, deliver func() error) error {
		err := deliver()
		cancel()
		return err
	})
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{n.b.url},
		Token: staticToken(testToken("dev-b", 0)), Handler: newNotifications().handler})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, n.a.SendNotification(ctx, "dev-b", "n-1", []byte(`{}`)))
	assert.Equal(t, []sent{{lpns.OutcomeAcked, true}}, n.log.all())
}

// Every way a routed send can fail, with its classes and the outcome the
// sending node reports.
func TestRoutedSendErrors(t *testing.T) {
	type check struct {
		is, isNot []error
		outcome   lpns.Outcome
	}
	notConnected := check{[]error{lpns.ErrNotConnected, pushwire.ErrRetryable},
		[]error{pushwire.ErrUnknownOutcome, pushwire.ErrPermanent, lpns.ErrNotAcknowledged}, lpns.OutcomeNotConnected}
	tests := []struct {
		name    string
		cfgB    lpns.Config
		device  string // held by b unless "nowhere" or "ghost"
		payload string
		// during runs once b's device has the notification; it ends the
		// send (b's clock is fake: b's ack wait ends only when advanced).
		during func(t *testing.T, n *twoNodes, cancel context.CancelFunc)
		want   check
	}{
		{name: "not acknowledged on the other node", cfgB: lpns.Config{AckTimeout: time.Second},
			during: func(t *testing.T, n *twoNodes, _ context.CancelFunc) {
				waitDue(t, n.clkB, n.clkB.Now().Add(time.Second))
				n.clkB.Advance(time.Second)
			},
			want: check{[]error{lpns.ErrNotAcknowledged, pushwire.ErrUnknownOutcome, pushwire.ErrRetryable},
				[]error{pushwire.ErrPermanent, lpns.ErrServerClosed, context.Canceled, context.DeadlineExceeded}, lpns.OutcomeNotAcked}},
		{name: "caller's context ends", cfgB: lpns.Config{AckTimeout: time.Hour},
			during: func(_ *testing.T, _ *twoNodes, cancel context.CancelFunc) { cancel() },
			want: check{[]error{context.Canceled, pushwire.ErrUnknownOutcome, pushwire.ErrRetryable},
				[]error{pushwire.ErrPermanent, lpns.ErrServerClosed, lpns.ErrNotAcknowledged}, lpns.OutcomeNotAcked}},
		{name: "sending node closed", cfgB: lpns.Config{AckTimeout: time.Hour},
			during: func(t *testing.T, n *twoNodes, _ context.CancelFunc) { require.NoError(t, n.a.Close()) },
			want: check{[]error{lpns.ErrServerClosed, pushwire.ErrClosed, pushwire.ErrUnknownOutcome, pushwire.ErrRetryable},
				[]error{pushwire.ErrPermanent, context.Canceled, lpns.ErrNotAcknowledged}, lpns.OutcomeNotConnected}},
		{name: "no node holds the device", device: "nowhere", want: notConnected},
		{name: "the node named holds no connection", device: "ghost", want: notConnected},
		{name: "too large for the other node", cfgB: lpns.Config{MaxPayloadBytes: 64},
			payload: `{"p":"` + strings.Repeat("a", 60) + `"}`,
			want: check{[]error{lpns.ErrPayloadTooLarge, pushwire.ErrPermanent},
				[]error{pushwire.ErrUnknownOutcome, pushwire.ErrRetryable}, lpns.OutcomeTooLarge}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTwoNodes(t, lpns.Config{AckTimeout: time.Hour}, tt.cfgB, nil)
			device := tt.device
			var rc *rawConn
			switch device {
			case "":
				device = "dev-b"
				rc, _ = rawDial(t, n.b.url, testToken(device, 0)) // never acks
			case "ghost":
				n.hub.hold(device, "b")
			}
			payload := tt.payload
			if payload == "" {
				payload = `{}`
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- n.a.SendNotification(ctx, device, "n-1", []byte(payload)) }()
			if tt.during != nil {
				f, err := rc.read()
				require.NoError(t, err)
				require.Equal(t, "n-1", f.ID)
				tt.during(t, n, cancel)
			}
			err := <-errc
			require.Error(t, err)
			for _, e := range tt.want.is {
				assert.ErrorIs(t, err, e)
			}
			for _, e := range tt.want.isNot {
				assert.NotErrorIs(t, err, e)
			}
			assert.Equal(t, []sent{{tt.want.outcome, true}}, n.log.all())
		})
	}
}

// A routed send waits for the node holding the device for the sender's
// AckTimeout and a quarter more (room for that node's own ack wait and its
// answer), then gives up with ErrNotAcknowledged: not the caller's
// DeadlineExceeded, the caller's context did not end.
func TestRoutedSendTimesOut(t *testing.T) {
	const ack = 40 * time.Millisecond
	before := time.Now()
	var deadline, entered time.Time
	n := newTwoNodes(t, lpns.Config{AckTimeout: ack}, lpns.Config{AckTimeout: time.Hour},
		func(ctx context.Context, deliver func() error) error {
			entered = time.Now()
			deadline, _ = ctx.Deadline()
			return deliver()
		})
	rawDial(t, n.b.url, testToken("dev-b", 0)) // never acks
	err := n.a.SendNotification(context.Background(), "dev-b", "n-1", []byte(`{}`))
	require.Error(t, err)
	assert.ErrorIs(t, err, lpns.ErrNotAcknowledged)
	assert.ErrorIs(t, err, pushwire.ErrUnknownOutcome)
	assert.ErrorIs(t, err, pushwire.ErrRetryable)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, pushwire.ErrPermanent)
	assert.Equal(t, []sent{{lpns.OutcomeNotAcked, true}}, n.log.all())
	require.False(t, deadline.IsZero(), "Route is bounded")
	assert.GreaterOrEqual(t, deadline.Sub(before), ack+ack/4, "set when the send began, not sooner")
	assert.LessOrEqual(t, deadline.Sub(entered), ack+ack/4, "not later")
}
