package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/registry"
)

func dead(since time.Time) error {
	return &pushwire.Error{Class: pushwire.ErrDeadToken, Provider: pushwire.ProviderFCM, Reason: "UNREGISTERED", Since: since}
}

func retryable(after time.Duration) error {
	return &pushwire.Error{Class: pushwire.ErrRetryable, Provider: pushwire.ProviderFCM, Reason: "UNAVAILABLE", Retry: after}
}

var (
	permanent = &pushwire.Error{Class: pushwire.ErrPermanent, Provider: pushwire.ProviderFCM, Reason: "INVALID_ARGUMENT"}
	unknown   = pushwire.UnknownOutcome(errors.New("connection reset after the request was written"))
)

// TestOutcomes drives one FCM device through each outcome with a scripted
// sender.
func TestOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		errs     []error
		outcome  dispatch.Outcome
		attempts int
		pruned   bool
	}{
		{"delivered", nil, dispatch.Delivered, 1, false},
		{"dead is pruned", []error{dead(time.Time{})}, dispatch.Dead, 1, true},
		{"permanent fails at once", []error{permanent}, dispatch.Failed, 1, false},
		{"configuration fails at once", []error{&pushwire.Error{Class: pushwire.ErrConfiguration}}, dispatch.Failed, 1, false},
		{"retryable then delivered", []error{retryable(0), nil}, dispatch.Delivered, 2, false},
		{"retryable then dead", []error{retryable(0), dead(time.Time{})}, dispatch.Dead, 2, true},
		{"retryable until the budget ran out", []error{retryable(0)}, dispatch.Failed, 3, false},
		{"unknown is not retried", []error{unknown}, dispatch.Unknown, 1, false},
		{"retryable then unknown", []error{retryable(0), unknown}, dispatch.Unknown, 2, false},
		{"closed sender is not retried", []error{fmt.Errorf("x: %w", pushwire.ErrClosed)}, dispatch.Failed, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(t)
			dev := register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "fcm-token-1"})
			s := &script{errs: tt.errs}
			var hooked []dispatch.Delivery
			d := newDispatcher(t, dispatch.Config{Registry: reg, FCM: s,
				Retry:      dispatch.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
				OnDelivery: func(dv dispatch.Delivery) { hooked = append(hooked, dv) }})
			res, err := d.Notify(context.Background(), "s", pushwire.Message{Data: map[string]string{"k": "v"}})
			require.NoError(t, err)
			require.Len(t, res.Deliveries, 1)
			dv := res.Deliveries[0]
			assert.Equal(t, tt.outcome, dv.Outcome, "err: %v", dv.Err)
			assert.Equal(t, tt.attempts, dv.Attempts)
			assert.Equal(t, tt.attempts-1, dv.Retries())
			assert.Equal(t, tt.attempts, int(s.calls.Load()))
			assert.Equal(t, dispatch.PathFCM, dv.Path)
			assert.Equal(t, tt.pruned, dv.Pruned)
			assert.Equal(t, dev.Key(), dv.Device.Key())
			if tt.outcome == dispatch.Delivered {
				assert.NoError(t, dv.Err)
			} else {
				assert.Error(t, dv.Err)
			}
			_, gerr := reg.Get(context.Background(), dev.Key())
			if tt.pruned {
				assert.ErrorIs(t, gerr, registry.ErrNotFound)
			} else {
				assert.NoError(t, gerr)
			}
			require.Len(t, hooked, 1)
			assert.Equal(t, dv.Outcome, hooked[0].Outcome)
			assert.Equal(t, "fcm-token-1", s.sent()[0].Token)

			c := res.Counts()
			assert.Equal(t, 1, c.Delivered+c.Dead+c.Failed+c.Unknown)
		})
	}
}

func TestCounts(t *testing.T) {
	r := dispatch.Result{Deliveries: []dispatch.Delivery{
		{Outcome: dispatch.Delivered, Path: dispatch.PathLocal},
		{Outcome: dispatch.Delivered, Path: dispatch.PathAPNs},
		{Outcome: dispatch.Delivered, Path: dispatch.PathFCM},
		{Outcome: dispatch.Dead, Pruned: true},
		{Outcome: dispatch.Dead, PruneErr: errors.New("down")},
		{Outcome: dispatch.Failed},
		{Outcome: dispatch.Unknown},
	}}
	assert.Equal(t, dispatch.Counts{Delivered: 3, Dead: 2, Pruned: 1, Failed: 1, Unknown: 1, Local: 1, APNs: 1, FCM: 1}, r.Counts())
	for o, s := range map[dispatch.Outcome]string{dispatch.Delivered: "delivered", dispatch.Dead: "dead",
		dispatch.Failed: "failed", dispatch.Unknown: "unknown"} {
		assert.Equal(t, s, o.String())
	}
}

