package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
)

// ConfigStore is a [connector.ConfigStore] kept in the registry's PostgreSQL
// database (table pushwire_configs in the registry's schema). It is safe for
// concurrent use, also by several processes sharing the database, and it
// implements [connector.ConfigWatcher] with LISTEN/NOTIFY: every change is
// announced (on commit) to every process watching, so their connectors drop
// their cached copy. It holds what the connector gives it: with a state key,
// the secret material is sealed before it gets here.
type ConfigStore struct {
	r                   *Registry
	pool                *pgxpool.Pool
	channel             string // NOTIFY channel, one per table
	get, list, put, del string
}

var (
	_ connector.ConfigStore   = (*ConfigStore)(nil)
	_ connector.ConfigWatcher = (*ConfigStore)(nil)
)

// configsLockID is the pg_advisory_xact_lock key serializing the creation of
// the configuration table.
const configsLockID = 0x7077_636f_6e66_6967 // "pwconfig"

// NewConfigStore returns the configuration store of registry r, creating its
// table in r's schema if missing. It uses r's pool (and, while watching, one
// connection of its own): closing r closes it.
func NewConfigStore(ctx context.Context, r *Registry) (*ConfigStore, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	table := pgx.Identifier{"pushwire_configs"}.Sanitize()
	if r.q.schema != "" {
		table = r.q.schema + "." + table
	}
	sum := sha256.Sum256([]byte(table))
	s := &ConfigStore{
		r:       r,
		pool:    r.pool,
		channel: "pushwire_configs_" + hex.EncodeToString(sum[:8]),
		get:     "SELECT data FROM " + table + " WHERE id = $1",
		list:    "SELECT data FROM " + table + ` ORDER BY id COLLATE "C"`,
		put: "WITH up AS (INSERT INTO " + table + " (id, data, updated_at) VALUES ($1, $2, $3)" +
			" ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at RETURNING id)" +
			" SELECT pg_notify($4, id) FROM up",
		del: "WITH d AS (DELETE FROM " + table + " WHERE id = $1 RETURNING id) SELECT pg_notify($2, id) FROM d",
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(configsLockID)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+table+` (
			id         text        PRIMARY KEY,
			data       bytea       NOT NULL,
			updated_at timestamptz NOT NULL
		)`)
		return err
	})
	if err != nil {
		return nil, r.wrapCtx(ctx, "create configuration table", err)
	}
	return s, nil
}

// Get implements [connector.ConfigStore].
func (s *ConfigStore) Get(ctx context.Context, id string) (connector.PushConfig, error) {
	if err := s.r.check(ctx); err != nil {
		return connector.PushConfig{}, err
	}
	var data []byte
	err := s.pool.QueryRow(ctx, s.get, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return connector.PushConfig{}, connector.ErrConfigNotFound
	}
	if err != nil {
		return connector.PushConfig{}, s.r.wrapCtx(ctx, "get configuration", err)
	}
	var pc connector.PushConfig
	return pc, pc.UnmarshalBinary(data)
}

// List implements [connector.ConfigStore].
func (s *ConfigStore) List(ctx context.Context) ([]connector.PushConfig, error) {
	if err := s.r.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.list)
	if err != nil {
		return nil, s.r.wrapCtx(ctx, "list configurations", err)
	}
	datas, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, s.r.wrapCtx(ctx, "list configurations", err)
	}
	out := make([]connector.PushConfig, len(datas))
	for i, data := range datas {
		if err := out[i].UnmarshalBinary(data); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Put implements [connector.ConfigStore]; the change is announced on commit.
func (s *ConfigStore) Put(ctx context.Context, pc connector.PushConfig) error {
	if err := connector.ValidateID(pc.ID); err != nil {
		return fmt.Errorf("registry/postgres: %w: configId %v", pushwire.ErrConfiguration, err)
	}
	if err := s.r.check(ctx); err != nil {
		return err
	}
	data, err := pc.MarshalBinary()
	if err != nil {
		return err
	}
	updated := pc.UpdatedAt
	if updated.IsZero() {
		updated = time.Unix(0, 0)
	}
	if _, err := s.pool.Exec(ctx, s.put, pc.ID, data, updated, s.channel); err != nil {
		return s.r.wrapCtx(ctx, "put configuration", err)
	}
	return nil
}

// Delete implements [connector.ConfigStore]; the change is announced on
// commit.
func (s *ConfigStore) Delete(ctx context.Context, id string) (bool, error) {
	if err := s.r.check(ctx); err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, s.del, id, s.channel)
	if err != nil {
		return false, s.r.wrapCtx(ctx, "delete configuration", err)
	}
	return tag.RowsAffected() > 0, nil
}

// Watch implements [connector.ConfigWatcher] with LISTEN on a connection of
// its own (not taken from the pool), closed when Watch returns.
func (s *ConfigStore) Watch(ctx context.Context, changed func(id string)) error {
	if err := s.r.check(ctx); err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return s.r.wrapCtx(ctx, "watch configurations", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return s.r.wrapCtx(ctx, "watch configurations", err)
	}
	changed("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return s.r.wrapCtx(ctx, "watch configurations", err)
		}
		changed(n.Payload)
	}
}
