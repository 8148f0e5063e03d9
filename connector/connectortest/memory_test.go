package connectortest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/connector/connectortest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemoryConfigStore(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Opener {
		s := connector.NewMemoryConfigStore()
		return func(*testing.T) connector.ConfigStore { return s }
	})
}

func TestMemoryDeduper(t *testing.T) {
	connectortest.RunDeduper(t, connectortest.DeduperBackend{
		New: func(t *testing.T, now func() time.Time) connectortest.DeduperOpener {
			d, err := connector.NewMemoryDeduper(connector.MemoryDeduperConfig{Now: now})
			require.NoError(t, err)
			return func(*testing.T) connector.Deduper { return d }
		},
	})
}
