package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector/statekey"
)

// ConfigWatcher is implemented by a [ConfigStore] shared by several
// processes that can announce changes (PostgreSQL LISTEN/NOTIFY, Redis
// pub/sub). A connector over such a store caches the configurations it
// reads and drops an entry when Watch reports it changed; over any other
// store it reads the store on every use.
type ConfigWatcher interface {
	// Watch calls changed with the id of every configuration added,
	// replaced or deleted, by any process, until ctx ends or the watch
	// fails; it returns then (ctx.Err() when ctx ended). changed("") means
	// that any configuration may have changed: Watch calls it once it is
	// listening, before any id, and again after it missed notifications
	// (a reconnection). changed is called from one goroutine at a time and
	// must not block.
	Watch(ctx context.Context, changed func(id string)) error
}

// Watch retry bounds.
const (
	watchMinBackoff = 100 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
)

// configState is the connector's view of its ConfigStore: it seals the
// secret material before the store sees it, opens it again on the way out,
// and caches opened configurations while the store's change notifications
// keep the cache right.
type configState struct {
	store   ConfigStore
	keys    *statekey.Keyring // nil: stored in clear
	log     *slog.Logger
	timeout time.Duration // of each store call; 0: none

	mu       sync.Mutex
	watching bool                  // cache in use: the watch is listening
	gen      uint64                // bumped by every invalidation
	cache    map[string]PushConfig // opened configurations
	list     []PushConfig          // every configuration, opened; valid when listed
	listed   bool

	stop context.CancelFunc
	done chan struct{}
}

func newConfigState(store ConfigStore, keys *statekey.Keyring, log *slog.Logger, timeout time.Duration) *configState {
	s := &configState{store: store, keys: keys, log: log, timeout: timeout, cache: make(map[string]PushConfig), done: make(chan struct{})}
	w, ok := store.(ConfigWatcher)
	if !ok {
		close(s.done)
		s.stop = func() {}
		return s
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.watch(ctx, w)
	return s
}

// watch runs w.Watch until ctx ends, restarting it after a failure. While it
// is not listening the cache is off.
func (s *configState) watch(ctx context.Context, w ConfigWatcher) {
	defer close(s.done)
	backoff := watchMinBackoff
	for {
		start := time.Now()
		err := w.Watch(ctx, s.changed)
		s.mu.Lock()
		s.watching = false
		s.gen++
		clear(s.cache)
		s.list, s.listed = nil, false
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > watchMaxBackoff {
			backoff = watchMinBackoff
		}
		s.log.Warn("configuration change feed failed; reading the store directly until it is back", "err", err, "retryIn", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, watchMaxBackoff)
	}
}

// changed is the watch callback.
func (s *configState) changed(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.list, s.listed = nil, false
	if id == "" {
		clear(s.cache)
		s.watching = true
		return
	}
	delete(s.cache, id)
}

func (s *configState) invalidate(id string) { // a change made here
	s.mu.Lock()
	s.gen++
	delete(s.cache, id)
	s.list, s.listed = nil, false
	s.mu.Unlock()
}

func (s *configState) close() {
	s.stop()
	<-s.done
}

// Get returns configuration id, opened.
func (s *configState) Get(ctx context.Context, id string) (PushConfig, error) {
	s.mu.Lock()
	if s.watching {
		if pc, ok := s.cache[id]; ok {
			s.mu.Unlock()
			return pc, nil
		}
	}
	gen := s.gen
	s.mu.Unlock()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	raw, err := s.store.Get(ctx, id)
	if err != nil {
		return PushConfig{}, err
	}
	pc, err := openConfig(s.keys, raw)
	if err != nil {
		return PushConfig{}, err
	}
	s.mu.Lock()
	if s.watching && s.gen == gen { // no change announced meanwhile
		s.cache[id] = pc
	}
	s.mu.Unlock()
	return pc, nil
}

// List returns every configuration, opened. A configuration sealed under a
// key the connector does not have is left out (and logged), so that one
// such configuration does not stop the others from being served. The
// result is cached as Get's is; it is read-only.
func (s *configState) List(ctx context.Context) ([]PushConfig, error) {
	s.mu.Lock()
	if s.watching && s.listed {
		list := s.list
		s.mu.Unlock()
		return list, nil
	}
	gen := s.gen
	s.mu.Unlock()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	list, err := s.store.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PushConfig, 0, len(list))
	for _, raw := range list {
		pc, err := openConfig(s.keys, raw)
		if errors.Is(err, ErrSealed) {
			s.log.Warn("configuration left out: sealed under a state key this connector does not have", "configId", raw.ID)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, pc)
	}
	s.mu.Lock()
	if s.watching && s.gen == gen {
		s.list, s.listed = out, true
	}
	s.mu.Unlock()
	return out, nil
}