// TestRealFakes sends a call to an iPhone (APNs VoIP), an Android phone
// (FCM) and an uninstalled app (APNs 410) through the real clients.
func TestRealFakes(t *testing.T) {
	apnsFake, apnsClient := newAPNs(t)
	fcmFake, fcmClient := newFCM(t)
	reg := newRegistry(t)
	gone := register(t, reg, registry.Device{Session: "alice", Provider: pushwire.ProviderAPNs, Token: apnsToken, AppID: bundle})
	register(t, reg, registry.Device{Session: "alice", Provider: pushwire.ProviderAPNs, Token: voipToken, AppID: bundle})
	register(t, reg, registry.Device{Session: "alice", Provider: pushwire.ProviderFCM, Token: "android-token-1"})
	ts := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	apnsFake.Fail(apnsToken, apnstest.Failure{Reason: "Unregistered", Timestamp: ts})

	d := newDispatcher(t, dispatch.Config{Registry: reg, APNs: apnsClient, FCM: fcmClient})
	call := pushwire.Message{Kind: pushwire.KindVoIP, Data: map[string]string{"callId": "42", dispatch.DataCallerName: "Bob"}}
	res, err := d.Notify(context.Background(), "alice", call)
	require.NoError(t, err)
	require.Len(t, res.Deliveries, 3)
	c := res.Counts()
	assert.Equal(t, dispatch.Counts{Delivered: 2, APNs: 1, FCM: 1, Dead: 1}, c, "the dead token registered after its dead-since time is kept")
	for _, dv := range res.Deliveries {
		if dv.Device.Token == apnsToken {
			assert.Equal(t, dispatch.Dead, dv.Outcome)
			assert.False(t, dv.Pruned)
			assert.NoError(t, dv.PruneErr)
		}
	}
	_, err = reg.Get(context.Background(), gone.Key())
	assert.NoError(t, err, "registered after the 410 timestamp: kept")

	notes, err := apnsFake.WaitForNotifications(waitCtx(t), 1)
	require.NoError(t, err)
	require.Len(t, notes, 1)
	assert.Equal(t, "voip", notes[0].PushType)
	assert.Equal(t, bundle+".voip", notes[0].Topic)
	assert.Equal(t, 10, notes[0].Priority)
	msgs, err := fcmFake.WaitForMessages(waitCtx(t), 1)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	m := msgs[0].Message
	assert.Nil(t, m.Notification, "a call is data-only on Android")
	require.NotNil(t, m.Android)
	assert.Equal(t, "high", m.Android.Priority)
	assert.Equal(t, "42", m.Data["callId"])

	// A 410 with a timestamp after the registration prunes.
	apnsFake.Fail(voipToken, apnstest.Failure{Reason: "Unregistered", Timestamp: time.Now().Add(time.Minute)})
	res, err = d.Notify(context.Background(), "alice", call)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Counts().Pruned)
}

// TestPruneRace: a token registered again while its send was under way is
// not pruned by the provider's "dead" answer to the older registration.
func TestPruneRace(t *testing.T) {
	reg := newRegistry(t)
	dev := register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "fcm-token-1"})
	s := &script{errs: []error{dead(time.Time{})}, onSend: func(context.Context, pushwire.Message) {
		time.Sleep(2 * time.Microsecond) // registries keep microseconds
		register(t, reg, dev)
	}}
	d := newDispatcher(t, dispatch.Config{Registry: reg, FCM: s})
	res, err := d.Notify(context.Background(), "s", pushwire.Message{})
	require.NoError(t, err)
	require.Len(t, res.Deliveries, 1)
	assert.Equal(t, dispatch.Dead, res.Deliveries[0].Outcome)
	assert.False(t, res.Deliveries[0].Pruned)
	got, err := reg.Get(context.Background(), dev.Key())
	require.NoError(t, err, "registered again during the call: kept")
	assert.True(t, got.UpdatedAt.After(dev.UpdatedAt))
}

