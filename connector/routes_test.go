package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
)

func TestRegistrationValidation(t *testing.T) {
	e := newEnv(t, envOptions{noAPNs: true})
	session, tok := uuid.NewString(), fcmToken()
	path := connector.BasePath + "/device-registrations/"
	body := func(v any) []byte { b, _ := json.Marshal(v); return b }
	ok := map[string]string{"configId": e.configID, "sessionId": session}
	tests := []struct {
		name        string
		token       string
		contentType string
		body        []byte
		status      int
		message     string
	}{
		{"ok", tok, "application/json", body(ok), http.StatusOK, ""},
		{"unknown config", tok, "application/json", body(map[string]string{"configId": "nope", "sessionId": session}), http.StatusNotFound, "configId [nope] not found"},
		{"no configId", tok, "application/json", body(map[string]string{"sessionId": session}), http.StatusNotFound, "configId [undefined] not found"}, // as the sample
		{"no sessionId", tok, "application/json", body(map[string]string{"configId": e.configID}), http.StatusBadRequest, "sessionId is required"},
		{"bad sessionId", tok, "application/json", body(map[string]string{"configId": e.configID, "sessionId": "a/b"}), http.StatusBadRequest, ""},
		{"long sessionId", tok, "application/json", body(map[string]string{"configId": e.configID, "sessionId": strings.Repeat("a", 129)}), http.StatusBadRequest, ""},
		{"bad type", tok, "application/json", body(map[string]string{"configId": e.configID, "sessionId": session, "type": "i OS"}), http.StatusBadRequest, ""},
		{"number sessionId", tok, "application/json", []byte(`{"configId":"` + e.configID + `","sessionId":5}`), http.StatusBadRequest, ""},
		{"short token", "abc", "application/json", body(ok), http.StatusBadRequest, ""},
		{"token with bad character", strings.Repeat("a", 20) + "%21", "application/json", body(ok), http.StatusBadRequest, ""},
		{"token with slash", strings.Repeat("a", 20) + "%2Fb", "application/json", body(ok), http.StatusBadRequest, ""},
		{"apns token without apns", apnsToken(), "application/json", body(map[string]string{"configId": e.configID, "sessionId": session, "type": "iOS"}), http.StatusBadRequest, ""},
		{"form body", tok, "application/x-www-form-urlencoded", []byte("configId=x&sessionId=y"), http.StatusUnsupportedMediaType, ""},
		{"no content type", tok, "", body(ok), http.StatusUnsupportedMediaType, ""},
		{"invalid json", tok, "application/json", []byte(`{"configId":`), http.StatusBadRequest, ""},
		{"trailing data", tok, "application/json", append(body(ok), []byte(` {}`)...), http.StatusBadRequest, ""},
		{"too large", tok, "application/json", body(map[string]string{"configId": e.configID, "sessionId": session, "x": strings.Repeat("a", hmacverify.DefaultMaxBodyBytes)}), http.StatusRequestEntityTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodPut, path+tt.token, tt.contentType, tt.body, nil)
			require.Equal(t, tt.status, r.status, "%s", r.body)
			if tt.status != http.StatusOK {
				m := r.json(t)
				assert.NotEmpty(t, m["message"])
				if tt.message != "" {
					assert.Equal(t, tt.message, m["message"])
				}
			}
		})
	}
}

