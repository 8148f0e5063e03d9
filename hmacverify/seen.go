package hmacverify

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// SeenSet remembers event ids: the replay protection of a [Verifier] and the
// duplicate suppression of a connector.
//
// Seen atomically checks and records id: it reports true when id was recorded
// before and has not expired, and otherwise records id until the given time
// and reports false. Forget removes id, so that the next Seen records it
// anew: a caller that recorded an event and then failed to handle it lets a
// re-sent copy through. Forgetting an unknown id is not an error.
//
// Implementations must be safe for concurrent use; a shared store (Redis SET
// NX with an expiry and DEL, for example) lets several instances share one
// set.
type SeenSet interface {
	Seen(ctx context.Context, id string, until time.Time) (already bool, err error)
	Forget(ctx context.Context, id string) error
}

// DefaultSeenCapacity is the capacity of a [MemorySeenSet] created with a zero
// capacity.
const DefaultSeenCapacity = 65536

// MemorySeenConfig configures a [MemorySeenSet]; NewMemorySeenSet reads it once.
type MemorySeenConfig struct {
	// Capacity bounds the number of remembered ids (default
	// DefaultSeenCapacity). When the set is full, the id closest to expiry is
	// forgotten first.
	Capacity int
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// MemorySeenSet is the in-memory [SeenSet]. It stores a SHA-256 digest of each
// id (never the id itself), so its memory is bounded by its capacity whatever
// the length of the ids: about 100 bytes per entry. It is safe for concurrent
// use.
type MemorySeenSet struct {
	mu       sync.Mutex
	now      func() time.Time
	capacity int
	index    map[[sha256.Size]byte]uint64 // live id → seq of its heap entry
	byExpiry expiryHeap
	seq      uint64
	evicted  uint64
}

// NewMemorySeenSet returns an empty in-memory seen-set. A negative capacity
// is an error matching [ErrInvalidConfig].
func NewMemorySeenSet(cfg MemorySeenConfig) (*MemorySeenSet, error) {
	if cfg.Capacity < 0 {
		return nil, fmt.Errorf("%w: negative seen-set capacity", ErrInvalidConfig)
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultSeenCapacity
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &MemorySeenSet{now: cfg.Now, capacity: cfg.Capacity, index: make(map[[sha256.Size]byte]uint64)}
	s.byExpiry.index = s.index
	return s, nil
}

// Seen implements [SeenSet]. It never fails.
func (s *MemorySeenSet) Seen(_ context.Context, id string, until time.Time) (bool, error) {
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UnixNano()
	for len(s.byExpiry.entries) > 0 && s.byExpiry.entries[0].until <= now {
		heap.Pop(&s.byExpiry)
	}
	if _, ok := s.index[key]; ok {
		return true, nil
	}
	if !until.After(time.Unix(0, now)) {
		return false, nil // already expired: nothing to remember
	}
	if len(s.byExpiry.entries) >= s.capacity {
		// The entry closest to expiry goes; it may be a forgotten one.
		if e := heap.Pop(&s.byExpiry).(seenEntry); e.live {
			s.evicted++
		}
	}
	s.seq++
	heap.Push(&s.byExpiry, seenEntry{key: key, until: until.UnixNano(), seq: s.seq})
	return false, nil
}

// Forget implements [SeenSet]. It never fails. The forgotten id's slot is
// reused once it expires or the set is full.
func (s *MemorySeenSet) Forget(_ context.Context, id string) error {
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	delete(s.index, key)
	s.mu.Unlock()
	return nil
}

// Len returns the number of remembered ids, expired ones included until the
// next call to Seen drops them, forgotten ones not.
func (s *MemorySeenSet) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.index)
}

// Evicted returns how many live ids were forgotten early because the set was
// full. A growing count means the capacity is too small for the traffic.
func (s *MemorySeenSet) Evicted() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evicted
}

type seenEntry struct {
	key   [sha256.Size]byte
	until int64
	seq   uint64 // tells this entry from a later one of the same id
	live  bool   // set by Pop: the entry was its id's record, not forgotten
}

// expiryHeap is a min-heap of entries by expiry that keeps index, the live
// ids, up to date: an entry popped removes its id unless the id was
// forgotten (and perhaps recorded again) since.
type expiryHeap struct {
	entries []seenEntry
	index   map[[sha256.Size]byte]uint64
}

func (h *expiryHeap) Len() int           { return len(h.entries) }
func (h *expiryHeap) Less(i, j int) bool { return h.entries[i].until < h.entries[j].until }
func (h *expiryHeap) Swap(i, j int)      { h.entries[i], h.entries[j] = h.entries[j], h.entries[i] }
func (h *expiryHeap) Push(x any) {
	e := x.(seenEntry)
	h.index[e.key] = e.seq
	h.entries = append(h.entries, e)
}
func (h *expiryHeap) Pop() any {
	last := h.entries[len(h.entries)-1]
	h.entries = h.entries[:len(h.entries)-1]
	if seq, ok := h.index[last.key]; ok && seq == last.seq {
		delete(h.index, last.key)
		last.live = true
	}
	return last
}