// failingRegistry fails Invalidate, reporting removed as given (a backend
// may fail after removing).
type failingRegistry struct {
	registry.Registry
	removed bool
}

func (r failingRegistry) Invalidate(context.Context, registry.Key, time.Time) (bool, error) {
	return r.removed, errors.New("registry down")
}

// TestHungProvider: a provider that never answers costs the deadline, and
// the outcome is unknown; a sender that ignores its context too.
func TestHungProvider(t *testing.T) {
	t.Run("apnstest hang", func(t *testing.T) {
		// The hang stops the whole connection; FCM answers meanwhile.
		apnsFake, apnsClient := newAPNs(t)
		apnsFake.Fail(voipToken, apnstest.Failure{Action: apnstest.ActionHang})
		_, fcmClient := newFCM(t)
		ctx := context.Background()
		// Warm the FCM client (access token, connection), so that on a busy
		// machine the deadline below is spent on the hang, not on set-up.
		require.NoError(t, fcmClient.Send(ctx, pushwire.Message{Token: "warm-up-token"}))
		reg := newRegistry(t)
		register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: voipToken})
		register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "android-1"})
		d := newDispatcher(t, dispatch.Config{Registry: reg, APNs: apnsClient, FCM: fcmClient, Timeout: time.Second})
		res, err := d.Notify(ctx, "s", pushwire.Message{Kind: pushwire.KindVoIP})
		require.NoError(t, err)
		// The call returned by its deadline. The apns client reports the
		// hang as a context error: unknown once it marks it written
		// (pushwire.ErrUnknownOutcome), never delivered.
		c := res.Counts()
		assert.Equal(t, 1, c.Delivered)
		assert.Equal(t, 1, c.Unknown+c.Failed)
		for _, dv := range res.Deliveries {
			if dv.Device.Provider == pushwire.ProviderAPNs {
				assert.ErrorIs(t, dv.Err, context.DeadlineExceeded)
				assert.Equal(t, errors.Is(dv.Err, pushwire.ErrUnknownOutcome), dv.Outcome == dispatch.Unknown)
				assert.Equal(t, 1, dv.Attempts)
			}
		}
	})
	t.Run("sender honouring its context", func(t *testing.T) {
		hung := &script{hold: make(chan struct{})}
		reg := newRegistry(t)
		register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "fcm-token-1"})
		// A second: the send ends 50 ms before the call, time enough on a
		// busy machine for its answer to be heard (else it is abandoned,
		// with no attempt counted).
		d := newDispatcher(t, dispatch.Config{Registry: reg, FCM: hung, Timeout: time.Second})
		res, err := d.Notify(context.Background(), "s", pushwire.Message{})
		require.NoError(t, err)
		dv := res.Deliveries[0]
		assert.Equal(t, dispatch.Unknown, dv.Outcome)
		assert.Equal(t, 1, dv.Attempts, "an unknown outcome is not retried")
		assert.EqualValues(t, 1, hung.calls.Load())
	})
	t.Run("sender ignoring its context", func(t *testing.T) {
		release := make(chan struct{})
		stuck := pushwire.SenderFunc(func(context.Context, pushwire.Message) error {
			<-release
			return nil
		})
		reg := newRegistry(t)
		register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "fcm-token-1"})
		d, err := dispatch.New(dispatch.Config{Registry: reg, FCM: stuck})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		// The sender only returns after Notify did: Notify must give up on
		// it at the deadline, or this test never ends.
		res, err := d.Notify(ctx, "s", pushwire.Message{})
		close(release)
		require.NoError(t, err)
		require.Len(t, res.Deliveries, 1)
		assert.Equal(t, dispatch.Unknown, res.Deliveries[0].Outcome)
		assert.ErrorIs(t, res.Deliveries[0].Err, pushwire.ErrUnknownOutcome)
		require.NoError(t, d.Close())
	})
}

