package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/connector/connectortest"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/sqlite"
)

func TestDeduperConformance(t *testing.T) {
	connectortest.RunDeduper(t, connectortest.DeduperBackend{
		New: func(t *testing.T, now func() time.Time) connectortest.DeduperOpener {
			path := filepath.Join(t.TempDir(), "reg.db")
			return func(t *testing.T) connector.Deduper {
				r, err := sqlite.New(context.Background(), sqlite.Config{Path: path, Config: registry.Config{SweepInterval: -1, Now: now}})
				require.NoError(t, err)
				t.Cleanup(func() { _ = r.Close() })
				d, err := sqlite.NewDeduper(context.Background(), r)
				require.NoError(t, err)
				return d
			}
		},
	})
}
