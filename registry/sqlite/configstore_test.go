package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/connector/connectortest"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/sqlite"
)

func TestConfigStoreConformance(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Opener {
		path := filepath.Join(t.TempDir(), "reg.db")
		return func(t *testing.T) connector.ConfigStore {
			r, err := sqlite.New(context.Background(), sqlite.Config{Path: path, Config: registry.Config{SweepInterval: -1}})
			require.NoError(t, err)
			t.Cleanup(func() { _ = r.Close() })
			s, err := sqlite.NewConfigStore(context.Background(), r)
			require.NoError(t, err)
			return s
		}
	})
}
