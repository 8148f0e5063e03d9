package connector_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/registry"
)

// stallingDeduper is a MemoryDeduper whose Claim or Record, once stalled,
// waits until released, ignoring its context (as a broken backend would).
type stallingDeduper struct {
	*connector.MemoryDeduper
	claim, record chan struct{} // nil: no stall
}

func newStallingDeduper(t *testing.T, claim, record bool) *stallingDeduper {
	d, err := connector.NewMemoryDeduper(connector.MemoryDeduperConfig{})
	require.NoError(t, err)
	s := &stallingDeduper{MemoryDeduper: d}
	if claim {
		s.claim = make(chan struct{})
	}
	if record {
		s.record = make(chan struct{})
	}
	return s
}

// release ends the stalls; it is idempotent.
func (s *stallingDeduper) release() {
	for _, ch := range []chan struct{}{s.claim, s.record} {
		if ch != nil {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}
}

func (s *stallingDeduper) Claim(ctx context.Context, event string, ttl time.Duration) (connector.Claim, error) {
	if s.claim != nil {
		<-s.claim
	}
	return s.MemoryDeduper.Claim(ctx, event, ttl)
}

func (s *stallingDeduper) Record(ctx context.Context, event string, outcomes map[string]connector.DeviceOutcome, ttl time.Duration) error {
	if s.record != nil {
		<-s.record
	}
	return s.MemoryDeduper.Record(ctx, event, outcomes, ttl)
}

// pushesOf counts the pushes of event eventID the fake FCM received.
func (e *env) pushesOf(eventID string) int {
	n := 0
	for _, m := range e.fcm.Messages() {
		if m.Message.Data["eventId"] == eventID {
			n++
		}
	}
	return n
}

// waitIdle waits until the callback in progress (MaxConcurrency 1) has
// finished: a callback for a session without devices gets its place.
func (e *env) waitIdle() {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		return e.callback(event(uuid.NewString()), e.secret).status == http.StatusOK
	}, 5*time.Second, 10*time.Millisecond)
}

