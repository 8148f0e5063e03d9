package main

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

// openRegistry opens the registry named by a -registry DSN: "memory",
// "sqlite:PATH", "postgres://..." (or "postgresql://..."), "redis://..." (or
// "rediss://..."). An unknown DSN is a usage error; a backend that cannot be
// reached is not.
func openRegistry(ctx context.Context, dsn string, cfg registry.Config) (registry.Registry, error) {
	switch {
	case dsn == "memory":
		return registry.NewMemory(cfg)
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, usagef("-registry sqlite:PATH needs a path")
		}
		return openSQLite(ctx, path, cfg)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, cfg)
	case strings.HasPrefix(dsn, "redis://"), strings.HasPrefix(dsn, "rediss://"):
		r, err := redis.New(ctx, redis.Config{URL: dsn, Config: cfg})
		if err != nil {
			return nil, fmt.Errorf("registry: %w", redactErr(err, dsn))
		}
		return r, nil
	}
	return nil, usagef("-registry must be memory, sqlite:PATH, postgres://... or redis://..., not %q", redactDSN(dsn))
}

// redactDSN drops anything that may be a password from a DSN for messages.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "@"); i >= 0 {
		if j := strings.Index(dsn, "://"); j >= 0 && j < i {
			return dsn[:j+3] + "…" + dsn[i:]
		}
		return "…" + dsn[i:]
	}
	return dsn
}

func openSQLite(ctx context.Context, path string, cfg registry.Config) (registry.Registry, error) {
	r, err := sqlite.New(ctx, sqlite.Config{Path: path, Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return r, nil
}

func openPostgres(ctx context.Context, dsn string, cfg registry.Config) (registry.Registry, error) {
	r, err := postgres.New(ctx, postgres.Config{URL: dsn, Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("registry: %w", redactErr(err, dsn))
	}
	return r, nil
}

// redactErr keeps a DSN's password out of an error message.
func redactErr(err error, dsn string) error {
	if msg := err.Error(); strings.Contains(msg, dsn) {
		return errors.New(strings.ReplaceAll(msg, dsn, redactDSN(dsn)))
	}
	return err
}
