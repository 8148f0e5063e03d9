package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/registry"
)

// Defaults applied by [New] to zero Config fields.
const (
	// DefaultTimeout caps the deadline of one call.
	DefaultTimeout = 10 * time.Second
	// DefaultLocalTimeout bounds the local attempt of a phone that can fall
	// back to a remote provider (as long as lpns' default ack timeout).
	DefaultLocalTimeout = 2 * time.Second
	// DefaultMaxConcurrency bounds the sends in flight across all calls.
	DefaultMaxConcurrency = 1000
	// DefaultMaxConcurrencyPerCall bounds the sends in flight of one call.
	DefaultMaxConcurrencyPerCall = 16
)

// Config configures a [Dispatcher]. Registry is required; any sender may be
// nil (devices of that provider then fail with a configuration error). [New]
// copies it.
type Config struct {
	// Registry holds the device bindings. Required.
	Registry registry.Registry
	// FCM, APNs and LPNS send to the devices of each provider. They should
	// not retry on their own (fcm and apns: Retry.MaxAttempts 1): dispatch
	// owns the retries. LPNS is normally an *lpns.Server; its errors
	// ErrNotConnected and ErrNotAcknowledged make a phone fall back to
	// its remote binding.
	FCM, APNs, LPNS pushwire.Sender
	// SenderFor, when set, chooses the sender of each binding (for example
	// one FCM project per tenant). It returns the sender and a function
	// called once the binding's sends are done (nil when nothing is to be
	// released); a nil sender without error means the provider's sender
	// above. An error fails the device with that error (its class decides
	// the outcome; use pushwire.ErrConfiguration for a missing sender).
	SenderFor func(ctx context.Context, d registry.Device) (s pushwire.Sender, release func(), err error)
	// Shape turns the neutral message into each device's message; nil
	// means [DefaultShape]. The message it returns carries the binding's
	// payload keys unless Shape set others.
	Shape ShapeFunc
	// Seal says how pushes are sealed end to end with the payload keys of
	// the binding they go to; the zero value seals every push to a binding
	// with keys and sends the others as they are. See [SealMode].
	Seal SealConfig
	// Timeout caps the deadline of a call (the context's deadline, when
	// sooner, wins); 0 means [DefaultTimeout].
	Timeout time.Duration
	// LocalTimeout bounds the local attempt of a phone that has a remote
	// binding to fall back to (at most half the time left of the call); 0
	// means [DefaultLocalTimeout]. A phone that acknowledges later is
	// pushed remotely too (lpns reports the late ack).
	LocalTimeout time.Duration
	// MaxConcurrency bounds the sends in flight across all calls; a send
	// waits for a slot within its deadline. 0 means [DefaultMaxConcurrency].
	MaxConcurrency int
	// MaxConcurrencyPerCall bounds the devices of one call served at once;
	// 0 means [DefaultMaxConcurrencyPerCall].
	MaxConcurrencyPerCall int
	// Retry says how temporary failures are retried.
	Retry RetryPolicy
	// OnDelivery, when set, is called once per device outcome, from the
	// goroutine that delivered it (concurrently, inline: keep it fast).
	OnDelivery func(Delivery)
	// Logger receives one record per device delivery (info when
	// delivered, warn otherwise) and prune failures; nil discards.
	Logger *slog.Logger
}

