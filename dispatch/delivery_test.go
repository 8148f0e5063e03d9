package dispatch_test

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
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// binding is a device of session "s" as a registry returns it, for
// NotifyDevices; phone is its LabelDevice ("" for none).
func binding(p pushwire.Provider, token, phone string) registry.Device {
	d := registry.Device{Session: "s", Provider: p, Token: token, UpdatedAt: time.Now()}
	if phone != "" {
		d.Labels = map[string]string{dispatch.LabelDevice: phone}
	}
	return d
}

func tokens(msgs []pushwire.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Token)
	}
	return out
}

// TestPhones: bindings sharing a LabelDevice are one phone, at the place of
// its first binding; its newest local binding is tried first, and of its
// remote bindings the newest APNs one, else the newest FCM one (the
// registry's order is newest first).
func TestPhones(t *testing.T) {
	lp, ap, fc := pushwire.ProviderLPNS, pushwire.ProviderAPNs, pushwire.ProviderFCM
	tests := []struct {
		name    string
		devs    []registry.Device
		want    []string // the binding of each Delivery, in order
		phones  []string
		local   []string // sent over local push
		remote  []string // sent to APNs or FCM
		failLPN bool     // the local sender answers ErrNotConnected
	}{
		{"newest local binding first", []registry.Device{binding(lp, "l1", "p"), binding(lp, "l2", "p")},
			[]string{"l1"}, []string{"p"}, []string{"l1"}, nil, false},
		{"newest APNs binding", []registry.Device{binding(ap, "a1", "p"), binding(ap, "a2", "p")},
			[]string{"a1"}, []string{"p"}, nil, []string{"a1"}, false},
		{"APNs preferred to a newer FCM binding", []registry.Device{binding(fc, "f1", "p"), binding(ap, "a1", "p"), binding(ap, "a2", "p")},
			[]string{"a1"}, []string{"p"}, nil, []string{"a1"}, false},
		{"APNs preferred to an older FCM binding", []registry.Device{binding(ap, "a1", "p"), binding(fc, "f1", "p")},
			[]string{"a1"}, []string{"p"}, nil, []string{"a1"}, false},
		{"newest FCM binding", []registry.Device{binding(fc, "f1", "p"), binding(fc, "f2", "p")},
			[]string{"f1"}, []string{"p"}, nil, []string{"f1"}, false},
		{"local first, then the remote binding", []registry.Device{binding(fc, "f1", "p"), binding(lp, "l1", "p")},
			[]string{"f1"}, []string{"p"}, []string{"l1"}, []string{"f1"}, true},
		{"bindings without a label are devices of their own", []registry.Device{binding(fc, "f1", ""), binding(fc, "f2", "")},
			[]string{"f1", "f2"}, []string{"", ""}, nil, []string{"f1", "f2"}, false},
		{"phones in the order of their first binding", []registry.Device{binding(fc, "f1", "q"), binding(ap, "a1", "p"),
			binding(lp, "l1", "q"), binding(fc, "f2", "")},
			[]string{"l1", "a1", "f2"}, []string{"q", "p", ""}, []string{"l1"}, []string{"a1", "f2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local, remote := &script{}, &script{}
			if tt.failLPN {
				local.errs = []error{lpns.ErrNotConnected}
			}
			d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), LPNS: local, APNs: remote, FCM: remote})
			res, err := d.NotifyDevices(context.Background(), tt.devs, pushwire.Message{})
			require.NoError(t, err)
			assert.Equal(t, "s", res.Session)
			var got, phones []string
			for _, dv := range res.Deliveries {
				got = append(got, dv.Device.Token)
				phones = append(phones, dv.Phone)
				assert.Equal(t, dispatch.Delivered, dv.Outcome, "%s: %v", dv.Device.Token, dv.Err)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.phones, phones)
			assert.ElementsMatch(t, tt.local, tokens(local.sent()))
			assert.ElementsMatch(t, tt.remote, tokens(remote.sent()))
		})
	}
}

// TestNoDevices: a call without devices is an empty Result.
func TestNoDevices(t *testing.T) {
	d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), FCM: &script{}})
	res, err := d.Notify(context.Background(), "nobody", pushwire.Message{})
	require.NoError(t, err)
	assert.Equal(t, dispatch.Result{Session: "nobody"}, res)
	res, err = d.NotifyDevices(context.Background(), []registry.Device{}, pushwire.Message{})
	require.NoError(t, err)
	assert.Equal(t, dispatch.Result{}, res)
	assert.Equal(t, dispatch.Counts{}, res.Counts())
}

