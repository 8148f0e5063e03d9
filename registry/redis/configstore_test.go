package redis_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/connector/connectortest"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/redis"
)

func TestConfigStoreConformance(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Opener {
		prefix := uniquePrefix(t)
		return func(t *testing.T) connector.ConfigStore {
			r := open(t, registry.Config{}, prefix)
			s, err := redis.NewConfigStore(context.Background(), r)
			require.NoError(t, err)
			return s
		}
	})
}

// BenchmarkConfigWatchPropagation: a change on one replica reaching another
// through pub/sub (ns/op, Put included).
func BenchmarkConfigWatchPropagation(b *testing.B) {
	prefix := uniquePrefix(b)
	connectortest.BenchmarkWatchPropagation(b, func(b *testing.B) (connector.ConfigStore, connector.ConfigStore) {
		var out [2]connector.ConfigStore
		for i := range out {
			s, err := redis.NewConfigStore(context.Background(), open(b, registry.Config{}, prefix))
			require.NoError(b, err)
			out[i] = s
		}
		return out[0], out[1]
	})
}
