package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/internal/backend"
	"github.com/pushwire/pushwire/registry/internal/store"
)

// Config configures a PostgreSQL registry.
// It is a plain value, read once by New.
type Config struct {
	// Config holds the backend-independent settings.
	registry.Config
	// URL is a postgres:// connection string; used when Pool is nil.
	URL string
	// Pool is an existing pool to use instead of URL. The registry does not
	// close it.
	Pool *pgxpool.Pool
	// Schema is the schema holding the registry's objects; it is created if
	// missing. Empty means the connection's search_path (usually public).
	Schema string
	// UnlockTimeout bounds the release of the migration lock at the end of
	// New, which runs on a context of its own (the caller's may have
	// ended); when it runs out the connection holding the lock is closed,
	// which releases it too. Zero means [DefaultUnlockTimeout].
	UnlockTimeout time.Duration
}

// DefaultUnlockTimeout is Config.UnlockTimeout when zero.
const DefaultUnlockTimeout = 10 * time.Second

// Registry is a registry.Registry stored in PostgreSQL. It is safe for
// concurrent use, also by several processes sharing one database.
type Registry struct {
	cfg           registry.Config
	pool          *pgxpool.Pool
	owned         bool
	q             queries
	unlockTimeout time.Duration

	closed    atomic.Bool
	closeOnce sync.Once
	stop      context.CancelFunc
	stopCtx   context.Context
	done      chan struct{}
}

var _ registry.Registry = (*Registry)(nil)

// New returns a registry configured by cfg, creating or migrating its schema
// and starting the sweeper (unless cfg.SweepInterval is negative).
func New(ctx context.Context, cfg Config) (*Registry, error) {
	r := &Registry{
		cfg:  backend.Defaults(cfg.Config),
		pool: cfg.Pool,
		q:    newQueries(cfg.Schema),
		done: make(chan struct{}),
	}
	if cfg.UnlockTimeout < 0 {
		return nil, fmt.Errorf("registry/postgres: %w: negative UnlockTimeout", pushwire.ErrConfiguration)
	}
	r.unlockTimeout = cfg.UnlockTimeout
	if r.unlockTimeout == 0 {
		r.unlockTimeout = DefaultUnlockTimeout
	}
	r.stopCtx, r.stop = context.WithCancel(context.Background())
	if r.pool == nil {
		if cfg.URL == "" {
			return nil, fmt.Errorf("registry/postgres: %w: URL or Pool is required", pushwire.ErrConfiguration)
		}
		pc, err := pgxpool.ParseConfig(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("registry/postgres: %w: bad connection string", pushwire.ErrConfiguration)
		}
		if r.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
			return nil, fmt.Errorf("registry/postgres: connect: %w", err)
		}
		r.owned = true
	}
	if err := r.migrate(ctx, cfg.Schema); err != nil {
		r.stop()
		if r.owned {
			r.pool.Close()
		}
		return nil, err
	}
	if r.cfg.SweepInterval > 0 {
		go r.sweeper(r.cfg.SweepInterval)
	} else {
		close(r.done)
	}
	return r, nil
}

// migrationLockID is the pg_advisory_lock key serializing migrations.
const migrationLockID = 0x7077_7265_6769_7374 // "pwregist"

// sessionLockClass is the first key of the per-session advisory locks.
const sessionLockClass = 0x70777265 // "pwre"

// queries holds the SQL with the schema's identifiers spliced in.
type queries struct {
	schema, table, version, fn, rmFn                               string
	lookup, get, unregister, invalidate, removeSession, sweep, reg string
	all                                                            string
}

func ident(schema, name string) string {
	if schema == "" {
		return pgx.Identifier{name}.Sanitize()
	}
	return pgx.Identifier{schema, name}.Sanitize()
}

const columns = "provider, app_id, environment, token, session, labels, created_at, updated_at, expires_at, p256dh, auth"