// Dispatcher delivers notifications to the devices of a session. It is safe
// for concurrent use. It owns the senders of its Config: Close and Shutdown
// close those that have a Close method.
type Dispatcher struct {
	cfg   Config
	reg   registry.Registry
	shape ShapeFunc
	log   *slog.Logger
	retry RetryPolicy
	sem   chan struct{}
	seal  *sealers

	// noSender are the configuration errors of absent senders, by path.
	noFCM, noAPNs, noLPNS error

	mu        sync.RWMutex
	closed    bool
	done      chan struct{} // closed by Close: sleeps and slot waits end
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and returns a Dispatcher. Errors match
// pushwire.ErrConfiguration.
func New(cfg Config) (*Dispatcher, error) {
	switch {
	case cfg.Registry == nil:
		return nil, configError("Registry is required")
	case cfg.Timeout < 0, cfg.LocalTimeout < 0:
		return nil, configError("timeouts must not be negative")
	case cfg.MaxConcurrency < 0, cfg.MaxConcurrencyPerCall < 0:
		return nil, configError("concurrency limits must not be negative")
	}
	r, err := cfg.Retry.withDefaults()
	if err != nil {
		return nil, err
	}
	sl, err := newSealers(cfg.Seal, cfg.LPNS)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.LocalTimeout == 0 {
		cfg.LocalTimeout = DefaultLocalTimeout
	}
	if cfg.MaxConcurrency == 0 {
		cfg.MaxConcurrency = DefaultMaxConcurrency
	}
	if cfg.MaxConcurrencyPerCall == 0 {
		cfg.MaxConcurrencyPerCall = DefaultMaxConcurrencyPerCall
	}
	d := &Dispatcher{
		cfg:    cfg,
		reg:    cfg.Registry,
		shape:  cfg.Shape,
		log:    cfg.Logger,
		retry:  r,
		sem:    make(chan struct{}, cfg.MaxConcurrency),
		seal:   sl,
		done:   make(chan struct{}),
		noFCM:  noSender(pushwire.ProviderFCM),
		noAPNs: noSender(pushwire.ProviderAPNs),
		noLPNS: noSender(pushwire.ProviderLPNS),
	}
	if d.shape == nil {
		d.shape = DefaultShape
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d, nil
}

func configError(msg string) error {
	return &pushwire.Error{Class: pushwire.ErrConfiguration, Err: errors.New("dispatch: " + msg)}
}

func noSender(p pushwire.Provider) error {
	return &pushwire.Error{Class: pushwire.ErrConfiguration, Provider: p, Reason: "NoSender",
		Err: errors.New("dispatch: no " + string(p) + " sender is configured")}
}

// Notify delivers msg to every live device of session and returns one
// outcome per device (see the package documentation). Each device gets the
// message [Config.Shape] makes of msg for it. The error is non-nil only when
// nothing was tried: the registry lookup failed, or the Dispatcher is closed
// (an error matching pushwire.ErrClosed). A session without devices gives an
// empty Result.
func (d *Dispatcher) Notify(ctx context.Context, session string, msg pushwire.Message) (Result, error) {
	if !d.enter() {
		return Result{Session: session}, errClosed
	}
	defer d.wg.Done()
	ctx, cancel, dl := d.callContext(ctx)
	defer cancel()
	devs, err := d.reg.Lookup(ctx, session)
	if err != nil {
		return Result{Session: session}, fmt.Errorf("dispatch: session lookup: %w", err)
	}
	return d.deliver(ctx, dl, session, devs, msg), nil
}

// NotifyDevices is Notify for bindings the caller already looked up (and
// perhaps filtered), such as those of one session a connector has checked a
// signature for. The devices should come from the Dispatcher's registry:
// pruning uses their keys and UpdatedAt. The error is non-nil only when the
// Dispatcher is closed.
func (d *Dispatcher) NotifyDevices(ctx context.Context, devs []registry.Device, msg pushwire.Message) (Result, error) {
	session := ""
	if len(devs) > 0 {
		session = devs[0].Session
	}
	if !d.enter() {
		return Result{Session: session}, errClosed
	}
	defer d.wg.Done()
	ctx, cancel, dl := d.callContext(ctx)
	defer cancel()
	return d.deliver(ctx, dl, session, devs, msg), nil
}

var errClosed = fmt.Errorf("dispatch: %w", pushwire.ErrClosed)

func (d *Dispatcher) enter() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return false
	}
	d.wg.Add(1)
	return true
}

// callContext bounds ctx by the configured timeout, less a reserve: the
// call's sends end that much before the call does, so that a sender
// honouring its context reports how its send ended before the call gives up
// on it. It returns the call's deadline.
func (d *Dispatcher) callContext(ctx context.Context) (context.Context, context.CancelFunc, time.Time) {
	now := time.Now()
	dl := now.Add(d.cfg.Timeout)
	if cur, ok := ctx.Deadline(); ok && cur.Before(dl) {
		dl = cur
	}
	ctx, cancel := context.WithDeadline(ctx, dl.Add(-reserveFor(dl.Sub(now))))
	return ctx, cancel, dl
}

