package registry

import (
	"context"
	"log/slog"
	"time"
)

// RunSweeper calls sweep every interval until ctx is done, for backends
// without native expiry; run it in its own goroutine and cancel ctx to stop
// it. A failed sweep is logged as a warning (unless ctx has ended) and a sweep
// that removed bindings at debug level; backend names the backend in the
// warning. A nil log discards the messages.
func RunSweeper(ctx context.Context, every time.Duration, log *slog.Logger, backend string, sweep func(context.Context) (int, error)) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := sweep(ctx)
			if err != nil && ctx.Err() == nil {
				log.Warn("registry: "+backend+" sweep failed", "err", err)
			} else if n > 0 {
				log.Debug("registry: swept expired bindings", "count", n)
			}
		}
	}
}
