// Package faulttest holds the connector's fault-injection scenarios, written
// once and run where their servers are: the fake FCM hung through a fault
// proxy by the connector's own tests, and PostgreSQL and Redis registries
// behind a fault proxy by the tests of the examples module, the module that
// requires their drivers.
//
// Each scenario replays a finding of the connector's fault review in a
// second or two with small configured timeouts (see the constants) and
// checks: every callback answered within the callback bound (plus a slack
// for a loaded, -race, shared machine), no loss behind a 200 answer and no
// push sent twice (counted at the fake FCM), goroutines bounded during the
// fault and back to their baseline after it; then, the work of every
// callback ended, each callback is sent again once: no device receives a
// push of one event twice, a callback first answered 2xx (202 included: its
// outcome was unknown) is a duplicate and is not pushed again, and one
// first refused or failed is delivered, once. The proxy (internal/faultproxy) hangs, delays,
// black-holes or resets only the connections that go through it, never the
// shared servers.
package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/pprof"
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
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/internal/faultproxy"
	"github.com/pushwire/pushwire/registry"
)

// Bounds the scenarios configure (small, so that they are short).
const (
	CallbackTimeout = time.Second
	LookupTimeout   = 300 * time.Millisecond
	DeliveryTimeout = 400 * time.Millisecond
	MaxConcurrency  = 16
	// AnswerSlack is added to CallbackTimeout in the answer-time checks.
	AnswerSlack = 2 * time.Second
	// GoroutineSlack is how far NumGoroutine may stay above its baseline
	// once a fault is over (timers, pool maintenance).
	GoroutineSlack = 10
	// PeakConnectorGoroutines bounds the goroutines running the connector's
	// code (handlers, callback work, deliveries) during a one-second hang
	// under 200 callbacks/s: two per callback in progress (its handler and
	// its work) and a few refusing callbacks at that moment. Unbounded,
	// every callback of the hang would hold two: 400.
	PeakConnectorGoroutines = 2*MaxConcurrency + 16
)

// Opener opens a registry reached through a fault proxy and returns it, the
// de-duplication store kept beside it but reached directly (the event
// memory is not what the scenarios fault; nil means the connector's memory
// store) and the proxy; the caller's test cleanup closes them.
type Opener func(t *testing.T) (registry.Registry, connector.Deduper, *faultproxy.Proxy)

