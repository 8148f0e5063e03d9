package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/internal/e2e"
	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/postgres"
	regredis "github.com/pushwire/pushwire/registry/redis"
	"github.com/pushwire/pushwire/registry/sqlite"
)

// TestConnectorEndToEnd runs the connector's end-to-end scenario (package
// internal/e2e, run over the memory registry by the connector's own tests)
// over every database backend: it lives in this module because this module
// requires the drivers, and the connector's module must not.
func TestConnectorEndToEnd(t *testing.T) {
	backends := map[string]func(t *testing.T) registry.Registry{
		"sqlite": func(t *testing.T) registry.Registry {
			r, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "registry.db")})
			require.NoError(t, err)
			return r
		},
		"postgres": func(t *testing.T) registry.Registry {
			u := testenv.URL(t, testenv.PostgresURL)
			schema := "connectortest_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
			t.Cleanup(func() { // runs after the registry is closed
				conn, err := pgx.Connect(context.Background(), u)
				if err == nil {
					_, _ = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
					_ = conn.Close(context.Background())
				}
			})
			r, err := postgres.New(context.Background(), postgres.Config{URL: u, Schema: schema})
			require.NoError(t, err)
			return r
		},
		"redis": func(t *testing.T) registry.Registry {
			u := testenv.URL(t, testenv.RedisURL)
			r, err := regredis.New(context.Background(), regredis.Config{URL: u, KeyPrefix: "pushwire:connectortest:" + uuid.NewString() + ":"})
			require.NoError(t, err)
			return r
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			reg := open(t)
			t.Cleanup(func() { _ = reg.Close() })
			e2e.Run(t, reg)
		})
	}
}
