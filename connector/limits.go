package connector

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushwire/pushwire/registry"
)

// Bounds applied by [New] to zero [Config] fields. A callback is answered
// within CallbackTimeout of its body having been read, whatever hangs; its
// registry, configuration-store and de-duplication calls each end sooner.
const (
	// DefaultCallbackTimeout bounds a callback from its body read to its
	// answer (lookups and delivery included). With the default body timeout
	// (10 s) it ends well within an http.Server WriteTimeout of 20 s.
	DefaultCallbackTimeout = 8 * time.Second
	// DefaultLookupTimeout bounds each registry call.
	DefaultLookupTimeout = 2 * time.Second
	// DefaultConfigTimeout bounds each configuration-store call.
	DefaultConfigTimeout = 2 * time.Second
	// DefaultDedupeTimeout bounds each de-duplication store call.
	DefaultDedupeTimeout = time.Second
	// DefaultSessionCacheTTL is how long the configurations of a session's
	// devices are remembered for checking signatures.
	DefaultSessionCacheTTL = time.Second
	// DefaultSessionCacheSize bounds the sessions remembered at once.
	DefaultSessionCacheSize = 10_000
	// DefaultBadSignatureRate is the number of callbacks with a bad or
	// missing signature a client address may send per second, sustained,
	// before its callbacks are refused (429) without any lookup.
	DefaultBadSignatureRate = 5
	// DefaultBadSignatureBurst is the bucket size of DefaultBadSignatureRate.
	DefaultBadSignatureBurst = 20
	// BadRequestLogInterval is how often, at most, a refused callback (bad
	// signature, malformed, over a limit) is logged at info level; the
	// others are logged at debug level and counted in the next info record.
	BadRequestLogInterval = 10 * time.Second
)

// MinSecretLen is the minimum length in bytes of an AXP secret, of
// [Config.AdminToken] and of [Config.RegistrationToken]: 16 bytes, 128 bits
// when chosen at random.
const MinSecretLen = 16

// DefaultMaxConcurrency returns the default limit on callbacks in progress:
// 64 per CPU the Go scheduler uses (GOMAXPROCS). A callback mostly waits on
// the registry and the provider, so several per CPU keep the CPUs busy; more
// would only queue for them and make every answer later.
func DefaultMaxConcurrency() int { return 64 * runtime.GOMAXPROCS(0) }

// inflight counts callbacks in progress against a limit. It is safe for
// concurrent use.
type inflight struct {
	max int64
	n   atomic.Int64
}

// full reports whether no callback can start now (a cheap early check).
func (f *inflight) full() bool { return f.max > 0 && f.n.Load() >= f.max }

// acquire starts a callback, or reports false when max are in progress.
func (f *inflight) acquire() bool {
	if f.max <= 0 {
		return true
	}
	if f.n.Add(1) > f.max {
		f.n.Add(-1)
		return false
	}
	return true
}

func (f *inflight) release() {
	if f.max > 0 {
		f.n.Add(-1)
	}
}

// writeOverloaded answers 503 with Retry-After: the connector is at its
// limit of callbacks in progress.
func writeOverloaded(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeMessage(w, http.StatusServiceUnavailable, "too many callbacks in progress; retry later")
}

// writeTooMany answers 429 with Retry-After.
func writeTooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	secs := int(wait.Seconds() + 0.999)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeMessage(w, http.StatusTooManyRequests, msg)
}

// The in-memory stores never wait on anything: their calls get no deadline
// of their own (which would only cost a timer per call).

// bounded returns r with a deadline on every call.
func bounded(r registry.Registry, timeout time.Duration) registry.Registry {
	if _, ok := r.(*registry.Memory); ok {
		return r
	}
	return boundedRegistry{Registry: r, timeout: timeout}
}

// boundedDedupe returns d with a deadline on every call.
func boundedDedupe(d Deduper, timeout time.Duration) Deduper {
	if _, ok := d.(*MemoryDeduper); ok {
		return d
	}
	return boundedDeduper{Deduper: d, timeout: timeout}
}

// configTimeout is the deadline of each configuration-store call; 0 (none)
// for the in-memory store.
func configTimeout(cfg Config) time.Duration {
	if _, ok := cfg.Configs.(*MemoryConfigStore); ok {
		return 0
	}
	return cfg.ConfigTimeout
}

// withTimeout is context.WithTimeout, or ctx itself when d is 0.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d == 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// boundedRegistry gives every call of a registry its own deadline.
type boundedRegistry struct {
	registry.Registry
	timeout time.Duration
}

func (b boundedRegistry) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.timeout)
}

func (b boundedRegistry) Register(ctx context.Context, d registry.Device) (registry.Device, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.Registry.Register(ctx, d)
}

