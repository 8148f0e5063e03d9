package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
)

// countingRegistry counts Lookup calls and can make them hang: until
// released (ignoring the context, as a broken backend would) or until the
// context ends (as a hung server behind a well-behaved client).
type countingRegistry struct {
	registry.Registry
	lookups atomic.Int64

	mu      sync.Mutex
	hang    chan struct{} // non-nil: Lookup waits for it to close
	honour  bool          // while hanging, return when ctx ends
	entered chan struct{} // receives one value per hung Lookup
}

func newCountingRegistry(t *testing.T) *countingRegistry {
	return &countingRegistry{Registry: newMemoryRegistry(t), entered: make(chan struct{}, 64)}
}

// hangLookups makes Lookup hang; the returned function releases it.
func (r *countingRegistry) hangLookups(honourContext bool) (release func()) {
	ch := make(chan struct{})
	r.mu.Lock()
	r.hang, r.honour = ch, honourContext
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			r.hang = nil
			r.mu.Unlock()
			close(ch)
		})
	}
}

func (r *countingRegistry) Lookup(ctx context.Context, session string) ([]registry.Device, error) {
	r.lookups.Add(1)
	r.mu.Lock()
	hang, honour := r.hang, r.honour
	r.mu.Unlock()
	if hang != nil {
		r.entered <- struct{}{}
		if honour {
			select {
			case <-hang:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		} else {
			<-hang
		}
	}
	return r.Registry.Lookup(ctx, session)
}

// blockingSender holds every send until released, counting the sends
// under way.
type blockingSender struct {
	pushwire.Sender
	release chan struct{}
	started chan struct{}
}

func (s *blockingSender) Send(ctx context.Context, m pushwire.Message) error {
	s.started <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Sender.Send(ctx, m)
}

// recordCounter counts log records by message and level.
type recordCounter struct {
	mu sync.Mutex
	n  map[string]int // "LEVEL msg" → count
}

func (h *recordCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[r.Level.String()+" "+r.Message]++
	return nil
}
func (h *recordCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordCounter) WithGroup(string) slog.Handler      { return h }
func (h *recordCounter) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[key]
}

// clientHeader names the client address in these tests.
const clientHeader = "X-Test-Client"

func fromHeader(r *http.Request) string { return r.Header.Get(clientHeader) }

// callbackFrom posts ev signed with secret (or with the raw signature sig
// when secret is empty) as client.
func (e *env) callbackFrom(client string, ev map[string]string, secret, sig string) response {
	e.t.Helper()
	body, _ := json.Marshal(ev)
	if secret != "" {
		sig = hmacverify.Sign([]byte(secret), ev["eventId"], ev["sessionId"])
	}
	h := http.Header{clientHeader: {client}}
	if sig != "" {
		h.Set("X-hmac", sig)
	}
	return e.do(http.MethodPost, connector.BasePath+"/axp-callback/notifications", "application/json", body, h)
}

// TestMaxConcurrency: with MaxConcurrency callbacks in progress the next one
// is answered 503 with Retry-After at once (just over); one fewer in
// progress (just under) and exactly the limit are accepted; once they end,
// callbacks are accepted again.
func TestMaxConcurrency(t *testing.T) {
	const limit = 3
	bs := &blockingSender{release: make(chan struct{}), started: make(chan struct{}, 16)}
	e := newEnv(t, envOptions{
		tweak: func(c *connector.Config) { c.MaxConcurrency = limit },
		wrapFCM: func(s pushwire.Sender) pushwire.Sender {
			bs.Sender = s
			return bs
		},
	})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)

	answers := make(chan response, limit)
	for range limit {
		go func() { answers <- e.callback(event(session), e.secret) }()
		<-bs.started // callback i+1 is in progress: under the limit, then at it
	}
	for range 2 { // just over, twice: refused at once, nothing queued
		r := e.callback(event(session), e.secret)
		require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
		assert.Equal(t, "1", r.header.Get("Retry-After"))
	}
	// At the limit a callback is refused before anything of it is read: a
	// malformed one too gets 503, not 400.
	r := e.do(http.MethodPost, connector.BasePath+"/axp-callback/notifications", "application/json", []byte("{not json"), nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	close(bs.release)
	for range limit {
		r := <-answers
		assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
	}
	r = e.callback(event(session), e.secret)
	assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Len(t, waitFCM(t, e.fcm, limit+1), limit+1, "the refused ones were never sent")
}

