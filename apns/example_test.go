package apns_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
)

// A token-authenticated client sending a VoIP push through the
// provider-neutral Sender interface.
func ExampleClient_Send() {
	fake := apnstest.NewServer(apnstest.Config{}) // stands in for api.push.apple.com
	defer fake.Close()

	// In production: key, _ := apns.ParseP8(p8File) and Host: apns.ProductionURL.
	client, err := apns.New(apns.Config{
		BaseURL: fake.URL,
		RootCAs: fake.CertPool(),
		Token:   &apns.TokenAuth{Key: fake.AuthKey(), KeyID: fake.KeyID, TeamID: fake.TeamID},
		Topic:   "com.example.phone",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	var sender pushwire.Sender = client
	err = sender.Send(context.Background(), pushwire.Message{
		Token: strings.Repeat("ab", 32),
		Kind:  pushwire.KindVoIP,
		Data:  map[string]string{"callId": "42"},
	})
	fmt.Println("error:", err)
	n := fake.Notifications()[0]
	fmt.Println(n.Topic, n.PushType, n.Priority, string(n.Payload))
	// Output:
	// error: <nil>
	// com.example.phone.voip voip 10 {"aps":{},"callId":"42"}
}

// Push gives full control over the headers and payload; rejections are
// typed errors classified for the caller.
func ExampleClient_Push() {
	fake := apnstest.NewServer(apnstest.Config{})
	defer fake.Close()
	client, err := apns.New(apns.Config{BaseURL: fake.URL, RootCAs: fake.CertPool(), Token: fake.TokenAuth(), Topic: "com.example.app"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	token := strings.Repeat("cd", 32)
	fake.Fail(token, apnstest.Failure{Reason: apns.ReasonUnregistered})
	res, err := client.Push(context.Background(), &apns.Notification{
		DeviceToken: token,
		ExpireNow:   true, // apns-expiration: 0
		Content: &apns.Payload{
			Alert: &apns.Alert{Title: "Meeting", Body: "starts in 5 minutes"},
			Sound: &apns.Sound{Name: "default"},
		},
	})
	fmt.Println(res.StatusCode, res.Reason)
	var e *apns.Error
	fmt.Println(errors.As(err, &e) && e.Reason == apns.ReasonUnregistered, errors.Is(err, pushwire.ErrDeadToken))
	_, hasTimestamp := pushwire.DeadSince(err)
	fmt.Println("dead since known:", hasTimestamp)
	// Output:
	// 410 Unregistered
	// true true
	// dead since known: true
}

// Certificate authentication from a .p12 export.
func ExampleLoadPKCS12() {
	fake := apnstest.NewServer(apnstest.Config{})
	defer fake.Close()
	p12, _ := fake.ClientCertificateP12("secret") // in production: os.ReadFile("cert.p12")

	cert, err := apns.LoadPKCS12(p12, "secret")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := apns.New(apns.Config{BaseURL: fake.URL, RootCAs: fake.CertPool(), Certificate: &cert, Topic: "com.example.app"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	_, ok := client.CertificateNotAfter()
	fmt.Println("expiry known:", ok)
	fmt.Println(client.Send(context.Background(), pushwire.Message{Token: strings.Repeat("ef", 32), Kind: pushwire.KindAlert, Title: "hi"}))
	// Output:
	// expiry known: true
	// <nil>
}
