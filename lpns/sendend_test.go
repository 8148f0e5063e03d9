package lpns_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/lpns/internal/clock"
)

// stopGate is a fake clock whose ack timers (NewTimer) can hold a send at
// the moment it has the device's answer: the next Stop after hold signals
// stopping and waits for release.
type stopGate struct {
	*clock.Fake
	mu       sync.Mutex
	held     bool
	stopping chan struct{}
	release  chan struct{}
}

func newStopGate() *stopGate {
	return &stopGate{Fake: newClock(), stopping: make(chan struct{}), release: make(chan struct{})}
}

func (g *stopGate) hold() { g.mu.Lock(); g.held = true; g.mu.Unlock() }

func (g *stopGate) NewTimer(d time.Duration) clock.Timer { return gatedTimer{g.Fake.NewTimer(d), g} }

type gatedTimer struct {
	clock.Timer
	g *stopGate
}

func (t gatedTimer) Stop() bool {
	t.g.mu.Lock()
	held := t.g.held
	t.g.held = false
	t.g.mu.Unlock()
	if held {
		close(t.g.stopping)
		<-t.g.release
	}
	return t.Timer.Stop()
}

// A notification the device acknowledged just as Close began was
// delivered: Send reports it so, not as ended by Close.
func TestAckAsCloseBegins(t *testing.T) {
	log := &sendLog{}
	g := newStopGate()
	srv := newTestServer(t, lpns.WithClock(lpns.Config{Hooks: log.hooks()}, g))
	rc, _ := rawDial(t, srv.url, testToken("dev-1", 0))
	errc := make(chan error, 1)
	go func() { errc <- srv.SendNotification(context.Background(), "dev-1", "n-1", []byte(`{}`)) }()
	f, err := rc.read()
	require.NoError(t, err)
	g.hold()
	rc.send(lpns.Frame{Type: lpns.FrameAck, ID: f.ID})
	<-g.stopping // the send has the ack
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	_, err = rc.read()
	require.Error(t, err, "Close cut the connection")
	close(g.release)
	assert.NoError(t, <-errc)
	assert.NoError(t, <-closed)
	assert.Equal(t, []sent{{lpns.OutcomeAcked, false}}, log.all())
}

// A send that Close ends before the notification was written ends with
// ErrServerClosed alone: the device cannot have it.
func TestCloseBeforeWrite(t *testing.T) {
	log := &sendLog{}
	var pause atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	now := func() time.Time {
		if pause.CompareAndSwap(true, false) { // the notification's timestamp, just before it is written
			close(entered)
			<-release
		}
		return time.Now()
	}
	srv := newTestServer(t, lpns.Config{Now: now, Hooks: log.hooks()})
	rc, _ := rawDial(t, srv.url, testToken("dev-1", 0))
	pause.Store(true)
	errc := make(chan error, 1)
	go func() { errc <- srv.SendNotification(context.Background(), "dev-1", "n-1", []byte(`{}`)) }()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	_, err := rc.read()
	require.Error(t, err, "Close cut the connection")
	close(release)
	err = <-errc
	assert.ErrorIs(t, err, lpns.ErrServerClosed)
	assert.ErrorIs(t, err, pushwire.ErrClosed)
	assert.ErrorIs(t, err, pushwire.ErrRetryable)
	assert.NotErrorIs(t, err, pushwire.ErrUnknownOutcome)
	assert.NoError(t, <-closed)
	assert.Equal(t, []sent{{lpns.OutcomeNotConnected, false}}, log.all())
}

// Shutdown refuses new sends at once, local or routed to it, and lets the
// one under way finish.
func TestShutdownLetsSendUnderWayFinish(t *testing.T) {
	log := &sendLog{}
	n := newTwoNodes(t, lpns.Config{AckTimeout: time.Second}, lpns.Config{Hooks: log.hooks()}, nil)
	srv := n.b
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{srv.url},
		Token: staticToken(testToken("dev-1", 0)), Handler: func(ctx context.Context, _ lpns.Notification) error {
			once.Do(func() { close(entered); <-release }) // the app is busy: no ack yet
			return nil
		}})
	require.NoError(t, err)
	defer c.Close()
	errc := make(chan error, 1)
	go func() { errc <- srv.SendNotification(context.Background(), "dev-1", "n-1", []byte(`{}`)) }()
	<-entered
	shut := shutdownBegun(t, srv.Server)
	err = srv.SendNotification(context.Background(), "dev-1", "n-3", []byte(`{}`))
	assert.ErrorIs(t, err, lpns.ErrServerClosed, "a new send to the busy device is refused")
	assert.ErrorIs(t, err, pushwire.ErrClosed)
	err = n.a.SendNotification(context.Background(), "dev-1", "n-4", []byte(`{}`))
	assert.ErrorIs(t, err, lpns.ErrNotConnected, "a routed one too: the device is to reconnect elsewhere")
	assert.Equal(t, []sent{{lpns.OutcomeNotConnected, true}}, n.log.all())
	close(release)
	assert.NoError(t, <-errc, "the send under way is delivered")
	assert.NoError(t, <-shut)
	seen := log.all()
	require.GreaterOrEqual(t, len(seen), 2)
	for _, x := range seen[:len(seen)-1] {
		assert.Equal(t, lpns.OutcomeNotConnected, x.Outcome, "refused")
	}
	assert.Equal(t, sent{lpns.OutcomeAcked, false}, seen[len(seen)-1], "delivered")
}

