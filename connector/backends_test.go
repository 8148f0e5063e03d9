package connector_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/postgres"
	"github.com/pushwire/pushwire/registry/sqlite"
)

// openSQLite opens a registry in a fresh database file on disk.
func openSQLite(t *testing.T) registry.Registry {
	r, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "registry.db")})
	require.NoError(t, err)
	return r
}

// openPostgres opens a registry in a schema of its own.
func openPostgres(t *testing.T) registry.Registry {
	u := backendURL(t, "PUSHWIRE_POSTGRES_URL")
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
}
