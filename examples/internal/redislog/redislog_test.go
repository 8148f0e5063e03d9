package redislog_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/examples/internal/redislog"
)

// A client that cannot connect logs its complaint through the routed
// logger, in the logger's format.
func TestRoute(t *testing.T) {
	var first, second bytes.Buffer
	redislog.Route(slog.New(slog.NewJSONHandler(&first, nil)))
	redislog.Route(slog.New(slog.NewJSONHandler(&second, nil))) // the latest wins
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100e6})
	defer rdb.Close()
	require.Error(t, rdb.Ping(context.Background()).Err())
	assert.Empty(t, first.String())
	assert.Contains(t, second.String(), `"msg":"redis client"`)
	assert.Contains(t, second.String(), `"detail":`)
}