func TestRegistrationLifecycle(t *testing.T) {
	e := newEnv(t, envOptions{})
	s1, s2, tok := uuid.NewString(), uuid.NewString(), fcmToken()
	path := connector.BasePath + "/device-registrations/" + tok

	r := e.do(http.MethodGet, path, "", nil, nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "deviceToken ["+tok+"] not found", r.json(t)["message"])
	r = e.do(http.MethodDelete, path, "", nil, nil)
	assert.Equal(t, http.StatusNotFound, r.status)

	require.Equal(t, http.StatusOK, e.registerAndroid(tok, s1).status)
	r = e.do(http.MethodGet, path, "", nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, map[string]any{"configId": e.configID, "sessionId": s1, "deviceToken": tok}, r.json(t))

	// Registering the token under another session moves it (the sample
	// leaves the old session pointing at it).
	require.Equal(t, http.StatusOK, e.registerAndroid(tok, s2).status)
	r = e.callback(event(s1), e.secret)
	require.Equal(t, http.StatusOK, r.status)
	assert.Zero(t, result(t, r).Delivered)
	r = e.callback(event(s2), e.secret)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, 1, result(t, r).Delivered)

	search := func(session string) response {
		return e.do(http.MethodPost, connector.BasePath+"/device-registrations:search", "application/json",
			[]byte(`{"sessionId":"`+session+`"}`), nil)
	}
	r = search(s1)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "sessionId ["+s1+"] not found", r.json(t)["message"])
	r = search(s2)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, tok, r.json(t)["deviceToken"])

	// Trailing slash as Express allows.
	r = e.do(http.MethodGet, path+"/", "", nil, nil)
	assert.Equal(t, http.StatusOK, r.status)

	r = e.do(http.MethodDelete, path, "", nil, nil)
	assert.Equal(t, http.StatusNoContent, r.status)
	assert.Equal(t, http.StatusNotFound, search(s2).status)
}

func TestRegistrationAuth(t *testing.T) {
	t.Run("bearer token", func(t *testing.T) {
		e := newEnv(t, envOptions{tweak: func(c *connector.Config) { c.RegistrationToken = "reg-secret-0123456789" }})
		tok, session := fcmToken(), uuid.NewString()
		body := []byte(`{"configId":"` + e.configID + `","sessionId":"` + session + `"}`)
		path := connector.BasePath + "/device-registrations/" + tok
		for _, h := range []http.Header{nil, {"Authorization": {"Bearer wrong"}}, {"Authorization": {"Basic cmVnLXNlY3JldA=="}}} {
			r := e.do(http.MethodPut, path, "application/json", body, h)
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.Contains(t, r.header.Get("WWW-Authenticate"), "Bearer")
		}
		r := e.do(http.MethodPut, path, "application/json", body, http.Header{"Authorization": {"bearer reg-secret-0123456789"}})
		assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
		// The AXP callback is not behind the registration token.
		assert.Equal(t, http.StatusOK, e.callback(event(session), e.secret).status)
	})
	t.Run("authorizer", func(t *testing.T) {
		e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
			c.RegistrationToken = "ignored-0123456789ab"
			c.RegistrationAuth = connector.AuthorizerFunc(func(r *http.Request) error {
				if r.Header.Get("X-App-Attest") != "ok" {
					return errors.New("no attestation")
				}
				return nil
			})
		}})
		body := []byte(`{"configId":"` + e.configID + `","sessionId":"` + uuid.NewString() + `"}`)
		path := connector.BasePath + "/device-registrations/" + fcmToken()
		assert.Equal(t, http.StatusUnauthorized, e.do(http.MethodPut, path, "application/json", body,
			http.Header{"Authorization": {"Bearer ignored"}}).status)
		assert.Equal(t, http.StatusOK, e.do(http.MethodPut, path, "application/json", body,
			http.Header{"X-App-Attest": {"ok"}}).status)
	})
}

func TestAdminRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	sa := e.fcm.ServiceAccountJSON()
	var saMap map[string]string
	require.NoError(t, json.Unmarshal(sa, &saMap))

	// Without or with a wrong bearer token: 401.
	for _, h := range []http.Header{nil, {"Authorization": {"Bearer nope"}}} {
		r := e.do(http.MethodGet, connector.BasePath+"/configs", "", nil, h)
		assert.Equal(t, http.StatusUnauthorized, r.status)
	}

	r := e.adminDo(http.MethodPost, "/configs", map[string]any{"fcmServiceAccountConfig": json.RawMessage(sa), "secrets": []string{"secret-s1-0123456789"}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	created := r.json(t)
	id, _ := created["configId"].(string)
	_, err := uuid.Parse(id)
	require.NoError(t, err, "configId is a uuid")

	checkRedacted := func(t *testing.T, r response) {
		t.Helper()
		body := string(r.body)
		assert.NotContains(t, body, "PRIVATE KEY")
		assert.NotContains(t, body, saMap["private_key"][40:80])
		assert.NotContains(t, body, saMap["private_key_id"])
		assert.NotContains(t, body, `"s1"`, "secrets are write-only")
	}
	checkRedacted(t, r)
	sa1 := created["fcmServiceAccountConfig"].(map[string]any)
	assert.Equal(t, "[redacted]", sa1["private_key"])
	assert.Equal(t, saMap["client_email"], sa1["client_email"])

	r = e.adminDo(http.MethodGet, "/configs/"+id, nil)
	require.Equal(t, http.StatusOK, r.status)
	checkRedacted(t, r)
	assert.EqualValues(t, 1, r.json(t)["secretCount"])

	r = e.adminDo(http.MethodGet, "/configs", nil)
	require.Equal(t, http.StatusOK, r.status)
	checkRedacted(t, r)
	var list []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &list))
	assert.Len(t, list, 2)

	// PUT on an unknown id creates it, as the sample does.
	newID := uuid.NewString()
	r = e.adminDo(http.MethodPut, "/configs/"+newID, map[string]any{"fcmServiceAccountConfig": json.RawMessage(sa)})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	checkRedacted(t, r)
	assert.Equal(t, newID, r.json(t)["configId"])
	// A device can register with it.
	assert.Equal(t, http.StatusOK, e.do(http.MethodPut, connector.BasePath+"/device-registrations/"+fcmToken(), "application/json",
		[]byte(`{"configId":"`+newID+`","sessionId":"`+uuid.NewString()+`"}`), nil).status)

	// Bad service accounts are refused.
	for _, bad := range []any{
		map[string]any{"fcmServiceAccountConfig": "text"},
		map[string]any{"fcmServiceAccountConfig": map[string]string{"type": "service_account"}},
		map[string]any{"fcmServiceAccountConfig": map[string]string{"type": "service_account", "project_id": "p", "client_email": "e", "private_key": "not a pem"}},
		map[string]any{"secrets": []string{""}},
	} {
		r = e.adminDo(http.MethodPost, "/configs", bad)
		assert.Equal(t, http.StatusBadRequest, r.status, "%v: %s", bad, r.body)
		assert.NotContains(t, string(r.body), "not a pem")
	}

	r = e.adminDo(http.MethodDelete, "/configs/"+id, nil)
	assert.Equal(t, http.StatusNoContent, r.status)
	r = e.adminDo(http.MethodDelete, "/configs/"+id, nil)
	assert.Equal(t, http.StatusNoContent, r.status, "deleting again is still 204, as the sample")
	r = e.adminDo(http.MethodGet, "/configs/"+id, nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "configId ["+id+"] not found", r.json(t)["message"])
}

func TestAdminRoutesOffWithoutToken(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) { c.AdminToken = "" }})
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		for _, p := range []string{"/configs", "/notifications"} {
			r := e.do(m, connector.BasePath+p, "application/json", []byte(`{}`), http.Header{"Authorization": {"Bearer "}})
			assert.Equal(t, http.StatusNotFound, r.status, "%s %s", m, p)
		}
	}
}