// deadlineOf records the deadline of each send's context.
type deadlineOf struct {
	mu  sync.Mutex
	got []time.Time
}

func (s *deadlineOf) Send(ctx context.Context, _ pushwire.Message) error {
	dl, ok := ctx.Deadline()
	if !ok {
		return errors.New("send without a deadline")
	}
	s.mu.Lock()
	s.got = append(s.got, dl)
	s.mu.Unlock()
	return nil
}

func (s *deadlineOf) only(t *testing.T) time.Time {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Len(t, s.got, 1)
	return s.got[0]
}

// TestCallDeadline: a call's deadline is the earlier of its context's and
// Config.Timeout; its sends end a little before it (a twentieth of the time
// left, at most 50 ms), so that their outcome is known when the call ends.
func TestCallDeadline(t *testing.T) {
	const reserve = 50 * time.Millisecond
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     time.Duration // 0: no deadline
		// the sends' deadline, from the call's start: [lo, hi] after
		// before, or exactly at ctx's deadline less exact when set
		lo, hi time.Duration
		exact  time.Duration
	}{
		{name: "the context's deadline is sooner", ctx: 2 * time.Second, exact: reserve},
		{name: "a short call keeps a twentieth", ctx: 400 * time.Millisecond, lo: 380 * time.Millisecond, hi: 400 * time.Millisecond},
		{name: "Timeout is sooner", timeout: time.Second, ctx: time.Hour, lo: time.Second - reserve, hi: time.Second - reserve},
		{name: "no deadline: DefaultTimeout", lo: dispatch.DefaultTimeout - reserve, hi: dispatch.DefaultTimeout - reserve},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &deadlineOf{}
			d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), FCM: s, Timeout: tt.timeout})
			ctx := context.Background()
			before := time.Now()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, before.Add(tt.ctx))
				defer cancel()
			}
			res, err := d.NotifyDevices(ctx, []registry.Device{binding(pushwire.ProviderFCM, "f1", "")}, pushwire.Message{})
			after := time.Now()
			require.NoError(t, err)
			require.Equal(t, dispatch.Delivered, res.Deliveries[0].Outcome)
			got := s.only(t)
			if tt.exact > 0 {
				assert.Equal(t, before.Add(tt.ctx).Add(-tt.exact), got)
				return
			}
			if tt.ctx > 0 && tt.timeout == 0 {
				// The call's deadline is the context's: a twentieth of
				// the time left at the call's start.
				dl := before.Add(tt.ctx)
				assert.False(t, got.Before(dl.Add(-(tt.ctx - tt.lo))), "%v before the call's deadline", dl.Sub(got))
				assert.True(t, got.Before(dl))
				return
			}
			assert.False(t, got.Before(before.Add(tt.lo)), "%v", got.Sub(before))
			assert.False(t, got.After(after.Add(tt.hi)), "%v", got.Sub(after))
		})
	}
}

// TestLocalAttemptDeadline: the local attempt of a phone with a remote
// binding lasts at most LocalTimeout and half the time left of the call; a
// phone with only a local binding has the whole call.
func TestLocalAttemptDeadline(t *testing.T) {
	remoteFirst := []registry.Device{binding(pushwire.ProviderAPNs, "a1", "p"), binding(pushwire.ProviderLPNS, "l1", "p")}
	t.Run("LocalTimeout", func(t *testing.T) {
		local := &deadlineOf{}
		remote := &script{}
		d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), LPNS: local, APNs: remote, LocalTimeout: 300 * time.Millisecond})
		before := time.Now()
		res, err := d.NotifyDevices(context.Background(), remoteFirst, pushwire.Message{})
		after := time.Now()
		require.NoError(t, err)
		assert.Equal(t, dispatch.PathLocal, res.Deliveries[0].Path)
		got := local.only(t)
		assert.False(t, got.Before(before.Add(300*time.Millisecond)))
		assert.False(t, got.After(after.Add(300*time.Millisecond)))
		assert.Empty(t, remote.sent())
	})
	t.Run("half the time left", func(t *testing.T) {
		local := &deadlineOf{}
		d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), LPNS: local, APNs: &script{}, LocalTimeout: time.Hour})
		before := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), before.Add(2*time.Second))
		defer cancel()
		res, err := d.NotifyDevices(ctx, remoteFirst, pushwire.Message{})
		after := time.Now()
		require.NoError(t, err)
		assert.Equal(t, dispatch.PathLocal, res.Deliveries[0].Path)
		sends := before.Add(2*time.Second - 50*time.Millisecond) // the sends' deadline
		got := local.only(t)
		assert.False(t, got.Before(before.Add(sends.Sub(before)/2)), "%v", sends.Sub(got))
		assert.False(t, got.After(after.Add(sends.Sub(after)/2)), "%v", sends.Sub(got))
	})
	t.Run("local binding only", func(t *testing.T) {
		local := &deadlineOf{}
		d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), LPNS: local, LocalTimeout: time.Millisecond})
		before := time.Now()
		_, err := d.NotifyDevices(context.Background(), remoteFirst[1:], pushwire.Message{})
		require.NoError(t, err)
		assert.False(t, local.only(t).Before(before.Add(dispatch.DefaultTimeout-50*time.Millisecond)))
	})
}