// TestDefaultMaxConcurrency: the default limit on callbacks in progress
// grows with the processors the program may use.
func TestDefaultMaxConcurrency(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	one := connector.DefaultMaxConcurrency()
	runtime.GOMAXPROCS(2)
	two := connector.DefaultMaxConcurrency()
	assert.Equal(t, 64, one, "64 per processor")
	assert.Equal(t, 2*one, two)
}

// TestCallbackAnsweredWhateverHangs: a registry that ignores its context
// and hangs still lets the callback be answered, 500, by CallbackTimeout;
// the work keeps its place in MaxConcurrency until it ends, and nothing is
// left running afterwards (goleak in TestMain).
func TestCallbackAnsweredWhateverHangs(t *testing.T) {
	reg := newCountingRegistry(t)
	e := newEnv(t, envOptions{reg: reg, tweak: func(c *connector.Config) {
		c.CallbackTimeout = 200 * time.Millisecond
		c.MaxConcurrency = 1
	}})
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	release := reg.hangLookups(false)
	defer release()

	start := time.Now()
	r := e.callback(event(session), e.secret)
	took := time.Since(start)
	require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
	assert.Equal(t, "callback timed out", r.json(t)["message"])
	assert.Less(t, took, 200*time.Millisecond+2*time.Second, "answered at the callback deadline, not when the registry returned")

	r = e.callback(event(session), e.secret)
	assert.Equal(t, http.StatusServiceUnavailable, r.status, "the hung work still holds its place")
	release()
	require.Eventually(t, func() bool { return e.callback(event(session), e.secret).status == http.StatusOK },
		5*time.Second, 10*time.Millisecond)
}

// TestStoreTimeouts: a registry, a configuration store or a de-duplication
// store that hangs until its context ends is given up at its own timeout:
// the callback is answered long before CallbackTimeout (500 for the lookups;
// delivered for the de-duplication store, which fails open).
func TestStoreTimeouts(t *testing.T) {
	const short = 50 * time.Millisecond
	t.Run("registry", func(t *testing.T) {
		reg := newCountingRegistry(t)
		e := newEnv(t, envOptions{reg: reg, tweak: func(c *connector.Config) { c.LookupTimeout = short; c.CallbackTimeout = time.Minute }})
		defer reg.hangLookups(true)()
		r := e.callback(event(uuid.NewString()), e.secret)
		require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
		assert.Equal(t, "session lookup failed", r.json(t)["message"])
	})
	t.Run("configuration store", func(t *testing.T) {
		store := &hangingConfigStore{MemoryConfigStore: connector.NewMemoryConfigStore()}
		e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
			c.Configs = store
			c.ConfigTimeout = short
			c.CallbackTimeout = time.Minute
		}})
		session := uuid.NewString()
		require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
		store.hang.Store(true)
		r := e.callback(event(session), e.secret)
		require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
		assert.Equal(t, "configuration lookup failed", r.json(t)["message"])
	})
	t.Run("dedupe", func(t *testing.T) {
		// Fails open: the push goes, and the claim and the record that
		// timed out are logged.
		var logs bytes.Buffer
		var mu sync.Mutex
		store := &hangingDeduper{}
		e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
			c.Dedupe = store
			c.DedupeTimeout = short
			c.CallbackTimeout = time.Minute
			c.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
		}})
		session := uuid.NewString()
		require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
		r := e.callback(event(session), e.secret)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, 1, result(t, r).Delivered)
		assert.Len(t, e.fcm.Messages(), 1)
		assert.EqualValues(t, 1, store.claims.Load())
		assert.EqualValues(t, 1, store.records.Load())
		mu.Lock()
		defer mu.Unlock()
		assert.Contains(t, logs.String(), "de-duplication store failed; delivering anyway")
		assert.Contains(t, logs.String(), "recording the delivery outcomes failed")
		assert.Contains(t, logs.String(), context.DeadlineExceeded.Error())
	})
}

type hangingConfigStore struct {
	*connector.MemoryConfigStore
	hang atomic.Bool
}

func (s *hangingConfigStore) Get(ctx context.Context, id string) (connector.PushConfig, error) {
	if s.hang.Load() {
		<-ctx.Done()
		return connector.PushConfig{}, ctx.Err()
	}
	return s.MemoryConfigStore.Get(ctx, id)
}

