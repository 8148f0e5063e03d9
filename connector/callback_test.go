package connector_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
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

func TestCallbackStatusPolicy(t *testing.T) {
	e := newEnv(t, envOptions{})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	path := connector.BasePath + "/axp-callback/notifications"
	signed := func(ev map[string]string) http.Header {
		return http.Header{"X-Hmac": {hmacverify.Sign([]byte(e.secret), ev["eventId"], ev["sessionId"])}}
	}
	body := func(v any) []byte { b, _ := json.Marshal(v); return b }
	ok := event(session)
	unknown := event(uuid.NewString())
	noEvent := map[string]string{"sessionId": session}
	badID := event(session)
	badID["eventId"] = "has space"
	ctrl := event(session)
	ctrl["customerId"] = "a\x01b"

	tests := []struct {
		name        string
		contentType string
		body        []byte
		header      http.Header
		status      int
		delivered   int
		message     string
	}{
		{"delivered", "application/json", body(ok), signed(ok), http.StatusOK, 1, ""},
		{"unknown session", "application/json", body(unknown), signed(unknown), http.StatusOK, 0, ""},
		{"missing signature", "application/json", body(event(session)), nil, http.StatusUnauthorized, 0, "missing X-hmac header"},
		{"wrong signature", "application/json", body(event(session)), http.Header{"X-Hmac": {strings.Repeat("ab", 32)}}, http.StatusUnauthorized, 0, "invalid X-hmac signature"},
		{"signature of another event", "application/json", body(event(session)), signed(event(session)), http.StatusUnauthorized, 0, "invalid X-hmac signature"},
		{"wrong signature, unknown session", "application/json", body(unknown), http.Header{"X-Hmac": {"00"}}, http.StatusUnauthorized, 0, "invalid X-hmac signature"},
		{"not json", "application/json", []byte("eventId=1"), signed(ok), http.StatusBadRequest, 0, ""},
		{"form content type", "application/x-www-form-urlencoded", body(ok), signed(ok), http.StatusBadRequest, 0, "content-type must be application/json"},
		{"no eventId", "application/json", body(noEvent), nil, http.StatusBadRequest, 0, ""},
		{"bad eventId", "application/json", body(badID), signed(badID), http.StatusBadRequest, 0, ""},
		{"number eventDate", "application/json", []byte(`{"eventId":"a","sessionId":"` + session + `","eventDate":1710361539734}`), nil, http.StatusBadRequest, 0, `malformed event: member "eventDate" is not a string`},
		{"control character", "application/json", body(ctrl), signed(ctrl), http.StatusBadRequest, 0, ""},
		{"number eventId", "application/json", []byte(`{"eventId":1,"sessionId":"` + session + `"}`), nil, http.StatusBadRequest, 0, ""},
		{"repeated member", "application/json", []byte(`{"eventId":"a","sessionId":"` + session + `","sessionId":"b"}`), nil, http.StatusBadRequest, 0, ""},
		{"too large", "application/json", []byte(`{"eventId":"` + strings.Repeat("a", hmacverify.DefaultMaxBodyBytes) + `"}`), nil, http.StatusRequestEntityTooLarge, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodPost, path, tt.contentType, tt.body, tt.header)
			require.Equal(t, tt.status, r.status, "%s", r.body)
			assert.Contains(t, r.header.Get("Content-Type"), "application/json")
			m := r.json(t)
			if tt.status == http.StatusOK {
				assert.EqualValues(t, tt.delivered, m["delivered"])
			} else {
				assert.NotEmpty(t, m["message"])
			}
			if tt.message != "" {
				assert.Equal(t, tt.message, m["message"])
			}
		})
	}
}

func TestCallbackAllFailedIs500(t *testing.T) {
	e := newEnv(t, envOptions{})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	e.fcm.FailAll(fcmtest.Unavailable(0))
	ev := event(session)
	r := e.callback(ev, e.secret)
	require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
	res := result(t, r)
	assert.Equal(t, 2, res.Failed)
	assert.Zero(t, res.Delivered)
	assert.Zero(t, res.Pruned)

	// Sending it again once FCM is back pushes to the devices that failed
	// for a temporary reason.
	e.fcm.ClearFailures()
	r = e.callback(ev, e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, 2, result(t, r).Delivered)
}

func TestCallbackPartialFailureIs200(t *testing.T) {
	e := newEnv(t, envOptions{})
	session, bad := uuid.NewString(), fcmToken()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	require.Equal(t, http.StatusOK, e.registerAndroid(bad, session).status)
	e.fcm.FailToken(bad, fcmtest.SenderIDMismatch())
	r := e.callback(event(session), e.secret)
	require.Equal(t, http.StatusOK, r.status)
	res := result(t, r)
	assert.Equal(t, 1, res.Delivered)
	assert.Equal(t, 1, res.Failed)
	assert.Zero(t, res.Pruned, "a configuration error does not prune")
}