// stuck is a sender that ignores its context: it returns nil once released.
type stuck struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newStuck() *stuck { return &stuck{entered: make(chan struct{}), release: make(chan struct{})} }

func (s *stuck) Send(context.Context, pushwire.Message) error {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return nil
}

// notify runs NotifyDevices and fails the test unless it returns within a
// few seconds (a call that waits for a send it gave up on never returns).
func notify(t *testing.T, d *dispatch.Dispatcher, ctx context.Context, devs []registry.Device) dispatch.Result {
	t.Helper()
	done := make(chan dispatch.Result, 1)
	go func() {
		res, err := d.NotifyDevices(ctx, devs, pushwire.Message{})
		assert.NoError(t, err)
		done <- res
	}()
	select {
	case res := <-done:
		return res
	case <-waitCtx(t).Done():
		t.Fatal("NotifyDevices did not return")
		return dispatch.Result{}
	}
}

// hooks records the deliveries OnDelivery is called with.
type hooks struct {
	mu  sync.Mutex
	got []dispatch.Delivery
}

func (h *hooks) add(dv dispatch.Delivery) {
	h.mu.Lock()
	h.got = append(h.got, dv)
	h.mu.Unlock()
}

func (h *hooks) all() []dispatch.Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]dispatch.Delivery(nil), h.got...)
}

// TestAbandonedSend: a send still under way at the call's deadline is given
// up: Unknown, with the cause of the context's end, on the binding it was
// tried on first, reported once to OnDelivery.
func TestAbandonedSend(t *testing.T) {
	t.Parallel()
	local := newStuck()
	var h hooks
	d, err := dispatch.New(dispatch.Config{Registry: newRegistry(t), LPNS: local, APNs: &script{}, OnDelivery: h.add})
	require.NoError(t, err)
	// The caller gave up already; the sender does not notice.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	cancel()
	devs := []registry.Device{binding(pushwire.ProviderLPNS, "l1", "p"), binding(pushwire.ProviderAPNs, "a1", "p")}
	res := notify(t, d, ctx, devs)
	close(local.release)
	require.NoError(t, d.Close())
	require.Len(t, res.Deliveries, 1)
	dv := res.Deliveries[0]
	assert.Equal(t, dispatch.Unknown, dv.Outcome)
	assert.ErrorIs(t, dv.Err, context.Canceled)
	assert.ErrorIs(t, dv.Err, pushwire.ErrUnknownOutcome)
	assert.Equal(t, "l1", dv.Device.Token, "the binding tried first")
	assert.Equal(t, dispatch.PathLocal, dv.Path)
	assert.Equal(t, "p", dv.Phone)
	assert.Equal(t, dispatch.Counts{Unknown: 1}, res.Counts())
	hooked := h.all()
	require.Len(t, hooked, 1, "once per device")
	assert.Equal(t, dispatch.Unknown, hooked[0].Outcome)
	assert.Equal(t, "l1", hooked[0].Device.Token)
}

// TestSlowHook: a slow OnDelivery holds its worker; the phone that worker
// did not get to is Unknown at the deadline, and the one it reported keeps
// its outcome.
func TestSlowHook(t *testing.T) {
	t.Parallel()
	unknown := make(chan struct{})
	var h hooks
	hook := func(dv dispatch.Delivery) {
		h.add(dv)
		if dv.Device.Token == "f1" {
			<-unknown // until the other phone is given up
		} else {
			close(unknown)
		}
	}
	d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), FCM: &script{}, OnDelivery: hook, MaxConcurrencyPerCall: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res := notify(t, d, ctx, []registry.Device{binding(pushwire.ProviderFCM, "f1", ""), binding(pushwire.ProviderFCM, "f2", "")})
	require.Len(t, res.Deliveries, 2)
	assert.Equal(t, dispatch.Delivered, res.Deliveries[0].Outcome)
	assert.Equal(t, dispatch.Unknown, res.Deliveries[1].Outcome)
	assert.ErrorIs(t, res.Deliveries[1].Err, context.DeadlineExceeded)
	assert.Equal(t, "f2", res.Deliveries[1].Device.Token)
	assert.Len(t, h.all(), 2)
}