// group is one phone: its local binding and the remote binding to fall
// back to (indexes into the devices; -1 when absent).
type group struct {
	phone         string
	local, remote int
}

// inline is how many phones a call serves without allocating per phone.
const inline = 4

// call is the state of one Notify shared with its workers, allocated once.
type call struct {
	d      *Dispatcher
	ctx    context.Context // the call's sends and pruning
	devs   []registry.Device
	groups []group
	msg    pushwire.Message
	next   atomic.Int64
	out    []Delivery
	state  []atomic.Int32 // per group: 0 running, 1 reported, 2 abandoned
	ready  chan int

	groupBuf [inline]group
	outBuf   [inline]Delivery
	stateBuf [inline]atomic.Int32
}

const (
	stateRunning int32 = iota
	stateReported
	stateAbandoned
)

// setGroups gathers c.devs into phones, in the order of their first binding.
func (c *call) setGroups() {
	devs := c.devs
	gs := c.groupBuf[:0]
	for i := range devs {
		dev := &devs[i]
		phone := dev.Labels[LabelDevice]
		g := -1
		if phone != "" {
			for j := range gs {
				if gs[j].phone == phone {
					g = j
					break
				}
			}
		}
		if g < 0 {
			gs = append(gs, group{phone: phone, local: -1, remote: -1})
			g = len(gs) - 1
		}
		p := &gs[g]
		switch dev.Provider {
		case pushwire.ProviderLPNS:
			if p.local < 0 {
				p.local = i
			}
		case pushwire.ProviderAPNs:
			// The most recent APNs binding, preferred to FCM.
			if p.remote < 0 || devs[p.remote].Provider == pushwire.ProviderFCM {
				p.remote = i
			}
		default:
			if p.remote < 0 {
				p.remote = i
			}
		}
	}
	c.groups = gs
	if n := len(gs); n <= inline {
		c.out, c.state = c.outBuf[:n], c.stateBuf[:n]
	} else {
		c.out, c.state = make([]Delivery, n), make([]atomic.Int32, n)
	}
}

// reserveFor is how much earlier than the call its sends' deadline passes.
func reserveFor(left time.Duration) time.Duration {
	return min(left/20, 50*time.Millisecond)
}

// deliver serves the phones of devs with ctx (whose deadline is the sends')
// until they are all done or the call's deadline dl passed.
func (d *Dispatcher) deliver(ctx context.Context, dl time.Time, session string, devs []registry.Device, msg pushwire.Message) Result {
	res := Result{Session: session}
	if len(devs) == 0 {
		return res
	}
	c := &call{d: d, ctx: ctx, devs: devs, msg: msg}
	c.setGroups()
	gs := c.groups
	c.ready = make(chan int, len(gs))
	workers := min(len(gs), d.cfg.MaxConcurrencyPerCall)
	d.wg.Add(workers)
	for range workers {
		go c.work()
	}
	got := 0
	for ; got < len(gs); got++ {
		select {
		case <-c.ready:
			continue
		case <-ctx.Done():
		}
		break
	}
	if got < len(gs) {
		// The sends' deadline passed: wait for the reports of senders
		// that honour it until the call's own deadline.
		if wait := time.Until(dl); wait > 0 {
			t := time.NewTimer(wait)
		drain:
			for ; got < len(gs); got++ {
				select {
				case <-c.ready:
				case <-t.C:
					break drain
				}
			}
			t.Stop()
		}
	}
	if got == len(gs) {
		res.Deliveries = c.out
		return res
	}
	// Give up on the sends still under way: their outcome is unknown. A
	// worker that reported first keeps its slot.
	for i := range gs {
		if c.state[i].CompareAndSwap(stateRunning, stateAbandoned) {
			dev := devs[primary(gs[i])]
			dv := Delivery{Device: dev, Phone: gs[i].phone, Outcome: Unknown, Path: pathOf(dev.Provider),
				Err: pushwire.ContextError(dev.Provider, context.DeadlineExceeded, true)}
			if cause := ctx.Err(); cause != nil {
				dv.Err = pushwire.ContextError(dev.Provider, cause, true)
			}
			d.report(ctx, dv)
			c.out[i] = dv
			got++
		}
	}
	for ; got < len(gs); got++ {
		<-c.ready
	}
	// Late workers must not write into what the caller reads.
	res.Deliveries = append([]Delivery(nil), c.out...)
	return res
}

