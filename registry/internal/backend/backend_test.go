package backend

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
)

func TestWrap(t *testing.T) {
	err := Wrap(context.Background(), "sqlite", "lookup", io.ErrUnexpectedEOF)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.EqualError(t, err, "registry/sqlite: lookup: unexpected EOF")

	// A done context's error is wrapped even when the driver said otherwise.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Wrap(ctx, "redis", "get", errors.New("i/o timeout"))
	assert.ErrorIs(t, err, context.Canceled)
	assert.EqualError(t, err, "registry/redis: get: context canceled (i/o timeout)")

	// Not twice when the driver already reports it.
	err = Wrap(ctx, "postgres", "register", context.Canceled)
	assert.EqualError(t, err, "registry/postgres: register: context canceled")
}

func TestDefaults(t *testing.T) {
	c := Defaults(registry.Config{})
	assert.Equal(t, 16, c.MaxDevicesPerSession)
	assert.Equal(t, 30*24*time.Hour, c.TTL)
	assert.Equal(t, time.Minute, c.SweepInterval)
	assert.NotNil(t, c.Now)
	assert.NotNil(t, c.Logger)
	c = Defaults(registry.Config{MaxDevicesPerSession: -1, TTL: -1, SweepInterval: -1})
	assert.Equal(t, -1, c.MaxDevicesPerSession)
	assert.Equal(t, time.Duration(-1), c.TTL)
}

// NotFound matches ErrNotFound and names the binding without its whole
// token.
func TestNotFound(t *testing.T) {
	tok := strings.Repeat("f", 64)
	err := NotFound(registry.Key{Provider: pushwire.ProviderAPNs, Token: tok})
	assert.ErrorIs(t, err, registry.ErrNotFound)
	assert.Contains(t, err.Error(), string(pushwire.ProviderAPNs))
	assert.Contains(t, err.Error(), pushwire.Redact(tok))
	assert.NotContains(t, err.Error(), tok)
}