// TestRetryAfterPastDeadline: a Retry-After longer than the time left is
// not slept: the device fails at once with the provider's error.
func TestRetryAfterPastDeadline(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "fcm-token-1"})
	s := &script{errs: []error{retryable(time.Hour), nil}}
	d := newDispatcher(t, dispatch.Config{Registry: reg, FCM: s})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := d.Notify(ctx, "s", pushwire.Message{})
	require.NoError(t, err)
	assert.NoError(t, ctx.Err(), "returned before the deadline: no sleep")
	dv := res.Deliveries[0]
	assert.Equal(t, dispatch.Failed, dv.Outcome)
	assert.Equal(t, 1, dv.Attempts)
	ra, ok := pushwire.RetryAfter(dv.Err)
	assert.True(t, ok)
	assert.Equal(t, time.Hour, ra)

	// A Retry-After within the deadline is honoured, even above MaxBackoff.
	s = &script{errs: []error{retryable(20 * time.Millisecond), nil}}
	var at []time.Time
	s.onSend = func(context.Context, pushwire.Message) { at = append(at, time.Now()) }
	d = newDispatcher(t, dispatch.Config{Registry: reg, FCM: s,
		Retry: dispatch.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}})
	res, err = d.Notify(ctx, "s", pushwire.Message{})
	require.NoError(t, err)
	assert.Equal(t, dispatch.Delivered, res.Deliveries[0].Outcome)
	require.Len(t, at, 2)
	assert.GreaterOrEqual(t, at[1].Sub(at[0]), 20*time.Millisecond)
}

// TestConcurrencyBound counts the sends in flight at the fake FCM.
func TestConcurrencyBound(t *testing.T) {
	reg := newRegistry(t)
	for s := range 4 {
		for i := range 6 {
			register(t, reg, registry.Device{Session: fmt.Sprint("s", s), Provider: pushwire.ProviderFCM, Token: fmt.Sprintf("tok-%d-%d", s, i)})
		}
	}
	for _, tt := range []struct {
		name            string
		perCall, global int
		sessions, bound int
	}{
		{"per call", 2, 100, 1, 2},
		{"across calls", 4, 3, 4, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fcmFake, fcmClient := newFCM(t) // the Dispatcher closes it
			fcmFake.FailAll(fcmtest.Slow(30 * time.Millisecond))
			d := newDispatcher(t, dispatch.Config{Registry: reg, FCM: fcmClient,
				MaxConcurrencyPerCall: tt.perCall, MaxConcurrency: tt.global})
			var wg sync.WaitGroup
			for s := range tt.sessions {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := d.Notify(context.Background(), fmt.Sprint("s", s), pushwire.Message{})
					assert.NoError(t, err)
					assert.Equal(t, 6, res.Counts().Delivered)
				}()
			}
			wg.Wait()
			assert.LessOrEqual(t, fcmFake.PeakConcurrency(), tt.bound)
			assert.Positive(t, fcmFake.PeakConcurrency())
		})
	}
}

