package fcm_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
)

// A client built from a service-account JSON sends a provider-neutral,
// data-only message (the AXP connector's kind).
func ExampleClient_Send() {
	srv := fcmtest.NewServer(fcmtest.Config{}) // stands in for FCM
	defer srv.Close()

	ctx := context.Background()
	c, err := fcm.New(ctx, fcm.Config{
		CredentialsJSON: srv.ServiceAccountJSON(),
		BaseURL:         srv.URL, // omit for https://fcm.googleapis.com
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	err = c.Send(ctx, pushwire.Message{
		Token: "device-registration-token",
		Data:  map[string]string{"eventId": "e-1", "sessionId": "s-1"},
	})
	fmt.Println("sent:", err == nil)
	m := srv.Messages()[0].Message
	fmt.Println(m.Data["sessionId"], m.Android.Priority)
	// Output:
	// sent: true
	// s-1 high
}

// Errors tell whether to prune the token, retry later or fix the setup.
func ExampleError() {
	srv := fcmtest.NewServer(fcmtest.Config{})
	defer srv.Close()
	srv.FailToken("stale-token", fcmtest.Unregistered())
	srv.FailToken("busy-token", fcmtest.QuotaExceeded(90*time.Second))

	ctx := context.Background()
	c, err := fcm.New(ctx, fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	for _, token := range []string{"stale-token", "busy-token"} {
		err := c.Send(ctx, pushwire.Message{Token: token})
		var fe *fcm.Error
		switch {
		case errors.Is(err, pushwire.ErrDeadToken):
			fmt.Println("prune token")
		case errors.Is(err, pushwire.ErrRetryable) && errors.As(err, &fe):
			fmt.Println("retry after", fe.RetryAfter(), fe.Code)
		}
	}
	// Output:
	// prune token
	// retry after 1m30s QUOTA_EXCEEDED
}

// SendEachForMulticast sends one message to many tokens within the client's
// concurrency limit; results come back in token order.
func ExampleClient_SendEachForMulticast() {
	srv := fcmtest.NewServer(fcmtest.Config{})
	defer srv.Close()
	srv.FailToken("t2", fcmtest.Unregistered())

	ctx := context.Background()
	c, err := fcm.New(ctx, fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL, MaxConcurrency: 16})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	msg := &fcm.Message{
		Notification: &fcm.Notification{Title: "Hello", Body: "You have a new message"},
		Android:      &fcm.AndroidConfig{Priority: fcm.AndroidPriorityHigh},
	}
	for i, r := range c.SendEachForMulticast(ctx, msg, []string{"t1", "t2", "t3"}) {
		fmt.Println(i, r.Err == nil, errors.Is(r.Err, pushwire.ErrDeadToken))
	}
	// Output:
	// 0 true false
	// 1 false true
	// 2 true false
}