// TestCanceledCall: a call whose context is cancelled returns as soon as
// its sends do, not at its deadline.
func TestCanceledCall(t *testing.T) {
	s := &script{hold: make(chan struct{})}
	d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), FCM: s, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := notify(t, d, ctx, []registry.Device{binding(pushwire.ProviderFCM, "f1", ""), binding(pushwire.ProviderFCM, "f2", "")})
	require.Len(t, res.Deliveries, 2)
	for _, dv := range res.Deliveries {
		assert.Equal(t, dispatch.Unknown, dv.Outcome)
		assert.ErrorIs(t, dv.Err, context.Canceled)
	}
}

// TestLocalPaths covers how a phone's local attempt ends and what its
// Delivery then says.
func TestLocalPaths(t *testing.T) {
	_, keys := deviceKeys(t)
	lp, ap := pushwire.ProviderLPNS, pushwire.ProviderAPNs
	remoteFirst := []registry.Device{binding(ap, "a1", "p"), binding(lp, "l1", "p")}
	errTenant := &pushwire.Error{Class: pushwire.ErrConfiguration, Reason: "NoTenant"}
	keyed := binding(lp, "l1", "p")
	keyed.PayloadKeys = keys
	notWritten := pushwire.SenderFunc(func(ctx context.Context, _ pushwire.Message) error {
		<-ctx.Done() // e.g. still waiting for the connection
		return pushwire.ContextError(pushwire.ProviderLPNS, ctx.Err(), false)
	})
	tests := []struct {
		name      string
		cfg       dispatch.Config
		devs      []registry.Device
		outcome   dispatch.Outcome
		path      dispatch.Path
		token     string
		attempts  int
		localErr  error // nil: no local error
		err       error // nil: no error
		sealed    bool
		remoteGot int
	}{
		{name: "local sender from SenderFor", cfg: dispatch.Config{APNs: &script{},
			SenderFor: func(_ context.Context, d registry.Device) (pushwire.Sender, func(), error) {
				if d.Provider == lp {
					return &script{}, nil, nil
				}
				return nil, nil, nil
			}},
			devs: remoteFirst, outcome: dispatch.Delivered, path: dispatch.PathLocal, token: "l1", attempts: 1},
		{name: "no local sender: remote only, no local error", cfg: dispatch.Config{APNs: &script{}},
			devs: remoteFirst, outcome: dispatch.Delivered, path: dispatch.PathAPNs, token: "a1", attempts: 1, remoteGot: 1},
		{name: "no local sender and no remote binding", cfg: dispatch.Config{APNs: &script{}},
			devs: remoteFirst[1:], outcome: dispatch.Failed, path: dispatch.PathLocal, token: "l1", err: pushwire.ErrConfiguration},
		{name: "SenderFor fails the local binding: remote", cfg: dispatch.Config{APNs: &script{}, LPNS: &script{},
			SenderFor: func(_ context.Context, d registry.Device) (pushwire.Sender, func(), error) {
				if d.Provider == lp {
					return nil, nil, errTenant
				}
				return nil, nil, nil
			}},
			devs: remoteFirst, outcome: dispatch.Delivered, path: dispatch.PathAPNs, token: "a1", attempts: 1,
			localErr: errTenant, remoteGot: 1},
		{name: "strict sealing, no local keys: remote", cfg: dispatch.Config{APNs: &script{}, LPNS: &script{},
			Seal: dispatch.SealConfig{Mode: dispatch.SealStrict}},
			devs: []registry.Device{func() registry.Device { d := binding(ap, "a1", "p"); d.PayloadKeys = keys; return d }(),
				binding(lp, "l1", "p")},
			outcome: dispatch.Delivered, path: dispatch.PathAPNs, token: "a1", attempts: 1,
			localErr: sealsend.ErrNoKeys, sealed: true, remoteGot: 1},
		{name: "local deadline before the write: remote", cfg: dispatch.Config{APNs: &script{}, LPNS: notWritten,
			LocalTimeout: 10 * time.Millisecond},
			devs: remoteFirst, outcome: dispatch.Delivered, path: dispatch.PathAPNs, token: "a1", attempts: 1,
			localErr: context.DeadlineExceeded, remoteGot: 1},
		{name: "local binding only: the local answer decides", cfg: dispatch.Config{LPNS: &script{errs: []error{
			&pushwire.Error{Class: pushwire.ErrDeadToken, Provider: lp, Reason: "Gone"}}}},
			devs: remoteFirst[1:], outcome: dispatch.Dead, path: dispatch.PathLocal, token: "l1", attempts: 1,
			err: pushwire.ErrDeadToken},
		{name: "sealed local miss, no remote sender", cfg: dispatch.Config{LPNS: &script{errs: []error{lpns.ErrNotConnected}}},
			devs: []registry.Device{binding(ap, "a1", "p"), keyed}, outcome: dispatch.Failed, path: dispatch.PathAPNs, token: "a1",
			localErr: lpns.ErrNotConnected, err: pushwire.ErrConfiguration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Registry = newRegistry(t)
			d := newDispatcher(t, cfg)
			res, err := d.NotifyDevices(context.Background(), tt.devs, pushwire.Message{Kind: pushwire.KindVoIP})
			require.NoError(t, err)
			require.Len(t, res.Deliveries, 1)
			dv := res.Deliveries[0]
			assert.Equal(t, tt.outcome, dv.Outcome, "%v", dv.Err)
			assert.Equal(t, tt.path, dv.Path)
			assert.Equal(t, tt.token, dv.Device.Token)
			assert.Equal(t, tt.attempts, dv.Attempts)
			assert.Equal(t, tt.sealed, dv.Sealed)
			assert.Equal(t, "p", dv.Phone)
			assert.Positive(t, dv.Latency)
			if tt.localErr == nil {
				assert.NoError(t, dv.LocalErr)
			} else {
				assert.ErrorIs(t, dv.LocalErr, tt.localErr)
			}
			if tt.err == nil {
				assert.NoError(t, dv.Err)
			} else {
				assert.ErrorIs(t, dv.Err, tt.err)
			}
			if s, ok := cfg.APNs.(*script); ok {
				assert.Len(t, s.sent(), tt.remoteGot)
			}
		})
	}
}