func TestRedactServiceAccount(t *testing.T) {
	in := []byte(`{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n","private_key_id":"0123456789abcdef","client_email":"x@y"}`)
	var out map[string]string
	require.NoError(t, json.Unmarshal(connector.RedactServiceAccount(in), &out))
	assert.Equal(t, map[string]string{"type": "service_account", "private_key": "[redacted]", "private_key_id": "…abcdef", "client_email": "x@y"}, out)
	assert.Nil(t, connector.RedactServiceAccount([]byte(`"string"`)))
	assert.Nil(t, connector.RedactServiceAccount(nil))

	// Google's parser, like encoding/json, matches names without regard to
	// case, so such a spelling is a usable key and must be redacted too; so
	// is a PEM key under any other name.
	in = []byte(`{"Private_Key":"-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n","PRIVATE_KEY_ID":"0123456789abcdef","note":"-----BEGIN RSA PRIVATE KEY-----x"}`)
	clear(out)
	require.NoError(t, json.Unmarshal(connector.RedactServiceAccount(in), &out))
	assert.Equal(t, map[string]string{"Private_Key": "[redacted]", "PRIVATE_KEY_ID": "…abcdef", "note": "[redacted]"}, out)
}

func TestMethodsAndPaths(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, connector.BasePath + "/axp-callback/notifications", http.StatusMethodNotAllowed},
		{http.MethodPost, connector.BasePath + "/device-registrations/" + fcmToken(), http.StatusMethodNotAllowed},
		{http.MethodGet, connector.BasePath + "/device-registrations", http.StatusNotFound},
		{http.MethodGet, connector.BasePath + "/notifications", http.StatusMethodNotAllowed},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/healthz", http.StatusOK},
		{http.MethodGet, "/readyz", http.StatusOK},
	}
	for _, tt := range tests {
		r := e.do(tt.method, tt.path, "", nil, nil)
		assert.Equal(t, tt.status, r.status, "%s %s", tt.method, tt.path)
		if tt.status >= 400 {
			assert.NotEmpty(t, r.json(t)["message"], "%s %s", tt.method, tt.path)
		}
	}
}

func TestReadyzFailsWhenRegistryIsDown(t *testing.T) {
	reg, err := registry.NewMemory(registry.Config{})
	require.NoError(t, err)
	e := newEnv(t, envOptions{reg: reg})
	assert.Equal(t, http.StatusOK, e.do(http.MethodGet, "/readyz", "", nil, nil).status)
	require.NoError(t, reg.Close())
	assert.Equal(t, http.StatusServiceUnavailable, e.do(http.MethodGet, "/readyz", "", nil, nil).status)
	assert.Equal(t, http.StatusOK, e.do(http.MethodGet, "/healthz", "", nil, nil).status)
	// A callback while the registry is down is a 500 (AXP does not back off).
	r := e.callback(event(uuid.NewString()), e.secret)
	assert.Equal(t, http.StatusInternalServerError, r.status)
}

// clock is a manual clock for rate-limit tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestRateLimit(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.RateLimit = connector.RateLimit{Rate: 1, Burst: 2, MaxClients: 4}
		c.Now = clk.Now
		c.ClientAddr = func(r *http.Request) string { return r.Header.Get("X-Client") }
	}})
	get := func(client string) response {
		return e.do(http.MethodGet, connector.BasePath+"/device-registrations/"+strings.Repeat("a", 20), "", nil,
			http.Header{"X-Client": {client}})
	}
	assert.Equal(t, http.StatusNotFound, get("a").status)
	assert.Equal(t, http.StatusNotFound, get("a").status)
	r := get("a")
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, http.StatusNotFound, get("b").status, "other clients have their own bucket")
	clk.Add(time.Second)
	assert.Equal(t, http.StatusNotFound, get("a").status, "refilled")

	// The AXP callback is not rate limited.
	session := uuid.NewString()
	for range 5 {
		assert.Equal(t, http.StatusOK, e.callback(event(session), e.secret).status)
	}

	// Memory stays bounded however many addresses come.
	for i := range 50 {
		get("client-" + uuid.NewString())
		if i%10 == 0 {
			clk.Add(2 * time.Second)
		}
	}
	assert.LessOrEqual(t, connector.RateLimitedClients(e.conn), 4)
}

