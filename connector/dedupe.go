package connector

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pushwire/pushwire"
)

// Deduper remembers which callbacks were already handled. Implementations
// must be safe for concurrent use; a shared implementation (Redis, SQL) lets
// several connector instances suppress each other's duplicates.
type Deduper interface {
	// FirstSeen records key and reports whether it was new.
	FirstSeen(ctx context.Context, key string) (bool, error)
	// Forget removes key, so that the next FirstSeen reports it as new.
	Forget(ctx context.Context, key string) error
}

// MemoryDeduper is an in-memory [Deduper] holding at most a fixed number of
// keys, each for at most a fixed time; when full, the oldest key goes. It is
// safe for concurrent use.
type MemoryDeduper struct {
	ttl  time.Duration
	now  func() time.Time
	mu   sync.Mutex
	seen map[string]seenEntry
	ring []ringSlot // insertion order, fixed capacity
	head int        // next slot to overwrite
	seq  uint64
}

type seenEntry struct {
	at  time.Time
	seq uint64
}

type ringSlot struct {
	key string
	seq uint64
}

// DeduperConfig configures a [MemoryDeduper]. It is a plain value.
type DeduperConfig struct {
	// Size is how many keys are kept at most. Zero means DefaultDedupeSize.
	Size int
	// TTL is how long a key is kept at most. Zero means DefaultDedupeTTL.
	TTL time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// NewMemoryDeduper returns an empty deduper.
func NewMemoryDeduper(cfg DeduperConfig) (*MemoryDeduper, error) {
	if cfg.Size < 0 || cfg.TTL < 0 {
		return nil, fmt.Errorf("connector: %w: negative deduper size or ttl", pushwire.ErrConfiguration)
	}
	if cfg.Size == 0 {
		cfg.Size = DefaultDedupeSize
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultDedupeTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryDeduper{ttl: cfg.TTL, now: cfg.Now, seen: make(map[string]seenEntry, min(cfg.Size, 1024)),
		ring: make([]ringSlot, cfg.Size)}, nil
}

// FirstSeen implements [Deduper].
func (d *MemoryDeduper) FirstSeen(_ context.Context, key string) (bool, error) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.seen[key]; ok && now.Sub(e.at) < d.ttl {
		return false, nil
	}
	if old := d.ring[d.head]; old.key != "" {
		// The slot's key may have been forgotten and seen again since; only
		// drop it if this slot is still its record.
		if e, ok := d.seen[old.key]; ok && e.seq == old.seq {
			delete(d.seen, old.key)
		}
	}
	d.seq++
	d.ring[d.head] = ringSlot{key: key, seq: d.seq}
	d.head = (d.head + 1) % len(d.ring)
	d.seen[key] = seenEntry{at: now, seq: d.seq}
	return true, nil
}

// Forget implements [Deduper].
func (d *MemoryDeduper) Forget(_ context.Context, key string) error {
	d.mu.Lock()
	delete(d.seen, key)
	d.mu.Unlock()
	return nil
}

// Len reports how many keys are remembered.
func (d *MemoryDeduper) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}
