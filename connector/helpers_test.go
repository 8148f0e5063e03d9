package connector_test

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
	"go.uber.org/goleak"

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

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testTopic = "com.example.connectortest"

// env is a connector on loopback with fake FCM and APNs.
type env struct {
	t        *testing.T
	fcm      *fcmtest.Server
	apns     *apnstest.Server
	reg      registry.Registry
	conn     *connector.Connector
	srv      *httptest.Server
	configID string
	secret   string
	admin    string
}

type envOptions struct {
	reg     registry.Registry // default memory
	tweak   func(*connector.Config)
	secrets []string // default one random secret
	noAPNs  bool
	// wrapFCM, when set, wraps every FCM sender the connector builds.
	wrapFCM func(pushwire.Sender) pushwire.Sender
}

// fastRetry keeps the connector's retries short in tests; the clients do not
// retry on their own.
var fastRetry = dispatch.RetryPolicy{MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, fcm: fcmtest.NewServer(fcmtest.Config{}), admin: "admin-" + uuid.NewString()}
	t.Cleanup(e.fcm.Close)
	e.reg = o.reg
	if e.reg == nil {
		m, err := registry.NewMemory(registry.Config{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Close() })
		e.reg = m
	}
	cfg := connector.Config{
		Registry:   e.reg,
		AdminToken: e.admin,
		NewFCMSender: func(ctx context.Context, sa []byte) (pushwire.Sender, error) {
			s, err := fcm.New(ctx, fcm.Config{CredentialsJSON: sa, BaseURL: e.fcm.URL, Retry: fcm.RetryPolicy{MaxAttempts: 1}})
			if err != nil || o.wrapFCM == nil {
				return s, err
			}
			return o.wrapFCM(s), nil
		},
		RateLimit:       connector.RateLimit{Rate: -1},
		DeliveryTimeout: 5 * time.Second,
		Retry:           fastRetry,
	}
	if !o.noAPNs {
		e.apns = apnstest.NewServer(apnstest.Config{Topics: []string{testTopic}})
		t.Cleanup(e.apns.Close)
		ac, err := apns.New(apns.Config{BaseURL: e.apns.URL, Token: e.apns.TokenAuth(), RootCAs: e.apns.CertPool(),
			Topic: testTopic, Retry: apns.RetryPolicy{MaxAttempts: 1}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = ac.Close() })
		cfg.APNs, cfg.APNsTopic = ac, testTopic
	}
	if o.tweak != nil {
		o.tweak(&cfg)
	}
	c, err := connector.New(cfg)
	require.NoError(t, err)
	e.conn = c
	e.srv = httptest.NewServer(c)
	t.Cleanup(func() {
		e.srv.Close()
		require.NoError(t, c.Close())
	})
	secrets := o.secrets
	if secrets == nil {
		secrets = []string{"secret-" + uuid.NewString()}
	}
	if len(secrets) > 0 {
		e.secret = secrets[0]
	}
	e.configID = uuid.NewString()
	bs := make([][]byte, len(secrets))
	for i, s := range secrets {
		bs[i] = []byte(s)
	}
	require.NoError(t, c.AddConfig(context.Background(), connector.PushConfig{
		ID: e.configID, Secrets: bs, FCMServiceAccount: e.fcm.ServiceAccountJSON(),
	}))
	return e
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body %s", r.body)
	return m
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
	return response{status: resp.StatusCode, header: resp.Header, body: b}
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

// callback posts ev signed with secret, as AXP does.
func (e *env) callback(ev map[string]string, secret string) response {
	e.t.Helper()
	body, _ := json.Marshal(ev)
	h := http.Header{}
	if secret != "" {
		h.Set("X-hmac", hmacverify.Sign([]byte(secret), ev["eventId"], ev["sessionId"]))
	}
	return e.do(http.MethodPost, connector.BasePath+"/axp-callback/notifications", "application/json", body, h)
}

func (e *env) adminDo(method, path string, body any) response {
	e.t.Helper()
	var b []byte
	ct := ""
	if body != nil {
		b, _ = json.Marshal(body)
		ct = "application/json"
	}
	return e.do(method, connector.BasePath+path, ct, b, http.Header{"Authorization": {"Bearer " + e.admin}})
}

// result decodes a callback answer.
func result(t *testing.T, r response) connector.CallbackResult {
	t.Helper()
	var res connector.CallbackResult
	require.NoError(t, json.Unmarshal(r.body, &res), "body %s", r.body)
	return res
}

// fcmToken returns a fresh token shaped like an FCM registration token.
func fcmToken() string {
	return "d" + strings.ReplaceAll(uuid.NewString(), "-", "")[:10] + ":APA91b" + strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", "")
}

// apnsToken returns a fresh 64-hex-digit APNs device token.
func apnsToken() string {
	return strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", "")
}

// sessionWithFailing registers two Android devices in a new session and
// makes FCM refuse the pushes to the second for a temporary reason
// (UNAVAILABLE) until e.fcm.ClearFailures.
func (e *env) sessionWithFailing() (session, got, failing string) {
	e.t.Helper()
	session, got, failing = uuid.NewString(), fcmToken(), fcmToken()
	require.Equal(e.t, http.StatusOK, e.registerAndroid(got, session).status)
	require.Equal(e.t, http.StatusOK, e.registerAndroid(failing, session).status)
	e.fcm.FailToken(failing, fcmtest.Unavailable(0))
	return session, got, failing
}

func waitFCM(t *testing.T, s *fcmtest.Server, n int) []fcmtest.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := s.WaitForMessages(ctx, n)
	require.NoError(t, err)
	return msgs
}

var _ = assert.Equal