// TestMemoryDeduper checks what is particular to the default Deduper (the
// conformance suite, connectortest.RunDeduper, checks the rest): a full
// store forgets the least recently written event, at its capacity and not
// before.
func TestMemoryDeduper(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	d, err := connector.NewMemoryDeduper(connector.MemoryDeduperConfig{Capacity: 3, Now: clk.Now})
	require.NoError(t, err)
	ctx := context.Background()
	isNew := func(k string) bool {
		c, err := d.Claim(ctx, k, time.Minute)
		require.NoError(t, err)
		return c.New
	}
	assert.True(t, isNew("a"))
	assert.False(t, isNew("a"))
	assert.True(t, isNew("b"))
	assert.True(t, isNew("c"))
	assert.Equal(t, 3, d.Len(), "at capacity, nothing forgotten")
	assert.False(t, isNew("a"))
	require.NoError(t, d.Record(ctx, "a", map[string]connector.DeviceOutcome{"x": connector.DeviceDelivered}, time.Minute))
	assert.True(t, isNew("d"), "over capacity: b, the least recently written, goes")
	assert.Equal(t, 3, d.Len())
	assert.False(t, isNew("a"), "a was written last but one")
	assert.True(t, isNew("b"), "b was forgotten")
	clk.Add(time.Minute)
	assert.True(t, isNew("a"), "expired")

	for _, c := range []int{-1} {
		_, err = connector.NewMemoryDeduper(connector.MemoryDeduperConfig{Capacity: c})
		assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	}
}

func TestNewValidates(t *testing.T) {
	reg, err := registry.NewMemory(registry.Config{})
	require.NoError(t, err)
	defer reg.Close()
	for _, cfg := range []connector.Config{
		{},
		{Registry: reg, DeliveryTimeout: -1},
		{Registry: reg, MaxBodyBytes: -1},
		{Registry: reg, RateLimit: connector.RateLimit{Burst: -1}},
	} {
		_, err := connector.New(cfg)
		assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	}
	c, err := connector.New(connector.Config{Registry: reg})
	require.NoError(t, err)
	for _, pc := range []connector.PushConfig{
		{ID: "bad id"},
		{ID: "ok", Secrets: [][]byte{{}}},
		{ID: "ok", FCMServiceAccount: []byte(`{"type":"service_account"}`)},
	} {
		assert.ErrorIs(t, c.AddConfig(context.Background(), pc), pushwire.ErrConfiguration)
	}
	assert.NoError(t, c.Close())
	assert.NoError(t, c.Close(), "idempotent")
}

func TestValidateToken(t *testing.T) {
	for tok, ok := range map[string]bool{
		"cXj2:APA91bH-abc_DEF.ghi":    true,
		strings.Repeat("0a", 32):      true,
		"short":                       false,
		strings.Repeat("a", 4097):     false,
		strings.Repeat("a", 20) + " ": false,
		strings.Repeat("a", 20) + "é": false,
	} {
		assert.Equal(t, ok, connector.ValidateToken(tok) == nil, tok)
	}
}

// TestRegistrationSwitchesProvider checks that an APNs-shaped token keeps one
// binding when it is registered first without and then with "type": "iOS".
func TestRegistrationSwitchesProvider(t *testing.T) {
	e := newEnv(t, envOptions{})
	session, tok := uuid.NewString(), apnsToken()
	require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	require.Equal(t, http.StatusOK, e.registerIOS(tok, session).status)
	devs, err := e.reg.Lookup(context.Background(), session)
	require.NoError(t, err)
	require.Len(t, devs, 1)
	assert.EqualValues(t, "apns", devs[0].Provider)
	require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	devs, err = e.reg.Lookup(context.Background(), session)
	require.NoError(t, err)
	require.Len(t, devs, 1)
	assert.EqualValues(t, "fcm", devs[0].Provider)
}

