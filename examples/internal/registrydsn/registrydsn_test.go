package registrydsn_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/examples/internal/registrydsn"
	"github.com/pushwire/pushwire/registry"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	for _, dsn := range []string{"memory", "sqlite:" + filepath.Join(t.TempDir(), "r.db")} {
		r, err := registrydsn.Open(ctx, dsn, registry.Config{SweepInterval: -1})
		require.NoError(t, err, dsn)
		assert.NoError(t, r.Close())
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		dsn, want string
		bad       bool
	}{
		{"mysql://u:secret@h/db", "-registry must be", true},
		{"", "-registry must be", true},
		{"sqlite:", "needs a path", true},
		// A backend that cannot be reached is not a bad DSN, and its
		// error does not show the password.
		{"redis://u:secret@127.0.0.1:1/0", "registry:", false},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			r, err := registrydsn.Open(ctx, tc.dsn, registry.Config{})
			require.Error(t, err)
			assert.Nil(t, r)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "secret")
			assert.Equal(t, tc.bad, errors.Is(err, registrydsn.ErrBadDSN))
		})
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db": "postgres://…@h:5432/db",
		"u:pw@h":                    "…@h",
		"memory":                    "memory",
		"redis://h:6379/0":          "redis://h:6379/0",
	} {
		assert.Equal(t, want, registrydsn.Redact(in))
	}
}

// Check refuses what Open refuses for its form, and opens nothing.
func TestCheck(t *testing.T) {
	for _, dsn := range []string{"memory", "sqlite:x.db", "postgres://u:pw@h/db", "postgresql://h/db", "redis://h:6379/0", "rediss://h/0"} {
		assert.NoError(t, registrydsn.Check(dsn), dsn)
	}
	for _, dsn := range []string{"", "sqlite:", "mysql://u:secret@h/db", "Memory"} {
		err := registrydsn.Check(dsn)
		assert.ErrorIs(t, err, registrydsn.ErrBadDSN, dsn)
		if err != nil {
			assert.NotContains(t, err.Error(), "secret")
		}
	}
}