// TestLocalSlotReleased: a local send gives its slot of MaxConcurrency back.
func TestLocalSlotReleased(t *testing.T) {
	local := &script{}
	d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), LPNS: local, MaxConcurrency: 1, Timeout: 2 * time.Second})
	devs := []registry.Device{binding(pushwire.ProviderLPNS, "l1", ""), binding(pushwire.ProviderLPNS, "l2", ""),
		binding(pushwire.ProviderLPNS, "l3", "")}
	res, err := d.NotifyDevices(context.Background(), devs, pushwire.Message{})
	require.NoError(t, err)
	assert.Equal(t, dispatch.Counts{Delivered: 3, Local: 3}, res.Counts())
}

// TestCloseWhileWaitingForSlot: a phone waiting for a slot when the
// Dispatcher closes falls back from its local binding, and its remote
// attempt fails with ErrClosed.
func TestCloseWhileWaitingForSlot(t *testing.T) {
	holder := &script{hold: make(chan struct{})} // holds the only slot until its call ends
	holding := make(chan struct{})
	holder.onSend = func(context.Context, pushwire.Message) { close(holding) }
	waiting := make(chan struct{})
	d, err := dispatch.New(dispatch.Config{Registry: newRegistry(t), FCM: holder, APNs: &script{}, MaxConcurrency: 1,
		SenderFor: func(_ context.Context, dev registry.Device) (pushwire.Sender, func(), error) {
			if dev.Provider == pushwire.ProviderLPNS {
				close(waiting)
				return &script{}, nil, nil
			}
			return nil, nil, nil
		}})
	require.NoError(t, err)
	hctx, hcancel := context.WithCancel(context.Background())
	held := make(chan dispatch.Result, 1)
	go func() {
		res, _ := d.NotifyDevices(hctx, []registry.Device{binding(pushwire.ProviderFCM, "f1", "")}, pushwire.Message{})
		held <- res
	}()
	<-holding
	phone := make(chan dispatch.Result, 1)
	go func() {
		res, _ := d.NotifyDevices(context.Background(), []registry.Device{binding(pushwire.ProviderAPNs, "a1", "p"),
			binding(pushwire.ProviderLPNS, "l1", "p")}, pushwire.Message{})
		phone <- res
	}()
	<-waiting
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	res := <-phone
	hcancel()
	require.NoError(t, <-closed)
	<-held
	require.Len(t, res.Deliveries, 1)
	dv := res.Deliveries[0]
	assert.Equal(t, dispatch.Failed, dv.Outcome)
	assert.Equal(t, dispatch.PathAPNs, dv.Path)
	assert.Equal(t, 0, dv.Attempts)
	assert.ErrorIs(t, dv.LocalErr, pushwire.ErrClosed)
	assert.ErrorIs(t, dv.Err, pushwire.ErrClosed)
}