func newQueries(schema string) queries {
	q := queries{
		table:   ident(schema, "pushwire_devices"),
		version: ident(schema, "pushwire_registry_version"),
		fn:      ident(schema, "pushwire_register"),
		rmFn:    ident(schema, "pushwire_remove_session"),
	}
	if schema != "" {
		q.schema = pgx.Identifier{schema}.Sanitize()
	}
	live := "(expires_at IS NULL OR expires_at > $2)"
	q.lookup = "SELECT " + columns + " FROM " + q.table + " WHERE session = $1 AND " + live + " ORDER BY updated_at DESC, id"
	q.get = "SELECT " + columns + " FROM " + q.table + " WHERE id = $1 AND " + live
	q.unregister = "DELETE FROM " + q.table + " WHERE id = $1 RETURNING " + live
	q.invalidate = "DELETE FROM " + q.table + " WHERE id = $1 AND " + live + " AND ($3::timestamptz IS NULL OR updated_at <= $3)"
	q.removeSession = "SELECT " + q.rmFn + "($1, $2)"
	q.sweep = "DELETE FROM " + q.table + " WHERE id IN (SELECT id FROM " + q.table +
		" WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
	q.reg = "SELECT " + q.fn + "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
	q.all = "SELECT " + columns + " FROM " + q.table + " WHERE expires_at IS NULL OR expires_at > $1"
	return q
}

