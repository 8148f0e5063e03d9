// Package e2e holds the connector's end-to-end scenario, written once and run
// against every registry backend: over the memory registry by the connector's
// own tests, and over SQLite, PostgreSQL and Redis by the tests of the
// examples module, the module that requires the database drivers (so that a
// consumer of the connector never downloads them).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
)

// Topic is the APNs topic of the scenario's fake APNs and of its client.
const Topic = "com.example.connectortest"

// env is a connector on loopback over reg, with fake FCM and APNs.
type env struct {
	t        *testing.T
	fcm      *fcmtest.Server
	apns     *apnstest.Server
	srv      *httptest.Server
	configID string
	secret   string
}

func newEnv(t *testing.T, reg registry.Registry) *env {
	t.Helper()
	e := &env{t: t, fcm: fcmtest.NewServer(fcmtest.Config{}), configID: uuid.NewString(), secret: "secret-" + uuid.NewString()}
	t.Cleanup(e.fcm.Close)
	e.apns = apnstest.NewServer(apnstest.Config{Topics: []string{Topic}})
	t.Cleanup(e.apns.Close)
	ac, err := apns.New(apns.Config{BaseURL: e.apns.URL, Token: e.apns.TokenAuth(), RootCAs: e.apns.CertPool(),
		Topic: Topic, Retry: apns.RetryPolicy{MaxAttempts: 1}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ac.Close() })
	c, err := connector.New(connector.Config{
		Registry: reg,
		NewFCMSender: func(ctx context.Context, sa []byte) (pushwire.Sender, error) {
			return fcm.New(ctx, fcm.Config{CredentialsJSON: sa, BaseURL: e.fcm.URL, Retry: fcm.RetryPolicy{MaxAttempts: 1}})
		},
		// The clients do not retry: the connector's dispatcher does.
		Retry:           dispatch.RetryPolicy{MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		APNs:            ac,
		APNsTopic:       Topic,
		RateLimit:       connector.RateLimit{Rate: -1},
		DeliveryTimeout: 5 * time.Second,
	})
	require.NoError(t, err)
	e.srv = httptest.NewServer(c)
	t.Cleanup(func() {
		e.srv.Close()
		require.NoError(t, c.Close())
	})
	require.NoError(t, c.AddConfig(context.Background(), connector.PushConfig{
		ID: e.configID, Secrets: [][]byte{[]byte(e.secret)}, FCMServiceAccount: e.fcm.ServiceAccountJSON(),
	}))
	return e
}

// response is a decoded HTTP answer.
type response struct {
	status int
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body %s", r.body)
	return m
}

func (r response) result(t *testing.T) connector.CallbackResult {
	t.Helper()
	var res connector.CallbackResult
	require.NoError(t, json.Unmarshal(r.body, &res), "body %s", r.body)
	return res
}

func (e *env) do(method, path, contentType string, body []byte, header http.Header) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	require.NoError(e.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return response{status: resp.StatusCode, body: b}
}

// registerAndroid registers token as the sample Android app does: Retrofit
// with Moshi, {"configId","sessionId"}, "application/json; charset=UTF-8".
func (e *env) registerAndroid(token, session string) response {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"configId": e.configID, "sessionId": session})
	return e.do(http.MethodPut, connector.BasePath+"/device-registrations/"+token, "application/json; charset=UTF-8", body, nil)
}

// registerIOS registers token as the sample iOS app does: with "type": "iOS".
func (e *env) registerIOS(token, session string) response {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"configId": e.configID, "sessionId": session, "type": "iOS"})
	return e.do(http.MethodPut, connector.BasePath+"/device-registrations/"+token, "application/json", body, nil)
}

// callback posts ev signed with the configuration's secret, as AXP does.
func (e *env) callback(ev map[string]string) response {
	e.t.Helper()
	body, _ := json.Marshal(ev)
	h := http.Header{"X-hmac": {hmacverify.Sign([]byte(e.secret), ev["eventId"], ev["sessionId"])}}
	return e.do(http.MethodPost, connector.BasePath+"/axp-callback/notifications", "application/json", body, h)
}

// event returns a fresh AXP event for session.
func event(session string) map[string]string {
	return map[string]string{
		"eventId":        uuid.NewString(),
		"conversationId": uuid.NewString(),
		"customerId":     "customer-id-12345",
		"sessionId":      session,
		"eventDate":      "2024-03-18T11:00:24.481Z",
	}
}

// fcmToken returns a fresh token shaped like an FCM registration token.
func fcmToken() string {
	return "d" + strings.ReplaceAll(uuid.NewString(), "-", "")[:10] + ":APA91b" + strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", "")
}