// TestSenderFor: a nil sender without error means the provider's sender of
// the Config; an error fails the device, whatever the Config has.
func TestSenderFor(t *testing.T) {
	fcmS := &script{}
	d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), FCM: fcmS,
		SenderFor: func(_ context.Context, dev registry.Device) (pushwire.Sender, func(), error) {
			if dev.Token == "f2" {
				return nil, nil, &pushwire.Error{Class: pushwire.ErrConfiguration, Reason: "NoTenant"}
			}
			return nil, nil, nil
		}})
	res, err := d.NotifyDevices(context.Background(), []registry.Device{binding(pushwire.ProviderFCM, "f1", ""),
		binding(pushwire.ProviderFCM, "f2", "")}, pushwire.Message{})
	require.NoError(t, err)
	require.Len(t, res.Deliveries, 2)
	assert.Equal(t, dispatch.Delivered, res.Deliveries[0].Outcome)
	assert.Equal(t, dispatch.Failed, res.Deliveries[1].Outcome)
	assert.Equal(t, 0, res.Deliveries[1].Attempts)
	assert.ErrorIs(t, res.Deliveries[1].Err, pushwire.ErrConfiguration)
	assert.Equal(t, []string{"f1"}, tokens(fcmS.sent()))
}

// TestShapeKeepsID: a Shape that builds a new message keeps the call's id;
// an id the Shape sets wins.
func TestShapeKeepsID(t *testing.T) {
	for name, tt := range map[string]struct{ shapeID, want string }{
		"no id from the shape": {"", "call-1"},
		"the shape's own id":   {"shaped-1", "shaped-1"},
	} {
		t.Run(name, func(t *testing.T) {
			s := &script{}
			d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), FCM: s,
				Shape: func(msg pushwire.Message, _ registry.Device) pushwire.Message {
					return pushwire.Message{ID: tt.shapeID, Kind: msg.Kind, Data: msg.Data}
				}})
			_, err := d.NotifyDevices(context.Background(), []registry.Device{binding(pushwire.ProviderFCM, "f1", "")},
				pushwire.Message{ID: "call-1"})
			require.NoError(t, err)
			require.Len(t, s.sent(), 1)
			assert.Equal(t, tt.want, s.sent()[0].ID)
			assert.Equal(t, "f1", s.sent()[0].Token)
		})
	}
}

// TestDeliveryLog: one record per device, info when delivered, warn
// otherwise, with the phone, the error and whether a dead binding was
// pruned when they apply.
func TestDeliveryLog(t *testing.T) {
	reg := newRegistry(t)
	dead := register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "fcm-dead-token-1"})
	tests := []struct {
		name     string
		dev      registry.Device
		err      error
		has, not []string
	}{
		{"delivered", binding(pushwire.ProviderFCM, "fcm-token-1", ""), nil,
			[]string{"level=INFO", "outcome=delivered", "path=fcm"}, []string{"err=", "phone=", "pruned=", "level=WARN"}},
		{"failed on a phone", binding(pushwire.ProviderFCM, "fcm-token-1", "p1"), permanent,
			[]string{"level=WARN", "outcome=failed", "phone=p1", "err=", "INVALID_ARGUMENT"}, []string{"pruned=", "level=INFO"}},
		{"dead", dead, &pushwire.Error{Class: pushwire.ErrDeadToken, Provider: pushwire.ProviderFCM, Reason: "UNREGISTERED"},
			[]string{"level=WARN", "outcome=dead", "pruned=true"}, []string{"phone=", "level=INFO"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf syncBuffer
			s := &script{}
			if tt.err != nil {
				s.errs = []error{tt.err}
			}
			d := newDispatcher(t, dispatch.Config{Registry: reg, FCM: s, Logger: newLogger(&buf)})
			_, err := d.NotifyDevices(context.Background(), []registry.Device{tt.dev}, pushwire.Message{})
			require.NoError(t, err)
			out := buf.String()
			assert.Equal(t, 1, strings.Count(out, "msg=delivery"), out)
			for _, s := range tt.has {
				assert.Contains(t, out, s)
			}
			for _, s := range tt.not {
				assert.NotContains(t, out, s)
			}
		})
	}
}

