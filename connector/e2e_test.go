package connector_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/registry"
	regredis "github.com/pushwire/pushwire/registry/redis"
)

// backends lists the registries to run the end-to-end test against.
func backends() map[string]func(t *testing.T) registry.Registry {
	return map[string]func(t *testing.T) registry.Registry{
		"memory": func(t *testing.T) registry.Registry {
			r, err := registry.NewMemory(registry.Config{})
			require.NoError(t, err)
			return r
		},
		"redis": func(t *testing.T) registry.Registry {
			u := backendURL(t, "PUSHWIRE_REDIS_URL")
			r, err := regredis.New(context.Background(), regredis.Config{URL: u, KeyPrefix: "pushwire:connectortest:" + uuid.NewString() + ":"})
			require.NoError(t, err)
			return r
		},
		"sqlite":   openSQLite,
		"postgres": openPostgres,
	}
}

// TestEndToEnd drives the connector exactly as the sample Android and iOS
// apps and AXP do, for every registry backend.
func TestEndToEnd(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			reg := open(t)
			t.Cleanup(func() { _ = reg.Close() })
			e := newEnv(t, envOptions{reg: reg})
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
			r = e.callback(ev, e.secret)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			res := result(t, r)
			assert.Equal(t, 3, res.Delivered)
			assert.Zero(t, res.Failed)
			assert.Equal(t, ev["eventId"], res.EventID)

			msgs := waitFCM(t, e.fcm, 2)
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
			assert.Equal(t, testTopic, notes[0].Topic)
			assert.Contains(t, string(notes[0].Payload), `"mutable-content":1`)
			assert.Contains(t, string(notes[0].Payload), `"eventId":"`+ev["eventId"]+`"`)

			// The same event again is a duplicate: nothing more is sent.
			r = e.callback(ev, e.secret)
			require.Equal(t, http.StatusOK, r.status)
			res = result(t, r)
			assert.True(t, res.Duplicate)
			assert.Zero(t, res.Delivered)
			assert.Len(t, e.fcm.Messages(), 2)
			assert.Len(t, e.apns.Notifications(), 1)

			// A dead token is pruned from the registry.
			e.fcm.FailToken(android, fcmtest.Unregistered())
			r = e.callback(event(session), e.secret)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			res = result(t, r)
			assert.Equal(t, connector.CallbackResult{EventID: res.EventID, SessionID: session, Delivered: 2, Failed: 1, Pruned: 1}, res)
			_, err := reg.Get(context.Background(), registry.Key{Provider: pushwire.ProviderFCM, Token: android})
			assert.ErrorIs(t, err, registry.ErrNotFound)
			r = e.do(http.MethodGet, connector.BasePath+"/device-registrations/"+android, "", nil, nil)
			assert.Equal(t, http.StatusNotFound, r.status)
			assert.Equal(t, "deviceToken ["+android+"] not found", r.json(t)["message"])

			// APNs 410 with a timestamp: invalidated as of that time.
			e.apns.Fail(iosAPNs, apnstest.Failure{Reason: "Unregistered"})
			r = e.callback(event(session), e.secret)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			res = result(t, r)
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
			r = e.callback(event(session), e.secret)
			require.Equal(t, http.StatusOK, r.status)
			assert.Zero(t, result(t, r).Delivered)
		})
	}
}

var _ = errors.New