// migrations are applied in order; the version table records how many ran.
func (q queries) migrations() []string {
	lockClass := strconv.Itoa(sessionLockClass)
	return []string{
		// 1: the table and its indexes.
		`CREATE TABLE ` + q.table + ` (
			id          bytea       PRIMARY KEY,
			provider    text        NOT NULL,
			app_id      text        NOT NULL,
			environment text        NOT NULL,
			token       text        NOT NULL,
			session     text        NOT NULL,
			labels      jsonb,
			created_at  timestamptz NOT NULL,
			updated_at  timestamptz NOT NULL,
			expires_at  timestamptz
		);
		CREATE INDEX ON ` + q.table + ` (session, updated_at DESC);
		CREATE INDEX ON ` + q.table + ` (expires_at) WHERE expires_at IS NOT NULL;`,
		// 2: register = upsert + cap eviction in one call. The advisory lock
		// serializes registrations into one session, and each statement of a
		// plpgsql function sees rows committed before it, so the eviction
		// counts what concurrent instances added. Rows locked by others are
		// leaving the session (moved, deleted), so they are skipped, which
		// also means a registration never waits on another session's rows.
		`CREATE FUNCTION ` + q.fn + `(p_id bytea, p_provider text, p_app_id text, p_env text,
			p_token text, p_session text, p_labels jsonb, p_now timestamptz, p_expires timestamptz, p_cap int)
		RETURNS timestamptz LANGUAGE plpgsql AS $fn$
		DECLARE
			v_created timestamptz;
		BEGIN
			PERFORM pg_advisory_xact_lock(` + lockClass + `, hashtext(p_session));
			INSERT INTO ` + q.table + ` AS d (id, provider, app_id, environment, token, session, labels, created_at, updated_at, expires_at)
			VALUES (p_id, p_provider, p_app_id, p_env, p_token, p_session, p_labels, p_now, p_now, p_expires)
			ON CONFLICT (id) DO UPDATE SET
				session = EXCLUDED.session,
				labels = EXCLUDED.labels,
				updated_at = EXCLUDED.updated_at,
				expires_at = EXCLUDED.expires_at,
				created_at = CASE WHEN d.expires_at IS NOT NULL AND d.expires_at <= p_now
					THEN EXCLUDED.created_at ELSE d.created_at END
			RETURNING d.created_at INTO v_created;
			IF p_cap > 0 THEN
				DELETE FROM ` + q.table + ` d WHERE d.session = p_session AND d.id IN (
					SELECT o.id FROM ` + q.table + ` o
					WHERE o.session = p_session AND o.id <> p_id AND (o.expires_at IS NULL OR o.expires_at > p_now)
					ORDER BY o.updated_at DESC, o.id
					OFFSET p_cap - 1
					FOR UPDATE SKIP LOCKED);
			END IF;
			RETURN v_created;
		END
		$fn$;`,
		// 3: migration 2 skipped rows locked by others, taking them for rows
		// leaving the session. A row can be locked and stay: a DELETE whose
		// recheck fails keeps its row lock to the end of its transaction, and
		// a mover may roll back. Skipping such a row let a session exceed
		// its cap. Now a registration locks both the session it joins and
		// the one it leaves (in hash order, so two crossing moves cannot
		// deadlock), every change of a session's membership except a
		// single-row delete holds that session's lock, and the eviction
		// waits for the rows it deletes instead of skipping them. A
		// single-row delete holds no other lock, so waiting on it cannot
		// deadlock.
		`CREATE OR REPLACE FUNCTION ` + q.fn + `(p_id bytea, p_provider text, p_app_id text, p_env text,
			p_token text, p_session text, p_labels jsonb, p_now timestamptz, p_expires timestamptz, p_cap int)
		RETURNS timestamptz LANGUAGE plpgsql AS $fn$
		DECLARE
			v_created timestamptz;
			v_old text;
			v_now text;
			h_new int := hashtext(p_session);
			h_old int;
		BEGIN
			LOOP
				SELECT d.session INTO v_old FROM ` + q.table + ` d WHERE d.id = p_id;
				h_old := coalesce(hashtext(v_old), h_new);
				BEGIN
					PERFORM pg_advisory_xact_lock(` + lockClass + `, least(h_old, h_new));
					PERFORM pg_advisory_xact_lock(` + lockClass + `, greatest(h_old, h_new));
					SELECT d.session INTO v_now FROM ` + q.table + ` d WHERE d.id = p_id;
					IF v_now IS NOT NULL AND v_now IS DISTINCT FROM v_old THEN
						-- Another registration moved the token before the
						-- locks were held. Aborting the block releases
						-- them; try again from the session it is in now.
						RAISE EXCEPTION USING ERRCODE = 'serialization_failure';
					END IF;
					EXIT;
				EXCEPTION WHEN serialization_failure THEN
					NULL;
				END;
			END LOOP;
			INSERT INTO ` + q.table + ` AS d (id, provider, app_id, environment, token, session, labels, created_at, updated_at, expires_at)
			VALUES (p_id, p_provider, p_app_id, p_env, p_token, p_session, p_labels, p_now, p_now, p_expires)
			ON CONFLICT (id) DO UPDATE SET
				session = EXCLUDED.session,
				labels = EXCLUDED.labels,
				updated_at = EXCLUDED.updated_at,
				expires_at = EXCLUDED.expires_at,
				created_at = CASE WHEN d.expires_at IS NOT NULL AND d.expires_at <= p_now
					THEN EXCLUDED.created_at ELSE d.created_at END
			RETURNING d.created_at INTO v_created;
			IF p_cap > 0 THEN
				DELETE FROM ` + q.table + ` d WHERE d.session = p_session AND d.id IN (
					SELECT o.id FROM ` + q.table + ` o
					WHERE o.session = p_session AND o.id <> p_id AND (o.expires_at IS NULL OR o.expires_at > p_now)
					ORDER BY o.updated_at DESC, o.id
					OFFSET p_cap - 1);
			END IF;
			RETURN v_created;
		END
		$fn$;
		CREATE FUNCTION ` + q.rmFn + `(p_session text, p_now timestamptz)
		RETURNS bigint LANGUAGE plpgsql AS $fn$
		DECLARE
			v_live bigint;
		BEGIN
			PERFORM pg_advisory_xact_lock(` + lockClass + `, hashtext(p_session));
			WITH d AS (DELETE FROM ` + q.table + ` d WHERE d.session = p_session RETURNING d.expires_at)
			SELECT count(*) FILTER (WHERE d.expires_at IS NULL OR d.expires_at > p_now) INTO v_live FROM d;
			RETURN v_live;
		END
		$fn$;`,
		// 4: the device's payload keys (RFC 8291), base64url, both NULL
		// when it registered none. The register function takes them as
		// two more parameters and replaces the stored ones (migration 3's
		// function otherwise). The old ten-parameter signature stays for
		// instances of the previous release during a rolling upgrade: it
		// registers without keys, which clears them, as those instances
		// know of none.
		`ALTER TABLE ` + q.table + ` ADD COLUMN p256dh text, ADD COLUMN auth text;
		CREATE FUNCTION ` + q.fn + `(p_id bytea, p_provider text, p_app_id text, p_env text,
			p_token text, p_session text, p_labels jsonb, p_now timestamptz, p_expires timestamptz, p_cap int,
			p_p256dh text, p_auth text)
		RETURNS timestamptz LANGUAGE plpgsql AS $fn$
		DECLARE
			v_created timestamptz;
			v_old text;
			v_now text;
			h_new int := hashtext(p_session);
			h_old int;
		BEGIN
			LOOP
				SELECT d.session INTO v_old FROM ` + q.table + ` d WHERE d.id = p_id;
				h_old := coalesce(hashtext(v_old), h_new);
				BEGIN
					PERFORM pg_advisory_xact_lock(` + lockClass + `, least(h_old, h_new));
					PERFORM pg_advisory_xact_lock(` + lockClass + `, greatest(h_old, h_new));
					SELECT d.session INTO v_now FROM ` + q.table + ` d WHERE d.id = p_id;
					IF v_now IS NOT NULL AND v_now IS DISTINCT FROM v_old THEN
						RAISE EXCEPTION USING ERRCODE = 'serialization_failure';
					END IF;
					EXIT;
				EXCEPTION WHEN serialization_failure THEN
					NULL;
				END;
			END LOOP;
			INSERT INTO ` + q.table + ` AS d (id, provider, app_id, environment, token, session, labels,
				created_at, updated_at, expires_at, p256dh, auth)
			VALUES (p_id, p_provider, p_app_id, p_env, p_token, p_session, p_labels, p_now, p_now, p_expires,
				p_p256dh, p_auth)
			ON CONFLICT (id) DO UPDATE SET
				session = EXCLUDED.session,
				labels = EXCLUDED.labels,
				p256dh = EXCLUDED.p256dh,
				auth = EXCLUDED.auth,
				updated_at = EXCLUDED.updated_at,
				expires_at = EXCLUDED.expires_at,
				created_at = CASE WHEN d.expires_at IS NOT NULL AND d.expires_at <= p_now
					THEN EXCLUDED.created_at ELSE d.created_at END
			RETURNING d.created_at INTO v_created;
			IF p_cap > 0 THEN
				DELETE FROM ` + q.table + ` d WHERE d.session = p_session AND d.id IN (
					SELECT o.id FROM ` + q.table + ` o
					WHERE o.session = p_session AND o.id <> p_id AND (o.expires_at IS NULL OR o.expires_at > p_now)
					ORDER BY o.updated_at DESC, o.id
					OFFSET p_cap - 1);
			END IF;
			RETURN v_created;
		END
		$fn$;
		CREATE OR REPLACE FUNCTION ` + q.fn + `(p_id bytea, p_provider text, p_app_id text, p_env text,
			p_token text, p_session text, p_labels jsonb, p_now timestamptz, p_expires timestamptz, p_cap int)
		RETURNS timestamptz LANGUAGE sql AS $fn$
			SELECT ` + q.fn + `(p_id, p_provider, p_app_id, p_env, p_token, p_session, p_labels, p_now, p_expires, p_cap,
				NULL::text, NULL::text)
		$fn$;`,
	}
}

