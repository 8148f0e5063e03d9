package connector_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
)

// recordingDeduper is a MemoryDeduper that keeps every outcome recorded.
type recordingDeduper struct {
	*connector.MemoryDeduper
	mu       sync.Mutex
	recorded []connector.DeviceOutcome
}

func newRecordingDeduper(t *testing.T) *recordingDeduper {
	d, err := connector.NewMemoryDeduper(connector.MemoryDeduperConfig{})
	require.NoError(t, err)
	return &recordingDeduper{MemoryDeduper: d}
}

func (d *recordingDeduper) Record(ctx context.Context, event string, outcomes map[string]connector.DeviceOutcome, ttl time.Duration) error {
	d.mu.Lock()
	for _, o := range outcomes {
		d.recorded = append(d.recorded, o)
	}
	d.mu.Unlock()
	return d.MemoryDeduper.Record(ctx, event, outcomes, ttl)
}

func (d *recordingDeduper) outcomes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, len(d.recorded))
	for i, o := range d.recorded {
		out[i] = string(o)
	}
	sort.Strings(out)
	return out
}

// TestRecordedOutcomes: the event memory keeps each device's outcome as
// documented: delivered, dead, retryable, permanent or unknown.
func TestRecordedOutcomes(t *testing.T) {
	store := newRecordingDeduper(t)
	e, lost := faultEnv(t, func(c *connector.Config) {
		c.Dedupe = store
		c.Retry = dispatch.RetryPolicy{MaxAttempts: 1}
	})
	session := uuid.NewString()
	toks := []string{fcmToken(), fcmToken(), fcmToken(), fcmToken(), fcmToken()}
	for _, tok := range toks {
		require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	}
	e.fcm.FailToken(toks[1], fcmtest.Unregistered())
	e.fcm.FailToken(toks[2], fcmtest.Unavailable(0))
	e.fcm.FailToken(toks[3], fcmtest.SenderIDMismatch())
	lost.Store(toks[4], true)
	r := e.callback(event(session), e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	want := []string{string(connector.DeviceDead), string(connector.DeviceDelivered), string(connector.DevicePermanent),
		string(connector.DeviceRetryable), string(connector.DeviceUnknown)}
	sort.Strings(want)
	assert.Equal(t, want, store.outcomes())
}

// TestResendAfterDeviceLeft: a re-sent callback whose only device to push
// again has left the session pushes nothing and is a duplicate (counted
// once as such); the device stays to be pushed should it come back.
func TestResendAfterDeviceLeft(t *testing.T) {
	m := newMetricsRecorder()
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.Metrics = m
		c.Retry = dispatch.RetryPolicy{MaxAttempts: 1}
	}})
	session, got, failing := e.sessionWithFailing()
	ev := event(session)
	require.Equal(t, http.StatusOK, e.callback(ev, e.secret).status)
	require.Equal(t, http.StatusNoContent, e.do(http.MethodDelete, connector.BasePath+"/device-registrations/"+failing, "", nil, nil).status)
	e.fcm.ClearFailures()
	m.reset()

	r := e.callback(ev, e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{Duplicate: true}, counts(result(t, r)))
	assert.Equal(t, map[string]int{connector.CallbackDuplicate: 1}, m.callbackCounts())
	assert.Equal(t, map[string]int{got: 1, failing: 1}, requestsTo(e, got, failing), "nothing pushed again")

	// Back in the session, the device is pushed by the next re-send.
	require.Equal(t, http.StatusOK, e.registerAndroid(failing, session).status)
	r = e.callback(ev, e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{Delivered: 1}, counts(result(t, r)))
	assert.Equal(t, map[string]int{got: 1, failing: 2}, requestsTo(e, got, failing))
}

// TestDeliverAfterClose: a closed connector pushes nothing: Deliver counts
// every device failed (a re-send after a restart delivers), and the
// callback metric says failed.
func TestDeliverAfterClose(t *testing.T) {
	m := newMetricsRecorder()
	store := newRecordingDeduper(t)
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.Metrics = m
		c.Dedupe = store
	}})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	require.NoError(t, e.conn.Close())
	m.reset()
	res, err := e.conn.Deliver(context.Background(), hmacverify.Event{EventID: uuid.NewString(), SessionID: session})
	require.NoError(t, err)
	assert.Equal(t, connector.CallbackResult{Failed: 2}, counts(res))
	assert.Equal(t, http.StatusInternalServerError, res.Status())
	assert.Empty(t, e.fcm.Messages())
	assert.Equal(t, map[string]int{connector.CallbackFailed: 1}, m.callbackCounts())
	assert.Empty(t, store.outcomes(), "nothing recorded: the caller may have closed the store")
}