// NewProxy starts a fault proxy to target (host:port), closed at the end
// of the test.
func NewProxy(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Proxied returns the URL u with its host:port replaced by p's address, and
// the host:port it had (the proxy's target).
func Proxied(t *testing.T, u string, p *faultproxy.Proxy) string {
	t.Helper()
	pu, err := url.Parse(u)
	require.NoError(t, err)
	pu.Host = p.Addr()
	return pu.String()
}

// Host returns the host:port of URL u.
func Host(t *testing.T, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	require.NoError(t, err)
	return pu.Host
}

// env is a connector on loopback over a registry, with a fake FCM.
type env struct {
	t        *testing.T
	fcm      *fcmtest.Server
	srv      *httptest.Server
	configID string
	secret   string
}

// newEnv starts the connector over reg and dedupe (nil: in memory) with the
// scenario's bounds; fcmURL, when not empty, is the FCM base URL (a proxy
// in front of the fake).
func newEnv(t *testing.T, reg registry.Registry, dedupe connector.Deduper, fake *fcmtest.Server, fcmURL string) *env {
	t.Helper()
	e := &env{t: t, fcm: fake, configID: uuid.NewString(), secret: "secret-" + uuid.NewString()}
	if fcmURL == "" {
		fcmURL = fake.URL
	}
	c, err := connector.New(connector.Config{
		Registry: reg,
		Dedupe:   dedupe,
		NewFCMSender: func(ctx context.Context, sa []byte) (pushwire.Sender, error) {
			// The client does not retry: the connector's dispatcher does.
			return fcm.New(ctx, fcm.Config{CredentialsJSON: sa, BaseURL: fcmURL, Retry: fcm.RetryPolicy{MaxAttempts: 1}})
		},
		Retry:           dispatch.RetryPolicy{MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		RateLimit:       connector.RateLimit{Rate: -1},
		CallbackTimeout: CallbackTimeout,
		LookupTimeout:   LookupTimeout,
		ConfigTimeout:   LookupTimeout,
		DedupeTimeout:   LookupTimeout,
		DeliveryTimeout: DeliveryTimeout,
		MaxConcurrency:  MaxConcurrency,
	})
	require.NoError(t, err)
	e.srv = httptest.NewServer(c)
	t.Cleanup(func() {
		e.srv.Close()
		require.NoError(t, c.Close())
	})
	require.NoError(t, c.AddConfig(context.Background(), connector.PushConfig{
		ID: e.configID, Secrets: [][]byte{[]byte(e.secret)}, FCMServiceAccount: fake.ServiceAccountJSON(),
	}))
	return e
}

func newFake(t *testing.T) *fcmtest.Server {
	fake := fcmtest.NewServer(fcmtest.Config{})
	t.Cleanup(fake.Close)
	return fake
}

// post returns the answer's status (0: no answer) and body.
func (e *env) post(path string, body []byte, h http.Header) (int, []byte) {
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil
	}
	return resp.StatusCode, b
}

// sessions registers one Android device in each of n new sessions.
func (e *env) sessions(n int) []string {
	e.t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = uuid.NewString()
		token := "d" + strings.ReplaceAll(uuid.NewString(), "-", "")[:10] + ":APA91b" + strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", "")
		body, _ := json.Marshal(map[string]string{"configId": e.configID, "sessionId": out[i]})
		req, err := http.NewRequest(http.MethodPut, e.srv.URL+connector.BasePath+"/device-registrations/"+token, bytes.NewReader(body))
		require.NoError(e.t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.srv.Client().Do(req)
		require.NoError(e.t, err)
		_ = resp.Body.Close()
		require.Equal(e.t, http.StatusOK, resp.StatusCode)
	}
	return out
}

// newEvent returns a new event for session.
func newEvent(session string) map[string]string {
	return map[string]string{"eventId": uuid.NewString(), "conversationId": uuid.NewString(), "customerId": "fault",
		"sessionId": session, "eventDate": "2024-03-18T11:00:24.481Z"}
}

// send posts ev, signed, and returns the answer's status (0: no answer)
// and body.
func (e *env) send(ev map[string]string) (int, []byte) {
	body, _ := json.Marshal(ev)
	h := http.Header{"X-Hmac": {hmacverify.Sign([]byte(e.secret), ev["eventId"], ev["sessionId"])}}
	return e.post(connector.BasePath+"/axp-callback/notifications", body, h)
}

// callback posts a new signed event for session and returns its id and
// the answer's status (0: no answer).
func (e *env) callback(session string) (string, int) {
	ev := newEvent(session)
	status, _ := e.send(ev)
	return ev["eventId"], status
}

// answer is one callback's outcome.
type answer struct {
	eventID string
	event   map[string]string
	status  int
	took    time.Duration
}

// offer sends n signed callbacks spread over sessions, open loop at rate
// per second, each from its own goroutine (AXP does not wait for one answer
// to send the next callback), and returns their answers.
func (e *env) offer(sessions []string, n int, rate float64) []answer {
	out := make([]answer, n)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := newEvent(sessions[i%len(sessions)])
			t0 := time.Now()
			status, _ := e.send(ev)
			out[i] = answer{eventID: ev["eventId"], event: ev, status: status, took: time.Since(t0)}
		}()
	}
	wg.Wait()
	return out
}

// goroutineStacks returns the stack of every goroutine.
func goroutineStacks() []string {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	return strings.Split(b.String(), "\n\n")
}

// connectorGoroutines counts the goroutines whose stack runs the
// connector's code: the test's own client and the proxy are left out.
func connectorGoroutines() int {
	n := 0
	for _, g := range goroutineStacks() {
		if strings.Contains(g, "pushwire/pushwire/connector.") {
			n++
		}
	}
	return n
}

// goroutines counts the goroutines of the process but the fault proxy's
// (three per connection it carries: a pool that keeps more connections
// after a fault is not a leak).
func goroutines() int {
	n := 0
	for _, g := range goroutineStacks() {
		if !strings.Contains(g, "internal/faultproxy.") {
			n++
		}
	}
	return n
}

// peakGoroutines samples the goroutines of the process and those running
// the connector's code until the returned function is called, which
// returns the highest value of each.
func peakGoroutines() func() (total, conn int) {
	var peak, peakConn atomic.Int64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			if n := int64(runtime.NumGoroutine()); n > peak.Load() {
				peak.Store(n)
			}
			if n := int64(connectorGoroutines()); n > peakConn.Load() {
				peakConn.Store(n)
			}
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	return func() (int, int) {
		close(done)
		<-finished
		return int(peak.Load()), int(peakConn.Load())
	}
}