func TestCallbackOnlyDeadTokensIs200(t *testing.T) {
	e := newEnv(t, envOptions{})
	session, tok := uuid.NewString(), fcmToken()
	require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	e.fcm.FailToken(tok, fcmtest.InvalidToken())
	r := e.callback(event(session), e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	res := result(t, r)
	assert.Equal(t, 1, res.Failed)
	assert.Equal(t, 1, res.Pruned)
	devs, err := e.reg.Lookup(context.Background(), session)
	require.NoError(t, err)
	assert.Empty(t, devs)
}

// switchSender wraps a sender; while hang is set, it writes the request and
// never hears back: it returns, when the context ends, the error of a
// sender whose request was written. While fail is set it returns fail.
type switchSender struct {
	pushwire.Sender
	hang *atomic.Bool
	fail *atomic.Pointer[error]
}

func (s switchSender) Send(ctx context.Context, m pushwire.Message) error {
	if s.hang != nil && s.hang.Load() {
		<-ctx.Done()
		return pushwire.ContextError(pushwire.ProviderFCM, ctx.Err(), true)
	}
	if s.fail != nil {
		if err := s.fail.Load(); err != nil {
			return *err
		}
	}
	return s.Sender.Send(ctx, m)
}

func (s switchSender) Close() error { return s.Sender.(io.Closer).Close() }

// A provider that hangs past the delivery deadline after the request was
// written: the outcome is unknown (202, "unknown": 1), never "failed", and a
// re-sent callback pushes nothing (it may have arrived).
func TestCallbackDeadlineIsUnknown(t *testing.T) {
	var hang atomic.Bool
	hang.Store(true)
	e := newEnv(t, envOptions{
		tweak:   func(c *connector.Config) { c.DeliveryTimeout = 100 * time.Millisecond },
		wrapFCM: func(s pushwire.Sender) pushwire.Sender { return switchSender{Sender: s, hang: &hang} },
	})
	session, tok := uuid.NewString(), fcmToken()
	require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	ev := event(session)
	r := e.callback(ev, e.secret)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	res := result(t, r)
	assert.Equal(t, connector.CallbackResult{EventID: ev["eventId"], SessionID: session, Unknown: 1}, res)

	hang.Store(false)
	r = e.callback(ev, e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.True(t, result(t, r).Duplicate, "an unknown outcome is never pushed again")
	assert.Empty(t, e.fcm.Messages())
}

func TestDuplicateConcurrent(t *testing.T) {
	e := newEnv(t, envOptions{})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	ev := event(session)
	const n = 8
	results := make([]connector.CallbackResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.callback(ev, e.secret)
			if assert.Equal(t, http.StatusOK, r.status) {
				results[i] = result(t, r)
			}
		}()
	}
	wg.Wait()
	delivered, dups := 0, 0
	for _, r := range results {
		delivered += r.Delivered
		if r.Duplicate {
			dups++
		}
	}
	assert.Equal(t, 1, delivered)
	assert.Equal(t, n-1, dups)
	assert.Len(t, e.fcm.Messages(), 1)

	// The same eventId for another session is another notification.
	other := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), other).status)
	ev2 := map[string]string{"eventId": ev["eventId"], "sessionId": other}
	r := e.callback(ev2, e.secret)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, 1, result(t, r).Delivered)
}

func TestSecretRotation(t *testing.T) {
	e := newEnv(t, envOptions{secrets: []string{"old-secret-0123456789", "new-secret-0123456789"}})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	for _, s := range []string{"old-secret-0123456789", "new-secret-0123456789"} {
		r := e.callback(event(session), s)
		require.Equal(t, http.StatusOK, r.status, s)
		assert.Equal(t, 1, result(t, r).Delivered)
	}
	// Retire the old secret through the admin API.
	r := e.adminDo(http.MethodPut, "/configs/"+e.configID, map[string]any{"secrets": []string{"new-secret-0123456789"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.EqualValues(t, 1, r.json(t)["secretCount"])
	assert.Equal(t, http.StatusUnauthorized, e.callback(event(session), "old-secret-0123456789").status)
	assert.Equal(t, http.StatusOK, e.callback(event(session), "new-secret-0123456789").status)
}

// TestSecretsPerConfiguration checks that a callback is checked against the
// secrets of the configurations its session's devices registered with.
func TestSecretsPerConfiguration(t *testing.T) {
	e := newEnv(t, envOptions{secrets: []string{"secret-a-0123456789"}})
	otherID := uuid.NewString()
	require.NoError(t, e.conn.AddConfig(context.Background(), connector.PushConfig{
		ID: otherID, Secrets: [][]byte{[]byte("secret-b-0123456789")}, FCMServiceAccount: e.fcm.ServiceAccountJSON(),
	}))
	sessionA := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), sessionA).status)

	assert.Equal(t, http.StatusUnauthorized, e.callback(event(sessionA), "secret-b-0123456789").status,
		"configuration b's secret does not sign for a session of configuration a")
	assert.Equal(t, http.StatusOK, e.callback(event(sessionA), "secret-a-0123456789").status)

	// An unknown session accepts any configuration's secret, and only those.
	for _, s := range []string{"secret-a-0123456789", "secret-b-0123456789"} {
		r := e.callback(event(uuid.NewString()), s)
		require.Equal(t, http.StatusOK, r.status)
		assert.Zero(t, result(t, r).Delivered)
	}
	assert.Equal(t, http.StatusUnauthorized, e.callback(event(uuid.NewString()), "secret-c").status)
}

