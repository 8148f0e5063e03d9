package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/hmacverify"
)

// dedupeSecret is the AXP secret of the configuration setup creates.
const dedupeSecret = "secret-s2-0123456789"

// callbackOf sends the callback of eventID for session signed with secret
// and decodes the answer.
func (p *proc) callbackOf(t *testing.T, eventID, session, secret string) (int, connector.CallbackResult) {
	t.Helper()
	ev := `{"eventId":"` + eventID + `","sessionId":"` + session + `","conversationId":"c","customerId":"x","eventDate":"2024-03-18T11:00:24.481Z"}`
	status, body := p.do(t, http.MethodPost, connector.BasePath+"/axp-callback/notifications", ev,
		"X-hmac", hmacverify.Sign([]byte(secret), eventID, session))
	var res connector.CallbackResult
	require.NoError(t, json.Unmarshal([]byte(body), &res), "status %d: %s", status, body)
	return status, res
}

// setup creates a configuration with secret dedupeSecret through p and registers one
// FCM device in a new session; it returns the session.
func setup(t *testing.T, p *proc, fake *fcmtest.Server, apnsFake *apnstest.Server) string {
	t.Helper()
	status, body := p.admin(t, http.MethodPost, "/configs", configBody(t, fake, apnsFake.AuthKeyPEM(), dedupeSecret))
	require.Equal(t, http.StatusCreated, status, body)
	var created struct{ ConfigID string }
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	session, token := uuid.NewString(), "tok:APA91b"+strings.Repeat("d", 40)
	status, body = p.do(t, http.MethodPut, connector.BasePath+"/device-registrations/"+token,
		`{"configId":"`+created.ConfigID+`","sessionId":"`+session+`"}`)
	require.Equal(t, http.StatusOK, status, body)
	return session
}

// TestReplayAfterRestart: a signed callback is delivered, sent again it is a
// duplicate, and after a restart of the program over the same backend it is
// still a duplicate: the device got it once.
func TestReplayAfterRestart(t *testing.T) {
	for name, newBackend := range map[string]func(*testing.T) backend{
		"sqlite": sqliteBackend, "postgres": postgresBackend, "redis": redisBackend,
	} {
		t.Run(name, func(t *testing.T) {
			be := newBackend(t)
			fake := fcmtest.NewServer(fcmtest.Config{})
			defer fake.Close()
			apnsFake := apnstest.NewServer(apnstest.Config{})
			defer apnsFake.Close()
			args := stateFiles(t, be.dsn, fake)

			a := start(t, args...)
			session := setup(t, a, fake, apnsFake)
			eventID := uuid.NewString()
			status, res := a.callbackOf(t, eventID, session, dedupeSecret)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, 1, res.Delivered)
			status, res = a.callbackOf(t, eventID, session, dedupeSecret)
			require.Equal(t, http.StatusOK, status)
			assert.True(t, res.Duplicate)
			a.stop(t)

			b := start(t, args...)
			status, res = b.callbackOf(t, eventID, session, dedupeSecret)
			require.Equal(t, http.StatusOK, status)
			assert.True(t, res.Duplicate, "remembered across the restart")
			assert.Zero(t, res.Delivered)
			assert.Len(t, fake.Messages(), 1, "the device got it once")

			status, res = b.callbackOf(t, uuid.NewString(), session, dedupeSecret)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, 1, res.Delivered, "a new event is delivered")
		})
	}
}

// TestReplicasPushOnce: two programs over one PostgreSQL or Redis; the same
// signed callback sent to both at the same moment is pushed once, round
// after round (counted at the fake).
func TestReplicasPushOnce(t *testing.T) {
	for name, newBackend := range map[string]func(*testing.T) backend{
		"postgres": postgresBackend, "redis": redisBackend,
	} {
		t.Run(name, func(t *testing.T) {
			be := newBackend(t)
			var mu sync.Mutex
			got := map[string]int{} // eventId → pushes the fake accepted
			fake := fcmtest.NewServer(fcmtest.Config{OnMessage: func(r fcmtest.Received) {
				mu.Lock()
				got[r.Message.Data["eventId"]]++
				mu.Unlock()
			}})
			defer fake.Close()
			apnsFake := apnstest.NewServer(apnstest.Config{})
			defer apnsFake.Close()
			args := stateFiles(t, be.dsn, fake)
			a, b := start(t, args...), start(t, args...)
			session := setup(t, a, fake, apnsFake)

			const rounds = 25
			for round := range rounds {
				eventID := uuid.NewString()
				var wg sync.WaitGroup
				results := make([]connector.CallbackResult, 2)
				start := make(chan struct{})
				for i, p := range []*proc{a, b} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						status, res := p.callbackOf(t, eventID, session, dedupeSecret)
						assert.Equal(t, http.StatusOK, status)
						results[i] = res
					}()
				}
				close(start)
				wg.Wait()
				assert.Equal(t, 1, results[0].Delivered+results[1].Delivered, "round %d: one replica delivers", round)
				assert.True(t, results[0].Duplicate != results[1].Duplicate, "round %d: the other answers duplicate", round)
				mu.Lock()
				assert.Equal(t, 1, got[eventID], "round %d: one push", round)
				mu.Unlock()
			}
			assert.Len(t, fake.Messages(), rounds)
		})
	}
}