// TestTestPush drives the sample's test route, now admin only.
func TestTestPush(t *testing.T) {
	e := newEnv(t, envOptions{})
	session, tok := uuid.NewString(), fcmToken()
	require.Equal(t, http.StatusOK, e.registerAndroid(tok, session).status)
	body := map[string]any{"sessionId": session, "accountId": "acc", "message": map[string]any{"data": map[string]string{
		"eventId": "test-event-id", "eventDate": "2024-03-13T20:25:39.734Z", "conversationId": "conv", "engagementId": "eng"}}}
	r := e.do(http.MethodPost, connector.BasePath+"/notifications", "application/json", mustJSON(body), nil)
	assert.Equal(t, http.StatusUnauthorized, r.status, "admin only")
	r = e.adminDo(http.MethodPost, "/notifications", body)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.EqualValues(t, 1, r.json(t)["delivered"])
	msgs := waitFCM(t, e.fcm, 1)
	assert.Equal(t, map[string]string{"eventId": "test-event-id", "eventDate": "2024-03-13T20:25:39.734Z",
		"conversationId": "conv", "sessionId": session}, msgs[0].Message.Data)

	// Without an eventId one is made up; a bad session is a 400.
	r = e.adminDo(http.MethodPost, "/notifications", map[string]any{"sessionId": session})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.EqualValues(t, 1, r.json(t)["delivered"])
	r = e.adminDo(http.MethodPost, "/notifications", map[string]any{"sessionId": "a b"})
	assert.Equal(t, http.StatusBadRequest, r.status)
	r = e.adminDo(http.MethodPost, "/notifications", map[string]any{})
	assert.Equal(t, http.StatusBadRequest, r.status)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// gatedSender holds each Send until gate is closed, and records Close.
type gatedSender struct {
	pushwire.Sender
	started chan struct{} // one value per Send
	gate    chan struct{}
	closed  atomic.Bool
}

func (g *gatedSender) Send(ctx context.Context, m pushwire.Message) error {
	g.started <- struct{}{}
	<-g.gate
	if g.closed.Load() {
		return fmt.Errorf("send on a closed sender: %w", pushwire.ErrClosed)
	}
	return g.Sender.Send(ctx, m)
}

func (g *gatedSender) Close() error {
	g.closed.Store(true)
	return g.Sender.(io.Closer).Close()
}

// Changing a configuration's credentials while a delivery is using its
// sender neither fails that delivery nor leaks the old sender: the last user
// closes it.
func TestCredentialChangeDuringDelivery(t *testing.T) {
	var (
		mu      sync.Mutex
		senders []*gatedSender
	)
	gate := make(chan struct{})
	started := make(chan struct{}, 4)
	e := newEnv(t, envOptions{wrapFCM: func(s pushwire.Sender) pushwire.Sender {
		g := &gatedSender{Sender: s, started: started, gate: gate}
		mu.Lock()
		senders = append(senders, g)
		mu.Unlock()
		return g
	}})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)

	done := make(chan response, 1)
	go func() { done <- e.callback(event(session), e.secret) }()
	<-started // the delivery holds the first sender

	var sa map[string]any
	require.NoError(t, json.Unmarshal(e.fcm.ServiceAccountJSON(), &sa))
	sa["client_id"] = "changed-" + uuid.NewString()
	require.Equal(t, http.StatusOK, e.adminDo(http.MethodPut, "/configs/"+e.configID,
		map[string]any{"fcmServiceAccountConfig": sa}).status)
	mu.Lock()
	require.Len(t, senders, 2, "the new credentials built a new sender")
	old, replacement := senders[0], senders[1]
	mu.Unlock()
	assert.False(t, old.closed.Load(), "not closed while a delivery uses it")

	close(gate)
	r := <-done
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, 1, result(t, r).Delivered)
	assert.True(t, old.closed.Load(), "closed by its last user")
	assert.False(t, replacement.closed.Load())

	// The next callback uses the new sender.
	require.Equal(t, http.StatusOK, e.callback(event(session), e.secret).status)
	<-started
	mu.Lock()
	assert.Len(t, senders, 2)
	mu.Unlock()
}
