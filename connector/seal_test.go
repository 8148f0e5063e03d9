package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/seal"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newDeviceKeys returns a device's private keys and the "payloadKeys"
// member it registers.
func newDeviceKeys(t *testing.T) (seal.PrivateKeys, map[string]string) {
	t.Helper()
	k, err := seal.GenerateKeys()
	require.NoError(t, err)
	p256dh, auth := k.Public().Encode()
	return k, map[string]string{"p256dh": p256dh, "auth": auth}
}

// registerWithKeys registers token with payload keys (and "type" when
// typ is set).
func (e *env) registerWithKeys(token, session, typ string, keys any) response {
	e.t.Helper()
	body := map[string]any{"configId": e.configID, "sessionId": session, "payloadKeys": keys}
	if typ != "" {
		body["type"] = typ
	}
	b, _ := json.Marshal(body)
	return e.do(http.MethodPut, connector.BasePath+"/device-registrations/"+token, "application/json", b, nil)
}

// A registration with payload keys stores them with the device; no answer
// (the registration, its read-back, the session search) shows them, and
// the logs show neither the keys nor the auth secret. Registering again
// without keys clears them.
func TestRegisterPayloadKeys(t *testing.T) {
	logs := &lockedBuffer{}
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	_, keys := newDeviceKeys(t)
	token, session := fcmToken(), "session-keys"

	answers := []response{e.registerWithKeys(token, session, "", keys)}
	require.Equal(t, http.StatusOK, answers[0].status, "%s", answers[0].body)
	d, err := e.reg.Get(context.Background(), registry.Key{Provider: pushwire.ProviderFCM, Token: token})
	require.NoError(t, err)
	require.NotNil(t, d.PayloadKeys)
	assert.Equal(t, pushwire.PayloadKeys{P256DH: keys["p256dh"], Auth: keys["auth"]}, *d.PayloadKeys)

	answers = append(answers,
		e.do(http.MethodGet, connector.BasePath+"/device-registrations/"+token, "", nil, nil),
		e.do(http.MethodPost, connector.BasePath+"/device-registrations:search", "application/json",
			[]byte(`{"sessionId":"`+session+`"}`), nil))
	for _, a := range answers {
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		assert.NotContains(t, string(a.body), "payloadKeys")
		assert.NotContains(t, string(a.body), keys["auth"])
		assert.NotContains(t, string(a.body), keys["p256dh"])
	}
	assert.NotContains(t, logs.String(), keys["auth"])
	assert.NotContains(t, logs.String(), keys["p256dh"])
	assert.Contains(t, logs.String(), "payloadKeys=true")

	// Registered again without keys: they are gone.
	require.Equal(t, http.StatusOK, e.registerAndroid(token, session).status)
	d, err = e.reg.Get(context.Background(), registry.Key{Provider: pushwire.ProviderFCM, Token: token})
	require.NoError(t, err)
	assert.Nil(t, d.PayloadKeys)

	// "payloadKeys": null is a registration without keys.
	r := e.registerWithKeys(token, session, "", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

// Bad payload keys are refused with a 400 that names the member and not
// the value; nothing is stored.
func TestRegisterBadPayloadKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, good := newDeviceKeys(t)
	for name, keys := range map[string]any{
		"empty object":      map[string]string{},
		"no auth":           map[string]string{"p256dh": good["p256dh"]},
		"short auth":        map[string]string{"p256dh": good["p256dh"], "auth": "AAAAAAAAAAAAAAAAAAAA"},
		"not a point":       map[string]string{"p256dh": "BAAA" + good["p256dh"][4:], "auth": good["auth"]},
		"not base64":        map[string]string{"p256dh": good["p256dh"], "auth": "!!!!!!!!!!!!!!!!!!!!!!"},
		"a string":          "keys",
		"auth not a string": map[string]any{"p256dh": good["p256dh"], "auth": 16},
	} {
		t.Run(name, func(t *testing.T) {
			token := fcmToken()
			r := e.registerWithKeys(token, "s", "", keys)
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Contains(t, string(r.body), "payloadKeys")
			assert.NotContains(t, string(r.body), good["auth"])
			assert.NotContains(t, string(r.body), good["p256dh"][8:])
			_, err := e.reg.Get(context.Background(), registry.Key{Provider: pushwire.ProviderFCM, Token: token})
			assert.ErrorIs(t, err, registry.ErrNotFound)
		})
	}
}

// A signed callback reaches a device with keys sealed, on FCM and on APNs
// (where the visible alert is the connector's own placeholder text), and
// the devices open it with their private keys; a device without keys gets
// today's push.
func TestCallbackSealed(t *testing.T) {
	e := newEnv(t, envOptions{})
	androidPriv, androidKeys := newDeviceKeys(t)
	iosPriv, iosKeys := newDeviceKeys(t)
	session := "session-sealed"
	android, ios, plain := fcmToken(), apnsToken(), fcmToken()
	require.Equal(t, http.StatusOK, e.registerWithKeys(android, session, "", androidKeys).status)
	require.Equal(t, http.StatusOK, e.registerWithKeys(ios, session, "iOS", iosKeys).status)
	require.Equal(t, http.StatusOK, e.registerAndroid(plain, session).status)

	ev := event(session)
	r := e.callback(ev, e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, 3, result(t, r).Delivered)

	for _, m := range waitFCM(t, e.fcm, 2) {
		switch m.Message.Token {
		case android:
			require.True(t, m.Message.Sealed())
			assert.NotContains(t, string(m.Raw), ev["conversationId"])
			c, err := m.Message.Open(androidPriv)
			require.NoError(t, err)
			assert.Equal(t, "data", c.Kind)
			assert.Equal(t, ev["eventId"], c.Data["eventId"])
			assert.Equal(t, ev["conversationId"], c.Data["conversationId"])
		case plain:
			assert.False(t, m.Message.Sealed())
			assert.Equal(t, ev["eventId"], m.Message.Data["eventId"])
		default:
			t.Fatalf("unexpected token %s", m.Message.Token)
		}
	}
	notes := e.apns.Notifications()
	require.Len(t, notes, 1)
	n := notes[0]
	require.True(t, n.Sealed())
	assert.NotContains(t, string(n.Payload), ev["conversationId"])
	var payload struct {
		APS struct {
			Alert          map[string]string `json:"alert"`
			MutableContent int               `json:"mutable-content"`
		} `json:"aps"`
	}
	require.NoError(t, json.Unmarshal(n.Payload, &payload))
	assert.Equal(t, map[string]string{"title": connector.DefaultAlertTitle, "body": connector.DefaultAlertBody}, payload.APS.Alert)
	assert.Equal(t, 1, payload.APS.MutableContent)
	c, err := n.Open(iosPriv)
	require.NoError(t, err)
	assert.Equal(t, "alert", c.Kind)
	assert.Equal(t, connector.DefaultAlertTitle, c.Title)
	assert.Equal(t, ev["customerId"], c.Data["customerId"])

	// New keys registered: the next callback is sealed for them.
	newPriv, newKeys := newDeviceKeys(t)
	require.Equal(t, http.StatusOK, e.registerWithKeys(android, session, "", newKeys).status)
	e.fcm.Reset()
	require.Equal(t, http.StatusOK, e.callback(event(session), e.secret).status)
	for _, m := range waitFCM(t, e.fcm, 2) {
		if m.Message.Token == android {
			_, err := m.Message.Open(androidPriv)
			assert.ErrorIs(t, err, seal.ErrDecrypt)
			_, err = m.Message.Open(newPriv)
			assert.NoError(t, err)
		}
	}
}

// In strict mode a device without keys gets nothing: its push fails
// permanently before reaching FCM, and a callback that reached no device is
// answered 500; a device with keys is delivered sealed.
func TestCallbackStrict(t *testing.T) {
	logs := &lockedBuffer{}
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.Seal = dispatch.SealConfig{Mode: dispatch.SealStrict}
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}})
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), "plain").status)
	r := e.callback(event("plain"), e.secret)
	assert.Equal(t, http.StatusInternalServerError, r.status)
	res := result(t, r)
	assert.Equal(t, 0, res.Delivered)
	assert.Equal(t, 1, res.Failed)
	assert.Zero(t, e.fcm.SendRequests(), "nothing reached fcm")
	// The dispatcher, which seals, logs the delivery: failed, permanently.
	assert.Contains(t, logs.String(), "outcome=failed")
	assert.Contains(t, logs.String(), "permanent delivery failure")
	assert.Contains(t, logs.String(), sealsend.ErrNoKeys.Error())

	priv, keys := newDeviceKeys(t)
	token := fcmToken()
	require.Equal(t, http.StatusOK, e.registerWithKeys(token, "keyed", "", keys).status)
	r = e.callback(event("keyed"), e.secret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	msgs := waitFCM(t, e.fcm, 1)
	_, err := msgs[0].Message.Open(priv)
	assert.NoError(t, err)
}

func TestSealConfigErrors(t *testing.T) {
	reg, err := registry.NewMemory(registry.Config{})
	require.NoError(t, err)
	defer reg.Close()
	for _, sc := range []dispatch.SealConfig{{Mode: 9}, {Bucket: -1}} {
		_, err := connector.New(connector.Config{Registry: reg, Seal: sc})
		assert.ErrorIs(t, err, pushwire.ErrConfiguration, "%+v", sc)
	}
}