// check asserts that every callback was answered within the bound, that
// the push of every 200 answer (delivered) reached the fake FCM once (0
// lost) and that no push reached it twice (a 202 is an unknown outcome: the
// push may or may not have arrived); it returns how many were answered 2xx
// and how many not.
func (e *env) check(answers []answer) (ok, failed int) {
	e.t.Helper()
	received := map[string]int{}
	for _, m := range e.fcm.Messages() {
		received[m.Message.Data["eventId"]]++
	}
	var slowest time.Duration
	defer func() { e.t.Logf("slowest answer: %s (bound %s)", slowest, CallbackTimeout) }()
	for _, a := range answers {
		slowest = max(slowest, a.took)
		require.NotZero(e.t, a.status, "callback %s got no answer", a.eventID)
		assert.Less(e.t, a.took, CallbackTimeout+AnswerSlack, "callback %s answered %d after %s", a.eventID, a.status, a.took)
		assert.LessOrEqual(e.t, received[a.eventID], 1, "callback %s answered %d: pushed more than once", a.eventID, a.status)
		if a.status == http.StatusOK {
			assert.Equal(e.t, 1, received[a.eventID], "callback %s answered 200: its push must have reached FCM once", a.eventID)
		}
		if a.status >= 200 && a.status < 300 {
			ok++
		} else {
			failed++
		}
	}
	return ok, failed
}

// pushes counts the pushes the fake FCM received per event and device
// token.
func (e *env) pushes() map[[2]string]int {
	n := map[[2]string]int{}
	for _, m := range e.fcm.Messages() {
		n[[2]string{m.Message.Data["eventId"], m.Message.Token}]++
	}
	return n
}

// perEvent sums pushes per event.
func perEvent(pushes map[[2]string]int) map[string]int {
	n := map[string]int{}
	for k, v := range pushes {
		n[k[0]] += v
	}
	return n
}

// resend proves "0 duplicates after a re-send": once the fault is over and
// the work of every callback has ended (settle), every callback is sent
// again, once. Then no device has received a push of one event twice; a
// callback first answered 2xx (delivered, or 202: its outcome unknown) is
// not pushed again and is answered {"duplicate": true} (a push of a 202
// held back by the fault may still arrive meanwhile: that is what unknown
// means); a callback first refused or failed (nothing delivered for sure)
// is delivered now, once.
func (e *env) resend(answers []answer) {
	e.t.Helper()
	before := perEvent(e.pushes())
	var dup, unknown, again int
	for _, a := range answers {
		status, body := e.send(a.event)
		require.Equal(e.t, http.StatusOK, status, "re-sent callback %s (first answered %d): %s", a.eventID, a.status, body)
		var res connector.CallbackResult
		require.NoError(e.t, json.Unmarshal(body, &res), "%s", body)
		if a.status == http.StatusAccepted {
			unknown++
		}
		if a.status >= 200 && a.status < 300 {
			dup++
			assert.True(e.t, res.Duplicate, "re-sent callback %s first answered %d: a duplicate, not pushed again: %s", a.eventID, a.status, body)
		} else {
			again++
			assert.Equal(e.t, 1, res.Delivered, "re-sent callback %s first answered %d: delivered now: %s", a.eventID, a.status, body)
		}
	}
	after := e.pushes()
	for k, n := range after {
		assert.LessOrEqual(e.t, n, 1, "event %s pushed %d times to token %s", k[0], n, pushwire.Redact(k[1]))
	}
	total := perEvent(after)
	late := 0
	for _, a := range answers {
		switch {
		case a.status == http.StatusAccepted:
			// Its outcome was unknown: a push the fault held back may
			// reach FCM once the fault ends, after the count above was
			// taken. Its one device still gets it at most once.
			assert.LessOrEqual(e.t, total[a.eventID], 1, "callback %s first answered %d pushed again", a.eventID, a.status)
			if total[a.eventID] > before[a.eventID] {
				late++
			}
		case a.status >= 200 && a.status < 300:
			assert.Equal(e.t, before[a.eventID], total[a.eventID], "callback %s first answered %d pushed again", a.eventID, a.status)
		default:
			assert.Equal(e.t, 1, total[a.eventID], "callback %s first answered %d: pushed once after its re-send", a.eventID, a.status)
		}
	}
	e.t.Logf("re-sent %d callbacks: %d duplicates (first answered 2xx, %d of them 202, %d of whose held pushes arrived meanwhile), %d delivered now; no device pushed twice",
		len(answers), dup, unknown, late, again)
}

// baseline closes the test client's idle connections and returns the
// goroutine count (the proxy's left out).
func (e *env) baseline() int {
	e.srv.Client().CloseIdleConnections()
	return goroutines()
}