// primary is the binding a phone is tried on first.
func primary(g group) int {
	if g.local >= 0 {
		return g.local
	}
	return g.remote
}

// work delivers groups until none is left.
func (c *call) work() {
	defer c.d.wg.Done()
	for {
		i := int(c.next.Add(1) - 1)
		if i >= len(c.groups) {
			return
		}
		dv := c.d.deliverPhone(c, c.groups[i])
		if c.state[i].CompareAndSwap(stateRunning, stateReported) {
			c.d.report(c.ctx, dv)
			c.out[i] = dv
			c.ready <- i
		}
	}
}

// deliverPhone delivers to one phone: locally first when it can, else (or
// then) through its remote binding.
func (d *Dispatcher) deliverPhone(c *call, g group) Delivery {
	start := time.Now()
	dv := Delivery{Phone: g.phone}
	msg := c.msg
	if g.local >= 0 && (d.cfg.LPNS != nil || d.cfg.SenderFor != nil) {
		if g.remote >= 0 && msg.ID == "" {
			// The same id locally and remotely, so the app can drop a
			// late duplicate.
			msg.ID = uuid.NewString()
		}
		done := d.deliverLocal(c, g, msg, &dv)
		if done {
			dv.Latency = time.Since(start)
			return dv
		}
		dv.LocalErr = dv.Err
	} else if g.remote < 0 {
		// Only a local binding and no local sender.
		dv.Device = c.devs[g.local]
		dv.Path = PathLocal
		dv.Err = d.noLPNS
		dv.Latency = time.Since(start)
		return dv
	}
	dv.Device = c.devs[g.remote]
	dv.Path = pathOf(dv.Device.Provider)
	dv.Attempts = 0
	dv.Sealed = false
	d.deliverRemote(c, msg, &dv)
	dv.Latency = time.Since(start)
	return dv
}

// deliverLocal tries the phone's local binding and reports whether that
// settled its outcome (false: fall back to the remote binding).
func (d *Dispatcher) deliverLocal(c *call, g group, msg pushwire.Message, dv *Delivery) bool {
	dev := c.devs[g.local]
	dv.Device, dv.Path = dev, PathLocal
	s, release, err := d.senderFor(c.ctx, dev)
	if err != nil {
		dv.Err = err
		return g.remote < 0
	}
	if release != nil {
		defer release()
	}
	ctx := c.ctx
	if g.remote >= 0 {
		left := d.cfg.LocalTimeout
		if dl, ok := ctx.Deadline(); ok {
			left = min(left, time.Until(dl)/2)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, left)
		defer cancel()
	}
	m, sealed, err := d.seal.seal(d.shaped(msg, dev), dev.Provider)
	if err != nil {
		// Not sent: the remote binding may have keys.
		dv.Err = err
		return g.remote < 0
	}
	dv.Sealed = sealed
	if err := d.acquire(ctx, dev.Provider); err != nil {
		dv.Err = err
		return g.remote < 0 || c.ctx.Err() != nil
	}
	err = s.Send(ctx, m)
	d.releaseSlot()
	dv.Attempts = 1
	dv.Err = err
	if err == nil {
		dv.Outcome = Delivered
		return true
	}
	if g.remote >= 0 && c.ctx.Err() == nil && fallsBack(err, ctx) {
		return false
	}
	switch {
	case errors.Is(err, lpns.ErrNotAcknowledged), errors.Is(err, pushwire.ErrUnknownOutcome):
		dv.Outcome = Unknown
	default:
		dv.Outcome = outcomeOf(err)
	}
	if dv.Outcome == Dead {
		// A local sender (SenderFor's) may say a binding is gone too.
		d.prune(c.ctx, dv)
	}
	return true
}