// hangingDeduper is a de-duplication store whose calls hang until their
// context ends.
type hangingDeduper struct{ claims, records atomic.Int32 }

func (h *hangingDeduper) Claim(ctx context.Context, _ string, _ time.Duration) (connector.Claim, error) {
	h.claims.Add(1)
	<-ctx.Done()
	return connector.Claim{}, ctx.Err()
}

func (h *hangingDeduper) Record(ctx context.Context, _ string, _ map[string]connector.DeviceOutcome, _ time.Duration) error {
	h.records.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// TestMalformedSignatureCostsNoLookup: a missing X-hmac, or one that is not
// 64 hexadecimal digits (63 and 65 included), is refused 401 before any
// registry query; a well-formed wrong one costs one.
func TestMalformedSignatureCostsNoLookup(t *testing.T) {
	reg := newCountingRegistry(t)
	e := newEnv(t, envOptions{reg: reg})
	for _, sig := range []string{"", "00", strings.Repeat("a", 63), strings.Repeat("a", 65), strings.Repeat("zz", 32), strings.Repeat("ab", 31) + "a "} {
		r := e.callbackFrom("192.0.2.1", event(uuid.NewString()), "", sig)
		assert.Equal(t, http.StatusUnauthorized, r.status, "%q", sig)
	}
	assert.Zero(t, reg.lookups.Load())
	r := e.callbackFrom("192.0.2.1", event(uuid.NewString()), "", strings.Repeat("AB", 32))
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Equal(t, int64(1), reg.lookups.Load())
}

// TestBadSignatureLimit: an address may fail its signature Burst times (at
// the burst: 401 each, one lookup each); the next callback (just over) is
// refused 429 with Retry-After before any lookup, even a well-signed one;
// another address is not affected; a session seen recently is still
// checked from the cache, at no registry cost.
func TestBadSignatureLimit(t *testing.T) {
	const burst = 3
	reg := newCountingRegistry(t)
	h := &recordCounter{}
	e := newEnv(t, envOptions{reg: reg, tweak: func(c *connector.Config) {
		c.BadSignatureLimit = connector.RateLimit{Rate: 0.001, Burst: burst}
		c.ClientAddr = fromHeader
		c.Logger = slog.New(h)
	}})
	wrong := strings.Repeat("ab", 32)
	known := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), known).status)
	require.Equal(t, http.StatusOK, e.callbackFrom("192.0.2.9", event(known), e.secret, "").status)
	base := reg.lookups.Load()

	for i := range burst {
		r := e.callbackFrom("192.0.2.1", event(uuid.NewString()), "", wrong)
		require.Equal(t, http.StatusUnauthorized, r.status, "failure %d of %d", i+1, burst)
	}
	assert.Equal(t, base+burst, reg.lookups.Load())
	for _, secret := range []string{"", e.secret} {
		r := e.callbackFrom("192.0.2.1", event(uuid.NewString()), secret, wrong)
		require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r.body)
		assert.NotEmpty(t, r.header.Get("Retry-After"))
	}
	assert.Equal(t, base+burst, reg.lookups.Load(), "refused before any lookup")
	assert.Equal(t, 1, h.count("INFO callback refused: over a limit"), "logged, sampled")

	r := e.callbackFrom("192.0.2.1", event(known), "", wrong)
	assert.Equal(t, http.StatusUnauthorized, r.status, "a cached session is still checked, not 429")
	assert.Equal(t, base+burst, reg.lookups.Load(), "from the cache")
	r = e.callbackFrom("192.0.2.2", event(uuid.NewString()), "", wrong)
	assert.Equal(t, http.StatusUnauthorized, r.status, "another address has its own budget")
	r = e.callbackFrom("192.0.2.2", event(known), e.secret, "")
	assert.Equal(t, http.StatusOK, r.status)
}