func (b boundedRegistry) Lookup(ctx context.Context, session string) ([]registry.Device, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.Registry.Lookup(ctx, session)
}

func (b boundedRegistry) Get(ctx context.Context, k registry.Key) (registry.Device, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.Registry.Get(ctx, k)
}

func (b boundedRegistry) Unregister(ctx context.Context, k registry.Key) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.Registry.Unregister(ctx, k)
}

func (b boundedRegistry) RemoveSession(ctx context.Context, session string) (int, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.Registry.RemoveSession(ctx, session)
}

func (b boundedRegistry) Invalidate(ctx context.Context, k registry.Key, asOf time.Time) (bool, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.Registry.Invalidate(ctx, k, asOf)
}

// boundedDeduper gives every call of a Deduper its own deadline.
type boundedDeduper struct {
	Deduper
	timeout time.Duration
}

func (b boundedDeduper) Claim(ctx context.Context, event string, ttl time.Duration) (Claim, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.Deduper.Claim(ctx, event, ttl)
}

func (b boundedDeduper) Record(ctx context.Context, event string, outcomes map[string]DeviceOutcome, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.Deduper.Record(ctx, event, outcomes, ttl)
}

// sessionCache remembers for a short time the configurations of each
// session's devices, so that a callback with a bad signature for a session
// seen recently is refused without a registry query. Bounded: when full,
// expired entries go first, then arbitrary ones. Safe for concurrent use.
type sessionCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	m     map[string]sessionEntry
	swept time.Time
}

type sessionEntry struct {
	ids     []string // configuration ids; empty: no device with an existing configuration
	expires time.Time
}

func newSessionCache(ttl time.Duration, size int, now func() time.Time) *sessionCache {
	if ttl <= 0 || size <= 0 {
		return nil
	}
	return &sessionCache{ttl: ttl, max: size, now: now, m: make(map[string]sessionEntry)}
}

func (s *sessionCache) get(session string) ([]string, bool) {
	if s == nil {
		return nil, false
	}
	now := s.now()
	s.mu.Lock()
	e, ok := s.m[session]
	s.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.ids, true
}

func (s *sessionCache) put(session string, configs configSet) {
	if s == nil {
		return
	}
	now := s.now()
	s.mu.Lock()
	if e, ok := s.m[session]; ok && sameIDs(e.ids, configs) {
		s.m[session] = sessionEntry{ids: e.ids, expires: now.Add(s.ttl)}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	ids := make([]string, len(configs))
	for i, pc := range configs {
		ids[i] = pc.ID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[session]; !ok && len(s.m) >= s.max {
		if now.Sub(s.swept) >= s.ttl {
			s.swept = now
			for k, e := range s.m {
				if !now.Before(e.expires) {
					delete(s.m, k)
				}
			}
		}
		for k := range s.m {
			if len(s.m) < s.max-s.max/8 {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[session] = sessionEntry{ids: ids, expires: now.Add(s.ttl)}
}

// sameIDs reports whether ids are the ids of configs, in order.
func sameIDs(ids []string, configs configSet) bool {
	if len(ids) != len(configs) {
		return false
	}
	for i, pc := range configs {
		if ids[i] != pc.ID {
			return false
		}
	}
	return true
}

// drop forgets session (a device of it was registered or removed here).
func (s *sessionCache) drop(session string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	delete(s.m, session)
	s.mu.Unlock()
}

// logSampler logs one kind of refused request at info level at most once per
// interval, with the number of others since; each one is logged at debug
// level. Safe for concurrent use.
type logSampler struct {
	log      *slog.Logger
	msg      string
	interval time.Duration
	now      func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newLogSampler(log *slog.Logger, msg string, now func() time.Time) *logSampler {
	return &logSampler{log: log, msg: msg, interval: BadRequestLogInterval, now: now}
}

// record logs one refused request with attrs.
func (l *logSampler) record(ctx context.Context, attrs ...slog.Attr) {
	now := l.now()
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		l.mu.Unlock()
		if l.log.Enabled(ctx, slog.LevelDebug) {
			l.log.LogAttrs(ctx, slog.LevelDebug, l.msg, attrs...)
		}
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	attrs = append(attrs, slog.Int("suppressed", n), slog.Duration("logEvery", l.interval))
	l.log.LogAttrs(ctx, slog.LevelInfo, l.msg, attrs...)
}

// deliveryContext returns the context of a callback's delivery: it outlives
// the caller's cancellation (AXP will not send the callback again) and ends
// after DeliveryTimeout, or before the caller's deadline, less an eighth of
// CallbackTimeout kept for pruning and the answer, when that comes first.
func (c *Connector) deliveryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(c.cfg.DeliveryTimeout)
	if d, ok := ctx.Deadline(); ok {
		if d = d.Add(-c.cfg.CallbackTimeout / 8); d.Before(deadline) {
			deadline = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}