// TestDeliverWithoutTime: Deliver with a context whose deadline leaves less
// than the reserve kept for the answer (an eighth of CallbackTimeout)
// pushes nothing and counts every device failed (nothing claimed, so the
// event can be delivered again).
func TestDeliverWithoutTime(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) { c.CallbackTimeout = time.Minute }})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	ev := hmacverify.Event{EventID: uuid.NewString(), SessionID: session}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute/8-time.Second)
	defer cancel()
	res, err := e.conn.Deliver(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, connector.CallbackResult{Failed: 2}, counts(res))
	assert.Empty(t, e.fcm.Messages())
	res, err = e.conn.Deliver(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, connector.CallbackResult{Delivered: 2}, counts(res))
}

// failingRegistry fails Lookup with err once set.
type failingRegistry struct {
	registry.Registry
	err atomic.Pointer[error]
}

func (r *failingRegistry) Lookup(ctx context.Context, session string) ([]registry.Device, error) {
	if p := r.err.Load(); p != nil {
		return nil, *p
	}
	return r.Registry.Lookup(ctx, session)
}

// failingConfigs is a MemoryConfigStore whose reads (List, Get) fail with
// err and whose Put fails with put, once set; it counts the Gets.
type failingConfigs struct {
	*connector.MemoryConfigStore
	err, put atomic.Pointer[error]
	gets     atomic.Int64
}

func (s *failingConfigs) Put(ctx context.Context, pc connector.PushConfig) error {
	if p := s.put.Load(); p != nil {
		return *p
	}
	return s.MemoryConfigStore.Put(ctx, pc)
}

func (s *failingConfigs) List(ctx context.Context) ([]connector.PushConfig, error) {
	if p := s.err.Load(); p != nil {
		return nil, *p
	}
	return s.MemoryConfigStore.List(ctx)
}

func (s *failingConfigs) Get(ctx context.Context, id string) (connector.PushConfig, error) {
	s.gets.Add(1)
	if p := s.err.Load(); p != nil {
		return connector.PushConfig{}, *p
	}
	return s.MemoryConfigStore.Get(ctx, id)
}

// TestFailingStores: a registry or configuration store that fails is a
// failed callback (500, nothing pushed, the failure named, not the
// store's text) and an error from Deliver, both for a session seen before
// (its configurations cached) and for one that was not.
func TestFailingStores(t *testing.T) {
	storeDown := errors.New("store down: 10.0.0.7:5432")
	reg := &failingRegistry{Registry: newMemoryRegistry(t)}
	configs := &failingConfigs{MemoryConfigStore: connector.NewMemoryConfigStore()}
	e := newEnv(t, envOptions{reg: reg, tweak: func(c *connector.Config) { c.Configs = configs }})
	seen, fresh := uuid.NewString(), uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), seen).status)
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), fresh).status)
	require.Equal(t, http.StatusOK, e.callback(event(seen), e.secret).status)
	before := len(e.fcm.Messages())

	configs.err.Store(&storeDown)
	// A session without devices is checked against every configuration.
	r := e.callback(event(uuid.NewString()), e.secret)
	assert.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
	assert.Equal(t, "configuration lookup failed", r.json(t)["message"])
	for _, session := range []string{seen, fresh} {
		r := e.callback(event(session), e.secret)
		assert.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
		assert.Equal(t, "configuration lookup failed", r.json(t)["message"])
		_, err := e.conn.Deliver(context.Background(), hmacverify.Event{EventID: uuid.NewString(), SessionID: session})
		assert.ErrorIs(t, err, storeDown)
	}
	configs.err.Store(nil)

	reg.err.Store(&storeDown)
	r = e.callback(event(fresh), e.secret)
	assert.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
	assert.Equal(t, "session lookup failed", r.json(t)["message"])
	assert.NotContains(t, string(r.body), "10.0.0.7")
	_, err := e.conn.Deliver(context.Background(), hmacverify.Event{EventID: uuid.NewString(), SessionID: fresh})
	assert.ErrorIs(t, err, storeDown)
	assert.Len(t, e.fcm.Messages(), before, "nothing pushed")
}

