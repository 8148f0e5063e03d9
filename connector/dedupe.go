package connector

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
)

// DeviceOutcome is what became of the push of one event to one device, as a
// [Deduper] remembers it. Its values are short words, stored as they are.
type DeviceOutcome string

// Device outcomes. Only [DeviceRetryable] is pushed again when the event is
// sent again.
const (
	// DeviceDelivered: the provider accepted the push.
	DeviceDelivered DeviceOutcome = "delivered"
	// DeviceDead: the provider said the token is gone.
	DeviceDead DeviceOutcome = "dead"
	// DeviceRetryable: the push definitely did not reach the provider, or
	// the provider refused it for a temporary reason (outage, quota,
	// closed sender): a re-sent event pushes it again.
	DeviceRetryable DeviceOutcome = "retryable"
	// DevicePermanent: the provider refused the message or the
	// configuration; pushing again would fail the same way.
	DevicePermanent DeviceOutcome = "permanent"
	// DeviceUnknown: the push may have reached the device (the request was
	// written and the answer never came), or a delivery claimed it and
	// recorded nothing (it is under way, or its process died). Never pushed
	// again: that could push twice.
	DeviceUnknown DeviceOutcome = "unknown"
)

// Claim is the answer of [Deduper.Claim]. It is a plain value.
type Claim struct {
	// New reports that the event was not known (or its entry had expired):
	// the caller delivers it to every device and records the outcomes.
	New bool
	// Retry holds, for a known event, the keys of the devices whose
	// recorded outcome was [DeviceRetryable]: the claim moved them to
	// [DeviceUnknown], so no other claim gets them, and the caller pushes to
	// them and records their new outcomes.
	Retry []string
	// Outcomes holds, for a known event, the outcomes recorded before this
	// claim (empty, not nil, when none were; nil for a new event). Read-only.
	Outcomes map[string]DeviceOutcome
}

// Duplicate reports that there is nothing to push: the event is known and no
// device of it is to be pushed again.
func (c Claim) Duplicate() bool { return !c.New && len(c.Retry) == 0 }

// Deduper is the connector's memory of the events it handled (keyed by
// eventId and sessionId) and of each event's per-device outcomes, so that a
// callback sent again (a replay, a manual re-send, the same callback reaching
// two replicas) never pushes twice to a device that got it or may have got
// it, and pushes again only to the devices whose push definitely failed for a
// temporary reason.
//
// The protocol: [Deduper.Claim] takes the event; a new event is delivered to
// every device, a known one only to the devices Claim returns in
// [Claim.Retry]; [Deduper.Record] then stores the outcome of each device
// pushed. A device's key, the event's key and the outcomes are opaque to the
// store. Entries live ttl after their last write (Claim of a new event, a
// claim that returned devices, Record), by the store's clock, then the event
// is new again.
//
// There is no lease: a claim never blocks another. Devices that a delivery
// claimed count as [DeviceUnknown] until it records them, so a delivery that
// never records (its process died) leaves them unknown, never pushed twice;
// and a device missing from an event's record (it registered later) is not
// pushed by a re-send either.
//
// Implementations must be safe for concurrent use, and Claim atomic: of any
// number of concurrent claims of one event, through any number of handles on
// one backend, exactly one sees it New, and each retryable device goes to
// exactly one claim. [NewMemoryDeduper] is the default; registry/sqlite,
// registry/postgres and registry/redis keep one beside their registry
// (NewDeduper), shared by every replica; connectortest.RunDeduper is their
// conformance suite.
type Deduper interface {
	// Claim takes event for delivery; see [Claim]. A new entry lives ttl.
	Claim(ctx context.Context, event string, ttl time.Duration) (Claim, error)
	// Record stores the outcomes of the devices of event that a delivery
	// pushed, keeping those of other devices, and makes the entry live ttl
	// from now. An event without entry (it expired meanwhile) gets one.
	Record(ctx context.Context, event string, outcomes map[string]DeviceOutcome, ttl time.Duration) error
}

// CheckTTL returns an error matching pushwire.ErrConfiguration when ttl is
// not positive; [Deduper] implementations call it.
func CheckTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("connector: %w: de-duplication ttl must be positive, not %v", pushwire.ErrConfiguration, ttl)
	}
	return nil
}

// eventKey is the de-duplication key of an event: its ids, which cannot
// contain "/".
func eventKey(eventID, sessionID string) string { return eventID + "/" + sessionID }

