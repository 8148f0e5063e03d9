package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry/internal/store"
)

// Memory is the in-process [Registry]: bindings live in maps guarded by a
// read-write mutex, so Lookup and Get are O(1) and Lookup of a small session
// allocates only its result. A background sweeper deletes expired bindings
// every Config.SweepInterval; Close stops it. Nothing survives the process.
//
// Memory is safe for concurrent use.
type Memory struct {
	cfg Config

	mu sync.RWMutex
	// byToken indexes bindings by token alone (a token almost always has
	// one key); a binding whose token is already taken by another key goes
	// to overflow instead. This halves the size of the main index.
	byToken  map[string]*memEntry
	overflow map[memKey]*memEntry
	sessions map[string]*memSession
	apps     map[memApp]*memApp // interned app identities, bounded
	// keys holds the payload keys of the bindings that have them, beside
	// the entries, which most bindings would otherwise pay for.
	keys   map[*memEntry]*pushwire.PayloadKeys
	count  int
	closed bool

	closeOnce sync.Once
	stop      context.CancelFunc
	done      chan struct{}
}

// memKey is the compact form of Key used as the map key.
type memKey struct {
	token string
	appID string
	prov  uint8
	env   uint8
}

// memApp is the part of a key shared by many bindings; it is interned.
type memApp struct {
	appID string
	prov  uint8
	env   uint8
}

// memEntry is one binding; times are Unix microseconds, expires 0 = never.
// It is 64 bytes.
type memEntry struct {
	sess    *memSession
	app     *memApp
	token   string
	labels  map[string]string
	created int64
	updated int64
	expires int64
}

func (e *memEntry) key() memKey {
	return memKey{token: e.token, appID: e.app.appID, prov: e.app.prov, env: e.app.env}
}

func (e *memEntry) is(k memKey) bool {
	return e.token == k.token && e.app.appID == k.appID && e.app.prov == k.prov && e.app.env == k.env
}

// memSession lists a session's bindings, most recently updated first. The
// first three live inline.
type memSession struct {
	name  string
	devs  []*memEntry
	small [3]*memEntry
}

const maxInternedApps = 1024

var _ Registry = (*Memory)(nil)

// NewMemory returns an empty in-memory registry and starts its sweeper
// (unless cfg.SweepInterval is negative).
func NewMemory(cfg Config) (*Memory, error) {
	cfg = cfg.withDefaults()
	m := &Memory{
		cfg:      cfg,
		byToken:  make(map[string]*memEntry),
		overflow: make(map[memKey]*memEntry),
		sessions: make(map[string]*memSession),
		apps:     make(map[memApp]*memApp),
		keys:     make(map[*memEntry]*pushwire.PayloadKeys),
		done:     make(chan struct{}),
	}
	ctx, stop := context.WithCancel(context.Background())
	m.stop = stop
	if cfg.SweepInterval > 0 {
		go m.sweeper(ctx, cfg.SweepInterval)
	} else {
		close(m.done)
	}
	return m, nil
}

func provCode(p pushwire.Provider) uint8 {
	switch p {
	case pushwire.ProviderFCM:
		return 1
	case pushwire.ProviderAPNs:
		return 2
	case pushwire.ProviderLPNS:
		return 3
	}
	return 0
}

var provNames = [...]pushwire.Provider{"", pushwire.ProviderFCM, pushwire.ProviderAPNs, pushwire.ProviderLPNS}

func envCode(e string) uint8 {
	switch e {
	case EnvironmentProduction:
		return 1
	case EnvironmentSandbox:
		return 2
	}
	return 0
}

var envNames = [...]string{"", EnvironmentProduction, EnvironmentSandbox}

func toMemKey(k Key) memKey {
	return memKey{token: k.Token, appID: k.AppID, prov: provCode(k.Provider), env: envCode(k.Environment)}
}

func microTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func timeMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func (e *memEntry) live(now int64) bool { return e.expires == 0 || now < e.expires }

// device returns the binding e as a Device the caller owns.
func (m *Memory) device(e *memEntry) Device {
	var keys *pushwire.PayloadKeys
	if len(m.keys) > 0 {
		if k := m.keys[e]; k != nil {
			c := *k
			keys = &c
		}
	}
	return Device{
		Session:     e.sess.name,
		Provider:    provNames[e.app.prov],
		Token:       e.token,
		AppID:       e.app.appID,
		Environment: envNames[e.app.env],
		Labels:      store.CloneLabels(e.labels),
		CreatedAt:   microTime(e.created),
		UpdatedAt:   microTime(e.updated),
		ExpiresAt:   microTime(e.expires),
		PayloadKeys: keys,
	}
}

func (m *Memory) now() int64 { return m.cfg.clock().UnixMicro() }

