package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/internal/backend"
	"github.com/pushwire/pushwire/registry/internal/store"
)

// Config configures an SQLite registry.
// It is a plain value, read once by New.
type Config struct {
	// Config holds the backend-independent settings.
	registry.Config
	// Path is the database file; it is created if missing, with mode 0600
	// (its directory must exist). Required.
	Path string
	// BusyTimeout is how long a statement waits for a lock held by another
	// process. Zero means [DefaultBusyTimeout].
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool. Zero means [DefaultReadConns].
	ReadConns int
}

// Registry is a registry.Registry stored in SQLite. It is safe for
// concurrent use.
type Registry struct {
	cfg    registry.Config
	writer *sql.DB
	reader *sql.DB

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	stopCtx   context.Context
	stop      context.CancelFunc
	done      chan struct{}
}

var _ registry.Registry = (*Registry)(nil)

// Defaults applied to zero Config fields.
const (
	DefaultBusyTimeout = 5 * time.Second
	DefaultReadConns   = 4
)

// New opens the database described by cfg, creates or migrates its schema
// and starts the sweeper (unless cfg.SweepInterval is negative).
func New(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.Path == "" || cfg.Path == ":memory:" || strings.HasPrefix(cfg.Path, "file:") || strings.ContainsAny(cfg.Path, "?#") {
		return nil, fmt.Errorf("registry/sqlite: %w: Path must be a plain file path (use registry.NewMemory for an in-memory registry)", pushwire.ErrConfiguration)
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = DefaultBusyTimeout
	}
	if cfg.ReadConns <= 0 {
		cfg.ReadConns = DefaultReadConns
	}
	if err := createFile(cfg.Path); err != nil {
		return nil, err
	}
	base := cfg.Path + fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)",
		cfg.BusyTimeout.Milliseconds())
	writer, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("registry/sqlite: open: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	r := &Registry{cfg: backend.Defaults(cfg.Config), writer: writer, done: make(chan struct{})}
	// Create the file and schema through the writer before readers open it.
	if err := r.migrateRetrying(ctx, cfg.BusyTimeout); err != nil {
		_ = writer.Close()
		return nil, err
	}
	reader, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("registry/sqlite: open: %w", err)
	}
	reader.SetMaxOpenConns(cfg.ReadConns)
	reader.SetMaxIdleConns(cfg.ReadConns)
	r.reader = reader
	if err := reader.PingContext(ctx); err != nil {
		_ = reader.Close()
		_ = writer.Close()
		return nil, fmt.Errorf("registry/sqlite: open: %w", err)
	}
	r.stopCtx, r.stop = context.WithCancel(context.Background())
	if r.cfg.SweepInterval > 0 {
		go r.sweeper(r.cfg.SweepInterval)
	} else {
		close(r.done)
	}
	return r, nil
}

// createFile creates the database file with mode 0600 when it does not
// exist, so that the device tokens it will hold are readable by its owner
// only (SQLite gives the -wal and -shm files the database's mode). A
// missing directory is named in the error, rather than SQLite's "out of
// memory (14)".
func createFile(path string) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("registry/sqlite: %w: directory %s of %s does not exist; create it first", pushwire.ErrConfiguration, dir, path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, os.ErrExist):
		return nil
	default:
		return fmt.Errorf("registry/sqlite: create %s: %w", path, err)
	}
}

// SchemaVersion is the schema version (PRAGMA user_version) this package
// migrates to.
const SchemaVersion = 2

var migrations = []string{
	// 1: the bindings table. Times are Unix microseconds; expires_at NULL
	// means never.
	`CREATE TABLE devices (
		provider    TEXT    NOT NULL,
		app_id      TEXT    NOT NULL,
		environment TEXT    NOT NULL,
		token       TEXT    NOT NULL,
		session     TEXT    NOT NULL,
		labels      TEXT,
		created_at  INTEGER NOT NULL,
		updated_at  INTEGER NOT NULL,
		expires_at  INTEGER,
		PRIMARY KEY (provider, app_id, environment, token)
	);
	CREATE INDEX devices_session ON devices (session, updated_at DESC);
	CREATE INDEX devices_expires ON devices (expires_at) WHERE expires_at IS NOT NULL;`,
	// 2: the device's payload keys (RFC 8291), base64url; both NULL when it
	// registered none.
	`ALTER TABLE devices ADD COLUMN p256dh TEXT;
	ALTER TABLE devices ADD COLUMN auth TEXT;`,
}

