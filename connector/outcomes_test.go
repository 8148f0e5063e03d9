package connector_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/registry"
)

// lostAnswers makes the FCM pushes to some tokens end without an answer:
// the request reaches the fake (which records it), and the sender reports an
// unknown outcome, as after a connection reset.
type lostAnswers struct {
	pushwire.Sender
	tokens *sync.Map // token → true
}

func (s lostAnswers) Send(ctx context.Context, m pushwire.Message) error {
	if _, ok := s.tokens.Load(m.Token); !ok {
		return s.Sender.Send(ctx, m)
	}
	if err := s.Sender.Send(ctx, m); err != nil {
		return err
	}
	return pushwire.UnknownOutcome(errors.New("connection reset before the answer"))
}

func (s lostAnswers) Close() error { return s.Sender.(io.Closer).Close() }

// faultEnv is an env whose FCM pushes to the tokens in lost end unknown.
func faultEnv(t *testing.T, tweak func(*connector.Config)) (*env, *sync.Map) {
	lost := &sync.Map{}
	e := newEnv(t, envOptions{tweak: tweak, wrapFCM: func(s pushwire.Sender) pushwire.Sender {
		return lostAnswers{Sender: s, tokens: lost}
	}})
	return e, lost
}

// pushesTo counts what the fake FCM accepted per token.
func pushesTo(s *fcmtest.Server) map[string]int {
	out := map[string]int{}
	for _, m := range s.Messages() {
		out[m.Message.Token]++
	}
	return out
}

// TestCallbackOutcomeMixes checks the status and the counts of every mix of
// device outcomes of the status policy (connector/doc.go).
func TestCallbackOutcomeMixes(t *testing.T) {
	const (
		ok        = "delivered"
		retryable = "retryable"
		permanent = "permanent"
		dead      = "dead"
		unknown   = "unknown"
	)
	tests := []struct {
		name    string
		devices []string
		status  int
		want    connector.CallbackResult // counts only
		metric  string                   // Metrics.Callback of the first callback
	}{
		{"delivered", []string{ok}, 200, connector.CallbackResult{Delivered: 1}, connector.CallbackDelivered},
		{"delivered and failed", []string{ok, retryable, permanent}, 200, connector.CallbackResult{Delivered: 1, Failed: 2}, connector.CallbackDelivered},
		{"delivered and unknown", []string{ok, unknown}, 200, connector.CallbackResult{Delivered: 1, Unknown: 1}, connector.CallbackDelivered},
		{"delivered and dead", []string{ok, dead}, 200, connector.CallbackResult{Delivered: 1, Failed: 1, Pruned: 1}, connector.CallbackDelivered},
		{"only dead, pruned", []string{dead, dead}, 200, connector.CallbackResult{Failed: 2, Pruned: 2}, connector.CallbackPruned},
		{"only unknown", []string{unknown}, 202, connector.CallbackResult{Unknown: 1}, connector.CallbackUnknown},
		{"unknown and dead, pruned", []string{unknown, dead}, 202, connector.CallbackResult{Failed: 1, Unknown: 1, Pruned: 1}, connector.CallbackUnknown},
		{"only retryable failures", []string{retryable, retryable}, 500, connector.CallbackResult{Failed: 2}, connector.CallbackFailed},
		{"only permanent failures", []string{permanent}, 500, connector.CallbackResult{Failed: 1}, connector.CallbackFailed},
		{"unknown and failed", []string{unknown, retryable}, 500, connector.CallbackResult{Failed: 1, Unknown: 1}, connector.CallbackFailed},
		{"failed and dead, pruned", []string{permanent, dead}, 500, connector.CallbackResult{Failed: 2, Pruned: 1}, connector.CallbackFailed},
		{"no device", nil, 200, connector.CallbackResult{}, connector.CallbackNoDevice},
	}
	m := newMetricsRecorder()
	e, lost := faultEnv(t, func(c *connector.Config) { c.Metrics = m })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.reset()
			session := uuid.NewString()
			for _, o := range tt.devices {
				tok := fcmToken()
				require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
				switch o {
				case retryable:
					e.fcm.FailToken(tok, fcmtest.Unavailable(0))
				case permanent:
					e.fcm.FailToken(tok, fcmtest.SenderIDMismatch())
				case dead:
					e.fcm.FailToken(tok, fcmtest.Unregistered())
				case unknown:
					lost.Store(tok, true)
				}
			}
			ev := event(session)
			r := e.callback(ev, e.secret)
			assert.Equal(t, tt.status, r.status, "%s", r.body)
			want := tt.want
			want.EventID, want.SessionID = ev["eventId"], session
			assert.Equal(t, want, result(t, r))
			assert.Equal(t, tt.status, want.Status(), "CallbackResult.Status agrees")
			assert.Equal(t, map[string]int{tt.metric: 1}, m.callbackCounts(), "callback metric")

			r = e.callback(ev, e.secret)
			if tt.want.Failed > tt.want.Pruned {
				// Failed devices are pushed again: the retryable ones fail
				// again, the permanent ones are not pushed.
				return
			}
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.True(t, result(t, r).Duplicate, "nothing to push again")
		})
	}
}

