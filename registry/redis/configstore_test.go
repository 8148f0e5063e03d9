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
