package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/connector/connectortest"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/postgres"
)

func TestDeduperConformance(t *testing.T) {
	connectortest.RunDeduper(t, connectortest.DeduperBackend{
		ServerClock: true,
		New: func(t *testing.T, _ func() time.Time) connectortest.DeduperOpener {
			schema := uniqueSchema(t)
			return func(t *testing.T) connector.Deduper {
				d, err := postgres.NewDeduper(context.Background(), open(t, registry.Config{SweepInterval: -1}, schema))
				require.NoError(t, err)
				return d
			}
		},
	})
}
