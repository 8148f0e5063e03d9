package sealsend_test

import (
	"context"
	"testing"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// benchMessage is an AXP-style data push with about 1 KiB of data.
func benchMessage(keys *pushwire.PayloadKeys) pushwire.Message {
	data := map[string]string{
		"eventId": "0b7f7a52-3f8e-4e0c-9a55-5a0c1d2b9e61", "conversationId": "c-42", "customerId": "cu-7",
		"sessionId": "s-9", "eventDate": "2026-03-01T10:00:00Z",
	}
	pad := make([]byte, 900)
	for i := range pad {
		pad[i] = 'a' + byte(i%26)
	}
	data["note"] = string(pad)
	return pushwire.Message{Token: "fcm-device-token-0123456789", Data: data, ID: "e-1", PayloadKeys: keys}
}

// reportCPU reports the process CPU time per operation as "cpu-ns/op"
// (the fake's share included in BenchmarkFCMSend). Call it as
// defer reportCPU(b)() before the loop.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		end, _ := processCPU()
		if ok && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkSend is the Sender in front of a sender that does nothing:
// "unsealed" is a message without keys (what the wrapper costs when it
// only passes messages on), "sealed" the same message sealed (keys
// parsed, JSON, RFC 8291, size check, base64).
func BenchmarkSend(b *testing.B) {
	dev := newDevice(b)
	s, err := sealsend.New(sealsend.Config{Next: pushwire.SenderFunc(func(context.Context, pushwire.Message) error { return nil }), Provider: pushwire.ProviderFCM})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, bc := range []struct {
		name string
		keys *pushwire.PayloadKeys
	}{{"unsealed", nil}, {"sealed", dev.wire}} {
		b.Run(bc.name, func(b *testing.B) {
			msg := benchMessage(bc.keys)
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if err := s.Send(context.Background(), msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFCMSend is a whole send through the fcm client to fcmtest in
// the same process: "unsealed" the client alone, "sealed" the client
// behind a Sender with the device's keys.
func BenchmarkFCMSend(b *testing.B) {
	srv := fcmtest.NewServer(fcmtest.Config{DisableRecording: true})
	defer srv.Close()
	ctx := context.Background()
	client, err := fcm.New(ctx, fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	s, err := sealsend.New(sealsend.Config{Next: client, Provider: pushwire.ProviderFCM})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	dev := newDevice(b)
	for _, bc := range []struct {
		name   string
		sender pushwire.Sender
		keys   *pushwire.PayloadKeys
	}{{"unsealed", client, nil}, {"sealed", s, dev.wire}} {
		b.Run(bc.name, func(b *testing.B) {
			msg := benchMessage(bc.keys)
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if err := bc.sender.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
