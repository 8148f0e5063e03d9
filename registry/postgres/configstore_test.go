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