// TestCallbackResultStatus checks CallbackResult.Status at the edges of
// the status table of connector/doc.go: delivered 0 or 1, definite
// failures (failed less pruned) 0 or 1, unknown 0 or 1.
func TestCallbackResultStatus(t *testing.T) {
	tests := []struct {
		r    connector.CallbackResult
		want int
	}{
		{connector.CallbackResult{}, 200},
		{connector.CallbackResult{Duplicate: true}, 200},
		{connector.CallbackResult{Delivered: 1}, 200},
		{connector.CallbackResult{Delivered: 1, Failed: 3, Unknown: 2}, 200},
		{connector.CallbackResult{Failed: 1}, 500},
		{connector.CallbackResult{Failed: 1, Unknown: 1}, 500},
		{connector.CallbackResult{Failed: 2, Pruned: 1}, 500},
		{connector.CallbackResult{Failed: 1, Pruned: 1}, 200},
		{connector.CallbackResult{Failed: 1, Pruned: 1, Unknown: 1}, 202},
		{connector.CallbackResult{Unknown: 1}, 202},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.r.Status(), "%+v", tt.r)
	}
}

// A re-sent callback pushes only to the devices whose push failed for a
// temporary reason: never again to one that got it or may have got it, nor
// to a dead or permanently refused one.
func TestResendPushesOnlyRetryable(t *testing.T) {
	e, lost := faultEnv(t, nil)
	session := uuid.NewString()
	got, failing, unsure, refused, gone := fcmToken(), fcmToken(), fcmToken(), fcmToken(), fcmToken()
	for _, tok := range []string{got, failing, unsure, refused, gone} {
		require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	}
	e.fcm.FailToken(failing, fcmtest.Unavailable(0))
	e.fcm.FailToken(refused, fcmtest.SenderIDMismatch())
	e.fcm.FailToken(gone, fcmtest.Unregistered())
	lost.Store(unsure, true)

	ev := event(session)
	r := e.callback(ev, e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{EventID: ev["eventId"], SessionID: session, Delivered: 1, Failed: 3, Unknown: 1, Pruned: 1}, result(t, r))
	assert.Equal(t, map[string]int{got: 1, unsure: 1}, pushesTo(e.fcm))

	// FCM is back for every token, and the connection no longer breaks.
	e.fcm.ClearFailures()
	lost.Delete(unsure)
	r = e.callback(ev, e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{EventID: ev["eventId"], SessionID: session, Delivered: 1}, result(t, r),
		"only the device that failed for a temporary reason")
	assert.Equal(t, map[string]int{got: 1, unsure: 1, failing: 1}, pushesTo(e.fcm))

	r = e.callback(ev, e.secret)
	require.Equal(t, http.StatusOK, r.status)
	assert.True(t, result(t, r).Duplicate)
	assert.Len(t, e.fcm.Messages(), 3)
}