// Put seals pc and stores it.
func (s *configState) Put(ctx context.Context, pc PushConfig) error {
	sealed, err := sealConfig(s.keys, pc)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	err = s.store.Put(ctx, sealed)
	s.invalidate(pc.ID)
	return err
}

// Delete removes configuration id.
func (s *configState) Delete(ctx context.Context, id string) (bool, error) {
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	ok, err := s.store.Delete(ctx, id)
	s.invalidate(id)
	return ok, err
}

// secretMaterial is what a sealed configuration holds in PushConfig.Sealed.
type secretMaterial struct {
	FCM     json.RawMessage `json:"fcm,omitempty"`
	Secrets [][]byte        `json:"secrets,omitempty"`
	APNs    *APNsCredential `json:"apns,omitempty"`
}

// sealAD is the additional data binding a sealed value to its configuration.
func sealAD(id string) []byte { return []byte("pushwire connector configuration\x00" + id) }

// ErrSealed is returned when the connector reads a configuration sealed
// under a state key it does not have (no [Config.StateKeys], or a key file
// without the key that sealed it).
var ErrSealed = errors.New("connector: configuration is sealed under a state key the connector does not have")

// sealConfig returns pc with its secret material sealed by keys (pc itself
// when keys is nil).
func sealConfig(keys *statekey.Keyring, pc PushConfig) (PushConfig, error) {
	if keys == nil {
		return pc, nil
	}
	plain, err := json.Marshal(secretMaterial{FCM: pc.FCMServiceAccount, Secrets: pc.Secrets, APNs: pc.APNs})
	if err != nil {
		return PushConfig{}, fmt.Errorf("connector: seal configuration: %w", err)
	}
	sealed, err := keys.Seal(plain, sealAD(pc.ID))
	clear(plain)
	if err != nil {
		return PushConfig{}, fmt.Errorf("connector: seal configuration: %w", err)
	}
	return PushConfig{ID: pc.ID, Sealed: sealed, CreatedAt: pc.CreatedAt, UpdatedAt: pc.UpdatedAt}, nil
}

// openConfig returns pc with its sealed material opened (pc itself when it is
// not sealed: stored before a state key was configured).
func openConfig(keys *statekey.Keyring, pc PushConfig) (PushConfig, error) {
	if len(pc.Sealed) == 0 {
		return pc, nil
	}
	if keys == nil {
		return PushConfig{}, fmt.Errorf("%w (configuration %s; configure the state key file)", ErrSealed, truncate(pc.ID, 64))
	}
	plain, err := keys.Open(pc.Sealed, sealAD(pc.ID))
	if errors.Is(err, statekey.ErrUnknownKey) {
		return PushConfig{}, fmt.Errorf("%w (configuration %s: %w)", ErrSealed, truncate(pc.ID, 64), err)
	}
	if err != nil {
		return PushConfig{}, fmt.Errorf("connector: open configuration %s: %w", truncate(pc.ID, 64), err)
	}
	var m secretMaterial
	err = json.Unmarshal(plain, &m)
	clear(plain)
	if err != nil {
		return PushConfig{}, fmt.Errorf("connector: open configuration %s: malformed content", truncate(pc.ID, 64))
	}
	return PushConfig{ID: pc.ID, FCMServiceAccount: m.FCM, Secrets: m.Secrets, APNs: m.APNs,
		CreatedAt: pc.CreatedAt, UpdatedAt: pc.UpdatedAt}, nil
}

// ResealConfigs seals every configuration of store under the sealing key of
// keys (the key file's last line): configurations stored in clear and those
// sealed under an older key. It returns how many it rewrote. Run it after
// appending a key to the key file; once it returned, older keys may be
// removed from the file. The configurations' times are kept; connectors
// watching the store see the change. Run it while no connector changes
// configurations through an older key file, or run it again afterwards.
func ResealConfigs(ctx context.Context, store ConfigStore, keys *statekey.Keyring) (int, error) {
	if keys == nil {
		return 0, fmt.Errorf("connector: %w: reseal needs a state key", pushwire.ErrConfiguration)
	}
	list, err := store.List(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, raw := range list {
		if len(raw.Sealed) > 0 && keys.Current(raw.Sealed) {
			continue
		}
		pc, err := openConfig(keys, raw)
		if err != nil {
			return n, err
		}
		sealed, err := sealConfig(keys, pc)
		if err != nil {
			return n, err
		}
		if err := store.Put(ctx, sealed); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