func TestLocalFirst(t *testing.T) {
	apnsFake, apnsClient := newAPNs(t)
	srv, url := newLPNS(t, lpns.Config{})
	reg := newRegistry(t)
	iphone := map[string]string{dispatch.LabelDevice: "iphone-1"}
	register(t, reg, registry.Device{Session: "alice", Provider: pushwire.ProviderAPNs, Token: voipToken, AppID: bundle, Labels: iphone})
	register(t, reg, registry.Device{Session: "alice", Provider: pushwire.ProviderLPNS, Token: "iphone-1", Labels: iphone})
	d := newDispatcher(t, dispatch.Config{Registry: reg, APNs: apnsClient, LPNS: srv, LocalTimeout: 300 * time.Millisecond})
	call := pushwire.Message{Kind: pushwire.KindVoIP, Data: map[string]string{"callId": "1"}}

	t.Run("local ack, no apns push", func(t *testing.T) {
		p := dialPhone(t, url, "iphone-1", true)
		_, err := p.c.WaitConnected(waitCtx(t))
		require.NoError(t, err)
		res, err := d.Notify(context.Background(), "alice", call)
		require.NoError(t, err)
		require.Len(t, res.Deliveries, 1, "one phone, one outcome")
		dv := res.Deliveries[0]
		assert.Equal(t, dispatch.Delivered, dv.Outcome)
		assert.Equal(t, dispatch.PathLocal, dv.Path)
		assert.Equal(t, "iphone-1", dv.Phone)
		assert.NoError(t, dv.LocalErr)
		n := <-p.got
		assert.JSONEq(t, `{"kind":"voip","data":{"callId":"1"}}`, string(n.Payload))
		assert.Empty(t, apnsFake.Notifications())
		require.NoError(t, p.c.Close())
	})
	t.Run("local timeout, one apns push", func(t *testing.T) {
		p := dialPhone(t, url, "iphone-1", false)
		_, err := p.c.WaitConnected(waitCtx(t))
		require.NoError(t, err)
		res, err := d.Notify(context.Background(), "alice", call)
		require.NoError(t, err)
		dv := res.Deliveries[0]
		assert.Equal(t, dispatch.Delivered, dv.Outcome)
		assert.Equal(t, dispatch.PathAPNs, dv.Path)
		// The local timeout is the local send's deadline: written and not
		// acknowledged within it (pushwire.ContextError).
		assert.ErrorIs(t, dv.LocalErr, context.DeadlineExceeded)
		assert.ErrorIs(t, dv.LocalErr, pushwire.ErrUnknownOutcome)
		local := <-p.got
		notes, err := apnsFake.WaitForNotifications(waitCtx(t), 1)
		require.NoError(t, err)
		require.Len(t, notes, 1)
		assert.Equal(t, "voip", notes[0].PushType)
		assert.Equal(t, voipToken, notes[0].Token)
		assert.Equal(t, local.ID, notes[0].APNsID, "same id locally and remotely")
		require.NoError(t, p.c.Close())
	})
	t.Run("not connected, straight to apns", func(t *testing.T) {
		apnsFake.Reset()
		require.Eventually(t, func() bool { return srv.Count() == 0 }, 5*time.Second, 10*time.Millisecond)
		res, err := d.Notify(context.Background(), "alice", call)
		require.NoError(t, err)
		dv := res.Deliveries[0]
		assert.Equal(t, dispatch.PathAPNs, dv.Path)
		assert.Equal(t, dispatch.Delivered, dv.Outcome)
		assert.ErrorIs(t, dv.LocalErr, lpns.ErrNotConnected)
		assert.Len(t, apnsFake.Notifications(), 1)
	})
	t.Run("payload too large locally: no fallback", func(t *testing.T) {
		apnsFake.Reset()
		big := pushwire.Message{Kind: pushwire.KindVoIP, Data: map[string]string{"x": string(make([]byte, 6000))}}
		res, err := d.Notify(context.Background(), "alice", big)
		require.NoError(t, err)
		dv := res.Deliveries[0]
		assert.Equal(t, dispatch.Failed, dv.Outcome)
		assert.Equal(t, dispatch.PathLocal, dv.Path)
		assert.ErrorIs(t, dv.Err, lpns.ErrPayloadTooLarge)
		assert.Empty(t, apnsFake.Notifications())
	})
}

// TestLocalFallbackOutcomes covers the phone's remote outcome after a local
// miss, and phones with a local binding only.
func TestLocalFallbackOutcomes(t *testing.T) {
	srv, _ := newLPNS(t, lpns.Config{})
	reg := newRegistry(t)
	labels := map[string]string{dispatch.LabelDevice: "p1"}
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderLPNS, Token: "p1", Labels: labels})
	apnsDev := register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: voipToken, Labels: labels})
	register(t, reg, registry.Device{Session: "solo", Provider: pushwire.ProviderLPNS, Token: "p2"})

	remote := &script{errs: []error{&pushwire.Error{Class: pushwire.ErrDeadToken, Provider: pushwire.ProviderAPNs, Reason: "Unregistered"}}}
	d := newDispatcher(t, dispatch.Config{Registry: reg, LPNS: srv, APNs: remote})
	res, err := d.Notify(context.Background(), "s", pushwire.Message{Kind: pushwire.KindVoIP})
	require.NoError(t, err)
	require.Len(t, res.Deliveries, 1)
	dv := res.Deliveries[0]
	assert.Equal(t, dispatch.Dead, dv.Outcome)
	assert.True(t, dv.Pruned)
	assert.Equal(t, apnsDev.Key(), dv.Device.Key())
	require.Len(t, remote.sent(), 1)
	assert.Equal(t, pushwire.KindVoIP, remote.sent()[0].Kind)
	assert.NotEmpty(t, remote.sent()[0].ID, "an id is made for the local and the remote push")

	// A phone with only a local binding: not connected is a failure.
	res, err = d.Notify(context.Background(), "solo", pushwire.Message{})
	require.NoError(t, err)
	assert.Equal(t, dispatch.Failed, res.Deliveries[0].Outcome)
	assert.ErrorIs(t, res.Deliveries[0].Err, lpns.ErrNotConnected)

	// Without a local sender the phone goes remote; a lone local binding fails.
	d2 := newDispatcher(t, dispatch.Config{Registry: reg, APNs: &script{}})
	res, err = d2.Notify(context.Background(), "solo", pushwire.Message{})
	require.NoError(t, err)
	assert.Equal(t, dispatch.Failed, res.Deliveries[0].Outcome)
	assert.ErrorIs(t, res.Deliveries[0].Err, pushwire.ErrConfiguration)
}

