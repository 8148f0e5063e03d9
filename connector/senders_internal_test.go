package connector

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/registry"
)

// namedSender is a sender that remembers the credentials it was built from.
type namedSender struct {
	creds  string
	closed atomic.Bool
}

func (s *namedSender) Send(context.Context, pushwire.Message) error { return nil }
func (s *namedSender) Close() error                                 { s.closed.Store(true); return nil }

// A caller holding an older copy of a configuration than the cached
// sender's gets the newer sender and never replaces it; a dropped sender is
// closed by its last user.
func TestSenderCacheKeepsNewest(t *testing.T) {
	reg, err := registry.NewMemory(registry.Config{})
	require.NoError(t, err)
	defer reg.Close()
	builds := 0
	// Sealing off: the cache hands out the senders NewFCMSender built, not
	// sealing wrappers of them.
	c, err := New(Config{Registry: reg, Seal: dispatch.SealConfig{Mode: dispatch.SealOff},
		NewFCMSender: func(_ context.Context, sa []byte) (pushwire.Sender, error) {
			builds++
			return &namedSender{creds: string(sa)}, nil
		}})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	older := PushConfig{ID: "c", FCMServiceAccount: []byte(`{"v":1}`), UpdatedAt: t0}
	newer := PushConfig{ID: "c", FCMServiceAccount: []byte(`{"v":2}`), UpdatedAt: t0.Add(time.Second)}

	s1, release1, err := c.fcmSender(ctx, newer)
	require.NoError(t, err)
	s2, release2, err := c.fcmSender(ctx, older)
	require.NoError(t, err)
	assert.Same(t, s1, s2, "the stale copy gets the newer sender")
	assert.Equal(t, `{"v":2}`, s2.(*namedSender).creds)
	assert.Equal(t, 1, builds, "the stale copy built nothing")

	c.dropSender("c")
	release1()
	assert.False(t, s1.(*namedSender).closed.Load(), "still in use")
	release2()
	assert.True(t, s1.(*namedSender).closed.Load(), "closed by its last user")
}