// pausingContext holds a send at its first Err call, after the send's
// checks, until release.
type pausingContext struct {
	context.Context
	once             sync.Once
	entered, release chan struct{}
}

func (c *pausingContext) Err() error {
	c.once.Do(func() { close(c.entered); <-c.release })
	return c.Context.Err()
}

// A send that Close overtakes before it started is refused, not reported
// delivered.
func TestCloseOvertakesSend(t *testing.T) {
	log := &sendLog{}
	srv := newTestServer(t, lpns.Config{Hooks: log.hooks()})
	rawDial(t, srv.url, testToken("dev-1", 0))
	ctx := &pausingContext{Context: context.Background(), entered: make(chan struct{}), release: make(chan struct{})}
	errc := make(chan error, 1)
	go func() { errc <- srv.SendNotification(ctx, "dev-1", "n-1", []byte(`{}`)) }()
	<-ctx.entered
	require.NoError(t, srv.Close())
	close(ctx.release)
	err := <-errc
	assert.ErrorIs(t, err, lpns.ErrServerClosed)
	assert.ErrorIs(t, err, pushwire.ErrClosed)
	assert.NotErrorIs(t, err, pushwire.ErrUnknownOutcome)
	assert.Equal(t, []sent{{lpns.OutcomeNotConnected, false}}, log.all())
}

// A notification id already in flight to the device is refused as invalid,
// and the first send goes on.
func TestSendDuplicateIDInFlight(t *testing.T) {
	log := &sendLog{}
	clk := newClock()
	srv := newTestServer(t, lpns.WithClock(lpns.Config{AckTimeout: time.Second, Hooks: log.hooks()}, clk))
	rc, _ := rawDial(t, srv.url, testToken("dev-1", 0))
	errc := make(chan error, 1)
	go func() { errc <- srv.SendNotification(context.Background(), "dev-1", "n-1", []byte(`{}`)) }()
	f, err := rc.read()
	require.NoError(t, err)
	require.Equal(t, "n-1", f.ID)
	err = srv.SendNotification(context.Background(), "dev-1", "n-1", []byte(`{}`))
	assert.ErrorIs(t, err, lpns.ErrInvalidPayload)
	assert.ErrorIs(t, err, pushwire.ErrPermanent)
	assert.NotErrorIs(t, err, pushwire.ErrUnknownOutcome, "the duplicate was not written")
	rc.send(lpns.Frame{Type: lpns.FrameAck, ID: "n-1"})
	assert.NoError(t, <-errc)
	assert.Equal(t, []sent{{lpns.OutcomeInvalid, false}, {lpns.OutcomeAcked, false}}, log.all())
}

// ownContext is a caller's own Context implementation (not one of package
// context's): package context watches it with a goroutine until the
// context derived from it is cancelled.
type ownContext struct{ done chan struct{} }

func (ownContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c ownContext) Done() <-chan struct{}     { return c.done }
func (ownContext) Value(any) any               { return nil }
func (c ownContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// A send under a long-lived context leaves nothing behind once it
// returned.
func TestSendLeavesNoGoroutine(t *testing.T) {
	srv := newTestServer(t, lpns.Config{})
	rc, _ := rawDial(t, srv.url, testToken("dev-1", 0))
	ctx := ownContext{done: make(chan struct{})}
	defer close(ctx.done)
	before := goleak.IgnoreCurrent()
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		if f, err := rc.read(); err == nil {
			rc.send(lpns.Frame{Type: lpns.FrameAck, ID: f.ID})
		}
	}()
	require.NoError(t, srv.SendNotification(ctx, "dev-1", "n-1", []byte(`{}`)))
	<-acked
	assert.NoError(t, goleak.Find(before))
}
