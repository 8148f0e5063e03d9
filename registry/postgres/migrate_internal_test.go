package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/seal"
)

// regV3 calls the register function of schema versions 2 and 3 (ten
// parameters, no payload keys).
func regV3(q queries) string {
	return "SELECT " + q.fn + "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
}

// newSchema returns a fresh schema name and a connection that drops it at
// the end of the test.
func newSchema(t *testing.T) (*pgx.Conn, string, string) {
	ctx := context.Background()
	url := testenv.URL(t, testenv.PostgresURL)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pwtest_upgrade_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		_, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		assert.NoError(t, err)
		assert.NoError(t, conn.Close(context.Background()))
	})
	return conn, url, schema
}

// A schema left at version 3 by the previous release, holding data, is
// upgraded in place: the bindings stay, without payload keys, and take
// keys when registered again. The ten-parameter register function of the
// previous release still works (for its instances during a rolling
// upgrade) and registers without keys, clearing them.
func TestUpgradeFromVersion3(t *testing.T) {
	ctx := context.Background()
	conn, url, schema := newSchema(t)
	q := newQueries(schema)
	_, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()+"; CREATE TABLE "+q.version+" (version integer NOT NULL); INSERT INTO "+q.version+" VALUES (3)")
	require.NoError(t, err)
	for _, m := range q.migrations()[:3] {
		_, err = conn.Exec(ctx, m)
		require.NoError(t, err)
	}
	created := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	k := registry.Key{Provider: pushwire.ProviderFCM, AppID: "project-1", Token: "kept"}
	_, err = conn.Exec(ctx, regV3(q), bindingID(k), "fcm", "project-1", "", "kept", "s", []byte(`{"k":"v"}`), created, nil, 0)
	require.NoError(t, err, "the version 3 register function")

	r, err := New(ctx, Config{URL: url, Schema: schema, Config: registry.Config{SweepInterval: -1}})
	require.NoError(t, err)
	defer r.Close()
	var version int
	require.NoError(t, conn.QueryRow(ctx, "SELECT version FROM "+q.version).Scan(&version))
	assert.Equal(t, SchemaVersion, version)

	old, err := r.Get(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, "s", old.Session)
	assert.Equal(t, map[string]string{"k": "v"}, old.Labels)
	assert.True(t, created.Equal(old.CreatedAt))
	assert.Nil(t, old.PayloadKeys)

	pk, err := seal.GenerateKeys()
	require.NoError(t, err)
	p256dh, auth := pk.Public().Encode()
	keys := pushwire.PayloadKeys{P256DH: p256dh, Auth: auth}
	old.PayloadKeys = &keys
	old.ExpiresAt = time.Time{}
	_, err = r.Register(ctx, old)
	require.NoError(t, err)
	got, err := r.Get(ctx, k)
	require.NoError(t, err)
	require.NotNil(t, got.PayloadKeys)
	assert.Equal(t, keys, *got.PayloadKeys)
	assert.True(t, created.Equal(got.CreatedAt), "CreatedAt kept across the upgrade")

	// An instance of the previous release registers the binding again.
	_, err = conn.Exec(ctx, regV3(q), bindingID(k), "fcm", "project-1", "", "kept", "s", nil, time.Now(), nil, 0)
	require.NoError(t, err)
	got, err = r.Get(ctx, k)
	require.NoError(t, err)
	assert.Nil(t, got.PayloadKeys, "a registration without keys clears them")
}

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
	_, err = conn.Exec(ctx, regV3(q), bindingID(registry.Key{Provider: pushwire.ProviderAPNs, Token: "kept"}),
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