// A retryable failure pushed again fails again: still remembered as
// retryable, so a later re-send delivers.
func TestResendFailsAgain(t *testing.T) {
	e := newEnv(t, envOptions{})
	session, tok := uuid.NewString(), fcmToken()
	require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	e.fcm.FailToken(tok, fcmtest.Internal())
	ev := event(session)
	for range 2 {
		r := e.callback(ev, e.secret)
		require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
		assert.Equal(t, 1, result(t, r).Failed)
	}
	e.fcm.ClearFailures()
	r := e.callback(ev, e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, 1, result(t, r).Delivered)
	assert.Len(t, e.fcm.Messages(), 1)
}

// failingDeduper is a de-duplication store that is down.
type failingDeduper struct{ claims, records atomic.Int32 }

func (f *failingDeduper) Claim(context.Context, string, time.Duration) (connector.Claim, error) {
	f.claims.Add(1)
	return connector.Claim{}, errors.New("store unreachable")
}

func (f *failingDeduper) Record(context.Context, string, map[string]connector.DeviceOutcome, time.Duration) error {
	f.records.Add(1)
	return errors.New("store unreachable")
}

// A de-duplication store that fails does not drop the push: a duplicate is
// better than a lost push; the failure is logged.
func TestDedupeStoreErrorFailsOpen(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	store := &failingDeduper{}
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.Dedupe = store
		c.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	}})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	ev := event(session)
	for i := range 2 {
		r := e.callback(ev, e.secret)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, 1, result(t, r).Delivered, "push %d sent", i)
	}
	assert.Len(t, e.fcm.Messages(), 2)
	assert.EqualValues(t, 2, store.claims.Load())
	assert.EqualValues(t, 2, store.records.Load(), "the outcomes are offered to the store all the same")
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, logs.String(), "de-duplication store failed; delivering anyway")
	assert.Contains(t, logs.String(), "store unreachable")
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Pruning uses the provider's dead-since time: a token registered again
// after it is kept (and the callback, which delivered nothing and pruned
// nothing, is a 500); a token dead since after its registration goes (200).
func TestPruneHonoursDeadSince(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	session, kept, pruned := uuid.NewString(), apnsToken(), apnsToken()
	require.Equal(t, http.StatusOK, e.registerIOS(kept, session).status)
	d, err := e.reg.Get(ctx, registry.Key{Provider: pushwire.ProviderAPNs, Token: kept})
	require.NoError(t, err)
	e.apns.Fail(kept, apnstest.Failure{Reason: "Unregistered", Timestamp: d.UpdatedAt.Add(-time.Minute)})

	r := e.callback(event(session), e.secret)
	require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{Failed: 1}, counts(result(t, r)), "dead, not pruned: registered since")
	_, err = e.reg.Get(ctx, d.Key())
	assert.NoError(t, err, "kept")

	other := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerIOS(pruned, other).status)
	e.apns.Fail(pruned, apnstest.Failure{Reason: "Unregistered", Timestamp: time.Now().Add(time.Minute)})
	r = e.callback(event(other), e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{Failed: 1, Pruned: 1}, counts(result(t, r)))
	_, err = e.reg.Get(ctx, registry.Key{Provider: pushwire.ProviderAPNs, Token: pruned})
	assert.ErrorIs(t, err, registry.ErrNotFound)
}

// counts keeps the counts of r.
func counts(r connector.CallbackResult) connector.CallbackResult {
	r.EventID, r.SessionID = "", ""
	return r
}

// brokenInvalidate is a registry whose Invalidate fails.
type brokenInvalidate struct{ registry.Registry }

func (brokenInvalidate) Invalidate(context.Context, registry.Key, time.Time) (bool, error) {
	return false, errors.New("registry unreachable")
}

// A dead token whose pruning failed is not counted pruned: a callback whose
// only device is such a token is a 500.
func TestPruneFailureIs500(t *testing.T) {
	mem, err := registry.NewMemory(registry.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = mem.Close() })
	e := newEnv(t, envOptions{reg: brokenInvalidate{mem}})
	session, tok := uuid.NewString(), fcmToken()
	require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	e.fcm.FailToken(tok, fcmtest.Unregistered())
	r := e.callback(event(session), e.secret)
	require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{Failed: 1}, counts(result(t, r)))
}