// TestCloseSenders: Close closes each sender of the Config once, even when
// it serves two providers, and returns the first error.
func TestCloseSenders(t *testing.T) {
	both := &closer{}
	d, err := dispatch.New(dispatch.Config{Registry: newRegistry(t), FCM: both, APNs: both})
	require.NoError(t, err)
	require.NoError(t, d.Close())
	assert.EqualValues(t, 1, both.closes.Load())

	e1, e2 := errors.New("fcm close"), errors.New("apns close")
	fcmS, apnsS, lpnsS := &closer{err: e1}, &closer{err: e2}, &closer{}
	d, err = dispatch.New(dispatch.Config{Registry: newRegistry(t), FCM: fcmS, APNs: apnsS, LPNS: lpnsS})
	require.NoError(t, err)
	assert.Equal(t, e1, d.Close())
	assert.Equal(t, e1, d.Close(), "idempotent")
	assert.Equal(t, []int64{1, 1, 1}, []int64{fcmS.closes.Load(), apnsS.closes.Load(), lpnsS.closes.Load()})

	okS, apnsS := &closer{}, &closer{err: e2}
	d, err = dispatch.New(dispatch.Config{Registry: newRegistry(t), FCM: okS, APNs: apnsS})
	require.NoError(t, err)
	assert.Equal(t, e2, d.Close())
}

// TestRetryAfterPastLongDeadline: a Retry-After that would pass the call's
// deadline is not waited for, however far that deadline is.
func TestRetryAfterPastLongDeadline(t *testing.T) {
	s := &script{errs: []error{retryable(2 * time.Hour), nil}}
	d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), FCM: s, Timeout: time.Hour})
	res := notify(t, d, context.Background(), []registry.Device{binding(pushwire.ProviderFCM, "f1", "")})
	require.Len(t, res.Deliveries, 1)
	dv := res.Deliveries[0]
	assert.Equal(t, dispatch.Failed, dv.Outcome)
	assert.Equal(t, 1, dv.Attempts)
	ra, ok := pushwire.RetryAfter(dv.Err)
	assert.True(t, ok)
	assert.Equal(t, 2*time.Hour, ra)
}

// TestMissingSender: a device whose provider has no sender fails with a
// configuration error naming the provider; so does an unknown provider.
func TestMissingSender(t *testing.T) {
	tests := []struct {
		provider  pushwire.Provider
		reason    string
		senderFor bool // a SenderFor that leaves every binding to the Config
	}{
		{pushwire.ProviderFCM, "NoSender", false},
		{pushwire.ProviderAPNs, "NoSender", false},
		{pushwire.ProviderLPNS, "NoSender", false},
		{pushwire.ProviderFCM, "NoSender", true},
		{pushwire.ProviderAPNs, "NoSender", true},
		{pushwire.ProviderLPNS, "NoSender", true},
		{"webpush", "UnknownProvider", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%v", tt.provider, tt.senderFor), func(t *testing.T) {
			// Every other provider has a sender.
			cfg := dispatch.Config{Registry: newRegistry(t), FCM: &script{}, APNs: &script{}, LPNS: &script{}}
			if tt.senderFor {
				cfg.SenderFor = func(context.Context, registry.Device) (pushwire.Sender, func(), error) { return nil, nil, nil }
			}
			switch tt.provider {
			case pushwire.ProviderFCM:
				cfg.FCM = nil
			case pushwire.ProviderAPNs:
				cfg.APNs = nil
			case pushwire.ProviderLPNS:
				cfg.LPNS = nil
			}
			d := newDispatcher(t, cfg)
			res, err := d.NotifyDevices(context.Background(), []registry.Device{binding(tt.provider, "t1", "")}, pushwire.Message{})
			require.NoError(t, err)
			require.Len(t, res.Deliveries, 1)
			dv := res.Deliveries[0]
			assert.Equal(t, dispatch.Failed, dv.Outcome)
			assert.Equal(t, 0, dv.Attempts)
			assert.ErrorIs(t, dv.Err, pushwire.ErrConfiguration)
			var pe *pushwire.Error
			require.ErrorAs(t, dv.Err, &pe)
			assert.Equal(t, tt.reason, pe.Reason)
			assert.Equal(t, tt.provider, pe.Provider)
		})
	}
}