// deviceKey is the key of a binding in a de-duplication entry: a digest of
// its registry key, so that entries hold no token and stay small.
func deviceKey(k registry.Key) string {
	var buf [320]byte
	b := buf[:0]
	for _, s := range [...]string{string(k.Provider), k.AppID, k.Environment, k.Token} {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// MemoryDeduperConfig configures a [MemoryDeduper]. It is a plain value.
type MemoryDeduperConfig struct {
	// Capacity bounds the events remembered; when full, the least recently
	// written one is forgotten (a re-send of it is then new). Zero means
	// [DefaultDedupeSize].
	Capacity int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// MemoryDeduper is a [Deduper] in this process's memory: it does not survive
// a restart and is not shared by replicas. It is safe for concurrent use.
type MemoryDeduper struct {
	capacity int
	now      func() time.Time

	mu     sync.Mutex
	events map[string]*list.Element // of *memEvent
	order  *list.List               // least recently written first
}

type memEvent struct {
	key      string
	expires  time.Time
	outcomes map[string]DeviceOutcome
}

var _ Deduper = (*MemoryDeduper)(nil)

// NewMemoryDeduper returns an empty MemoryDeduper. Errors match
// pushwire.ErrConfiguration.
func NewMemoryDeduper(cfg MemoryDeduperConfig) (*MemoryDeduper, error) {
	if cfg.Capacity < 0 {
		return nil, fmt.Errorf("connector: %w: negative de-duplication capacity", pushwire.ErrConfiguration)
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultDedupeSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryDeduper{capacity: cfg.Capacity, now: cfg.Now, events: make(map[string]*list.Element), order: list.New()}, nil
}

// Claim implements [Deduper].
func (m *MemoryDeduper) Claim(ctx context.Context, event string, ttl time.Duration) (Claim, error) {
	if err := CheckTTL(ttl); err != nil {
		return Claim{}, err
	}
	if err := ctx.Err(); err != nil {
		return Claim{}, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(event, now)
	if e == nil {
		m.write(event, now, now.Add(ttl), nil)
		return Claim{New: true}, nil
	}
	c := Claim{Outcomes: maps.Clone(e.outcomes)}
	if c.Outcomes == nil {
		c.Outcomes = map[string]DeviceOutcome{}
	}
	for k, o := range e.outcomes {
		if o == DeviceRetryable {
			c.Retry = append(c.Retry, k)
			e.outcomes[k] = DeviceUnknown
		}
	}
	if len(c.Retry) > 0 {
		m.write(event, now, now.Add(ttl), nil)
	}
	return c, nil
}

// Record implements [Deduper].
func (m *MemoryDeduper) Record(ctx context.Context, event string, outcomes map[string]DeviceOutcome, ttl time.Duration) error {
	if err := CheckTTL(ttl); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.write(event, now, now.Add(ttl), outcomes)
	return nil
}

// Len reports how many events are remembered, expired ones not yet dropped
// included.
func (m *MemoryDeduper) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events)
}

// live returns the unexpired entry of event, dropping expired entries from
// the front of the order.
func (m *MemoryDeduper) live(event string, now time.Time) *memEvent {
	for f := m.order.Front(); f != nil && !now.Before(f.Value.(*memEvent).expires); f = m.order.Front() {
		m.order.Remove(f)
		delete(m.events, f.Value.(*memEvent).key)
	}
	el, ok := m.events[event]
	if !ok {
		return nil
	}
	e := el.Value.(*memEvent)
	if !now.Before(e.expires) {
		m.order.Remove(el)
		delete(m.events, event)
		return nil
	}
	return e
}

// write creates or refreshes the entry of event, merging outcomes into it,
// and evicts the least recently written entries beyond the capacity.
func (m *MemoryDeduper) write(event string, now, expires time.Time, outcomes map[string]DeviceOutcome) {
	el, ok := m.events[event]
	var e *memEvent
	if ok && now.Before(el.Value.(*memEvent).expires) {
		e = el.Value.(*memEvent)
		m.order.MoveToBack(el)
	} else {
		if ok {
			m.order.Remove(el)
		}
		e = &memEvent{key: event}
		m.events[event] = m.order.PushBack(e)
	}
	e.expires = expires
	if len(outcomes) > 0 && e.outcomes == nil {
		e.outcomes = make(map[string]DeviceOutcome, len(outcomes))
	}
	maps.Copy(e.outcomes, outcomes)
	for len(m.events) > m.capacity {
		f := m.order.Front()
		m.order.Remove(f)
		delete(m.events, f.Value.(*memEvent).key)
	}
}
