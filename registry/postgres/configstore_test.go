package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/connector/connectortest"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/postgres"
)

func TestConfigStoreConformance(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Opener {
		schema := uniqueSchema(t)
		return func(t *testing.T) connector.ConfigStore {
			r := open(t, registry.Config{SweepInterval: -1}, schema)
			s, err := postgres.NewConfigStore(context.Background(), r)
			require.NoError(t, err)
			return s
		}
	})
}

// BenchmarkConfigWatchPropagation: a change on one replica reaching another
// through LISTEN/NOTIFY (ns/op, Put included).
func BenchmarkConfigWatchPropagation(b *testing.B) {
	schema := uniqueSchema(b)
	connectortest.BenchmarkWatchPropagation(b, func(b *testing.B) (connector.ConfigStore, connector.ConfigStore) {
		var out [2]connector.ConfigStore
		for i := range out {
			s, err := postgres.NewConfigStore(context.Background(), open(b, registry.Config{SweepInterval: -1}, schema))
			require.NoError(b, err)
			out[i] = s
		}
		return out[0], out[1]
	})
}