// settle waits until the goroutines (the proxy's left out) are back to
// baseline.
func (e *env) settle(baseline int) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		e.srv.Client().CloseIdleConnections()
		return goroutines() <= baseline+GoroutineSlack
	}, 10*time.Second, 20*time.Millisecond, "goroutines did not return to the baseline %d", baseline)
}

// recovers waits until a signed callback is delivered again.
func (e *env) recovers(session string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		_, status := e.callback(session)
		return status == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "callbacks did not recover")
}

// RegistryHang replays the registry hangs of the review (PostgreSQL hung
// 40 s: callbacks waited 33–40 s and then got no answer, goroutines grew
// from 16 to 823; Redis hung: callbacks took 15–20 s to fail, some got no
// answer): the registry hangs for a second while 200 callbacks/s arrive.
// Every callback is answered within the bound, goroutines stay bounded, and
// once the registry answers again callbacks are delivered and goroutines
// return to their baseline.
func RegistryHang(t *testing.T, open Opener) {
	reg, dedupe, p := open(t)
	e := newEnv(t, reg, dedupe, newFake(t), "")
	hang(t, e, p, "registry")
}

// RegistryFaults black-holes the registry's connections, delays them past
// the lookup timeout, and resets them: every callback is answered within
// the bound, none is lost behind a 2xx, callbacks recover once the fault
// ends, and goroutines return to their baseline.
func RegistryFaults(t *testing.T, open Opener) {
	faults := []struct {
		name       string
		start, end func(p *faultproxy.Proxy)
		felt       bool
	}{
		{"black-hole", func(p *faultproxy.Proxy) { p.SetMode(faultproxy.BlackHole) },
			func(p *faultproxy.Proxy) { p.SetMode(faultproxy.Pass); p.Reset() }, true},
		{"delay", func(p *faultproxy.Proxy) { p.SetDelay(2 * LookupTimeout) }, func(p *faultproxy.Proxy) { p.SetDelay(0) }, true},
		{"reset", func(p *faultproxy.Proxy) { p.Reset() }, func(*faultproxy.Proxy) {}, false},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			reg, dedupe, p := open(t)
			e := newEnv(t, reg, dedupe, newFake(t), "")
			sessions := e.sessions(2)
			_, status := e.callback(sessions[0])
			require.Equal(t, http.StatusOK, status)
			base := e.baseline()

			f.start(p)
			answers := e.offer(sessions, 16, 40)
			f.end(p)
			ok, failed := e.check(answers)
			t.Logf("%s: %d answered 2xx, %d failed", f.name, ok, failed)
			if f.felt {
				assert.Positive(t, failed, "the fault was felt")
			}
			e.recovers(sessions[1])
			e.settle(base)
			e.resend(answers)
		})
	}
}

// FCMHang replays the FCM hang of the review (FCM hung 6 s under 200
// callbacks/s): the fake FCM's connections hang for a second under 200
// callbacks/s. Every callback is answered within the bound, none answered
// 2xx is lost, goroutines stay bounded, deliveries recover afterwards and
// goroutines return to their baseline.
func FCMHang(t *testing.T, reg registry.Registry) {
	fake := newFake(t)
	p := NewProxy(t, Host(t, fake.URL))
	e := newEnv(t, reg, nil, fake, "http://"+p.Addr())
	hang(t, e, p, "fcm")
}

// hang offers 200 callbacks at 200/s while p holds the traffic of what, then
// resumes it and checks: some callbacks were refused or failed (the hang was
// felt), the connector's goroutines stayed bounded, the connector recovers
// and returns to its goroutine baseline, and re-sending every callback
// pushes nothing twice.
func hang(t *testing.T, e *env, p *faultproxy.Proxy, what string) {
	t.Helper()
	sessions := e.sessions(8)
	_, status := e.callback(sessions[0])
	require.Equal(t, http.StatusOK, status)
	base := e.baseline()

	p.SetMode(faultproxy.Hang)
	peak := peakGoroutines()
	answers := e.offer(sessions, 200, 200)
	top, topConn := peak()
	p.SetMode(faultproxy.Pass)

	ok, failed := e.check(answers)
	t.Logf("%s hang: %d answered 2xx, %d refused or failed; goroutines %d, peak %d (%d in the connector's code)", what, ok, failed, base, top, topConn)
	assert.Positive(t, failed, "the hang was felt")
	assert.LessOrEqual(t, topConn, PeakConnectorGoroutines, "the connector's goroutines bounded during the hang")
	e.recovers(sessions[1])
	e.settle(base)
	e.resend(answers)
}
