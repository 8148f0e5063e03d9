package main

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/internal/faultproxy"
	"github.com/pushwire/pushwire/internal/faulttest"
	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/postgres"
	regredis "github.com/pushwire/pushwire/registry/redis"
)

// faultBackends open the PostgreSQL and Redis registries through a fault
// proxy, so that the connector's fault scenarios (package
// internal/faulttest) hang, delay, black-hole or reset their connections
// and never the shared servers, and the de-duplication store of the same
// backend (the same schema or key prefix) directly, so that the re-sends
// after each fault go through the event memory a deployment uses. They run
// in this module because it requires the drivers.
var faultBackends = map[string]faulttest.Opener{
	"postgres": func(t *testing.T) (registry.Registry, connector.Deduper, *faultproxy.Proxy) {
		u := testenv.URL(t, testenv.PostgresURL)
		p := faulttest.NewProxy(t, faulttest.Host(t, u))
		schema := "faulttest_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
		t.Cleanup(func() { // runs after the registry is closed; straight to the server
			conn, err := pgx.Connect(context.Background(), u)
			if err == nil {
				_, _ = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
				_ = conn.Close(context.Background())
			}
		})
		r, err := postgres.New(context.Background(), postgres.Config{URL: faulttest.Proxied(t, u, p), Schema: schema})
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close() })
		direct, err := postgres.New(context.Background(), postgres.Config{URL: u, Schema: schema})
		require.NoError(t, err)
		t.Cleanup(func() { _ = direct.Close() })
		d, err := postgres.NewDeduper(context.Background(), direct)
		require.NoError(t, err)
		return r, d, p
	},
	"redis": func(t *testing.T) (registry.Registry, connector.Deduper, *faultproxy.Proxy) {
		u := testenv.URL(t, testenv.RedisURL)
		p := faulttest.NewProxy(t, faulttest.Host(t, u))
		prefix := "pushwire:faulttest:" + uuid.NewString() + ":"
		r, err := regredis.New(context.Background(), regredis.Config{URL: faulttest.Proxied(t, u, p), KeyPrefix: prefix})
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close() })
		direct, err := regredis.New(context.Background(), regredis.Config{URL: u, KeyPrefix: prefix})
		require.NoError(t, err)
		t.Cleanup(func() { _ = direct.Close() })
		d, err := regredis.NewDeduper(context.Background(), direct)
		require.NoError(t, err)
		return r, d, p
	},
}

// TestConnectorRegistryHang: the registry hangs for a second under 200
// callbacks/s (faulttest.RegistryHang).
func TestConnectorRegistryHang(t *testing.T) {
	for name, open := range faultBackends {
		t.Run(name, func(t *testing.T) { faulttest.RegistryHang(t, open) })
	}
}

// TestConnectorRegistryFaults: the registry's connections black-holed,
// delayed and reset (faulttest.RegistryFaults).
func TestConnectorRegistryFaults(t *testing.T) {
	for name, open := range faultBackends {
		t.Run(name, func(t *testing.T) { faulttest.RegistryFaults(t, open) })
	}
}