// A session holding devices of two configurations: each configuration's
// secret reaches only its own devices. Registration is open and configIds are
// not secret, so otherwise the holder of one secret could add a device to
// another configuration's session and sign callbacks reaching its devices.
func TestSecretReachesOnlyItsConfiguration(t *testing.T) {
	e := newEnv(t, envOptions{secrets: []string{"secret-a-0123456789"}})
	otherID := uuid.NewString()
	require.NoError(t, e.conn.AddConfig(context.Background(), connector.PushConfig{
		ID: otherID, Secrets: [][]byte{[]byte("secret-b-0123456789")}, FCMServiceAccount: e.fcm.ServiceAccountJSON(),
	}))
	session, victim, intruder := uuid.NewString(), fcmToken(), fcmToken()
	require.Equal(t, http.StatusOK, e.registerAndroid(victim, session).status)
	body, err := json.Marshal(map[string]string{"configId": otherID, "sessionId": session})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, e.do(http.MethodPut, connector.BasePath+"/device-registrations/"+intruder,
		"application/json", body, nil).status)

	// The other configuration's device is neither pushed nor counted (as
	// a failure, say): the callback is not for it.
	r := e.callback(event(session), "secret-b-0123456789")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, connector.CallbackResult{Delivered: 1}, counts(result(t, r)), "only configuration b's device")
	r = e.callback(event(session), "secret-a-0123456789")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, connector.CallbackResult{Delivered: 1}, counts(result(t, r)), "only configuration a's device")
	assert.Equal(t, http.StatusUnauthorized, e.callback(event(session), "secret-c").status)

	got := map[string]int{}
	for _, m := range e.fcm.Messages() {
		got[m.Message.Token]++
	}
	assert.Equal(t, map[string]int{victim: 1, intruder: 1}, got, "each device got the callback signed by its own configuration's secret")

	// Once b is deleted its device gets nothing, whatever the signature.
	require.Equal(t, http.StatusNoContent, e.adminDo(http.MethodDelete, "/configs/"+otherID, nil).status)
	assert.Equal(t, http.StatusUnauthorized, e.callback(event(session), "secret-b-0123456789").status)
	r = e.callback(event(session), "secret-a-0123456789")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, 1, result(t, r).Delivered)
	assert.Len(t, e.fcm.Messages(), 3)
}

// TestConfigurationWithoutSecretRefuses checks that another configuration's
// secret does not stand in for a configuration that has none.
func TestConfigurationWithoutSecretRefuses(t *testing.T) {
	e := newEnv(t, envOptions{secrets: []string{}})
	require.NoError(t, e.conn.AddConfig(context.Background(), connector.PushConfig{
		ID: uuid.NewString(), Secrets: [][]byte{[]byte("secret-b-0123456789")},
	}))
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	assert.Equal(t, http.StatusUnauthorized, e.callback(event(session), "secret-b-0123456789").status)
	assert.Empty(t, e.fcm.Messages())
}

func TestNoSecretConfiguredRefuses(t *testing.T) {
	e := newEnv(t, envOptions{secrets: []string{}})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	ev := event(session)
	r := e.callback(ev, "anything")
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Empty(t, e.fcm.Messages())
}

func TestDeliverWithoutConfigurationFails(t *testing.T) {
	e := newEnv(t, envOptions{})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	// Delete the configuration the device registered with.
	require.Equal(t, http.StatusNoContent, e.adminDo(http.MethodDelete, "/configs/"+e.configID, nil).status)
	res, err := e.conn.Deliver(context.Background(), hmacverify.Event{EventID: uuid.NewString(), SessionID: session})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Failed)
	assert.Equal(t, http.StatusInternalServerError, res.Status())
}

