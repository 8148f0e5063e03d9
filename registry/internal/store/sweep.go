// Package store holds the storage helpers every registry backend shares,
// the memory backend of package registry included; it imports nothing of
// the registry, so that package registry itself can use it.
package store

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/seal"
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

// Truncate converts t to UTC at microsecond precision without a monotonic
// reading, the form in which registries store times. The zero time stays zero.
func Truncate(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond).Round(0)
}

// CloneLabels returns a copy of m, or nil when m is empty.
func CloneLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// CanonicalKeys returns a copy of k in canonical form (base64url without
// padding, as seal.Keys.Encode writes it), or nil for nil keys. Keys that
// do not parse (which validation refuses first) are returned as a plain
// copy.
func CanonicalKeys(k *pushwire.PayloadKeys) *pushwire.PayloadKeys {
	if k == nil {
		return nil
	}
	out := *k
	if keys, err := seal.ParseKeys(k.P256DH, k.Auth); err == nil {
		out.P256DH, out.Auth = keys.Encode()
	}
	return &out
}