func (r *Registry) migrate(ctx context.Context, schema string) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("registry/postgres: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLockID)); err != nil {
		return fmt.Errorf("registry/postgres: migration lock: %w", err)
	}
	defer func() {
		// Unlock on a fresh context: the caller's may be done.
		uctx, cancel := context.WithTimeout(context.Background(), r.unlockTimeout)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", int64(migrationLockID)); err != nil {
			// The lock is session-level: drop the connection to release it.
			_ = conn.Conn().Close(uctx)
		}
	}()
	if schema != "" {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+r.q.schema); err != nil {
			return fmt.Errorf("registry/postgres: create schema: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+r.q.version+" (version integer NOT NULL)"); err != nil {
		return fmt.Errorf("registry/postgres: create version table: %w", err)
	}
	var version int
	err = conn.QueryRow(ctx, "SELECT version FROM "+r.q.version).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := conn.Exec(ctx, "INSERT INTO "+r.q.version+" (version) VALUES (0)"); err != nil {
			return fmt.Errorf("registry/postgres: init version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("registry/postgres: read version: %w", err)
	}
	migs := r.q.migrations()
	if version > len(migs) {
		return fmt.Errorf("registry/postgres: %w: schema version %d is newer than this code (%d)", pushwire.ErrConfiguration, version, len(migs))
	}
	for i := version; i < len(migs); i++ {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("registry/postgres: migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, migs[i]); err != nil {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("registry/postgres: migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE "+r.q.version+" SET version = $1", i+1); err != nil {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("registry/postgres: migration %d: %w", i+1, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("registry/postgres: migration %d: %w", i+1, err)
		}
		r.cfg.Logger.Info("registry: applied postgres migration", "version", i+1)
	}
	return nil
}

// SchemaVersion is the schema version this package migrates to.
const SchemaVersion = 4

// bindingID is the primary key of k: SHA-256 over its fields, separated so
// that no two keys share an input.
func bindingID(k registry.Key) []byte {
	h := sha256.New()
	h.Write([]byte(k.Provider))
	h.Write([]byte{0})
	h.Write([]byte(k.Environment))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(len(k.AppID))))
	h.Write([]byte{':'})
	h.Write([]byte(k.AppID))
	h.Write([]byte{0})
	h.Write([]byte(k.Token))
	return h.Sum(nil)
}

