package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/registry/internal/backend"
)

// Deduper is a [connector.Deduper] kept in the registry's SQLite database
// (table pushwire_events), so that the events a connector handled and their
// per-device outcomes survive a restart. It is safe for concurrent use, also
// by several processes sharing the file: a claim runs in an immediate
// transaction. Entries expire by the registry's clock (registry.Config.Now);
// each new claim deletes a few expired ones.
type Deduper struct {
	r *Registry
}

var _ connector.Deduper = (*Deduper)(nil)

// eventsTable, like the configuration table, is created on its own rather
// than as a registry migration.
const eventsTable = `CREATE TABLE IF NOT EXISTS pushwire_events (
	key        TEXT    NOT NULL PRIMARY KEY,
	outcomes   TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pushwire_events_expires ON pushwire_events (expires_at)`

// sweepPerClaim is how many expired entries a new claim deletes.
const sweepPerClaim = 4

// NewDeduper returns the de-duplication store of registry r, creating its
// table if missing. It uses r's connections: closing r closes it.
func NewDeduper(ctx context.Context, r *Registry) (*Deduper, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	if _, err := r.writer.ExecContext(ctx, eventsTable); err != nil {
		return nil, r.wrap(ctx, "create event table", err)
	}
	return &Deduper{r: r}, nil
}

// Claim implements [connector.Deduper].
func (s *Deduper) Claim(ctx context.Context, event string, ttl time.Duration) (c connector.Claim, err error) {
	if err := connector.CheckTTL(ttl); err != nil {
		return c, err
	}
	if err := s.r.check(ctx); err != nil {
		return c, err
	}
	tx, err := s.r.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE: claims are serialized
	if err != nil {
		return c, s.r.wrap(ctx, "claim event", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	now := backend.Now(s.r.cfg).UnixMicro()
	expires := now + ttl.Microseconds()
	var data string
	err = tx.QueryRowContext(ctx, "SELECT outcomes FROM pushwire_events WHERE key = ? AND expires_at > ?", event, now).Scan(&data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err = tx.ExecContext(ctx, `DELETE FROM pushwire_events WHERE key IN
			(SELECT key FROM pushwire_events WHERE expires_at <= ? LIMIT ?)`, now, sweepPerClaim); err != nil {
			return c, s.r.wrap(ctx, "claim event", err)
		}
		if _, err = tx.ExecContext(ctx, `INSERT INTO pushwire_events (key, outcomes, expires_at) VALUES (?, '{}', ?)
			ON CONFLICT (key) DO UPDATE SET outcomes = '{}', expires_at = excluded.expires_at`, event, expires); err != nil {
			return c, s.r.wrap(ctx, "claim event", err)
		}
		c.New = true
	case err != nil:
		return c, s.r.wrap(ctx, "claim event", err)
	default:
		if err = json.Unmarshal([]byte(data), &c.Outcomes); err != nil {
			return c, fmt.Errorf("registry/sqlite: claim event: bad outcomes: %w", err)
		}
		if c.Outcomes == nil {
			c.Outcomes = map[string]connector.DeviceOutcome{}
		}
		next := make(map[string]connector.DeviceOutcome, len(c.Outcomes))
		for k, o := range c.Outcomes {
			if o == connector.DeviceRetryable {
				c.Retry = append(c.Retry, k)
				o = connector.DeviceUnknown
			}
			next[k] = o
		}
		if len(c.Retry) == 0 {
			return c, tx.Rollback()
		}
		b, _ := json.Marshal(next)
		if _, err = tx.ExecContext(ctx, "UPDATE pushwire_events SET outcomes = ?, expires_at = ? WHERE key = ?", string(b), expires, event); err != nil {
			return c, s.r.wrap(ctx, "claim event", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return c, s.r.wrap(ctx, "claim event", err)
	}
	return c, nil
}

// Record implements [connector.Deduper].
func (s *Deduper) Record(ctx context.Context, event string, outcomes map[string]connector.DeviceOutcome, ttl time.Duration) error {
	if err := connector.CheckTTL(ttl); err != nil {
		return err
	}
	if err := s.r.check(ctx); err != nil {
		return err
	}
	if outcomes == nil {
		outcomes = map[string]connector.DeviceOutcome{}
	}
	b, err := json.Marshal(outcomes)
	if err != nil {
		return err
	}
	now := backend.Now(s.r.cfg).UnixMicro()
	_, err = s.r.writer.ExecContext(ctx, `INSERT INTO pushwire_events (key, outcomes, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			outcomes = CASE WHEN pushwire_events.expires_at <= ? THEN excluded.outcomes
				ELSE json_patch(pushwire_events.outcomes, excluded.outcomes) END,
			expires_at = excluded.expires_at`,
		event, string(b), now+ttl.Microseconds(), now)
	if err != nil {
		return s.r.wrap(ctx, "record event", err)
	}
	return nil
}
