package fcmtest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
)

// A test starts the fake, builds a real client from its service-account
// JSON and inspects what arrived.
func ExampleNewServer() {
	srv := fcmtest.NewServer(fcmtest.Config{})
	defer srv.Close()
	srv.FailToken("uninstalled-app", fcmtest.Unregistered())

	ctx := context.Background()
	c, err := fcm.New(ctx, fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	_ = c.Send(ctx, pushwire.Message{Token: "device-1", Data: map[string]string{"sessionId": "s-1"}})
	err = c.Send(ctx, pushwire.Message{Token: "uninstalled-app"})

	got, _ := srv.WaitForMessages(ctx, 1)
	fmt.Println(len(got), got[0].Message.Token, got[0].Message.Data["sessionId"])
	fmt.Println("dead token:", err != nil && errors.Is(err, pushwire.ErrDeadToken))
	fmt.Println("token fetches:", srv.TokenRequests())
	// Output:
	// 1 device-1 s-1
	// dead token: true
	// token fetches: 1
}
