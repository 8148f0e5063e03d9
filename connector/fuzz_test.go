package connector_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
)

// FuzzParseEvent checks that any callback body either parses and passes
// ValidateEvent into a valid event or is rejected, never panicking.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"eventId":"778af6a9-41f8-4153-a3a1-d913b2911b3b","conversationId":"1570b603-502e-3dcc-888f-09dda5bd0ea6","customerId":"customer-id-12345","sessionId":"bf813a5d-2e06-4047-bae2-e01da2f69f7c","eventDate":"2024-03-18T11:00:24.481Z"}`))
	f.Add([]byte(`{"eventId":"a","sessionId":"b","sessionId":"c"}`))
	f.Add([]byte(`{"eventId":null,"sessionId":"b"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"eventId":"a","sessionId":"b","customerId":"\u0001"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := hmacverify.ParseEvent(body)
		if err != nil || connector.ValidateEvent(ev) != nil {
			return
		}
		if connector.ValidateID(ev.EventID) != nil || connector.ValidateID(ev.SessionID) != nil {
			t.Fatalf("accepted invalid ids %q %q", ev.EventID, ev.SessionID)
		}
		if len(ev.ConversationID) > 256 || len(ev.CustomerID) > 256 {
			t.Fatal("accepted an overlong field")
		}
	})
}

// FuzzHandler sends arbitrary bodies and tokens to every body-reading route
// and checks that the answer is one of the documented statuses with a JSON
// body.
func FuzzHandler(f *testing.F) {
	f.Add(uint8(0), "cXj2:APA91bH-abcdefghijk", []byte(`{"configId":"cfg","sessionId":"s"}`))
	f.Add(uint8(1), "", []byte(`{"eventId":"e","sessionId":"s"}`))
	f.Add(uint8(2), "", []byte(`{"sessionId":"s"}`))
	f.Add(uint8(3), "", []byte(`{"fcmServiceAccountConfig":{"type":"service_account"},"secrets":["x"]}`))
	f.Add(uint8(0), "%2e%2e", []byte(`{"configId":1}`))
	f.Add(uint8(4), "", []byte(`{"sessionId":"s","message":{"data":{"eventId":"e"}}}`))
	reg, err := registry.NewMemory(registry.Config{SweepInterval: -1})
	require.NoError(f, err)
	defer reg.Close()
	c, err := connector.New(connector.Config{Registry: reg, AdminToken: "admin-token-0123456789", RateLimit: connector.RateLimit{Rate: -1}})
	require.NoError(f, err)
	defer c.Close()
	require.NoError(f, c.AddConfig(context.Background(), connector.PushConfig{ID: "cfg", Secrets: [][]byte{[]byte("k-secret-0123456789")}}))
	allowed := map[int]bool{200: true, 201: true, 204: true, 400: true, 401: true, 404: true, 405: true, 413: true, 415: true, 500: true}
	f.Fuzz(func(t *testing.T, route uint8, token string, body []byte) {
		var method, path string
		switch route % 5 {
		case 0:
			method, path = http.MethodPut, connector.BasePath+"/device-registrations/"+token
		case 1:
			method, path = http.MethodPost, connector.BasePath+"/axp-callback/notifications"
		case 2:
			method, path = http.MethodPost, connector.BasePath+"/device-registrations:search"
		case 3:
			method, path = http.MethodPost, connector.BasePath+"/configs"
		case 4:
			method, path = http.MethodPost, connector.BasePath+"/notifications"
		}
		if strings.ContainsAny(path, " \t\r\n?#") {
			return
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer admin")
		req.Header.Set("X-hmac", hmacverify.Sign([]byte("k-secret-0123456789"), "e", "s"))
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		if !allowed[rec.Code] && rec.Code != http.StatusMovedPermanently {
			t.Fatalf("%s %s: unexpected status %d: %s", method, path, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s: %d without a JSON body", method, path, rec.Code)
		}
	})
}
