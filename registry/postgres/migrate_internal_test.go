package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/registry"
)

// A schema left at version 2 by an older release, holding data, is
// upgraded in place: the data stays and the new functions work.
func TestUpgradeFromVersion2(t *testing.T) {
	ctx := context.Background()
	url := testenv.URL(t, testenv.PostgresURL)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pwtest_upgrade_" + hex.EncodeToString(b[:])
	sanitized := pgx.Identifier{schema}.Sanitize()
	t.Cleanup(func() {
		_, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+sanitized+" CASCADE")
		assert.NoError(t, err)
		assert.NoError(t, conn.Close(context.Background()))
	})

	q := newQueries(schema)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+sanitized+"; CREATE TABLE "+q.version+" (version integer NOT NULL); INSERT INTO "+q.version+" VALUES (2)")
	require.NoError(t, err)
	for _, m := range q.migrations()[:2] {
		_, err = conn.Exec(ctx, m)
		require.NoError(t, err)
	}
	_, err = conn.Exec(ctx, q.reg, bindingID(registry.Key{Provider: pushwire.ProviderAPNs, Token: "kept"}),
		"apns", "", "", "kept", "s", nil, "2026-01-01T00:00:00Z", nil, 0)
	require.NoError(t, err, "the version 2 register function")

	r, err := New(ctx, Config{URL: url, Schema: schema, Config: registry.Config{SweepInterval: -1}})
	require.NoError(t, err)
	defer r.Close()
	var version int
	require.NoError(t, conn.QueryRow(ctx, "SELECT version FROM "+q.version).Scan(&version))
	assert.Equal(t, SchemaVersion, version)

	_, err = r.Register(ctx, registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: "added"})
	require.NoError(t, err)
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	assert.Len(t, list, 2, "the old row is kept next to the new one")
	n, err := r.RemoveSession(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}