// TestLocalUnackedWithoutFallback: a phone that got the frame but did not
// acknowledge, with nothing to fall back to, may have the call: unknown.
func TestLocalUnackedWithoutFallback(t *testing.T) {
	srv, url := newLPNS(t, lpns.Config{AckTimeout: 100 * time.Millisecond})
	reg := newRegistry(t)
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderLPNS, Token: "p1"})
	p := dialPhone(t, url, "p1", false)
	_, err := p.c.WaitConnected(waitCtx(t))
	require.NoError(t, err)
	d := newDispatcher(t, dispatch.Config{Registry: reg, LPNS: srv})
	res, err := d.Notify(context.Background(), "s", pushwire.Message{Kind: pushwire.KindVoIP})
	require.NoError(t, err)
	assert.Equal(t, dispatch.Unknown, res.Deliveries[0].Outcome)
	<-p.got
}

func TestNoCallKitAlert(t *testing.T) {
	apnsFake, apnsClient := newAPNs(t)
	reg := newRegistry(t)
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: voipToken, AppID: bundle,
		Labels: map[string]string{dispatch.LabelNoCallKit: "true"}})
	d := newDispatcher(t, dispatch.Config{Registry: reg, APNs: apnsClient})
	res, err := d.Notify(context.Background(), "s", pushwire.Message{Kind: pushwire.KindVoIP,
		Data: map[string]string{dispatch.DataCallerName: "Bob", dispatch.DataCallerNumber: "+86 10 5555 0100"}})
	require.NoError(t, err)
	assert.Equal(t, dispatch.Delivered, res.Deliveries[0].Outcome)
	notes, err := apnsFake.WaitForNotifications(waitCtx(t), 1)
	require.NoError(t, err)
	assert.Equal(t, "alert", notes[0].PushType)
	assert.Equal(t, bundle, notes[0].Topic)
	assert.JSONEq(t, `{"aps":{"alert":{"title":"Incoming call","body":"Bob (+86 10 5555 0100)"}},
		"callerName":"Bob","callerNumber":"+86 10 5555 0100"}`, string(notes[0].Payload))
}

func TestDefaultShape(t *testing.T) {
	call := pushwire.Message{Kind: pushwire.KindVoIP, Data: map[string]string{dispatch.DataCallerNumber: "1001"}}
	data := pushwire.Message{Kind: pushwire.KindData, Data: map[string]string{"k": "v"}}
	ios := registry.Device{Provider: pushwire.ProviderAPNs, Token: "a", AppID: bundle}
	china := registry.Device{Provider: pushwire.ProviderAPNs, Token: "a", Labels: map[string]string{dispatch.LabelNoCallKit: "1"}}
	notChina := registry.Device{Provider: pushwire.ProviderAPNs, Token: "a", Labels: map[string]string{dispatch.LabelNoCallKit: "false"}}
	android := registry.Device{Provider: pushwire.ProviderFCM, Token: "f"}
	local := registry.Device{Provider: pushwire.ProviderLPNS, Token: "l"}
	tests := []struct {
		name string
		msg  pushwire.Message
		dev  registry.Device
		want pushwire.Message
	}{
		{"call to ios is voip", call, ios, pushwire.Message{Token: "a", Kind: pushwire.KindVoIP, Topic: bundle, Data: call.Data}},
		{"call to ios without callkit is an alert", call, china, pushwire.Message{Token: "a", Kind: pushwire.KindAlert,
			Priority: pushwire.PriorityHigh, Title: dispatch.CallAlertTitle, Body: "1001", Data: call.Data}},
		{"nocallkit false keeps voip", call, notChina, pushwire.Message{Token: "a", Kind: pushwire.KindVoIP, Data: call.Data}},
		{"call to android is high-priority data", call, android, pushwire.Message{Token: "f", Kind: pushwire.KindData,
			Priority: pushwire.PriorityHigh, Data: call.Data}},
		{"call over local push stays voip", call, local, pushwire.Message{Token: "l", Kind: pushwire.KindVoIP, Data: call.Data}},
		{"data stays data on ios", data, ios, pushwire.Message{Token: "a", Kind: pushwire.KindData, Topic: bundle, Data: data.Data}},
		{"data stays data on android", data, android, pushwire.Message{Token: "f", Kind: pushwire.KindData, Data: data.Data}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, dispatch.DefaultShape(tt.msg, tt.dev))
		})
	}
}

