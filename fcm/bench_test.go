package fcm_test

import (
	"context"
	"testing"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
)

// BenchmarkSend measures a data-only send against an in-process fake (the
// fake's own allocations are included; bench/fcm measures the client alone
// against a separate process).
func BenchmarkSend(b *testing.B) {
	srv := fcmtest.NewServer(fcmtest.Config{})
	defer srv.Close()
	c, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := pushwire.Message{Token: "bench-token", Data: map[string]string{"eventId": "e1", "sessionId": "s1"}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := c.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		srv.Reset()
	}
}