// fallsBack reports whether a local failure sends the phone to its remote
// binding: the phone is not connected, did not acknowledge in time, or the
// local server is closing. Other errors (a payload too large or invalid)
// would fail remotely too.
func fallsBack(err error, local context.Context) bool {
	return errors.Is(err, lpns.ErrNotConnected) || errors.Is(err, lpns.ErrNotAcknowledged) ||
		errors.Is(err, lpns.ErrServerClosed) || errors.Is(err, pushwire.ErrClosed) ||
		errors.Is(err, pushwire.ErrUnknownOutcome) ||
		(local.Err() != nil && errors.Is(err, context.DeadlineExceeded))
}

// outcomeOf classifies the final error of a path.
func outcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return Delivered
	case errors.Is(err, pushwire.ErrDeadToken):
		return Dead
	case errors.Is(err, pushwire.ErrUnknownOutcome):
		return Unknown
	}
	return Failed
}

// deliverRemote sends to dv.Device with retries, and prunes a dead token.
func (d *Dispatcher) deliverRemote(c *call, msg pushwire.Message, dv *Delivery) {
	dev := dv.Device
	s, release, err := d.senderFor(c.ctx, dev)
	if err != nil {
		dv.Err, dv.Outcome = err, outcomeOf(err)
		return
	}
	if release != nil {
		defer release()
	}
	m, sealed, err := d.seal.seal(d.shaped(msg, dev), dev.Provider)
	if err != nil {
		dv.Err, dv.Outcome = err, outcomeOf(err)
		return
	}
	dv.Sealed = sealed
	for attempt := 1; ; attempt++ {
		if err := d.acquire(c.ctx, dev.Provider); err != nil {
			dv.Err, dv.Outcome = err, Failed
			return
		}
		err := s.Send(c.ctx, m)
		d.releaseSlot()
		dv.Attempts = attempt
		dv.Err = err
		dv.Outcome = outcomeOf(err)
		if dv.Outcome != Failed {
			break
		}
		if attempt >= d.retry.MaxAttempts || !errors.Is(err, pushwire.ErrRetryable) || errors.Is(err, pushwire.ErrClosed) {
			return
		}
		if !d.sleep(c.ctx, d.retry.backoff(attempt, err)) {
			return
		}
	}
	if dv.Outcome == Dead {
		d.prune(c.ctx, dv)
	}
}

// sleep waits for delay, unless that would pass ctx's deadline, ctx ends or
// the Dispatcher closes; it reports whether it waited.
func (d *Dispatcher) sleep(ctx context.Context, delay time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
		return false
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-d.done:
	}
	return false
}

// acquire takes a slot of the concurrency bound.
func (d *Dispatcher) acquire(ctx context.Context, p pushwire.Provider) error {
	select {
	case d.sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case d.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return pushwire.ContextError(p, ctx.Err(), false)
	case <-d.done:
		return errClosed
	}
}

func (d *Dispatcher) releaseSlot() { <-d.sem }

// shaped is the message dev gets: msg shaped for it, with its token and
// payload keys unless the shape set others.
func (d *Dispatcher) shaped(msg pushwire.Message, dev registry.Device) pushwire.Message {
	id := msg.ID
	msg.PayloadKeys = nil // the binding's, not the caller's
	m := d.shape(msg, dev)
	if m.Token == "" {
		m.Token = dev.Token
	}
	if m.PayloadKeys == nil {
		m.PayloadKeys = dev.PayloadKeys
	}
	if m.ID == "" {
		m.ID = id
	}
	return m
}

// senderFor returns the sender of dev.
func (d *Dispatcher) senderFor(ctx context.Context, dev registry.Device) (pushwire.Sender, func(), error) {
	if d.cfg.SenderFor != nil {
		s, release, err := d.cfg.SenderFor(ctx, dev)
		if err != nil || s != nil {
			return s, release, err
		}
	}
	switch dev.Provider {
	case pushwire.ProviderFCM:
		if d.cfg.FCM != nil {
			return d.cfg.FCM, nil, nil
		}
		return nil, nil, d.noFCM
	case pushwire.ProviderAPNs:
		if d.cfg.APNs != nil {
			return d.cfg.APNs, nil, nil
		}
		return nil, nil, d.noAPNs
	case pushwire.ProviderLPNS:
		if d.cfg.LPNS != nil {
			return d.cfg.LPNS, nil, nil
		}
		return nil, nil, d.noLPNS
	}
	return nil, nil, &pushwire.Error{Class: pushwire.ErrConfiguration, Provider: dev.Provider, Reason: "UnknownProvider"}
}

