package lpns_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/lpns"
)

// BenchmarkSendAck measures one Send-to-ack round trip over loopback with
// the package's own client.
func BenchmarkSendAck(b *testing.B) {
	srv, err := lpns.NewServer(context.Background(), lpns.Config{Authenticator: testAuth})
	require.NoError(b, err)
	defer srv.Close()
	ts := newHTTPTest(srv)
	defer ts.Close()
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{wsURL(ts.URL)},
		Token: staticToken(testToken("bench", 0)), Handler: func(context.Context, lpns.Notification) error { return nil }})
	require.NoError(b, err)
	defer c.Close()
	payload := []byte(`{"kind":"voip","data":{"caller":"1001","callerName":"Front desk"}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := srv.SendPayload(context.Background(), "bench", payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFrame(b *testing.B) {
	data := []byte(`{"type":"ack","id":"0e6b6f0c-5f39-4d4c-9d1d-3b0e0e4c2a11"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lpns.ParseFrame(data); err != nil {
			b.Fatal(err)
		}
	}
}