// Register implements [Registry].
func (m *Memory) Register(ctx context.Context, d Device) (Device, error) {
	if err := ctx.Err(); err != nil {
		return Device{}, err
	}
	nowT := m.cfg.clock()
	d, err := m.cfg.prepare(d, nowT)
	if err != nil {
		return Device{}, err
	}
	now := nowT.UnixMicro()
	k := toMemKey(d.Key())

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Device{}, ErrClosed
	}
	e := m.find(k)
	if e != nil && !e.live(now) {
		m.removeLocked(e)
		e = nil
	}
	if e == nil {
		e = &memEntry{token: d.Token, app: m.intern(memApp{appID: d.AppID, prov: k.prov, env: k.env}), created: now}
		m.index(e)
	} else if e.sess.name != d.Session {
		m.detachLocked(e)
	}
	e.labels = d.Labels
	if d.PayloadKeys != nil {
		m.keys[e] = d.PayloadKeys // a copy of the caller's, never shared
	} else if len(m.keys) > 0 {
		delete(m.keys, e)
	}
	e.updated = now
	e.expires = timeMicro(d.ExpiresAt)
	s := e.sess
	if s == nil {
		s = m.sessions[d.Session]
		if s == nil {
			s = &memSession{name: d.Session}
			s.devs = s.small[:0]
			m.sessions[d.Session] = s
		}
		e.sess = s
		s.devs = append(s.devs, e)
	}
	s.reposition(e)
	if max := m.cfg.MaxDevicesPerSession; max > 0 && len(s.devs) > max {
		m.evictLocked(s, e, now, max)
	}
	return m.device(e), nil
}

// reposition moves e (already in s.devs), just registered, to keep s.devs
// ordered by updated, newest first; among equal times it goes first, as the
// most recent registration (what the SQL backends' order gives).
func (s *memSession) reposition(e *memEntry) {
	i := s.index(e)
	// Move towards the front while the predecessor is not newer.
	for i > 0 && s.devs[i-1].updated <= e.updated {
		s.devs[i] = s.devs[i-1]
		i--
	}
	// Move towards the back while the successor is newer.
	for i < len(s.devs)-1 && s.devs[i+1].updated > e.updated {
		s.devs[i] = s.devs[i+1]
		i++
	}
	s.devs[i] = e
}

func (s *memSession) index(e *memEntry) int {
	for i, x := range s.devs {
		if x == e {
			return i
		}
	}
	panic("registry: memory index corrupt")
}

// evictLocked drops expired bindings of s, then the least recently updated
// ones other than keep until s holds at most max.
func (m *Memory) evictLocked(s *memSession, keep *memEntry, now int64, max int) {
	for i := len(s.devs) - 1; i >= 0 && len(s.devs) > max; i-- {
		if x := s.devs[i]; !x.live(now) {
			m.removeLocked(x)
		}
	}
	for i := len(s.devs) - 1; i >= 0 && len(s.devs) > max; i-- {
		if x := s.devs[i]; x != keep {
			m.removeLocked(x)
		}
	}
}

// detachLocked removes e from its session, dropping an emptied session.
func (m *Memory) detachLocked(e *memEntry) {
	s := e.sess
	i := s.index(e)
	copy(s.devs[i:], s.devs[i+1:])
	s.devs[len(s.devs)-1] = nil
	s.devs = s.devs[:len(s.devs)-1]
	if len(s.devs) == 0 {
		delete(m.sessions, s.name)
	}
	e.sess = nil
}

// removeLocked deletes e entirely.
func (m *Memory) removeLocked(e *memEntry) {
	m.detachLocked(e)
	m.unindex(e)
}

// find returns the entry for k, live or not.
func (m *Memory) find(k memKey) *memEntry {
	if e := m.byToken[k.token]; e != nil && e.is(k) {
		return e
	}
	if len(m.overflow) == 0 {
		return nil
	}
	return m.overflow[k]
}

// index adds e, which find does not know yet.
func (m *Memory) index(e *memEntry) {
	if _, taken := m.byToken[e.token]; taken {
		m.overflow[e.key()] = e
	} else {
		m.byToken[e.token] = e
	}
	m.count++
}

func (m *Memory) unindex(e *memEntry) {
	if m.byToken[e.token] == e {
		delete(m.byToken, e.token)
	} else {
		delete(m.overflow, e.key())
	}
	if len(m.keys) > 0 {
		delete(m.keys, e)
	}
	m.count--
}

// each calls fn for every entry until it returns false.
func (m *Memory) each(fn func(*memEntry) bool) {
	for _, e := range m.byToken {
		if !fn(e) {
			return
		}
	}
	for _, e := range m.overflow {
		if !fn(e) {
			return
		}
	}
}

func (m *Memory) intern(a memApp) *memApp {
	if p, ok := m.apps[a]; ok {
		return p
	}
	p := &a
	if len(m.apps) < maxInternedApps {
		m.apps[a] = p
	}
	return p
}

// Lookup implements [Registry].
func (m *Memory) Lookup(ctx context.Context, session string) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ValidateSession(session); err != nil {
		return nil, err
	}
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	s := m.sessions[session]
	if s == nil {
		return []Device{}, nil
	}
	out := make([]Device, 0, len(s.devs))
	for _, e := range s.devs {
		if e.live(now) {
			out = append(out, m.device(e))
		}
	}
	return out, nil
}

