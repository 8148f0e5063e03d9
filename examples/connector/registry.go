package main

import (
	"context"
	"errors"

	"github.com/pushwire/pushwire/examples/internal/envflag"
	"github.com/pushwire/pushwire/examples/internal/registrydsn"
	"github.com/pushwire/pushwire/registry"
)

// openRegistry opens the registry named by a -registry DSN (see package
// registrydsn). An unknown DSN is a usage error; a backend that cannot be
// reached is not.
func openRegistry(ctx context.Context, dsn string, cfg registry.Config) (registry.Registry, error) {
	r, err := registrydsn.Open(ctx, dsn, cfg)
	if errors.Is(err, registrydsn.ErrBadDSN) {
		return nil, envflag.Usagef("%v", err)
	}
	return r, err
}

// checkDSN reports a -registry value openRegistry would refuse, before
// anything starts.
func checkDSN(dsn string) error {
	if err := registrydsn.Check(dsn); err != nil {
		return envflag.Usagef("%v", err)
	}
	return nil
}