// apnsToken returns a fresh 64-hex-digit APNs device token.
func apnsToken() string {
	return strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", "")
}

// Run drives a connector over reg exactly as the sample Android and iOS apps
// and AXP do: registrations, a callback delivered to FCM and APNs, a
// duplicate, dead tokens pruned from reg, the search route and a DELETE. reg
// must be empty of the scenario's tokens (they are fresh random ones); the
// caller closes it.
func Run(t *testing.T, reg registry.Registry) {
	e := newEnv(t, reg)
	session := uuid.NewString()
	android, iosFCM, iosAPNs := fcmToken(), fcmToken(), apnsToken()

	r := e.registerAndroid(android, session)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, map[string]any{"configId": e.configID, "sessionId": session, "deviceToken": android}, r.json(t))
	r = e.registerIOS(iosFCM, session)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "iOS", r.json(t)["type"])
	r = e.registerIOS(iosAPNs, session)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	ev := event(session)
	r = e.callback(ev)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	res := r.result(t)
	assert.Equal(t, 3, res.Delivered)
	assert.Zero(t, res.Failed)
	assert.Equal(t, ev["eventId"], res.EventID)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := e.fcm.WaitForMessages(ctx, 2)
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	byToken := map[string]fcmtest.Message{}
	for _, m := range msgs {
		byToken[m.Message.Token] = m.Message
	}
	require.Contains(t, byToken, android)
	require.Contains(t, byToken, iosFCM)
	a := byToken[android]
	assert.Equal(t, ev, a.Data, "android data carries the five AXP fields as strings")
	assert.Nil(t, a.Notification, "android message is data-only")
	require.NotNil(t, a.Android)
	assert.EqualValues(t, "high", a.Android.Priority)
	i := byToken[iosFCM]
	assert.Equal(t, ev, i.Data)
	require.NotNil(t, i.APNS, "iOS message has an apns block")
	assert.Contains(t, string(i.APNS.Payload), `"mutable-content":1`)
	require.NotNil(t, i.Notification)

	notes := e.apns.Notifications()
	require.Len(t, notes, 1)
	assert.Equal(t, iosAPNs, notes[0].Token)
	assert.Equal(t, Topic, notes[0].Topic)
	assert.Contains(t, string(notes[0].Payload), `"mutable-content":1`)
	assert.Contains(t, string(notes[0].Payload), `"eventId":"`+ev["eventId"]+`"`)

	// The same event again is a duplicate: nothing more is sent.
	r = e.callback(ev)
	require.Equal(t, http.StatusOK, r.status)
	res = r.result(t)
	assert.True(t, res.Duplicate)
	assert.Zero(t, res.Delivered)
	assert.Len(t, e.fcm.Messages(), 2)
	assert.Len(t, e.apns.Notifications(), 1)

	// A dead token is pruned from the registry.
	e.fcm.FailToken(android, fcmtest.Unregistered())
	r = e.callback(event(session))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	res = r.result(t)
	assert.Equal(t, connector.CallbackResult{EventID: res.EventID, SessionID: session, Delivered: 2, Failed: 1, Pruned: 1}, res)
	_, err = reg.Get(context.Background(), registry.Key{Provider: pushwire.ProviderFCM, Token: android})
	assert.ErrorIs(t, err, registry.ErrNotFound)
	r = e.do(http.MethodGet, connector.BasePath+"/device-registrations/"+android, "", nil, nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "deviceToken ["+android+"] not found", r.json(t)["message"])

	// APNs 410 with a timestamp: invalidated as of that time.
	e.apns.Fail(iosAPNs, apnstest.Failure{Reason: "Unregistered"})
	r = e.callback(event(session))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	res = r.result(t)
	assert.Equal(t, 1, res.Delivered)
	assert.Equal(t, 1, res.Pruned)
	_, err = reg.Get(context.Background(), registry.Key{Provider: pushwire.ProviderAPNs, Token: iosAPNs})
	assert.ErrorIs(t, err, registry.ErrNotFound)

	// The search route sees the one device left.
	r = e.do(http.MethodPost, connector.BasePath+"/device-registrations:search", "application/json",
		[]byte(`{"sessionId":"`+session+`"}`), nil)
	require.Equal(t, http.StatusOK, r.status)
	m := r.json(t)
	assert.Equal(t, iosFCM, m["deviceToken"])
	assert.Len(t, m["registrations"], 1)

	// The iOS app's DELETE.
	r = e.do(http.MethodDelete, connector.BasePath+"/device-registrations/"+iosFCM, "", nil, nil)
	assert.Equal(t, http.StatusNoContent, r.status)
	r = e.callback(event(session))
	require.Equal(t, http.StatusOK, r.status)
	assert.Zero(t, r.result(t).Delivered)
}
