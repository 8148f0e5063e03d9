package lpns_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/lpns"
)

// A server mounted on an HTTP listener, a simulated phone, and one
// notification travelling from Send to the phone's acknowledgement.
func ExampleServer() {
	auth := lpns.AuthenticatorFunc(func(_ context.Context, _ *http.Request, token string) (lpns.Identity, error) {
		if token != "secret-for-phone-1" {
			return lpns.Identity{}, lpns.ErrTokenInvalid
		}
		return lpns.Identity{DeviceID: "phone-1", UserID: "alice"}, nil
	})
	srv, err := lpns.NewServer(context.Background(), lpns.Config{Authenticator: auth, NodeID: "node-a"})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv) // use a TLS listener on :9560 in production
	defer ts.Close()
	defer srv.Close()

	received := make(chan lpns.Notification, 1)
	phone, err := lpns.Dial(context.Background(), lpns.ClientConfig{
		URLs:    []string{"ws" + strings.TrimPrefix(ts.URL, "http")},
		Token:   func(context.Context) (string, error) { return "secret-for-phone-1", nil },
		Handler: func(_ context.Context, n lpns.Notification) error { received <- n; return nil },
	})
	if err != nil {
		panic(err)
	}
	defer phone.Close()

	err = srv.Send(context.Background(), pushwire.Message{Token: "phone-1", ID: "call-1", Kind: pushwire.KindVoIP,
		Data: map[string]string{"caller": "1001"}})
	fmt.Println("send:", err)
	n := <-received
	fmt.Println(n.ID, n.Node, string(n.Payload))
	// Output:
	// send: <nil>
	// call-1 node-a {"kind":"voip","data":{"caller":"1001"}}
}
