package connector_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/connector/connectortest"
)

// The in-memory stores pass the conformance suites every store runs
// (connectortest), here beside the code they test.

func TestMemoryConfigStoreConformance(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Opener {
		s := connector.NewMemoryConfigStore()
		return func(*testing.T) connector.ConfigStore { return s }
	})
}

func TestMemoryDeduperConformance(t *testing.T) {
	connectortest.RunDeduper(t, connectortest.DeduperBackend{
		New: func(t *testing.T, now func() time.Time) connectortest.DeduperOpener {
			d, err := connector.NewMemoryDeduper(connector.MemoryDeduperConfig{Now: now})
			require.NoError(t, err)
			return func(*testing.T) connector.Deduper { return d }
		},
	})
}
