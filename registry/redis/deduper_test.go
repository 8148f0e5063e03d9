package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/connector/connectortest"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/redis"
)

func TestDeduperConformance(t *testing.T) {
	connectortest.RunDeduper(t, connectortest.DeduperBackend{
		ServerClock: true,
		New: func(t *testing.T, _ func() time.Time) connectortest.DeduperOpener {
			c := shared(t)
			prefix := uniquePrefix(t)
			t.Cleanup(func() { dropPrefix(t, c, prefix) })
			return func(t *testing.T) connector.Deduper {
				d, err := redis.NewDeduper(context.Background(), open(t, registry.Config{}, prefix))
				require.NoError(t, err)
				return d
			}
		},
	})
}