func (r *Registry) check(ctx context.Context) error {
	if r.closed.Load() {
		return registry.ErrClosed
	}
	return ctx.Err()
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// registerAttempts bounds the tries of one registration.
const registerAttempts = 3

// retryable reports a deadlock or serialization failure worth one retry.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// Register implements registry.Registry: one call of the register function.
func (r *Registry) Register(ctx context.Context, d registry.Device) (registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return registry.Device{}, err
	}
	now := backend.Now(r.cfg)
	d, err := backend.Prepare(r.cfg, d, now)
	if err != nil {
		return registry.Device{}, err
	}
	var labels []byte
	if d.Labels != nil {
		if labels, err = json.Marshal(d.Labels); err != nil {
			return registry.Device{}, r.wrapCtx(ctx, "encode labels", err)
		}
	}
	var p256dh, auth *string
	if k := d.PayloadKeys; k != nil {
		p256dh, auth = &k.P256DH, &k.Auth
	}
	capN := r.cfg.MaxDevicesPerSession
	if capN < 0 {
		capN = 0
	}
	var created time.Time
	// A deadlock is not expected (see migration 3), but is retried if the
	// server reports one.
	for attempt := 1; ; attempt++ {
		err = r.pool.QueryRow(ctx, r.q.reg, bindingID(d.Key()), string(d.Provider), d.AppID, d.Environment,
			d.Token, d.Session, labels, now, nullTime(d.ExpiresAt), capN, p256dh, auth).Scan(&created)
		if err == nil || attempt == registerAttempts || !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return registry.Device{}, r.wrapCtx(ctx, "register", err)
	}
	d.CreatedAt = created.UTC()
	return d, nil
}

func (r *Registry) wrapCtx(ctx context.Context, op string, err error) error {
	if r.closed.Load() {
		return registry.ErrClosed
	}
	return backend.Wrap(ctx, "postgres", op, err)
}

func scanDevice(row pgx.Row) (registry.Device, error) {
	var (
		d        registry.Device
		provider string
		labels   []byte
		expires  *time.Time
		p256dh   *string
		auth     *string
	)
	if err := row.Scan(&provider, &d.AppID, &d.Environment, &d.Token, &d.Session, &labels,
		&d.CreatedAt, &d.UpdatedAt, &expires, &p256dh, &auth); err != nil {
		return registry.Device{}, err
	}
	if p256dh != nil || auth != nil {
		d.PayloadKeys = &pushwire.PayloadKeys{}
		if p256dh != nil {
			d.PayloadKeys.P256DH = *p256dh
		}
		if auth != nil {
			d.PayloadKeys.Auth = *auth
		}
	}
	d.Provider = pushwire.Provider(provider)
	if labels != nil && string(labels) != "null" {
		if err := json.Unmarshal(labels, &d.Labels); err != nil {
			return registry.Device{}, fmt.Errorf("malformed labels: %w", err)
		}
	}
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	if expires != nil {
		d.ExpiresAt = expires.UTC()
	}
	return d, nil
}

