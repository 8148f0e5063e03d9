package backend

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
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