// TestSessionConfigurationsReadOnce: a session's configurations are read
// once per callback whatever the number of its devices, and a binding
// without a configuration (registered in the registry by other means) is
// not the callback's.
func TestSessionConfigurationsReadOnce(t *testing.T) {
	reg := newMemoryRegistry(t)
	configs := &failingConfigs{MemoryConfigStore: connector.NewMemoryConfigStore()}
	e := newEnv(t, envOptions{reg: reg, tweak: func(c *connector.Config) { c.Configs = configs }})
	session := uuid.NewString()
	for range 3 {
		require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	}
	_, err := reg.Register(context.Background(), registry.Device{Session: session, Provider: pushwire.ProviderFCM, Token: fcmToken()})
	require.NoError(t, err)
	gets := configs.gets.Load()
	r := e.callback(event(session), e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{Delivered: 3}, counts(result(t, r)))
	assert.Equal(t, int64(1), configs.gets.Load()-gets)

	// Deliver (no signature) tries every binding: the one without a
	// configuration has no credentials and fails.
	gets = configs.gets.Load()
	res, err := e.conn.Deliver(context.Background(), hmacverify.Event{EventID: uuid.NewString(), SessionID: session})
	require.NoError(t, err)
	assert.Equal(t, connector.CallbackResult{Delivered: 3, Failed: 1}, counts(res))
	assert.Equal(t, int64(1), configs.gets.Load()-gets)
}

// TestUppercaseSignature: X-hmac is hexadecimal in either case.
func TestUppercaseSignature(t *testing.T) {
	e := newEnv(t, envOptions{})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	for i := range 20 { // an uppercase A–F digit in every position, in turn
		ev := event(session)
		sig := strings.ToUpper(hmacverify.Sign([]byte(e.secret), ev["eventId"], ev["sessionId"]))
		body := `{"eventId":"` + ev["eventId"] + `","sessionId":"` + session + `","eventDate":"2024-03-18T11:00:24.481Z"}`
		r := e.do(http.MethodPost, connector.BasePath+"/axp-callback/notifications", "application/json", []byte(body), http.Header{"X-Hmac": {sig}})
		require.Equal(t, http.StatusOK, r.status, "%d: %s", i, r.body)
		if strings.ContainsAny(sig, "F") {
			break
		}
	}
}

// TestCallbackDecisionsLogged: what the connector decides about a callback
// is in its log, at the level an operator looks for.
func TestCallbackDecisionsLogged(t *testing.T) {
	h := &recordCounter{}
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.Logger = slog.New(h)
		c.Retry = dispatch.RetryPolicy{MaxAttempts: 1}
	}})
	session, failing := uuid.NewString(), fcmToken()
	require.Equal(t, http.StatusOK, e.registerAndroid(failing, session).status)

	require.Equal(t, http.StatusOK, e.callback(event(uuid.NewString()), e.secret).status)
	assert.Equal(t, 1, h.count("INFO no device for session"))
	assert.Zero(t, h.count("INFO the session's devices belong to deleted configurations"), "a session without devices")

	e.fcm.FailToken(failing, fcmtest.Unavailable(0))
	ev := event(session)
	require.Equal(t, http.StatusInternalServerError, e.callback(ev, e.secret).status)
	e.fcm.ClearFailures()
	require.Equal(t, http.StatusOK, e.callback(ev, e.secret).status)
	assert.Equal(t, 1, h.count("INFO callback sent again: pushing to the devices whose push failed for a temporary reason"))
	require.Equal(t, http.StatusOK, e.callback(ev, e.secret).status)
	assert.Equal(t, 1, h.count("INFO duplicate callback ignored"))

	require.Equal(t, http.StatusNoContent, e.adminDo(http.MethodDelete, "/configs/"+e.configID, nil).status)
	other := "other-secret-0123456789"
	require.NoError(t, e.conn.AddConfig(context.Background(), connector.PushConfig{ID: uuid.NewString(), Secrets: [][]byte{[]byte(other)}}))
	r := e.callback(event(session), other)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{}, counts(result(t, r)), "nothing for devices of a deleted configuration")
	assert.Equal(t, 1, h.count("INFO the session's devices belong to deleted configurations"))
}

