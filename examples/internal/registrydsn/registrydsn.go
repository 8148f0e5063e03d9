// Package registrydsn opens the device registry named by the -registry flag
// that the example programs share: "memory", "sqlite:PATH",
// "postgres://..." (or "postgresql://..."), "redis://..." (or "rediss://...").
package registrydsn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/postgres"
	"github.com/pushwire/pushwire/registry/redis"
	"github.com/pushwire/pushwire/registry/sqlite"
)

// Usage is the flag's usage text.
const Usage = "device registry `DSN`: memory, sqlite:PATH, postgres://..., redis://..."

// ErrBadDSN is matched by the error of a DSN that names no backend: a usage
// error, as opposed to a backend that cannot be reached.
var ErrBadDSN = errors.New("bad registry dsn")

// dsnError is a bad DSN; its message names the flag.
type dsnError struct{ msg string }

func (e *dsnError) Error() string        { return e.msg }
func (e *dsnError) Is(target error) bool { return target == ErrBadDSN }

// Check reports, without opening anything, an error matching ErrBadDSN
// when Open would refuse dsn for its form.
func Check(dsn string) error {
	switch {
	case dsn == "memory", strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"),
		strings.HasPrefix(dsn, "redis://"), strings.HasPrefix(dsn, "rediss://"):
		return nil
	case strings.HasPrefix(dsn, "sqlite:"):
		if dsn == "sqlite:" {
			return &dsnError{"-registry sqlite:PATH needs a path"}
		}
		return nil
	}
	return &dsnError{fmt.Sprintf("-registry must be memory, sqlite:PATH, postgres://... or redis://..., not %q", Redact(dsn))}
}

// Open opens the registry dsn names, configured with cfg. An error matching
// ErrBadDSN means the DSN itself is wrong; any other error comes from the
// backend, with a password in the DSN left out of its message.
func Open(ctx context.Context, dsn string, cfg registry.Config) (registry.Registry, error) {
	var (
		r   registry.Registry
		err error
	)
	switch {
	case dsn == "memory":
		return registry.NewMemory(cfg)
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, &dsnError{"-registry sqlite:PATH needs a path"}
		}
		r, err = sqlite.New(ctx, sqlite.Config{Path: path, Config: cfg})
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		r, err = postgres.New(ctx, postgres.Config{URL: dsn, Config: cfg})
	case strings.HasPrefix(dsn, "redis://"), strings.HasPrefix(dsn, "rediss://"):
		r, err = redis.New(ctx, redis.Config{URL: dsn, Config: cfg})
	default:
		return nil, &dsnError{fmt.Sprintf("-registry must be memory, sqlite:PATH, postgres://... or redis://..., not %q", Redact(dsn))}
	}
	if err != nil {
		return nil, fmt.Errorf("registry: %w", redactErr(err, dsn))
	}
	return r, nil
}

// Redact drops anything that may be a password from a DSN, for messages.
func Redact(dsn string) string {
	if i := strings.Index(dsn, "@"); i >= 0 {
		if j := strings.Index(dsn, "://"); j >= 0 && j < i {
			return dsn[:j+3] + "…" + dsn[i:]
		}
		return "…" + dsn[i:]
	}
	return dsn
}

// redactErr keeps a DSN's password out of an error message.
func redactErr(err error, dsn string) error {
	if msg := err.Error(); strings.Contains(msg, dsn) {
		return errors.New(strings.ReplaceAll(msg, dsn, Redact(dsn)))
	}
	return err
}
