package dispatch_test

import (
	"context"
	"fmt"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/registry"
)

// A call server notifies a user of an incoming call: the iPhone has a local
// push binding and an APNs VoIP token under one device label, the Android
// phone an FCM token. The iPhone is not on the enterprise Wi-Fi, so its push
// falls back to APNs. (Real programs pass an *lpns.Server, an *apns.Client
// and an *fcm.Client; these senders stand in for them.)
func ExampleDispatcher_Notify() {
	ctx := context.Background()
	reg, _ := registry.NewMemory(registry.Config{})
	defer reg.Close()
	iphone := map[string]string{dispatch.LabelDevice: "alice-iphone"}
	_, _ = reg.Register(ctx, registry.Device{Session: "alice", Provider: pushwire.ProviderLPNS, Token: "alice-iphone", Labels: iphone})
	_, _ = reg.Register(ctx, registry.Device{Session: "alice", Provider: pushwire.ProviderAPNs, Token: "4f1c0e5a", AppID: "com.example.phone", Labels: iphone})
	_, _ = reg.Register(ctx, registry.Device{Session: "alice", Provider: pushwire.ProviderFCM, Token: "android-token"})

	accept := func(name string) pushwire.Sender {
		return pushwire.SenderFunc(func(_ context.Context, m pushwire.Message) error {
			fmt.Printf("%s: %s push to %s\n", name, m.Kind, m.Token)
			return nil
		})
	}
	away := pushwire.SenderFunc(func(context.Context, pushwire.Message) error { return lpns.ErrNotConnected })
	d, err := dispatch.New(dispatch.Config{Registry: reg, LPNS: away, APNs: accept("apns"), FCM: accept("fcm"),
		MaxConcurrencyPerCall: 1})
	if err != nil {
		panic(err)
	}
	defer d.Close()

	res, err := d.Notify(ctx, "alice", pushwire.Message{Kind: pushwire.KindVoIP,
		Data: map[string]string{dispatch.DataCallerName: "Bob", "callId": "42"}})
	if err != nil {
		panic(err)
	}
	c := res.Counts()
	fmt.Printf("delivered=%d apns=%d fcm=%d failed=%d unknown=%d\n", c.Delivered, c.APNs, c.FCM, c.Failed, c.Unknown)
	// Output:
	// fcm: data push to android-token
	// apns: voip push to 4f1c0e5a
	// delivered=2 apns=1 fcm=1 failed=0 unknown=0
}
