package connector_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/internal/faulttest"
	"github.com/pushwire/pushwire/registry"
)

// TestFaultFCMHang: the fake FCM hangs for a second under 200 callbacks/s
// (package internal/faulttest). The registry scenarios (PostgreSQL and
// Redis hung, black-holed, delayed, reset) run in the examples module,
// which requires their drivers (examples/connector/faults_test.go).
func TestFaultFCMHang(t *testing.T) {
	reg, err := registry.NewMemory(registry.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	faulttest.FCMHang(t, reg)
}
