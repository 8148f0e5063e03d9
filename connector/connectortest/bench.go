package connectortest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
)

// BenchmarkWatchPropagation measures how long a change made through one
// handle takes to be announced to a watcher on another handle (another
// replica): each op is one Put through b and the wait until a's Watch
// reports that id. ns/op is the propagation delay, Put included. open
// returns handles on one fresh backend; the store must implement
// [connector.ConfigWatcher].
func BenchmarkWatchPropagation(b *testing.B, open func(b *testing.B) (a, other connector.ConfigStore)) {
	a, other := open(b)
	w, ok := a.(connector.ConfigWatcher)
	if !ok {
		b.Skip("the store does not implement connector.ConfigWatcher")
	}
	events := make(chan string, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Watch(ctx, func(id string) { events <- id }) }()
	defer func() {
		cancel()
		<-done
	}()
	wait := func(want string) {
		for {
			select {
			case id := <-events:
				if id == want {
					return
				}
			case <-time.After(WatchTimeout):
				b.Fatalf("no notification for %q", want)
			}
		}
	}
	wait("")
	pc := Sample("bench")
	b.ResetTimer()
	for i := range b.N {
		pc.ID = fmt.Sprintf("bench-%d", i%16)
		require.NoError(b, other.Put(ctx, pc))
		wait(pc.ID)
	}
}
