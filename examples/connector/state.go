package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/connector/statekey"
	"github.com/pushwire/pushwire/examples/internal/envflag"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/postgres"
	"github.com/pushwire/pushwire/registry/redis"
	"github.com/pushwire/pushwire/registry/sqlite"
)

// openConfigStore returns the configuration store kept in the same backend
// as reg; nil (the connector's memory store) for the memory registry.
func openConfigStore(ctx context.Context, reg registry.Registry) (connector.ConfigStore, error) {
	var (
		s   connector.ConfigStore
		err error
	)
	switch r := reg.(type) {
	case *sqlite.Registry:
		s, err = sqlite.NewConfigStore(ctx, r)
	case *postgres.Registry:
		s, err = postgres.NewConfigStore(ctx, r)
	case *redis.Registry:
		s, err = redis.NewConfigStore(ctx, r)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("configuration store: %w", err)
	}
	return s, nil
}

// openDeduper returns the de-duplication store kept in the same backend as
// reg; nil (the connector's memory store) for the memory registry.
func openDeduper(ctx context.Context, reg registry.Registry) (connector.Deduper, error) {
	var (
		d   connector.Deduper
		err error
	)
	switch r := reg.(type) {
	case *sqlite.Registry:
		d, err = sqlite.NewDeduper(ctx, r)
	case *postgres.Registry:
		d, err = postgres.NewDeduper(ctx, r)
	case *redis.Registry:
		d, err = redis.NewDeduper(ctx, r)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("de-duplication store: %w", err)
	}
	return d, nil
}

// persistent reports whether a -registry DSN keeps state across restarts.
func persistent(dsn string) bool { return dsn != "memory" }

// stateKeyHelp says how to create a state key file.
const stateKeyHelp = "create one with `connector -generate-state-key FILE` (mode 0600; give every replica the same file) and pass -state-key-file FILE"

// loadStateKeys returns the keyring of -state-key-file. Without the flag:
// memory keeps configurations in clear in memory; sqlite:PATH uses
// PATH.key, generating it (0600) on first start; PostgreSQL and Redis refuse
// to start, since replicas must share the key.
func loadStateKeys(o *options, log *slog.Logger) (*statekey.Keyring, error) {
	if o.stateKeyFile != "" {
		kr, err := statekey.Load(o.stateKeyFile)
		if err != nil {
			return nil, envflag.Usagef("-state-key-file: %v", err)
		}
		return kr, nil
	}
	switch {
	case o.registryDSN == "memory":
		return nil, nil
	case strings.HasPrefix(o.registryDSN, "sqlite:"):
		path := strings.TrimPrefix(o.registryDSN, "sqlite:") + ".key"
		kr, err := statekey.Load(path)
		if errors.Is(err, os.ErrNotExist) {
			if kr, err = statekey.Generate(path); err != nil {
				return nil, fmt.Errorf("state key: %w", err)
			}
			abs, _ := filepath.Abs(path)
			log.Warn("generated a state key file beside the database; keep it with the database and back it up: without it the stored secrets cannot be read",
				"stateKeyFile", abs)
			return kr, nil
		}
		if err != nil {
			return nil, envflag.Usagef("state key %s (beside the sqlite database): %v", path, err)
		}
		log.Info("using the state key file beside the database", "stateKeyFile", path)
		return kr, nil
	}
	scheme, _, _ := strings.Cut(o.registryDSN, "://")
	switch scheme {
	case "postgres", "postgresql", "redis", "rediss":
	default:
		return nil, nil // not a DSN: openRegistry says so
	}
	if o.demo {
		line, err := statekey.NewKeyLine()
		if err != nil {
			return nil, err
		}
		log.Warn("demo: sealing configurations under a throw-away state key; they cannot be read after this run")
		return statekey.Parse([]byte(line))
	}
	return nil, envflag.Usagef("-state-key-file (or %s) is required with -registry %s: the configurations' secrets are stored sealed under it; %s",
		envName("state-key-file"), scheme+"://...", stateKeyHelp)
}

// generateStateKey creates the key file path with one new key, or appends a
// new key (which then seals) to an existing one; then run -reseal-state.
func generateStateKey(path string, stdout io.Writer) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if _, err := statekey.Generate(path); err != nil {
			return envflag.Usagef("-generate-state-key: %v", err)
		}
		fmt.Fprintf(stdout, "created state key file %s (mode 0600)\n", path)
		return nil
	}
	if _, err := statekey.Load(path); err != nil { // the permission check, and a parsable file
		return envflag.Usagef("-generate-state-key: %v", err)
	}
	line, err := statekey.NewKeyLine()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return envflag.Usagef("-generate-state-key: %v", err)
	}
	data, _ := os.ReadFile(path)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		line = "\n" + line
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("-generate-state-key: %w", err)
	}
	fmt.Fprintf(stdout, "appended a new state key to %s; it seals from now on. Give the file to every replica, then run connector -reseal-state with the same -registry and -state-key-file; the older lines may be removed afterwards\n", path)
	return nil
}