// Lookup implements registry.Registry: one SELECT.
func (r *Registry) Lookup(ctx context.Context, session string) ([]registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	if err := registry.ValidateSession(session); err != nil {
		return nil, err
	}
	rows, err := r.pool.Query(ctx, r.q.lookup, session, backend.Now(r.cfg))
	if err != nil {
		return nil, r.wrapCtx(ctx, "lookup", err)
	}
	defer rows.Close()
	out := []registry.Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, r.wrapCtx(ctx, "lookup", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, r.wrapCtx(ctx, "lookup", err)
	}
	return out, nil
}

// Get implements registry.Registry: one SELECT.
func (r *Registry) Get(ctx context.Context, k registry.Key) (registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return registry.Device{}, err
	}
	if err := registry.ValidateKey(k); err != nil {
		return registry.Device{}, err
	}
	d, err := scanDevice(r.pool.QueryRow(ctx, r.q.get, bindingID(k), backend.Now(r.cfg)))
	if errors.Is(err, pgx.ErrNoRows) {
		return registry.Device{}, backend.NotFound(k)
	}
	if err != nil {
		return registry.Device{}, r.wrapCtx(ctx, "get", err)
	}
	return d, nil
}

// Unregister implements registry.Registry: one DELETE.
func (r *Registry) Unregister(ctx context.Context, k registry.Key) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	if err := registry.ValidateKey(k); err != nil {
		return err
	}
	var live bool
	err := r.pool.QueryRow(ctx, r.q.unregister, bindingID(k), backend.Now(r.cfg)).Scan(&live)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !live) {
		return backend.NotFound(k)
	}
	if err != nil {
		return r.wrapCtx(ctx, "unregister", err)
	}
	return nil
}

// RemoveSession implements registry.Registry: one DELETE.
func (r *Registry) RemoveSession(ctx context.Context, session string) (int, error) {
	if err := r.check(ctx); err != nil {
		return 0, err
	}
	if err := registry.ValidateSession(session); err != nil {
		return 0, err
	}
	var n int
	if err := r.pool.QueryRow(ctx, r.q.removeSession, session, backend.Now(r.cfg)).Scan(&n); err != nil {
		return 0, r.wrapCtx(ctx, "remove session", err)
	}
	return n, nil
}

// Invalidate implements registry.Registry: one DELETE.
func (r *Registry) Invalidate(ctx context.Context, k registry.Key, asOf time.Time) (bool, error) {
	if err := r.check(ctx); err != nil {
		return false, err
	}
	if err := registry.ValidateKey(k); err != nil {
		return false, err
	}
	tag, err := r.pool.Exec(ctx, r.q.invalidate, bindingID(k), backend.Now(r.cfg), nullTime(store.Truncate(asOf)))
	if err != nil {
		return false, r.wrapCtx(ctx, "invalidate", err)
	}
	return tag.RowsAffected() == 1, nil
}

// All returns every live binding, in no particular order. It reads the whole
// table: meant for tests and tools. It satisfies registrytest.Lister.
func (r *Registry) All(ctx context.Context) ([]registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	rows, err := r.pool.Query(ctx, r.q.all, backend.Now(r.cfg))
	if err != nil {
		return nil, r.wrapCtx(ctx, "all", err)
	}
	defer rows.Close()
	var out []registry.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, r.wrapCtx(ctx, "all", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, r.wrapCtx(ctx, "all", err)
	}
	return out, nil
}

// Sweep deletes expired rows now, in batches that skip rows other
// transactions hold, and reports how many it removed. The background sweeper
// calls it every Config.SweepInterval.
func (r *Registry) Sweep(ctx context.Context) (int, error) {
	if err := r.check(ctx); err != nil {
		return 0, err
	}
	const batch = 1000
	total := 0
	for {
		tag, err := r.pool.Exec(ctx, r.q.sweep, backend.Now(r.cfg), batch)
		if err != nil {
			return total, r.wrapCtx(ctx, "sweep", err)
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < batch {
			return total, nil
		}
	}
}

func (r *Registry) sweeper(every time.Duration) {
	defer close(r.done)
	store.RunSweeper(r.stopCtx, every, r.cfg.Logger, "postgres", r.Sweep)
}

// Close stops the sweeper and closes the pool if the registry opened it. It
// is idempotent.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.stop()
		<-r.done
		if r.owned {
			r.pool.Close()
		}
	})
	return nil
}

// Pool returns the underlying pool.
func (r *Registry) Pool() *pgxpool.Pool { return r.pool }
