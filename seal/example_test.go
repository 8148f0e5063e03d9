package seal_test

import (
	"fmt"

	"github.com/pushwire/pushwire/seal"
)

// The device makes its keys at sign-in and registers the public part (two
// base64url strings); the server seals to them, the device opens.
func Example() {
	// On the device.
	device, err := seal.GenerateKeys()
	if err != nil {
		panic(err)
	}
	p256dh, auth := device.Public().Encode() // sent with the registration

	// On the server.
	keys, err := seal.ParseKeys(p256dh, auth)
	if err != nil {
		panic(err) // refuse the registration: the keys are unusable
	}
	body, err := seal.Seal(keys, []byte("Alice: are you free at 3?"))
	if err != nil {
		panic(err)
	}
	fmt.Println("body bytes:", len(body)) // 86 header + 128 padded record + 16 tag

	// Back on the device.
	plain, err := seal.Open(device, body)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(plain))
	// Output:
	// body bytes: 230
	// Alice: are you free at 3?
}

// A sealed push carries its content as data members: "encoding",
// "ciphertext" and "trackingId"; the app opens them with its keys.
func ExampleOpenData() {
	device, err := seal.GenerateKeys()
	if err != nil {
		panic(err)
	}
	data, err := seal.Sealer{}.SealData(device.Public(), seal.Content{
		Kind: "alert", Title: "Alice", Body: "Are you free at 3?", TrackingID: "0b7f7a52",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(data["encoding"], data["trackingId"], seal.IsSealed(data))

	c, err := seal.OpenData(device, data)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: %s: %s\n", c.Kind, c.Title, c.Body)
	// Output:
	// aes128gcm 0b7f7a52 true
	// alert: Alice: Are you free at 3?
}
