package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pushwire/pushwire/connector"
)

// Deduper is a [connector.Deduper] kept in the registry's PostgreSQL database
// (table pushwire_events in the registry's schema), shared by every replica:
// the same callback reaching two replicas is claimed by one. Entries expire
// by the server's clock (now()); each new claim deletes a few expired ones.
// It is safe for concurrent use, also by several processes.
type Deduper struct {
	r                     *Registry
	pool                  *pgxpool.Pool
	claimNew, lock, retry string
	record                string
}

var _ connector.Deduper = (*Deduper)(nil)

// eventsLockID is the pg_advisory_xact_lock key serializing the creation of
// the event table.
const eventsLockID = 0x7077_6576_656e_7473 // "pwevents"

// sweepPerClaim is how many expired entries a new claim deletes.
const sweepPerClaim = 4

// NewDeduper returns the de-duplication store of registry r, creating its
// table in r's schema if missing. It uses r's pool: closing r closes it.
func NewDeduper(ctx context.Context, r *Registry) (*Deduper, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	table := pgx.Identifier{"pushwire_events"}.Sanitize()
	if r.q.schema != "" {
		table = r.q.schema + "." + table
	}
	expires := "now() + $2::bigint * interval '1 microsecond'"
	s := &Deduper{
		r:    r,
		pool: r.pool,
		// A new event, or one whose entry expired; a few other expired
		// entries go.
		claimNew: "WITH gone AS (DELETE FROM " + table + " WHERE key IN (SELECT key FROM " + table +
			" WHERE expires_at <= now() AND key <> $1 LIMIT " + fmt.Sprint(sweepPerClaim) + " FOR UPDATE SKIP LOCKED))" +
			" INSERT INTO " + table + " AS t (key, outcomes, expires_at) VALUES ($1, '{}', " + expires + ")" +
			" ON CONFLICT (key) DO UPDATE SET outcomes = '{}', expires_at = excluded.expires_at WHERE t.expires_at <= now()" +
			" RETURNING true",
		lock:  "SELECT outcomes::text FROM " + table + " WHERE key = $1 AND expires_at > now() FOR UPDATE",
		retry: "UPDATE " + table + " SET outcomes = $3::jsonb, expires_at = " + expires + " WHERE key = $1",
		record: "INSERT INTO " + table + " AS t (key, outcomes, expires_at) VALUES ($1, $3::jsonb, " + expires + ")" +
			" ON CONFLICT (key) DO UPDATE SET outcomes = CASE WHEN t.expires_at <= now() THEN excluded.outcomes" +
			" ELSE t.outcomes || excluded.outcomes END, expires_at = excluded.expires_at",
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(eventsLockID)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+table+` (
			key        text        PRIMARY KEY,
			outcomes   jsonb       NOT NULL,
			expires_at timestamptz NOT NULL
		);
		CREATE INDEX IF NOT EXISTS pushwire_events_expires ON `+table+` (expires_at)`)
		return err
	})
	if err != nil {
		return nil, r.wrapCtx(ctx, "create event table", err)
	}
	return s, nil
}

// micros is ttl in whole microseconds, at least one.
func micros(ttl time.Duration) int64 { return max(ttl.Microseconds(), 1) }

// Claim implements [connector.Deduper]: one statement for a new event; a
// transaction holding the entry's row lock for a known one.
func (s *Deduper) Claim(ctx context.Context, event string, ttl time.Duration) (connector.Claim, error) {
	if err := connector.CheckTTL(ttl); err != nil {
		return connector.Claim{}, err
	}
	if err := s.r.check(ctx); err != nil {
		return connector.Claim{}, err
	}
	// A known entry may expire between the two steps: then claim again.
	for range 3 {
		c, found, err := s.claim(ctx, event, ttl)
		if err != nil {
			return connector.Claim{}, s.r.wrapCtx(ctx, "claim event", err)
		}
		if found {
			return c, nil
		}
	}
	return connector.Claim{}, s.r.wrapCtx(ctx, "claim event", errors.New("the entry kept expiring"))
}

func (s *Deduper) claim(ctx context.Context, event string, ttl time.Duration) (c connector.Claim, found bool, err error) {
	var fresh bool
	err = s.pool.QueryRow(ctx, s.claimNew, event, micros(ttl)).Scan(&fresh)
	if err == nil {
		return connector.Claim{New: true}, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return c, false, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var data string
		if err := tx.QueryRow(ctx, s.lock, event).Scan(&data); err != nil {
			return err
		}
		found = true
		if err := json.Unmarshal([]byte(data), &c.Outcomes); err != nil {
			return fmt.Errorf("bad outcomes: %w", err)
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
			return nil
		}
		b, _ := json.Marshal(next)
		_, err := tx.Exec(ctx, s.retry, event, micros(ttl), string(b))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	return c, found, err
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
	if _, err := s.pool.Exec(ctx, s.record, event, micros(ttl), string(b)); err != nil {
		return s.r.wrapCtx(ctx, "record event", err)
	}
	return nil
}
