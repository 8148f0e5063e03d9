package lpnsredis_test

import (
	"context"
	"testing"
)

// BenchmarkRoutedSendAck measures one Send-to-ack round trip from a node
// without the connection, through Redis, to the node holding it and back.
func BenchmarkRoutedSendAck(b *testing.B) {
	rdb := redisClient(b)
	p := prefix(b)
	a, holder := startNode(b, rdb, p, "a"), startNode(b, rdb, p, "b")
	client(b, "phone", holder.url)
	payload := []byte(`{"kind":"voip","data":{"caller":"1001"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.srv.SendPayload(context.Background(), "phone", payload); err != nil {
			b.Fatal(err)
		}
	}
}