func TestCustomShapeAndSenderFor(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "t1", Labels: map[string]string{"tenant": "a"}})
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "t2", Labels: map[string]string{"tenant": "b"}})
	tenantA := &script{}
	released := 0
	var mu sync.Mutex
	d := newDispatcher(t, dispatch.Config{Registry: reg,
		Shape: func(msg pushwire.Message, _ registry.Device) pushwire.Message { msg.Title = "shaped"; return msg },
		SenderFor: func(_ context.Context, dev registry.Device) (pushwire.Sender, func(), error) {
			if dev.Labels["tenant"] == "a" {
				return tenantA, func() { mu.Lock(); released++; mu.Unlock() }, nil
			}
			return nil, nil, &pushwire.Error{Class: pushwire.ErrConfiguration, Reason: "NoConfiguration"}
		}})
	res, err := d.Notify(context.Background(), "s", pushwire.Message{})
	require.NoError(t, err)
	assert.Equal(t, dispatch.Counts{Delivered: 1, FCM: 1, Failed: 1}, res.Counts())
	require.Len(t, tenantA.sent(), 1)
	assert.Equal(t, "t1", tenantA.sent()[0].Token, "the token is filled in")
	assert.Equal(t, "shaped", tenantA.sent()[0].Title)
	assert.Equal(t, 1, released)
}

func TestNoDevicesAndLookupError(t *testing.T) {
	reg := newRegistry(t)
	d := newDispatcher(t, dispatch.Config{Registry: reg})
	res, err := d.Notify(context.Background(), "nobody", pushwire.Message{})
	require.NoError(t, err)
	assert.Empty(t, res.Deliveries)
	assert.Equal(t, "nobody", res.Session)
	_, err = d.Notify(context.Background(), "", pushwire.Message{})
	assert.ErrorIs(t, err, registry.ErrInvalid)
	res, err = d.NotifyDevices(context.Background(), nil, pushwire.Message{})
	require.NoError(t, err)
	assert.Empty(t, res.Deliveries)
}

func TestConfig(t *testing.T) {
	reg := newRegistry(t)
	for name, cfg := range map[string]dispatch.Config{
		"no registry":       {},
		"negative timeout":  {Registry: reg, Timeout: -1},
		"negative local":    {Registry: reg, LocalTimeout: -1},
		"negative limit":    {Registry: reg, MaxConcurrency: -1},
		"negative per call": {Registry: reg, MaxConcurrencyPerCall: -1},
		"negative attempts": {Registry: reg, Retry: dispatch.RetryPolicy{MaxAttempts: -1}},
		"backoff inverted":  {Registry: reg, Retry: dispatch.RetryPolicy{MinBackoff: time.Second, MaxBackoff: time.Millisecond}},
	} {
		_, err := dispatch.New(cfg)
		assert.ErrorIs(t, err, pushwire.ErrConfiguration, name)
		assert.ErrorIs(t, err, pushwire.ErrPermanent, name)
	}
}

// closer is a sender that counts Close and Shutdown calls; Close ends the
// sends it holds, as the Sender contract asks, and returns err.
type closer struct {
	script
	err               error
	closes, shutdowns atomic.Int64
	once              sync.Once
}

func (c *closer) Close() error {
	c.closes.Add(1)
	c.once.Do(func() {
		if c.hold != nil {
			close(c.hold)
		}
	})
	return c.err
}