// metricsRecorder records the connector's delivery metrics.
type metricsRecorder struct {
	mu         sync.Mutex
	deliveries map[string]int // outcome → count
	pruned     int
	callbacks  map[string]int
}

func newMetricsRecorder() *metricsRecorder {
	return &metricsRecorder{deliveries: map[string]int{}, callbacks: map[string]int{}}
}

func (m *metricsRecorder) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deliveries, m.pruned, m.callbacks = map[string]int{}, 0, map[string]int{}
}

func (m *metricsRecorder) callbackCounts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.callbacks)
}

func (m *metricsRecorder) Request(string, int, time.Duration) {}
func (m *metricsRecorder) Delivery(_ pushwire.Provider, outcome string, _ time.Duration) {
	m.mu.Lock()
	m.deliveries[outcome]++
	m.mu.Unlock()
}
func (m *metricsRecorder) Pruned(pushwire.Provider) { m.mu.Lock(); m.pruned++; m.mu.Unlock() }
func (m *metricsRecorder) Callback(r string)        { m.mu.Lock(); m.callbacks[r]++; m.mu.Unlock() }

// Metrics see each device outcome once, unknown apart, and each pruning.
func TestDeliveryMetrics(t *testing.T) {
	m := newMetricsRecorder()
	e, lost := faultEnv(t, func(c *connector.Config) { c.Metrics = m })
	session := uuid.NewString()
	toks := []string{fcmToken(), fcmToken(), fcmToken(), fcmToken(), fcmToken()}
	for _, tok := range toks {
		require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	}
	lost.Store(toks[1], true)
	e.fcm.FailToken(toks[2], fcmtest.Unregistered())
	e.fcm.FailToken(toks[3], fcmtest.SenderIDMismatch())
	e.fcm.FailToken(toks[4], fcmtest.Unavailable(0))
	ev := event(session)
	require.Equal(t, http.StatusOK, e.callback(ev, e.secret).status)
	// Sent again: only the retryable one is pushed, and fails again.
	require.Equal(t, http.StatusInternalServerError, e.callback(ev, e.secret).status)
	e.fcm.ClearFailures()
	require.Equal(t, http.StatusOK, e.callback(ev, e.secret).status)
	require.Equal(t, http.StatusOK, e.callback(ev, e.secret).status)
	m.mu.Lock()
	defer m.mu.Unlock()
	assert.Equal(t, map[string]int{connector.OutcomeDelivered: 2, connector.OutcomeUnknown: 1,
		connector.OutcomeDead: 1, connector.OutcomePermanent: 1, connector.OutcomeRetryable: 2}, m.deliveries)
	assert.Equal(t, 1, m.pruned)
	assert.Equal(t, map[string]int{connector.CallbackDelivered: 2, connector.CallbackFailed: 1, connector.CallbackDuplicate: 1}, m.callbacks)
}

// The tracker's FCM outage: FCM reads the request and does not answer
// within the delivery timeout. The callback answers 202 "unknown": 1, never
// 500 "failed"; sent again once FCM answers, it pushes nothing (the first
// request may have been delivered).
func TestFCMHangIsUnknown(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) { c.DeliveryTimeout = 300 * time.Millisecond }})
	session, tok := uuid.NewString(), fcmToken()
	require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	// Warm the client (access token, connection), so the deadline is spent
	// on the hang.
	require.Equal(t, http.StatusOK, e.callback(event(session), e.secret).status)
	e.fcm.FailToken(tok, fcmtest.Hang())
	ev := event(session)
	r := e.callback(ev, e.secret)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{Unknown: 1}, counts(result(t, r)))
	before := e.fcm.RequestsFor(tok)
	require.Equal(t, 2, before, "the warm-up push and the one left without answer")

	e.fcm.ClearFailures()
	r = e.callback(ev, e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.True(t, result(t, r).Duplicate)
	assert.Equal(t, before, e.fcm.RequestsFor(tok), "nothing sent again")
}