// Get implements [Registry].
func (m *Memory) Get(ctx context.Context, k Key) (Device, error) {
	if err := ctx.Err(); err != nil {
		return Device{}, err
	}
	if err := ValidateKey(k); err != nil {
		return Device{}, err
	}
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Device{}, ErrClosed
	}
	e := m.find(toMemKey(k))
	if e == nil || !e.live(now) {
		return Device{}, notFound(k)
	}
	return m.device(e), nil
}

// Unregister implements [Registry].
func (m *Memory) Unregister(ctx context.Context, k Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateKey(k); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	e := m.find(toMemKey(k))
	if e == nil {
		return notFound(k)
	}
	m.removeLocked(e)
	if !e.live(now) {
		return notFound(k)
	}
	return nil
}

// RemoveSession implements [Registry].
func (m *Memory) RemoveSession(ctx context.Context, session string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := ValidateSession(session); err != nil {
		return 0, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	s := m.sessions[session]
	if s == nil {
		return 0, nil
	}
	n := 0
	for _, e := range s.devs {
		if e.live(now) {
			n++
		}
		e.sess = nil
		m.unindex(e)
	}
	delete(m.sessions, session)
	return n, nil
}

// Invalidate implements [Registry].
func (m *Memory) Invalidate(ctx context.Context, k Key, asOf time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := ValidateKey(k); err != nil {
		return false, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	e := m.find(toMemKey(k))
	if e == nil {
		return false, nil
	}
	if !e.live(now) {
		m.removeLocked(e)
		return false, nil
	}
	if !asOf.IsZero() && e.updated > store.Truncate(asOf).UnixMicro() {
		return false, nil
	}
	m.removeLocked(e)
	return true, nil
}

// Len returns the number of stored bindings, including expired ones the
// sweeper has not removed yet.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.count
}

// All returns every live binding, in no particular order. It is meant for
// tests and tools (it satisfies registrytest.Lister).
func (m *Memory) All(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := make([]Device, 0, m.count)
	m.each(func(e *memEntry) bool {
		if e.live(now) {
			out = append(out, m.device(e))
		}
		return true
	})
	return out, nil
}

// CheckIntegrity verifies that the key index and the session index agree:
// every binding is listed in exactly its own session, every session entry has
// its binding, no session is empty and sessions are ordered. It satisfies
// registrytest.Checker.
func (m *Memory) CheckIntegrity(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var errs []error
	listed := 0
	for name, s := range m.sessions {
		if s.name != name {
			errs = append(errs, fmt.Errorf("session %q stored under %q", s.name, name))
		}
		if len(s.devs) == 0 {
			errs = append(errs, fmt.Errorf("session %q is empty", name))
		}
		for i, e := range s.devs {
			listed++
			if e.sess != s {
				errs = append(errs, fmt.Errorf("session %q lists a binding of another session", name))
			}
			if m.find(e.key()) != e {
				errs = append(errs, fmt.Errorf("session %q lists a binding missing from the key index", name))
			}
			if i > 0 && s.devs[i-1].updated < e.updated {
				errs = append(errs, fmt.Errorf("session %q is out of order", name))
			}
		}
	}
	indexed := 0
	m.each(func(e *memEntry) bool {
		indexed++
		if e.sess == nil {
			errs = append(errs, errors.New("indexed binding without a session"))
		}
		return true
	})
	for e := range m.keys {
		if m.find(e.key()) != e {
			errs = append(errs, errors.New("payload keys of a binding missing from the key index"))
		}
	}
	if indexed != m.count || listed != m.count {
		errs = append(errs, fmt.Errorf("key index has %d bindings (count %d), sessions list %d", indexed, m.count, listed))
	}
	return errors.Join(errs...)
}

// Sweep deletes expired bindings now and reports how many it removed. The
// background sweeper calls it every Config.SweepInterval.
func (m *Memory) Sweep() int {
	const batch = 4096
	total := 0
	for {
		now := m.now()
		var expired []*memEntry
		m.mu.RLock()
		m.each(func(e *memEntry) bool {
			if !e.live(now) {
				expired = append(expired, e)
			}
			return len(expired) < batch
		})
		m.mu.RUnlock()
		if len(expired) == 0 {
			return total
		}
		m.mu.Lock()
		for _, e := range expired {
			// Re-check: the binding may have been re-registered or removed.
			if e.sess != nil && !e.live(now) {
				m.removeLocked(e)
				total++
			}
		}
		m.mu.Unlock()
		if len(expired) < batch {
			return total
		}
	}
}

func (m *Memory) sweeper(ctx context.Context, every time.Duration) {
	defer close(m.done)
	store.RunSweeper(ctx, every, m.cfg.Logger, "memory", func(context.Context) (int, error) { return m.Sweep(), nil })
}

// Close stops the sweeper and makes further operations return ErrClosed.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.stop()
		<-m.done
	})
	return nil
}