func (c *closer) Shutdown(context.Context) error {
	c.shutdowns.Add(1)
	return nil
}

func TestClose(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "t1"})
	fcmS, apnsS := &closer{}, &closer{}
	d, err := dispatch.New(dispatch.Config{Registry: reg, FCM: fcmS, APNs: apnsS, LPNS: pushwire.SenderFunc(
		func(context.Context, pushwire.Message) error { return nil })})
	require.NoError(t, err)
	require.NoError(t, d.Close())
	require.NoError(t, d.Close(), "idempotent")
	assert.EqualValues(t, 1, fcmS.closes.Load())
	assert.EqualValues(t, 1, apnsS.closes.Load())
	_, err = d.Notify(context.Background(), "s", pushwire.Message{})
	assert.ErrorIs(t, err, pushwire.ErrClosed)
	assert.ErrorIs(t, err, pushwire.ErrRetryable)
	_, err = d.NotifyDevices(context.Background(), []registry.Device{{Session: "s"}}, pushwire.Message{})
	assert.ErrorIs(t, err, pushwire.ErrClosed)

	// Close cancels a call waiting between retries.
	s := &closer{script: script{errs: []error{retryable(0)}}}
	d, err = dispatch.New(dispatch.Config{Registry: reg, FCM: s, Retry: dispatch.RetryPolicy{MinBackoff: time.Hour, MaxBackoff: time.Hour}})
	require.NoError(t, err)
	s.onSend = func(context.Context, pushwire.Message) {
		go func() { _ = d.Close() }()
	}
	res, err := d.Notify(context.Background(), "s", pushwire.Message{})
	require.NoError(t, err)
	assert.Equal(t, dispatch.Failed, res.Deliveries[0].Outcome)
	require.NoError(t, d.Close())
}

func TestShutdown(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "t1"})
	s := &closer{script: script{hold: make(chan struct{})}}
	entered := make(chan struct{})
	var once sync.Once
	s.onSend = func(context.Context, pushwire.Message) { once.Do(func() { close(entered) }) }
	d, err := dispatch.New(dispatch.Config{Registry: reg, FCM: s})
	require.NoError(t, err)
	done := make(chan dispatch.Result)
	go func() {
		res, _ := d.Notify(context.Background(), "s", pushwire.Message{})
		done <- res
	}()
	<-entered
	shut := make(chan error)
	go func() { shut <- d.Shutdown(context.Background()) }()
	// Shutdown refuses new calls while it waits for the one under way.
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := d.Notify(ctx, "s", pushwire.Message{})
		return errors.Is(err, pushwire.ErrClosed)
	}, 5*time.Second, time.Millisecond)
	s.once.Do(func() { close(s.hold) })
	assert.Equal(t, dispatch.Delivered, (<-done).Deliveries[0].Outcome)
	require.NoError(t, <-shut)
	assert.EqualValues(t, 1, s.shutdowns.Load())
	assert.EqualValues(t, 0, s.closes.Load())

	// A Shutdown whose context ends first closes.
	s2 := &closer{script: script{hold: make(chan struct{})}}
	entered2 := make(chan struct{})
	s2.onSend = func(context.Context, pushwire.Message) { close(entered2) }
	d, err = dispatch.New(dispatch.Config{Registry: reg, FCM: s2})
	require.NoError(t, err)
	go func() {
		res, _ := d.Notify(context.Background(), "s", pushwire.Message{})
		done <- res
	}()
	<-entered2
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Shutdown gives up at once and closes the sender, which ends its send.
	assert.ErrorIs(t, d.Shutdown(ctx), context.Canceled)
	assert.EqualValues(t, 1, s2.closes.Load())
	<-done
}

func TestLogRedactsTokens(t *testing.T) {
	reg := newRegistry(t)
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: voipToken})
	var buf syncBuffer
	d := newDispatcher(t, dispatch.Config{Registry: reg, APNs: &script{errs: []error{permanent}}, Logger: newLogger(&buf)})
	_, err := d.Notify(context.Background(), "s", pushwire.Message{})
	require.NoError(t, err)
	out := buf.String()
	assert.Contains(t, out, "outcome=failed")
	assert.Contains(t, out, "retries=0")
	assert.Contains(t, out, voipToken[len(voipToken)-6:])
	assert.NotContains(t, out, voipToken[:20])
}
