package connector_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/internal/e2e"
	"github.com/pushwire/pushwire/registry"
)

// TestEndToEnd drives the connector exactly as the sample Android and iOS
// apps and AXP do, over the memory registry. The same scenario runs over
// SQLite, PostgreSQL and Redis in the examples module
// (examples/connector/backends_test.go), which requires the drivers: a test
// here that imported them would make every consumer of the connector
// download them.
func TestEndToEnd(t *testing.T) {
	reg, err := registry.NewMemory(registry.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	e2e.Run(t, reg)
}
