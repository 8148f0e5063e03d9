package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
)

// ConfigStore is a [connector.ConfigStore] kept in the registry's SQLite
// database (table pushwire_configs), so that push configurations survive a
// restart with the devices. It is safe for concurrent use, also by several
// processes sharing the file; it does not announce changes (no
// [connector.ConfigWatcher]), so a connector over it reads the table on
// every use. It holds what the connector gives it: with a state key, the
// secret material is sealed before it gets here.
type ConfigStore struct {
	r *Registry
}

var _ connector.ConfigStore = (*ConfigStore)(nil)

// configsTable is created on its own (CREATE TABLE IF NOT EXISTS) rather
// than as a registry migration: a registry used without configurations
// never gets it, and the registry's schema version stays the devices'.
const configsTable = `CREATE TABLE IF NOT EXISTS pushwire_configs (
	id         TEXT    NOT NULL PRIMARY KEY,
	data       BLOB    NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID`

// NewConfigStore returns the configuration store of registry r, creating its
// table if missing. It uses r's connections: closing r closes it.
func NewConfigStore(ctx context.Context, r *Registry) (*ConfigStore, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	if _, err := r.writer.ExecContext(ctx, configsTable); err != nil {
		return nil, r.wrap(ctx, "create configuration table", err)
	}
	return &ConfigStore{r: r}, nil
}

// Get implements [connector.ConfigStore].
func (s *ConfigStore) Get(ctx context.Context, id string) (connector.PushConfig, error) {
	if err := s.r.check(ctx); err != nil {
		return connector.PushConfig{}, err
	}
	var data []byte
	err := s.r.reader.QueryRowContext(ctx, "SELECT data FROM pushwire_configs WHERE id = ?", id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return connector.PushConfig{}, connector.ErrConfigNotFound
	}
	if err != nil {
		return connector.PushConfig{}, s.r.wrap(ctx, "get configuration", err)
	}
	var pc connector.PushConfig
	return pc, pc.UnmarshalBinary(data)
}

// List implements [connector.ConfigStore].
func (s *ConfigStore) List(ctx context.Context) ([]connector.PushConfig, error) {
	if err := s.r.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.r.reader.QueryContext(ctx, "SELECT data FROM pushwire_configs ORDER BY id")
	if err != nil {
		return nil, s.r.wrap(ctx, "list configurations", err)
	}
	defer rows.Close()
	out := []connector.PushConfig{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, s.r.wrap(ctx, "list configurations", err)
		}
		var pc connector.PushConfig
		if err := pc.UnmarshalBinary(data); err != nil {
			return nil, err
		}
		out = append(out, pc)
	}
	if err := rows.Err(); err != nil {
		return nil, s.r.wrap(ctx, "list configurations", err)
	}
	return out, nil
}

// Put implements [connector.ConfigStore].
func (s *ConfigStore) Put(ctx context.Context, pc connector.PushConfig) error {
	if err := connector.ValidateID(pc.ID); err != nil {
		return fmt.Errorf("registry/sqlite: %w: configId %v", pushwire.ErrConfiguration, err)
	}
	if err := s.r.check(ctx); err != nil {
		return err
	}
	data, err := pc.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = s.r.writer.ExecContext(ctx, `INSERT INTO pushwire_configs (id, data, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
		pc.ID, data, pc.UpdatedAt.UnixMicro())
	if err != nil {
		return s.r.wrap(ctx, "put configuration", err)
	}
	return nil
}

// Delete implements [connector.ConfigStore].
func (s *ConfigStore) Delete(ctx context.Context, id string) (bool, error) {
	if err := s.r.check(ctx); err != nil {
		return false, err
	}
	res, err := s.r.writer.ExecContext(ctx, "DELETE FROM pushwire_configs WHERE id = ?", id)
	if err != nil {
		return false, s.r.wrap(ctx, "delete configuration", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.r.wrap(ctx, "delete configuration", err)
	}
	return n > 0, nil
}
