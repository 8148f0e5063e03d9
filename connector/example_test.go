package connector_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/registry"
)

// A connector with an in-memory registry and one push configuration; a
// device registers the way the Omni SDK sample app does.
func ExampleNew() {
	reg, _ := registry.NewMemory(registry.Config{})
	defer reg.Close()
	c, err := connector.New(connector.Config{Registry: reg})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	// The AXP push configuration: its id and the secret AXP signs with. A
	// service account (FCMServiceAccount) is needed to push through FCM.
	_ = c.AddConfig(context.Background(), connector.PushConfig{ID: "axp-config-1", Secrets: [][]byte{[]byte("s3cret-s3cret-s3cret")}})

	req := httptest.NewRequest(http.MethodPut,
		"/custom-notification-connector/device-registrations/cXj2:APA91bExampleToken",
		strings.NewReader(`{"configId":"axp-config-1","sessionId":"bf813a5d-2e06-4047-bae2-e01da2f69f7c"}`))
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	// Output:
	// 200 {"configId":"axp-config-1","sessionId":"bf813a5d-2e06-4047-bae2-e01da2f69f7c","deviceToken":"cXj2:APA91bExampleToken"}
}