// TestLateAnswer: a callback whose work has not finished at its deadline
// (CallbackTimeout) is answered by then, with what is known:
//
//   - still verifying (the registry hangs): 500 "callback timed out"; the
//     work, released later, pushes nothing and claims nothing, so a re-send
//     delivers;
//   - delivering (the de-duplication claim hangs): 202 with every device
//     unknown; a re-send never makes it two pushes;
//   - recording (the record hangs): the delivery's own answer, 200
//     delivered; a re-send is a duplicate.
func TestLateAnswer(t *testing.T) {
	t.Run("verifying", func(t *testing.T) {
		reg := newCountingRegistry(t)
		e, h := lateEnv(t, reg, nil)
		session := uuid.NewString()
		require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
		release := reg.hangLookups(false)
		t.Cleanup(release)
		ev := event(session)
		r := e.callback(ev, e.secret)
		require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
		assert.Equal(t, "callback timed out", r.json(t)["message"])
		assert.Equal(t, 1, h.count("ERROR callback not verified within the callback timeout; nothing was pushed"))
		release()
		e.waitIdle()
		assert.Zero(t, e.pushesOf(ev["eventId"]), "the work released after the answer pushed nothing")

		r = e.callback(ev, e.secret)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, 1, result(t, r).Delivered, "nothing was claimed: the re-send delivers")
		assert.Equal(t, 1, e.pushesOf(ev["eventId"]))
	})
	t.Run("verified after the answer", func(t *testing.T) {
		// The lookup answers, ignoring its context, after the callback
		// was answered 500: the work must push nothing (and claim
		// nothing), whether the session has devices or not.
		for _, devices := range []int{1, 0} {
			reg := &lateRegistry{countingRegistry: newCountingRegistry(t)}
			m := newMetricsRecorder()
			e, h := lateEnv(t, reg, func(c *connector.Config) { c.Metrics = m })
			session := uuid.NewString()
			for range devices {
				require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
			}
			release := reg.hangLookups(false)
			t.Cleanup(release)
			ev := event(session)
			r := e.callback(ev, e.secret)
			require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
			m.reset()
			release()
			want := connector.CallbackFailed
			if devices == 0 {
				want = connector.CallbackNoDevice
			}
			require.Eventually(t, func() bool { return len(m.callbackCounts()) > 0 }, 5*time.Second, time.Millisecond, "the work ends")
			assert.Equal(t, map[string]int{want: 1}, m.callbackCounts(), "%d devices", devices)
			assert.Equal(t, 1, h.count("WARN no time left to deliver the callback; nothing was pushed"))
			e.waitIdle()
			assert.Zero(t, e.pushesOf(ev["eventId"]))

			r = e.callback(ev, e.secret)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, devices, result(t, r).Delivered, "nothing was claimed: the re-send delivers")
		}
	})
	t.Run("delivering", func(t *testing.T) {
		store := newStallingDeduper(t, true, false)
		e, h := lateEnv(t, nil, func(c *connector.Config) { c.Dedupe = store })
		t.Cleanup(store.release)
		session := uuid.NewString()
		require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
		ev := event(session)
		r := e.callback(ev, e.secret)
		require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
		res := result(t, r)
		assert.Equal(t, connector.CallbackResult{EventID: ev["eventId"], SessionID: session, Unknown: 1}, res)
		assert.Equal(t, 1, h.count("ERROR callback delivery not finished within the callback timeout; its outcome is unknown"))
		store.release()
		e.waitIdle()

		r = e.callback(ev, e.secret)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.LessOrEqual(t, e.pushesOf(ev["eventId"]), 1, "never pushed twice")
	})
	t.Run("recording", func(t *testing.T) {
		store := newStallingDeduper(t, false, true)
		e, h := lateEnv(t, nil, func(c *connector.Config) { c.Dedupe = store })
		t.Cleanup(store.release)
		session := uuid.NewString()
		require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
		ev := event(session)
		r := e.callback(ev, e.secret)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, 1, result(t, r).Delivered)
		assert.Equal(t, 1, h.count("WARN outcomes of a callback not recorded within the callback timeout; answered with its result"))
		store.release()
		e.waitIdle()

		r = e.callback(ev, e.secret)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.True(t, result(t, r).Duplicate)
		assert.Equal(t, 1, e.pushesOf(ev["eventId"]))
	})
	t.Run("re-sent, a metrics hook hangs", func(t *testing.T) {
		// Only the device to push again is under way when the deadline
		// passes: it alone is unknown.
		m := &stallingMetrics{metricsRecorder: newMetricsRecorder()}
		e, _ := lateEnv(t, nil, func(c *connector.Config) {
			c.Metrics = m
			c.Retry = dispatch.RetryPolicy{MaxAttempts: 1}
		})
		session, _, _ := e.sessionWithFailing()
		ev := event(session)
		r := e.callback(ev, e.secret)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		e.fcm.ClearFailures()

		release := m.stall()
		t.Cleanup(release)
		r = e.callback(ev, e.secret)
		require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
		assert.Equal(t, connector.CallbackResult{Unknown: 1}, counts(result(t, r)))
		release()
		e.waitIdle()
		assert.Equal(t, 2, e.pushesOf(ev["eventId"]), "one push each")
	})
}

// lateTimeout is the CallbackTimeout of the late-answer tests.
const lateTimeout = 200 * time.Millisecond

// lateEnv is an env whose callbacks are answered after lateTimeout at the
// latest, one at a time (waitIdle), logging to the returned counter; reg
// (nil: memory) is its registry and tweak changes the rest.
func lateEnv(t *testing.T, reg registry.Registry, tweak func(*connector.Config)) (*env, *recordCounter) {
	t.Helper()
	h := &recordCounter{}
	e := newEnv(t, envOptions{reg: reg, tweak: func(c *connector.Config) {
		c.CallbackTimeout = lateTimeout
		c.MaxConcurrency = 1
		c.Logger = slog.New(h)
		if tweak != nil {
			tweak(c)
		}
	}})
	return e, h
}

// stallingMetrics is a metrics recorder whose Delivery, once stalled,
// waits until released.
type stallingMetrics struct {
	*metricsRecorder
	mu   sync.Mutex
	wait chan struct{}
}

func (m *stallingMetrics) stall() (release func()) {
	ch := make(chan struct{})
	m.mu.Lock()
	m.wait = ch
	m.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (m *stallingMetrics) Delivery(p pushwire.Provider, outcome string, d time.Duration) {
	m.mu.Lock()
	ch := m.wait
	m.mu.Unlock()
	if ch != nil {
		<-ch
	}
	m.metricsRecorder.Delivery(p, outcome, d)
}

// lateRegistry is a countingRegistry whose hung lookups answer, once
// released, as if their context had not ended.
type lateRegistry struct{ *countingRegistry }

func (r *lateRegistry) Lookup(ctx context.Context, session string) ([]registry.Device, error) {
	return r.countingRegistry.Lookup(context.WithoutCancel(ctx), session)
}