// migrateRetrying runs migrate, retrying for up to busyTimeout while another
// process holds the database: SQLite answers SQLITE_BUSY at once, without
// waiting for the busy timeout, when two connections switch a new file to WAL
// or upgrade their locks at the same moment.
func (r *Registry) migrateRetrying(ctx context.Context, busyTimeout time.Duration) error {
	deadline := time.Now().Add(busyTimeout)
	delay := 5 * time.Millisecond
	for {
		err := r.migrate(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("registry/sqlite: migrate: %w", ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (or an extended form).
func isBusy(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code()&0xff == 5
	}
	return false
}

func (r *Registry) migrate(ctx context.Context) error {
	tx, err := r.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one migrator at a time
	if err != nil {
		return fmt.Errorf("registry/sqlite: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("registry/sqlite: read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("registry/sqlite: %w: schema version %d is newer than this code (%d)", pushwire.ErrConfiguration, version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("registry/sqlite: migration %d: %w", i+1, err)
		}
		r.cfg.Logger.Info("registry: applied sqlite migration", "version", i+1)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return fmt.Errorf("registry/sqlite: set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("registry/sqlite: migrate: %w", err)
	}
	var mode string
	if err := r.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("registry/sqlite: journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("registry/sqlite: journal mode is %q, want wal", mode)
	}
	return nil
}

func (r *Registry) check(ctx context.Context) error {
	if r.closed.Load() {
		return registry.ErrClosed
	}
	return ctx.Err()
}

func (r *Registry) wrap(ctx context.Context, op string, err error) error {
	if r.closed.Load() {
		return registry.ErrClosed
	}
	return backend.Wrap(ctx, "sqlite", op, err)
}

func micro(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicro(n int64) time.Time { return time.UnixMicro(n).UTC() }

const keyWhere = "provider = ? AND app_id = ? AND environment = ? AND token = ?"

func keyArgs(k registry.Key) []any {
	return []any{string(k.Provider), k.AppID, k.Environment, k.Token}
}

const (
	columns = "provider, app_id, environment, token, session, labels, created_at, updated_at, expires_at, p256dh, auth"
	upsert  = `INSERT INTO devices (` + columns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (provider, app_id, environment, token) DO UPDATE SET
			session = excluded.session,
			labels = excluded.labels,
			p256dh = excluded.p256dh,
			auth = excluded.auth,
			updated_at = excluded.updated_at,
			expires_at = excluded.expires_at,
			created_at = CASE WHEN devices.expires_at IS NOT NULL AND devices.expires_at <= excluded.updated_at
				THEN excluded.created_at ELSE devices.created_at END
		RETURNING created_at`
	evict = `DELETE FROM devices WHERE rowid IN (
		SELECT rowid FROM devices
		WHERE session = ? AND NOT (` + keyWhere + `) AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY updated_at DESC, rowid DESC
		LIMIT -1 OFFSET ?)`
	live = "(expires_at IS NULL OR expires_at > ?)"
)

// Register implements registry.Registry: an upsert and the cap eviction in
// one immediate transaction.
func (r *Registry) Register(ctx context.Context, d registry.Device) (registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return registry.Device{}, err
	}
	now := backend.Now(r.cfg)
	d, err := backend.Prepare(r.cfg, d, now)
	if err != nil {
		return registry.Device{}, err
	}
	var labels any
	if d.Labels != nil {
		b, err := json.Marshal(d.Labels)
		if err != nil {
			return registry.Device{}, r.wrap(ctx, "encode labels", err)
		}
		labels = string(b)
	}
	var p256dh, auth any
	if k := d.PayloadKeys; k != nil {
		p256dh, auth = k.P256DH, k.Auth
	}
	tx, err := r.writer.BeginTx(ctx, nil)
	if err != nil {
		return registry.Device{}, r.wrap(ctx, "register", err)
	}
	defer func() { _ = tx.Rollback() }()
	var created int64
	err = tx.QueryRowContext(ctx, upsert, string(d.Provider), d.AppID, d.Environment, d.Token, d.Session,
		labels, now.UnixMicro(), now.UnixMicro(), micro(d.ExpiresAt), p256dh, auth).Scan(&created)
	if err != nil {
		return registry.Device{}, r.wrap(ctx, "register", err)
	}
	if capN := r.cfg.MaxDevicesPerSession; capN > 0 {
		args := append([]any{d.Session}, keyArgs(d.Key())...)
		args = append(args, now.UnixMicro(), capN-1)
		if _, err := tx.ExecContext(ctx, evict, args...); err != nil {
			return registry.Device{}, r.wrap(ctx, "register", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return registry.Device{}, r.wrap(ctx, "register", err)
	}
	d.CreatedAt = fromMicro(created)
	return d, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanDevice(row scanner) (registry.Device, error) {
	var (
		d                registry.Device
		provider         string
		labels           sql.NullString
		created, updated int64
		expires          sql.NullInt64
		p256dh, auth     sql.NullString
	)
	if err := row.Scan(&provider, &d.AppID, &d.Environment, &d.Token, &d.Session, &labels, &created, &updated, &expires,
		&p256dh, &auth); err != nil {
		return registry.Device{}, err
	}
	if p256dh.Valid || auth.Valid {
		d.PayloadKeys = &pushwire.PayloadKeys{P256DH: p256dh.String, Auth: auth.String}
	}
	d.Provider = pushwire.Provider(provider)
	if labels.Valid {
		if err := json.Unmarshal([]byte(labels.String), &d.Labels); err != nil {
			return registry.Device{}, fmt.Errorf("malformed labels: %w", err)
		}
	}
	d.CreatedAt, d.UpdatedAt = fromMicro(created), fromMicro(updated)
	if expires.Valid {
		d.ExpiresAt = fromMicro(expires.Int64)
	}
	return d, nil
}

// Lookup implements registry.Registry.
func (r *Registry) Lookup(ctx context.Context, session string) ([]registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	if err := registry.ValidateSession(session); err != nil {
		return nil, err
	}
	rows, err := r.reader.QueryContext(ctx, "SELECT "+columns+" FROM devices WHERE session = ? AND "+live+
		" ORDER BY updated_at DESC, rowid DESC", session, backend.Now(r.cfg).UnixMicro())
	if err != nil {
		return nil, r.wrap(ctx, "lookup", err)
	}
	defer rows.Close()
	out := []registry.Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, r.wrap(ctx, "lookup", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, r.wrap(ctx, "lookup", err)
	}
	return out, nil
}

// Get implements registry.Registry.
func (r *Registry) Get(ctx context.Context, k registry.Key) (registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return registry.Device{}, err
	}
	if err := registry.ValidateKey(k); err != nil {
		return registry.Device{}, err
	}
	args := append(keyArgs(k), backend.Now(r.cfg).UnixMicro())
	d, err := scanDevice(r.reader.QueryRowContext(ctx, "SELECT "+columns+" FROM devices WHERE "+keyWhere+" AND "+live, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return registry.Device{}, backend.NotFound(k)
	}
	if err != nil {
		return registry.Device{}, r.wrap(ctx, "get", err)
	}
	return d, nil
}

// Unregister implements registry.Registry.
func (r *Registry) Unregister(ctx context.Context, k registry.Key) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	if err := registry.ValidateKey(k); err != nil {
		return err
	}
	args := append(keyArgs(k), backend.Now(r.cfg).UnixMicro())
	var wasLive bool
	err := r.writer.QueryRowContext(ctx, "DELETE FROM devices WHERE "+keyWhere+" RETURNING "+live, args...).Scan(&wasLive)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !wasLive) {
		return backend.NotFound(k)
	}
	if err != nil {
		return r.wrap(ctx, "unregister", err)
	}
	return nil
}

// RemoveSession implements registry.Registry.
func (r *Registry) RemoveSession(ctx context.Context, session string) (int, error) {
	if err := r.check(ctx); err != nil {
		return 0, err
	}
	if err := registry.ValidateSession(session); err != nil {
		return 0, err
	}
	rows, err := r.writer.QueryContext(ctx, "DELETE FROM devices WHERE session = ? RETURNING "+
		"(expires_at IS NULL OR expires_at > ?)", session, backend.Now(r.cfg).UnixMicro())
	if err != nil {
		return 0, r.wrap(ctx, "remove session", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var wasLive bool
		if err := rows.Scan(&wasLive); err != nil {
			return 0, r.wrap(ctx, "remove session", err)
		}
		if wasLive {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		return 0, r.wrap(ctx, "remove session", err)
	}
	return n, nil
}

// Invalidate implements registry.Registry.
func (r *Registry) Invalidate(ctx context.Context, k registry.Key, asOf time.Time) (bool, error) {
	if err := r.check(ctx); err != nil {
		return false, err
	}
	if err := registry.ValidateKey(k); err != nil {
		return false, err
	}
	args := append(keyArgs(k), backend.Now(r.cfg).UnixMicro(), micro(store.Truncate(asOf)), micro(store.Truncate(asOf)))
	res, err := r.writer.ExecContext(ctx, "DELETE FROM devices WHERE "+keyWhere+" AND "+live+
		" AND (? IS NULL OR updated_at <= ?)", args...)
	if err != nil {
		return false, r.wrap(ctx, "invalidate", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, r.wrap(ctx, "invalidate", err)
	}
	return n == 1, nil
}

// All returns every live binding, in no particular order. It reads the whole
// table: meant for tests and tools. It satisfies registrytest.Lister.
func (r *Registry) All(ctx context.Context) ([]registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	rows, err := r.reader.QueryContext(ctx, "SELECT "+columns+" FROM devices WHERE "+live, backend.Now(r.cfg).UnixMicro())
	if err != nil {
		return nil, r.wrap(ctx, "all", err)
	}
	defer rows.Close()
	var out []registry.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, r.wrap(ctx, "all", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, r.wrap(ctx, "all", err)
	}
	return out, nil
}

// CheckIntegrity runs PRAGMA quick_check, which verifies the table against
// its indexes. It satisfies registrytest.Checker.
func (r *Registry) CheckIntegrity(ctx context.Context) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	var res string
	if err := r.reader.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return r.wrap(ctx, "check", err)
	}
	if res != "ok" {
		return fmt.Errorf("registry/sqlite: quick_check: %s", res)
	}
	return nil
}

// Sweep deletes expired rows now, in batches, and reports how many it
// removed. The background sweeper calls it every Config.SweepInterval.
func (r *Registry) Sweep(ctx context.Context) (int, error) {
	if err := r.check(ctx); err != nil {
		return 0, err
	}
	const batch = 1000
	total := 0
	for {
		res, err := r.writer.ExecContext(ctx, "DELETE FROM devices WHERE rowid IN (SELECT rowid FROM devices WHERE expires_at <= ? LIMIT ?)",
			backend.Now(r.cfg).UnixMicro(), batch)
		if err != nil {
			return total, r.wrap(ctx, "sweep", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, r.wrap(ctx, "sweep", err)
		}
		total += int(n)
		if n < batch {
			return total, nil
		}
	}
}

func (r *Registry) sweeper(every time.Duration) {
	defer close(r.done)
	store.RunSweeper(r.stopCtx, every, r.cfg.Logger, "sqlite", r.Sweep)
}

// Close stops the sweeper and closes the database. It is idempotent.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.stop()
		<-r.done
		r.closeErr = errors.Join(r.reader.Close(), r.writer.Close())
	})
	return r.closeErr
}
