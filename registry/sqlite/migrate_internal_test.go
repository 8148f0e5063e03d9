package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/seal"
)

// A database left at schema version 1 by an older release, holding data,
// is upgraded in place: its bindings stay, without payload keys, and take
// keys when registered again.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(migrations[0])
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Microsecond)
	_, err = db.Exec(`INSERT INTO devices (provider, app_id, environment, token, session, labels, created_at, updated_at, expires_at)
		VALUES ('fcm', 'project-1', '', 'kept-token', 's', '{"k":"v"}', ?, ?, NULL)`, now.UnixMicro(), now.UnixMicro())
	require.NoError(t, err)
	_, err = db.Exec("PRAGMA user_version = 1")
	require.NoError(t, err)
	require.NoError(t, db.Close())

	r, err := New(ctx, Config{Path: path, Config: registry.Config{SweepInterval: -1}})
	require.NoError(t, err)
	defer r.Close()
	var version int
	require.NoError(t, r.reader.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version))
	assert.Equal(t, SchemaVersion, version)

	k := registry.Key{Provider: pushwire.ProviderFCM, AppID: "project-1", Token: "kept-token"}
	old, err := r.Get(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, "s", old.Session)
	assert.Equal(t, map[string]string{"k": "v"}, old.Labels)
	assert.True(t, now.Equal(old.CreatedAt))
	assert.Nil(t, old.PayloadKeys)

	pk, err := seal.GenerateKeys()
	require.NoError(t, err)
	p256dh, auth := pk.Public().Encode()
	old.PayloadKeys = &pushwire.PayloadKeys{P256DH: p256dh, Auth: auth}
	old.ExpiresAt = time.Time{}
	_, err = r.Register(ctx, old)
	require.NoError(t, err)
	got, err := r.Get(ctx, k)
	require.NoError(t, err)
	require.NotNil(t, got.PayloadKeys)
	assert.Equal(t, pushwire.PayloadKeys{P256DH: p256dh, Auth: auth}, *got.PayloadKeys)
	assert.True(t, now.Equal(got.CreatedAt), "CreatedAt kept across the upgrade")
}
