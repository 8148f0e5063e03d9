package sealsend_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/seal"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// A strict sealing sender in front of an APNs sender (here a function
// that prints what it would send): the alert leaves as a placeholder, the
// app's Notification Service Extension opens the ciphertext.
func Example() {
	device, _ := seal.GenerateKeys() // on the phone, at sign-in
	p256dh, auth := device.Public().Encode()

	var sent pushwire.Message
	apnsClient := pushwire.SenderFunc(func(_ context.Context, m pushwire.Message) error {
		sent = m
		return nil
	})
	s, err := sealsend.New(sealsend.Config{Next: apnsClient, Provider: pushwire.ProviderAPNs, Strict: true})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	err = s.Send(context.Background(), pushwire.Message{
		Token: "6f1c…", Kind: pushwire.KindAlert, Title: "Alice", Body: "Are you free at 3?",
		ID:          "0b7f7a52-3f8e-4e0c-9a55-5a0c1d2b9e61",
		PayloadKeys: &pushwire.PayloadKeys{P256DH: p256dh, Auth: auth},
	})
	fmt.Println("error:", err)
	fmt.Printf("visible: %q %q mutable-content: %v\n", sent.Title, sent.Body, sent.MutableContent)
	fmt.Println("data:", sent.Data["encoding"], len(sent.Data["ciphertext"]) > 0, sent.Data["trackingId"])

	// On the phone.
	c, _ := seal.OpenData(device, sent.Data)
	fmt.Println("opened:", c.Title+":", c.Body)

	// Strict mode: no keys, no push.
	err = s.Send(context.Background(), pushwire.Message{Token: "6f1c…", Body: "in clear"})
	fmt.Println(errors.Is(err, sealsend.ErrNoKeys), errors.Is(err, pushwire.ErrPermanent))
	// Output:
	// error: <nil>
	// visible: "" "New notification" mutable-content: true
	// data: aes128gcm true 0b7f7a52-3f8e-4e0c-9a55-5a0c1d2b9e61
	// opened: Alice: Are you free at 3?
	// true true
}