// TestNoSecretConfiguredLogged: with no AXP secret configured at all,
// callbacks are refused and the operator told why, at error level (not as
// a bad signature, which is sampled).
func TestNoSecretConfiguredLogged(t *testing.T) {
	h := &recordCounter{}
	e := newEnv(t, envOptions{secrets: []string{}, tweak: func(c *connector.Config) { c.Logger = slog.New(h) }})
	assert.Equal(t, http.StatusUnauthorized, e.callback(event(uuid.NewString()), "anything-0123456789").status)
	assert.Equal(t, 1, h.count("ERROR callback refused: no axp secret is configured"))
	assert.Zero(t, h.count("INFO callback refused: bad signature"))
}

// TestUnlimitedAndUncached: a negative MaxConcurrency lifts the limit on
// callbacks in progress, and a negative SessionCacheTTL turns the session
// cache off; callbacks are served either way.
func TestUnlimitedAndUncached(t *testing.T) {
	reg := newCountingRegistry(t)
	e := newEnv(t, envOptions{reg: reg, tweak: func(c *connector.Config) {
		c.MaxConcurrency = -1
		c.SessionCacheTTL = -1
	}})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	before := reg.lookups.Load()
	for range 3 {
		r := e.callback(event(session), e.secret)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, 1, result(t, r).Delivered)
		assert.Equal(t, http.StatusUnauthorized, e.callback(event(session), "wrong-secret-0123456789").status)
	}
	assert.Equal(t, int64(6), reg.lookups.Load()-before, "no cache: every callback looks its session up")
}

// TestDeliverValidates: Deliver refuses an event whose ids a callback
// could not carry, naming the member.
func TestDeliverValidates(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, ev := range []hmacverify.Event{
		{EventID: "", SessionID: uuid.NewString()},
		{EventID: "a b", SessionID: uuid.NewString()},
		{EventID: uuid.NewString(), SessionID: ""},
		{EventID: uuid.NewString(), SessionID: strings.Repeat("s", 300)},
	} {
		_, err := e.conn.Deliver(context.Background(), ev)
		require.Error(t, err, "%+v", ev)
		member := "eventId"
		if ev.EventID != "" && ev.EventID != "a b" {
			member = "sessionId"
		}
		assert.Contains(t, err.Error(), "connector: "+member+": ")
	}
	assert.Empty(t, e.fcm.Messages())
}

// notWritten is a sender whose sends wait for their context to end and
// report that nothing was written, as a sender waiting for a connection
// does.
type notWritten struct{ pushwire.Sender }

func (s notWritten) Send(ctx context.Context, m pushwire.Message) error {
	<-ctx.Done()
	return pushwire.ContextError(pushwire.ProviderFCM, ctx.Err(), false)
}

// TestDeliveryTimeoutMetric: a push that never left before the delivery
// deadline is a definite failure (500), counted as a timeout.
func TestDeliveryTimeoutMetric(t *testing.T) {
	m := newMetricsRecorder()
	e := newEnv(t, envOptions{
		tweak: func(c *connector.Config) {
			c.Metrics = m
			// The sends end 50 ms before the delivery does (dispatch keeps
			// a twentieth, at most 50 ms, to hear them), time enough on a
			// busy machine for the sender's answer to be heard.
			c.DeliveryTimeout = time.Second
		},
		wrapFCM: func(s pushwire.Sender) pushwire.Sender { return notWritten{s} },
	})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	r := e.callback(event(session), e.secret)
	require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{Failed: 1}, counts(result(t, r)))
	m.mu.Lock()
	defer m.mu.Unlock()
	assert.Equal(t, map[string]int{connector.OutcomeTimeout: 1}, m.deliveries)
}

// TestDeliveryEndsBeforeCallbackDeadline: with a DeliveryTimeout longer
// than the callback's, the delivery still ends before the callback's
// deadline and answers itself (202, its device unknown): the callback is
// not answered late.
func TestDeliveryEndsBeforeCallbackDeadline(t *testing.T) {
	h := &recordCounter{}
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.CallbackTimeout = time.Second // the delivery ends an eighth before
		c.DeliveryTimeout = time.Minute
		c.Logger = slog.New(h)
	}})
	session, tok := uuid.NewString(), fcmToken()
	require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	require.Equal(t, http.StatusOK, e.callback(event(session), e.secret).status) // warm the client
	e.fcm.FailToken(tok, fcmtest.Hang())
	r := e.callback(event(session), e.secret)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	assert.Equal(t, connector.CallbackResult{Unknown: 1}, counts(result(t, r)))
	assert.Zero(t, h.count("ERROR callback delivery not finished within the callback timeout; its outcome is unknown"))
	e.fcm.ClearFailures()
}
