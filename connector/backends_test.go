package connector_test

import (
	"testing"

	"github.com/pushwire/pushwire/registry"
)

// openSQLite and openPostgres are filled in when those backends exist.
func openSQLite(t *testing.T) registry.Registry {
	t.Skip("registry/sqlite is not available in this tree yet")
	return nil
}

func openPostgres(t *testing.T) registry.Registry {
	t.Skip("registry/postgres is not available in this tree yet")
	return nil
}
