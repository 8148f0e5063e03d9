package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/internal/backend"
	"github.com/pushwire/pushwire/registry/internal/store"
)

// DefaultKeyPrefix is the key prefix used when Config.KeyPrefix is empty.
const DefaultKeyPrefix = "pushwire:registry:"

// Config configures a Redis registry.
// It is a plain value, read once by New.
type Config struct {
	// Config holds the backend-independent settings (cap, TTL, clock, logger).
	// SweepInterval is unused: Redis expires keys natively.
	registry.Config
	// URL is a redis:// or rediss:// URL; used when Client is nil.
	URL string
	// Client is an existing client to use instead of URL. The registry does
	// not close it.
	Client goredis.UniversalClient
	// KeyPrefix is prepended to every key; default DefaultKeyPrefix. Use
	// distinct prefixes to keep several registries in one database.
	KeyPrefix string
}

// Registry is a registry.Registry stored in Redis. It is safe for concurrent
// use, also by several processes sharing one Redis.
type Registry struct {
	cfg    registry.Config
	client goredis.UniversalClient
	owned  bool
	prefix string
	closed atomic.Bool

	register, lookup, unregister, invalidate, removeSession *goredis.Script
}

var _ registry.Registry = (*Registry)(nil)

// New returns a registry configured by cfg. It pings the server and loads
// the scripts.
func New(ctx context.Context, cfg Config) (*Registry, error) {
	r := &Registry{
		cfg:           backend.Defaults(cfg.Config),
		client:        cfg.Client,
		prefix:        cfg.KeyPrefix,
		register:      goredis.NewScript(registerScript),
		lookup:        goredis.NewScript(lookupScript),
		unregister:    goredis.NewScript(unregisterScript),
		invalidate:    goredis.NewScript(invalidateScript),
		removeSession: goredis.NewScript(removeSessionScript),
	}
	if r.prefix == "" {
		r.prefix = DefaultKeyPrefix
	}
	if r.client == nil {
		if cfg.URL == "" {
			return nil, fmt.Errorf("registry/redis: %w: URL or Client is required", pushwire.ErrConfiguration)
		}
		opt, err := goredis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("registry/redis: %w: bad url: %v", pushwire.ErrConfiguration, redactURLError(err, cfg.URL))
		}
		// Honour the caller's deadlines and cancellation during a call, not
		// only before it (the URL cannot set this).
		opt.ContextTimeoutEnabled = true
		r.client = goredis.NewClient(opt)
		r.owned = true
	}
	for _, s := range []*goredis.Script{r.register, r.lookup, r.unregister, r.invalidate, r.removeSession} {
		if err := s.Load(ctx, r.client).Err(); err != nil {
			if r.owned {
				_ = r.client.Close()
			}
			return nil, fmt.Errorf("registry/redis: connect: %w", err)
		}
	}
	return r, nil
}

func redactURLError(err error, url string) string {
	return strings.ReplaceAll(err.Error(), url, "<url>")
}

// Client returns the underlying client.
func (r *Registry) Client() goredis.UniversalClient { return r.client }

// Prefix returns the key prefix.
func (r *Registry) Prefix() string { return r.prefix }

// bindingID returns the member name of k in session indexes; the binding's
// hash key is Prefix()+"b:"+bindingID(k). Fields are separated so that no two
// keys share an id: provider and environment come from fixed sets and the app
// id is length-prefixed.
func bindingID(k registry.Key) string {
	return string(k.Provider) + "|" + k.Environment + "|" + strconv.Itoa(len(k.AppID)) + ":" + k.AppID + "|" + k.Token
}

func (r *Registry) bindingKey(id string) string      { return r.prefix + "b:" + id }
func (r *Registry) sessionKey(session string) string { return r.prefix + "s:" + session }

func (r *Registry) check(ctx context.Context) error {
	if r.closed.Load() {
		return registry.ErrClosed
	}
	return ctx.Err()
}

func (r *Registry) wrap(ctx context.Context, op string, err error) error {
	if r.closed.Load() && errors.Is(err, goredis.ErrClosed) {
		return registry.ErrClosed
	}
	return backend.Wrap(ctx, "redis", op, err)
}

func micros(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func fromMicros(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q", s)
	}
	if n == 0 {
		return time.Time{}, nil
	}
	return time.UnixMicro(n).UTC(), nil
}

