// Package redislog sends the Redis client's own log lines through a
// program's slog logger, so that they follow its -log-format and level
// instead of going to stderr unformatted.
//
// The go-redis logger is process-wide: Route sets it once, to a value that
// forwards to the logger of the latest call (one per process, except in
// tests, which run the programs several times).
package redislog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

var (
	current atomic.Pointer[slog.Logger]
	once    sync.Once
)

// Route sends the Redis client's lines to log, as warnings with the line
// in the attribute "detail".
func Route(log *slog.Logger) {
	current.Store(log)
	once.Do(func() { goredis.SetLogger(forwarder{}) })
}

// forwarder is the go-redis logger that forwards to current.
type forwarder struct{}

func (forwarder) Printf(ctx context.Context, format string, v ...any) {
	if l := current.Load(); l != nil {
		l.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
	}
}