// TestSessionCache: a bad signature for a session seen within
// SessionCacheTTL costs no registry query; after the TTL, or once a device
// of the session was registered here, the registry is asked again.
func TestSessionCache(t *testing.T) {
	reg := newCountingRegistry(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	e := newEnv(t, envOptions{reg: reg, tweak: func(c *connector.Config) {
		c.SessionCacheTTL = time.Second
		c.Now = func() time.Time { return time.Unix(0, now.Load()) }
		c.BadSignatureLimit = connector.RateLimit{Rate: -1}
	}})
	wrong := strings.Repeat("ab", 32)
	session := uuid.NewString()
	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	require.Equal(t, http.StatusOK, e.callback(event(session), e.secret).status)
	n := reg.lookups.Load()
	for range 5 {
		assert.Equal(t, http.StatusUnauthorized, e.callbackFrom("a", event(session), "", wrong).status)
	}
	assert.Equal(t, n, reg.lookups.Load(), "answered from the cache")
	// Signed by another configuration's secret: not the session's, refused
	// from the cache as well.
	other := "other-secret-0123456789"
	require.NoError(t, e.conn.AddConfig(context.Background(), connector.PushConfig{ID: uuid.NewString(), Secrets: [][]byte{[]byte(other)}}))
	assert.Equal(t, http.StatusUnauthorized, e.callbackFrom("a", event(session), other, "").status)
	assert.Equal(t, n, reg.lookups.Load(), "another configuration's secret: answered from the cache")

	now.Add(int64(time.Second - time.Nanosecond)) // just under the TTL
	assert.Equal(t, http.StatusUnauthorized, e.callbackFrom("a", event(session), "", wrong).status)
	assert.Equal(t, n, reg.lookups.Load())
	now.Add(int64(time.Nanosecond)) // at the TTL: expired
	assert.Equal(t, http.StatusUnauthorized, e.callbackFrom("a", event(session), "", wrong).status)
	assert.Equal(t, n+1, reg.lookups.Load())

	require.Equal(t, http.StatusOK, e.registerAndroid(fcmToken(), session).status)
	assert.Equal(t, http.StatusUnauthorized, e.callbackFrom("a", event(session), "", wrong).status)
	assert.Equal(t, n+2, reg.lookups.Load(), "a registration here drops the session's entry")
	r := e.callback(event(session), e.secret)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, 2, result(t, r).Delivered)
}

// TestBadSignatureLogsSampled: refused callbacks are logged at info level
// at most once per BadRequestLogInterval, every one at debug level.
func TestBadSignatureLogsSampled(t *testing.T) {
	h := &recordCounter{}
	e := newEnv(t, envOptions{tweak: func(c *connector.Config) {
		c.Logger = slog.New(h)
		c.BadSignatureLimit = connector.RateLimit{Rate: -1}
	}})
	const n = 50
	for range n {
		require.Equal(t, http.StatusUnauthorized, e.callback(event(uuid.NewString()), "wrong-secret-0123456789").status)
	}
	assert.Equal(t, 1, h.count("INFO callback refused: bad signature"))
	assert.Equal(t, n-1, h.count("DEBUG callback refused: bad signature"))
}

// TestSecretLengths: the admin token, the registration token and AXP
// secrets must be at least connector.MinSecretLen bytes: just under is
// refused, at the minimum accepted.
func TestSecretLengths(t *testing.T) {
	under, at := strings.Repeat("t", connector.MinSecretLen-1), strings.Repeat("t", connector.MinSecretLen)
	for _, tt := range []struct {
		name string
		cfg  func(c *connector.Config, tok string)
	}{
		{"admin token", func(c *connector.Config, tok string) { c.AdminToken = tok }},
		{"registration token", func(c *connector.Config, tok string) { c.RegistrationToken = tok }},
	} {
		cfg := connector.Config{Registry: newMemoryRegistry(t)}
		tt.cfg(&cfg, under)
		_, err := connector.New(cfg)
		assert.ErrorIs(t, err, pushwire.ErrConfiguration, tt.name)
		tt.cfg(&cfg, at)
		c, err := connector.New(cfg)
		require.NoError(t, err, tt.name)
		require.NoError(t, c.Close())
	}

	e := newEnv(t, envOptions{})
	err := e.conn.AddConfig(context.Background(), connector.PushConfig{ID: "short", Secrets: [][]byte{[]byte(under)}})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	assert.NoError(t, e.conn.AddConfig(context.Background(), connector.PushConfig{ID: "ok", Secrets: [][]byte{[]byte(at)}}))
	r := e.adminDo(http.MethodPost, "/configs", map[string]any{"secret": under})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, string(r.body), "shorter than 16 bytes")
	r = e.adminDo(http.MethodPut, "/configs/"+e.configID, map[string]any{"secrets": []string{at, under}})
	assert.Equal(t, http.StatusBadRequest, r.status)
	r = e.adminDo(http.MethodPost, "/configs", map[string]any{"secret": at})
	assert.Equal(t, http.StatusCreated, r.status, "%s", r.body)
}
