package connectortest_test

import (
	"testing"

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