func TestBuildMessageReplaceable(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.BuildMessage = func(ev hmacverify.Event, d registry.Device) pushwire.Message {
			m := connector.DefaultMessage(ev, d)
			m.Data["origin"] = "axp"
			m.CollapseKey = ev.SessionID
			return m
		}
	}})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	require.Equal(t, http.StatusOK, e.callback(event(session), e.secret).status)
	msgs := waitFCM(t, e.fcm, 1)
	assert.Equal(t, "axp", msgs[0].Message.Data["origin"])
	require.NotNil(t, msgs[0].Message.Android)
	assert.Equal(t, session, msgs[0].Message.Android.CollapseKey)
}

func TestDefaultMessage(t *testing.T) {
	ev := hmacverify.Event{EventID: "e", ConversationID: "c", CustomerID: "u", SessionID: "s",
		EventDate: "2024-03-18T12:00:24.480+01:00"}
	android := connector.DefaultMessage(ev, registry.Device{Token: "t", Labels: map[string]string{connector.LabelType: "android"}})
	assert.Equal(t, pushwire.Message{Token: "t", Kind: pushwire.KindData, Priority: pushwire.PriorityHigh, Data: map[string]string{
		"eventId": "e", "conversationId": "c", "customerId": "u", "sessionId": "s", "eventDate": "2024-03-18T12:00:24.480+01:00",
	}}, android, "eventDate as received")
	for _, typ := range []string{"iOS", "ios", "IOS"} {
		ios := connector.DefaultMessage(ev, registry.Device{Token: "t", Labels: map[string]string{connector.LabelType: typ}})
		assert.Equal(t, pushwire.KindAlert, ios.Kind)
		assert.True(t, ios.MutableContent)
		assert.Equal(t, android.Data, ios.Data)
		assert.NotEmpty(t, ios.Title)
	}
	sparse := connector.DefaultMessage(hmacverify.Event{EventID: "e", SessionID: "s"}, registry.Device{Token: "t"})
	assert.Equal(t, map[string]string{"eventId": "e", "sessionId": "s"}, sparse.Data)
}

// TestCallbackResultJSON checks the hand-written answer against encoding/json.
func TestCallbackResultJSON(t *testing.T) {
	e := newEnv(t, envOptions{})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	ev := event(session)
	for _, dup := range []bool{false, true} {
		r := e.callback(ev, e.secret)
		require.Equal(t, http.StatusOK, r.status)
		want, err := json.Marshal(connector.CallbackResult{EventID: ev["eventId"], SessionID: session, Delivered: btoi(!dup), Duplicate: dup})
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(r.body))
		assert.Equal(t, string(want)+"\n", string(r.body))
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A client that sends part of a body and stops gets a 408 after BodyTimeout,
// on the callback and on the JSON routes, even on a server without timeouts.
func TestSlowBodyTimesOut(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) { c.BodyTimeout = 50 * time.Millisecond }})
	for _, route := range []string{
		"POST " + connector.BasePath + "/axp-callback/notifications",
		"PUT " + connector.BasePath + "/device-registrations/" + fcmToken(),
	} {
		conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
		require.NoError(t, err)
		_, err = fmt.Fprintf(conn, "%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"eventId\":", route)
		require.NoError(t, err)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second))) // a safety net, not the assertion
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err, route)
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode, route)
		assert.True(t, resp.Close, "%s: the connection is closed", route)
		_ = resp.Body.Close()
		_ = conn.Close()
	}
}

// TestDeliverResend: Deliver suppresses duplicates as a callback does: the
// same event delivered again pushes only to the device whose push failed
// for a temporary reason, and once that one is delivered the event is a
// duplicate.
func TestDeliverResend(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) { c.Retry = dispatch.RetryPolicy{MaxAttempts: 1} }})
	session, got, failing := e.sessionWithFailing()
	ev := hmacverify.Event{EventID: uuid.NewString(), SessionID: session}
	ctx := context.Background()

	res, err := e.conn.Deliver(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, connector.CallbackResult{Delivered: 1, Failed: 1}, counts(res))
	assert.Equal(t, map[string]int{got: 1, failing: 1}, requestsTo(e, got, failing))

	e.fcm.ClearFailures()
	res, err = e.conn.Deliver(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, connector.CallbackResult{Delivered: 1}, counts(res), "only the failed device is pushed again")
	assert.Equal(t, map[string]int{got: 1, failing: 2}, requestsTo(e, got, failing))

	res, err = e.conn.Deliver(ctx, ev)
	require.NoError(t, err)
	assert.True(t, res.Duplicate)
	assert.Equal(t, map[string]int{got: 1, failing: 2}, requestsTo(e, got, failing), "nothing pushed")
}

func requestsTo(e *env, toks ...string) map[string]int {
	out := map[string]int{}
	for _, tok := range toks {
		out[tok] = e.fcm.RequestsFor(tok)
	}
	return out
}