// Register implements registry.Registry. One EVALSHA.
func (r *Registry) Register(ctx context.Context, d registry.Device) (registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return registry.Device{}, err
	}
	now := backend.Now(r.cfg)
	d, err := backend.Prepare(r.cfg, d, now)
	if err != nil {
		return registry.Device{}, err
	}
	labels := ""
	if d.Labels != nil {
		b, err := json.Marshal(d.Labels)
		if err != nil {
			return registry.Device{}, r.wrap(ctx, "encode labels", err)
		}
		labels = string(b)
	}
	// The keys' native expiry is given as a lifetime, not an instant: Redis
	// judges PEXPIREAT by its own clock, and a server clock ahead of ours
	// would drop a binding before its expiry (at once for a short one). The
	// lifetime is rounded up to the next millisecond, so a key never dies
	// before its logical expiry.
	pexpire := "0"
	if !d.ExpiresAt.IsZero() {
		ms := (d.ExpiresAt.Sub(now).Microseconds() + 999) / 1000
		pexpire = strconv.FormatInt(max(ms, 1), 10)
	}
	keys := ""
	if d.PayloadKeys != nil {
		b, err := json.Marshal(d.PayloadKeys)
		if err != nil {
			return registry.Device{}, r.wrap(ctx, "encode payload keys", err)
		}
		keys = string(b)
	}
	id := bindingID(d.Key())
	created, err := r.register.Run(ctx, r.client,
		[]string{r.bindingKey(id), r.sessionKey(d.Session)},
		r.prefix, id, d.Session, micros(now), micros(d.ExpiresAt), pexpire,
		r.cfg.MaxDevicesPerSession, labels, string(d.Provider), d.AppID, d.Environment, d.Token, keys,
	).Text()
	if err != nil {
		return registry.Device{}, r.wrap(ctx, "register", err)
	}
	if d.CreatedAt, err = fromMicros(created); err != nil {
		return registry.Device{}, r.wrap(ctx, "register", err)
	}
	return d, nil
}

// deviceFields is the order of the hash fields the scripts return.
const nFields = 10 // s p a e t l c u x k

func parseDevice(v []interface{}) (registry.Device, error) {
	if len(v) != nFields {
		return registry.Device{}, fmt.Errorf("malformed binding (%d fields)", len(v))
	}
	str := func(i int) string {
		s, _ := v[i].(string)
		return s
	}
	d := registry.Device{
		Session:     str(0),
		Provider:    pushwire.Provider(str(1)),
		AppID:       str(2),
		Environment: str(3),
		Token:       str(4),
	}
	if l := str(5); l != "" {
		if err := json.Unmarshal([]byte(l), &d.Labels); err != nil {
			return registry.Device{}, fmt.Errorf("malformed labels: %w", err)
		}
	}
	var err error
	if d.CreatedAt, err = fromMicros(str(6)); err != nil {
		return registry.Device{}, err
	}
	if d.UpdatedAt, err = fromMicros(str(7)); err != nil {
		return registry.Device{}, err
	}
	if d.ExpiresAt, err = fromMicros(str(8)); err != nil {
		return registry.Device{}, err
	}
	if k := str(9); k != "" {
		d.PayloadKeys = new(pushwire.PayloadKeys)
		if err := json.Unmarshal([]byte(k), d.PayloadKeys); err != nil {
			// The error of encoding/json names no value.
			return registry.Device{}, fmt.Errorf("malformed payload keys: %w", err)
		}
	}
	return d, nil
}

// Lookup implements registry.Registry. One EVALSHA.
func (r *Registry) Lookup(ctx context.Context, session string) ([]registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	if err := registry.ValidateSession(session); err != nil {
		return nil, err
	}
	res, err := r.lookup.Run(ctx, r.client, []string{r.sessionKey(session)},
		r.prefix, session, micros(backend.Now(r.cfg))).Slice()
	if err != nil {
		return nil, r.wrap(ctx, "lookup", err)
	}
	out := make([]registry.Device, 0, len(res)/nFields)
	for i := 0; i+nFields <= len(res); i += nFields {
		d, err := parseDevice(res[i : i+nFields])
		if err != nil {
			return nil, r.wrap(ctx, "lookup", err)
		}
		out = append(out, d)
	}
	return out, nil
}

var hashFields = []string{"s", "p", "a", "e", "t", "l", "c", "u", "x", "k"}

// Get implements registry.Registry. One HMGET.
func (r *Registry) Get(ctx context.Context, k registry.Key) (registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return registry.Device{}, err
	}
	if err := registry.ValidateKey(k); err != nil {
		return registry.Device{}, err
	}
	v, err := r.client.HMGet(ctx, r.bindingKey(bindingID(k)), hashFields...).Result()
	if err != nil {
		return registry.Device{}, r.wrap(ctx, "get", err)
	}
	if v[0] == nil {
		return registry.Device{}, backend.NotFound(k)
	}
	d, err := parseDevice(v)
	if err != nil {
		return registry.Device{}, r.wrap(ctx, "get", err)
	}
	if !d.Live(backend.Now(r.cfg)) {
		return registry.Device{}, backend.NotFound(k)
	}
	return d, nil
}

