package hmacverify_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/pushwire/pushwire/hmacverify"
)

func ExampleSign() {
	secret := []byte("axp-shared-secret")
	sig := hmacverify.Sign(secret, "778af6a9-41f8-4153-a3a1-d913b2911b3b", "bf813a5d-2e06-4047-bae2-e01da2f69f7c")
	fmt.Println(len(sig), sig == strings.ToLower(sig))
	// Output: 64 true
}

func ExampleVerify() {
	secret := []byte("axp-shared-secret")
	eventID, sessionID := "778af6a9-41f8-4153-a3a1-d913b2911b3b", "bf813a5d-2e06-4047-bae2-e01da2f69f7c"
	header := strings.ToUpper(hmacverify.Sign(secret, eventID, sessionID))

	fmt.Println(hmacverify.Verify(secret, eventID, sessionID, header))
	fmt.Println(hmacverify.Verify([]byte("another secret"), eventID, sessionID, header))
	fmt.Println(hmacverify.Verify(secret, eventID, sessionID, ""))
	// Output:
	// <nil>
	// hmacverify: invalid signature
	// hmacverify: missing signature
}

func ExampleVerifier_Middleware() {
	v, err := hmacverify.NewVerifier(hmacverify.Config{
		Secrets:      hmacverify.StaticSecrets{[]byte("current-secret"), []byte("previous-secret")},
		ReplayWindow: 5 * time.Minute,
		Now:          func() time.Time { return time.Date(2024, 3, 18, 11, 1, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	callback := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := hmacverify.EventFromContext(r.Context())
		fmt.Println("notify session", ev.SessionID)
		w.WriteHeader(http.StatusAccepted)
	}))

	body := `{"eventId": "778af6a9-41f8-4153-a3a1-d913b2911b3b", "conversationId": "1570b603-502e-3dcc-888f-09dda5bd0ea6",
	  "customerId": "customer-id-12345", "sessionId": "bf813a5d-2e06-4047-bae2-e01da2f69f7c", "eventDate": "2024-03-18T11:00:24.481Z"}`
	sig := hmacverify.Sign([]byte("previous-secret"), "778af6a9-41f8-4153-a3a1-d913b2911b3b", "bf813a5d-2e06-4047-bae2-e01da2f69f7c")
	for i := 0; i < 2; i++ {
		req := httptest.NewRequest(http.MethodPost, "/axp/callback", strings.NewReader(body))
		req.Header.Set("X-hmac", sig)
		rec := httptest.NewRecorder()
		callback.ServeHTTP(rec, req)
		out, _ := io.ReadAll(rec.Body)
		fmt.Println(strings.TrimSpace(fmt.Sprint(rec.Code, " ", string(out))))
	}
	// Output:
	// notify session bf813a5d-2e06-4047-bae2-e01da2f69f7c
	// 202
	// 409 {"message":"event already processed"}
}