// TestSlotWaitEnds: a send waiting for a slot of MaxConcurrency gives up
// when its call's context ends: Failed, nothing was written.
func TestSlotWaitEnds(t *testing.T) {
	holder := &script{hold: make(chan struct{})}
	holding := make(chan struct{})
	holder.onSend = func(context.Context, pushwire.Message) { close(holding) }
	other := &script{}
	d := newDispatcher(t, dispatch.Config{Registry: newRegistry(t), FCM: holder, APNs: other, MaxConcurrency: 1})
	hctx, hcancel := context.WithCancel(context.Background())
	held := make(chan struct{})
	go func() {
		defer close(held)
		_, _ = d.NotifyDevices(hctx, []registry.Device{binding(pushwire.ProviderFCM, "f1", "")}, pushwire.Message{})
	}()
	<-holding
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := notify(t, d, ctx, []registry.Device{binding(pushwire.ProviderAPNs, "a1", "")})
	hcancel()
	<-held
	require.Len(t, res.Deliveries, 1)
	dv := res.Deliveries[0]
	assert.Equal(t, dispatch.Failed, dv.Outcome)
	assert.Equal(t, 0, dv.Attempts)
	assert.ErrorIs(t, dv.Err, context.Canceled)
	assert.NotErrorIs(t, dv.Err, pushwire.ErrUnknownOutcome)
	assert.Empty(t, other.sent())
}

// TestPruneFailure: a registry failing to prune leaves Pruned false with
// PruneErr set (the outcome counted Dead), and is logged with the token
// redacted.
func TestPruneFailure(t *testing.T) {
	for _, removed := range []bool{false, true} {
		var buf syncBuffer
		d := newDispatcher(t, dispatch.Config{Registry: failingRegistry{newRegistry(t), removed}, Logger: newLogger(&buf),
			FCM: &script{errs: []error{dead(time.Time{})}}})
		res, err := d.NotifyDevices(context.Background(), []registry.Device{binding(pushwire.ProviderFCM, voipToken, "")}, pushwire.Message{})
		require.NoError(t, err)
		dv := res.Deliveries[0]
		assert.Equal(t, dispatch.Dead, dv.Outcome)
		assert.False(t, dv.Pruned, "removed %v", removed)
		assert.EqualError(t, dv.PruneErr, "registry down")
		assert.Equal(t, dispatch.Counts{Dead: 1}, res.Counts())
		out := buf.String()
		assert.Contains(t, out, `msg="pruning a dead token failed"`)
		assert.Contains(t, out, "err=\"registry down\"")
		assert.Contains(t, out, voipToken[len(voipToken)-6:])
		assert.NotContains(t, out, voipToken[:20])
	}
}

// TestLocalDeadPruned: a binding the local sender says is gone is pruned as
// a remote one is, as of the binding's UpdatedAt, and the phone's other
// binding is not tried.
func TestLocalDeadPruned(t *testing.T) {
	reg := newRegistry(t)
	remote := &script{}
	gone := &pushwire.Error{Class: pushwire.ErrDeadToken, Provider: pushwire.ProviderLPNS, Reason: "Gone"}
	d := newDispatcher(t, dispatch.Config{Registry: reg, APNs: remote, LPNS: &script{errs: []error{gone}}})
	local := binding(pushwire.ProviderLPNS, "l1", "p")
	local.Session = "s"
	local = register(t, reg, local)
	apnsDev := register(t, reg, binding(pushwire.ProviderAPNs, "a1", "p"))
	res, err := d.Notify(context.Background(), "s", pushwire.Message{})
	require.NoError(t, err)
	require.Len(t, res.Deliveries, 1)
	dv := res.Deliveries[0]
	assert.Equal(t, dispatch.Dead, dv.Outcome)
	assert.Equal(t, dispatch.PathLocal, dv.Path)
	assert.True(t, dv.Pruned)
	assert.NoError(t, dv.PruneErr)
	assert.Empty(t, remote.sent(), "the remote binding is not tried")
	_, err = reg.Get(context.Background(), local.Key())
	assert.ErrorIs(t, err, registry.ErrNotFound)
	_, err = reg.Get(context.Background(), apnsDev.Key())
	assert.NoError(t, err)
}