// Unregister implements registry.Registry. One EVALSHA.
func (r *Registry) Unregister(ctx context.Context, k registry.Key) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	if err := registry.ValidateKey(k); err != nil {
		return err
	}
	id := bindingID(k)
	n, err := r.unregister.Run(ctx, r.client, []string{r.bindingKey(id)},
		r.prefix, id, micros(backend.Now(r.cfg))).Int()
	if err != nil {
		return r.wrap(ctx, "unregister", err)
	}
	if n == 0 {
		return backend.NotFound(k)
	}
	return nil
}

// RemoveSession implements registry.Registry. One EVALSHA.
func (r *Registry) RemoveSession(ctx context.Context, session string) (int, error) {
	if err := r.check(ctx); err != nil {
		return 0, err
	}
	if err := registry.ValidateSession(session); err != nil {
		return 0, err
	}
	n, err := r.removeSession.Run(ctx, r.client, []string{r.sessionKey(session)},
		r.prefix, session, micros(backend.Now(r.cfg))).Int()
	if err != nil {
		return 0, r.wrap(ctx, "remove session", err)
	}
	return n, nil
}

// Invalidate implements registry.Registry. One EVALSHA.
func (r *Registry) Invalidate(ctx context.Context, k registry.Key, asOf time.Time) (bool, error) {
	if err := r.check(ctx); err != nil {
		return false, err
	}
	if err := registry.ValidateKey(k); err != nil {
		return false, err
	}
	id := bindingID(k)
	as := ""
	if !asOf.IsZero() {
		as = micros(store.Truncate(asOf))
	}
	n, err := r.invalidate.Run(ctx, r.client, []string{r.bindingKey(id)},
		r.prefix, id, micros(backend.Now(r.cfg)), as).Int()
	if err != nil {
		return false, r.wrap(ctx, "invalidate", err)
	}
	return n == 1, nil
}

// Close closes the client if the registry opened it. It is idempotent.
func (r *Registry) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	if r.owned {
		return r.client.Close()
	}
	return nil
}

func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (r *Registry) scan(ctx context.Context, pattern string, fn func(key string) error) error {
	iter := r.client.Scan(ctx, 0, escapeGlob(r.prefix)+pattern, 512).Iterator()
	for iter.Next(ctx) {
		if err := fn(iter.Val()); err != nil {
			return err
		}
	}
	return iter.Err()
}

// All returns every live binding under the prefix, in no particular order.
// It scans the keyspace: meant for tests and tools, not for hot paths. It
// satisfies registrytest.Lister.
func (r *Registry) All(ctx context.Context) ([]registry.Device, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	now := backend.Now(r.cfg)
	var out []registry.Device
	err := r.scan(ctx, "b:*", func(key string) error {
		v, err := r.client.HMGet(ctx, key, hashFields...).Result()
		if err != nil || v[0] == nil {
			return err
		}
		d, err := parseDevice(v)
		if err != nil {
			return err
		}
		if d.Live(now) {
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, r.wrap(ctx, "all", err)
	}
	return out, nil
}

// CheckIntegrity scans the keys under the prefix and reports every index
// entry without its binding (or whose binding names another session), and
// every binding missing from its session's index. Expired bindings count as
// missing until an operation on their session cleans them up, so call it when
// nothing has expired. It satisfies registrytest.Checker.
func (r *Registry) CheckIntegrity(ctx context.Context) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	var errs []error
	err := r.scan(ctx, "s:*", func(key string) error {
		session := strings.TrimPrefix(key, r.prefix+"s:")
		ids, err := r.client.ZRange(ctx, key, 0, -1).Result()
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			errs = append(errs, fmt.Errorf("empty index for session %q", session))
		}
		for _, id := range ids {
			s, err := r.client.HGet(ctx, r.bindingKey(id), "s").Result()
			switch {
			case errors.Is(err, goredis.Nil):
				errs = append(errs, fmt.Errorf("index of session %q lists a binding that does not exist", session))
			case err != nil:
				return err
			case s != session:
				errs = append(errs, fmt.Errorf("index of session %q lists a binding of session %q", session, s))
			}
		}
		return nil
	})
	if err == nil {
		err = r.scan(ctx, "b:*", func(key string) error {
			id := strings.TrimPrefix(key, r.prefix+"b:")
			s, err := r.client.HGet(ctx, key, "s").Result()
			if err != nil {
				return err
			}
			_, err = r.client.ZScore(ctx, r.sessionKey(s), id).Result()
			if errors.Is(err, goredis.Nil) {
				errs = append(errs, fmt.Errorf("a binding of session %q is missing from its index", s))
				return nil
			}
			return err
		})
	}
	if err != nil {
		return r.wrap(ctx, "check", err)
	}
	return errors.Join(errs...)
}