// prune invalidates a dead binding as of the provider's dead-since time, or
// as of the binding's UpdatedAt, so that a token registered again is kept.
func (d *Dispatcher) prune(ctx context.Context, dv *Delivery) {
	asOf := dv.Device.UpdatedAt
	if since, ok := pushwire.DeadSince(dv.Err); ok {
		asOf = since
	}
	removed, err := d.reg.Invalidate(ctx, dv.Device.Key(), asOf)
	if err != nil {
		dv.PruneErr = err
		d.log.LogAttrs(ctx, slog.LevelWarn, "pruning a dead token failed",
			slog.String("provider", string(dv.Device.Provider)),
			slog.String("token", pushwire.Redact(dv.Device.Token)), slog.String("err", err.Error()))
		return
	}
	dv.Pruned = removed
}

// report logs dv and calls the hook.
func (d *Dispatcher) report(ctx context.Context, dv Delivery) {
	if f := d.cfg.OnDelivery; f != nil {
		f(dv)
	}
	level := slog.LevelInfo
	if dv.Outcome != Delivered {
		level = slog.LevelWarn
	}
	if !d.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("session", dv.Device.Session),
		slog.String("provider", string(dv.Device.Provider)),
		slog.String("token", pushwire.Redact(dv.Device.Token)),
		slog.String("outcome", dv.Outcome.String()),
		slog.String("path", string(dv.Path)),
		slog.Duration("latency", dv.Latency),
		slog.Int("retries", dv.Retries()))
	if dv.Phone != "" {
		attrs = append(attrs, slog.String("phone", dv.Phone))
	}
	if dv.Err != nil {
		attrs = append(attrs, slog.String("err", dv.Err.Error()))
	}
	if dv.Outcome == Dead {
		attrs = append(attrs, slog.Bool("pruned", dv.Pruned))
	}
	if dv.Sealed {
		attrs = append(attrs, slog.Bool("sealed", true))
	}
	d.log.LogAttrs(ctx, level, "delivery", attrs...)
}

// Close refuses new calls at once (they return an error matching
// pushwire.ErrClosed), cancels the calls under way (their waits end, their
// senders are closed, which ends their sends), waits for them to return and
// closes the senders of the Config that have a Close method. It is
// idempotent and returns the first error of closing a sender.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.closeOnce.Do(func() {
		close(d.done)
		d.closeErr = d.closeSenders(context.Background(), false)
	})
	d.wg.Wait()
	return d.closeErr
}

// Shutdown refuses new calls, waits for the calls under way to finish or for
// ctx to end, then does what Close does (senders with a Shutdown method are
// shut down with ctx first). It returns ctx's error when ctx ended first.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	idle := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(idle)
	}()
	var err error
	select {
	case <-idle:
		d.closeOnce.Do(func() {
			close(d.done)
			d.closeErr = d.closeSenders(ctx, true)
		})
	case <-ctx.Done():
		err = ctx.Err()
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	<-idle
	return err
}

// closeSenders closes each distinct sender once: with Shutdown(ctx) when
// graceful and it has one, else with Close.
func (d *Dispatcher) closeSenders(ctx context.Context, graceful bool) error {
	var first error
	seen := make([]pushwire.Sender, 0, 3)
	for _, s := range []pushwire.Sender{d.cfg.FCM, d.cfg.APNs, d.cfg.LPNS} {
		if s == nil || contains(seen, s) {
			continue
		}
		seen = append(seen, s)
		var err error
		if sh, ok := s.(interface{ Shutdown(context.Context) error }); ok && graceful {
			err = sh.Shutdown(ctx)
		} else if c, ok := s.(interface{ Close() error }); ok {
			err = c.Close()
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

func contains(ss []pushwire.Sender, s pushwire.Sender) bool {
	for _, x := range ss {
		if sameSender(x, s) {
			return true
		}
	}
	return false
}

// sameSender compares senders that may not be comparable (a SenderFunc).
func sameSender(a, b pushwire.Sender) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
