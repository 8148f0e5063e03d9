package connector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector/statekey"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
)

// BasePath is the path prefix of every route of the sample connector's API.
const BasePath = "/custom-notification-connector"

// Defaults applied by [New].
const (
	DefaultDeliveryTimeout = 5 * time.Second
	DefaultRateLimit       = 20 // requests per second per client address
	DefaultRateBurst       = 40 // bucket size per client address
	DefaultRateClients     = 10_000
	DefaultDedupeSize      = 100_000 // capacity of the default MemoryDeduper
	DefaultDedupeTTL       = 24 * time.Hour
)

// Label keys under which a registration's fields are stored in
// [registry.Device.Labels].
const (
	LabelConfigID = "configId"
	LabelType     = "type"
)

// Config configures a [Connector]. Only Registry is required. New copies
// it; changing a Config afterwards has no effect on the connector.
type Config struct {
	// Registry stores the devices of each session. Required. The connector
	// does not close it.
	Registry registry.Registry

	// Configs stores the push configurations (configId → FCM service
	// account, AXP secrets, APNs credential). Nil means a new
	// [MemoryConfigStore]. A store that implements [ConfigWatcher] lets the
	// connector cache configurations; see [ConfigWatcher].
	Configs ConfigStore
	// StateKeys, when set, seals the secret material of every configuration
	// (AXP secrets, FCM service account, APNs key) with AES-256-GCM before
	// Configs sees it, so a dump of the store holds none of it in clear; see
	// [PushConfig.Sealed] and [ResealConfigs]. Nil stores them as they are.
	StateKeys *statekey.Keyring

	// NewFCMSender builds the FCM sender of a push configuration from its
	// service-account JSON. Nil means [fcm.New] with FCMBaseURL and
	// HTTPClient, without retries of its own (Retry applies). A returned
	// sender that implements io.Closer is closed when the configuration
	// changes or the connector closes. It should not retry on its own (fcm:
	// RetryPolicy MaxAttempts 1): the connector's dispatcher does, within
	// the delivery deadline.
	NewFCMSender func(ctx context.Context, serviceAccountJSON []byte) (pushwire.Sender, error)
	// FCMBaseURL overrides the FCM base URL for the default NewFCMSender
	// (for fakes such as fcmtest). Empty means the real service.
	FCMBaseURL string
	// HTTPClient is the client of the default NewFCMSender. Nil means the
	// fcm package's default.
	HTTPClient *http.Client

	// APNs, when set, pushes to iOS devices that registered an APNs device
	// token (instead of an FCM token). Nil means such registrations are
	// refused. It should not retry on its own (apns: RetryPolicy
	// MaxAttempts 1); the connector does not close it.
	APNs pushwire.Sender
	// APNsTopic is the topic (bundle id) put in messages for APNs devices.
	// Empty means the APNs sender's default.
	APNsTopic string
	// NewAPNsSender builds the APNs sender of a push configuration that has
	// its own [APNsCredential] (its APNs devices do not use APNs then). Nil
	// means [apns.New] with the credential's key and the production or
	// sandbox host, without retries of its own. A returned sender that
	// implements io.Closer is closed when the configuration changes or the
	// connector closes.
	NewAPNsSender func(ctx context.Context, cred APNsCredential) (pushwire.Sender, error)

	// BuildMessage builds the push for one device. Nil means
	// [DefaultMessage]. The message carries the device's payload keys
	// unless BuildMessage set others.
	BuildMessage func(ev hmacverify.Event, d registry.Device) pushwire.Message

	// Seal says how pushes are sealed end to end for devices that
	// registered payload keys (the registration's "payloadKeys"): the zero
	// value seals every push to such a device and sends the others as they
	// are; dispatch.SealStrict sends nothing unsealed (a device without
	// keys fails permanently, nothing reaches its provider);
	// dispatch.SealOff seals nothing. A zero Placeholder means the text of
	// the connector's unsealed iOS alerts ([DefaultAlertTitle],
	// [DefaultAlertBody]); LPNSMaxBytes is unused. The dispatcher seals
	// each device's message before it reaches a sender, so the senders
	// themselves stay as given.
	Seal dispatch.SealConfig

	// AdminToken enables the /configs routes and is the bearer token they
	// require. Empty means the routes are not served.
	AdminToken string
	// RegistrationToken, when set, is the bearer token every
	// device-registration request must carry. Ignored when
	// RegistrationAuth is set.
	RegistrationToken string
	// RegistrationAuth, when set, decides whether a device-registration
	// request may proceed. Nil with an empty RegistrationToken is the
	// sample's open mode.
	RegistrationAuth Authorizer

	// RateLimit limits the registration and admin routes per client address.
	// The zero value means DefaultRateLimit/DefaultRateBurst for
	// DefaultRateClients addresses; a negative Rate disables the limit.
	RateLimit RateLimit
	// ClientAddr names the client of a request for rate limiting and logs.
	// Nil means [RemoteHost], or [ProxiedClientAddr] with TrustedProxies and
	// ProxyHeader when TrustedProxies is set (setting both is an error).
	ClientAddr func(r *http.Request) string
	// TrustedProxies are the addresses of the reverse proxies in front of
	// the connector. A request whose peer is one of them is attributed to
	// the client its ProxyHeader names (see [ProxiedClientAddr]), so that
	// every app behind the proxy does not share one rate-limit bucket. Empty
	// means the peer is the client.
	TrustedProxies []netip.Prefix
	// ProxyHeader is the header the trusted proxies append the client's
	// address to: [HeaderXForwardedFor] (the default) or [HeaderForwarded]
	// (RFC 7239). Only one is read: a client can send either, and only the
	// one the proxies write can be trusted.
	ProxyHeader string

	// DeliveryTimeout bounds a callback's delivery to every device, its
	// retries and the de-duplication claim included. Zero means
	// DefaultDeliveryTimeout. The delivery also ends before the callback's
	// deadline (CallbackTimeout).
	DeliveryTimeout time.Duration
	// Retry says how a push that failed for a temporary reason is retried
	// within DeliveryTimeout (never one whose outcome is unknown). The zero
	// value is dispatch's default: 3 attempts, 100 ms to 5 s apart.
	Retry dispatch.RetryPolicy
	// CallbackTimeout bounds a callback from the moment its body has been
	// read to its answer, registry and configuration lookups and delivery
	// included: whatever hangs, the callback is answered by then, with what
	// is known (500 before delivery began, which then never does; 202 with
	// the devices under way counted unknown once it began; see the package
	// documentation). The work still ends, bounded by the timeouts below,
	// and keeps its place in MaxConcurrency until it does. Zero means
	// DefaultCallbackTimeout. Give the http.Server a WriteTimeout above
	// BodyTimeout + CallbackTimeout.
	CallbackTimeout time.Duration
	// LookupTimeout bounds each registry call, on every route. Zero means
	// DefaultLookupTimeout.
	LookupTimeout time.Duration
	// ConfigTimeout bounds each configuration-store call. Zero means
	// DefaultConfigTimeout.
	ConfigTimeout time.Duration
	// DedupeTimeout bounds each call of Dedupe. Zero means
	// DefaultDedupeTimeout.
	DedupeTimeout time.Duration
	// MaxConcurrency limits the callbacks in progress (verified or being
	// verified). A callback arriving when that many are in progress is
	// answered 503 with Retry-After at once, without being read further,
	// rather than queued: under overload the callbacks accepted are still
	// answered quickly. Zero means [DefaultMaxConcurrency]; negative means
	// no limit.
	MaxConcurrency int
	// BadSignatureLimit limits, per client address, the callbacks refused
	// for a missing, malformed or wrong signature: once an address is over
	// it, its callbacks are answered 429 with Retry-After before any lookup
	// (those of sessions whose configurations are cached are still checked,
	// at no cost). The zero value means DefaultBadSignatureRate per second
	// with a burst of DefaultBadSignatureBurst; a negative Rate disables
	// it. AXP sends every tenant's callbacks from its own addresses: a
	// configuration with a wrong secret delays other configurations' first
	// callbacks from the same address while the limit is hit.
	BadSignatureLimit RateLimit
	// SessionCacheTTL is how long the configurations of a session's devices
	// are remembered, so that a bad signature for a recent session costs no
	// registry query. A device registered meanwhile through another
	// connector instance under another configuration may see a callback
	// signed with that configuration's secret refused for this long. Zero
	// means DefaultSessionCacheTTL; negative disables the cache.
	SessionCacheTTL time.Duration
	// MaxBodyBytes limits request bodies (413 over it). Zero means
	// [hmacverify.DefaultMaxBodyBytes] (64 KiB).
	MaxBodyBytes int64
	// BodyTimeout bounds the time a handler waits for a request body (408
	// after it), applied as a read deadline on the connection, so a slow
	// client cannot hold a handler even when the connector is mounted on a
	// server without timeouts. Zero means [hmacverify.DefaultBodyTimeout]
	// (10 s). Set http.Server timeouts as well.
	BodyTimeout time.Duration

	// DropExtraMembers, when set, leaves a callback's members other than
	// the five AXP ones out of the push; by default its extra string members
	// (channel, engagementId, dialogId, ...) are forwarded as push data, as
	// the sample does, within [MaxDataBytes] with [DefaultMessage].
	DropExtraMembers bool

	// Dedupe remembers the events already handled (eventId and sessionId)
	// and the outcome of each of their devices; see [Deduper]. Nil means a
	// [MemoryDeduper] of DefaultDedupeSize events, which forgets them on a
	// restart and is not shared by replicas: use the store of the registry's
	// backend (registry/sqlite, registry/postgres, registry/redis
	// NewDeduper) for both.
	Dedupe Deduper
	// DedupeTTL is how long a handled event is remembered after its last
	// delivery. Zero means DefaultDedupeTTL.
	DedupeTTL time.Duration

	// Metrics receives request, delivery and pruning events. Nil means none.
	Metrics Metrics
	// Logger receives one record per delivery and diagnostics. Nil discards.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Connector is the AXP push connector's HTTP handler. It is safe for
// concurrent use. Close releases the senders it built.
type Connector struct {
	cfg     Config
	reg     registry.Registry
	configs *configState
	log     *slog.Logger
	metrics Metrics
	limiter *limiter
	// badSig limits, per client address, the callbacks refused for their
	// signature; nil when disabled.
	badSig   *limiter
	inflight *inflight
	sessions *sessionCache // nil when disabled

	badSigLog, malformedLog, limitedLog *logSampler

	limits  hmacverify.ReadLimits
	dedupe  Deduper
	build   func(ev hmacverify.Event, d registry.Device) pushwire.Message // nil: DefaultMessage
	apns    pushwire.Sender                                               // Config.APNs, with APNsTopic
	disp    *dispatch.Dispatcher
	mux     *http.ServeMux
	regAuth Authorizer

	mu      sync.RWMutex
	senders map[string]*senderEntry // configId → FCM sender
	// configId → APNs sender of the configuration's own credential
	apnsSenders map[string]*senderEntry
	closed      bool           // no new delivery
	wg          sync.WaitGroup // in-flight deliveries
	// sendersClosed: the deliveries are over and the senders closed.
	sendersClosed bool
	work          sync.WaitGroup // callbacks in progress (answered or not)
}

type senderEntry struct {
	credentials []byte    // the service-account JSON it was built from
	updatedAt   time.Time // the configuration's UpdatedAt then
	sender      pushwire.Sender
	send        pushwire.Sender // sender, or sender with the configuration's topic
	err         error
	// Guarded by Connector.mu: sends using the sender, and whether it was
	// replaced or dropped (then the last user closes it).
	users   int
	retired bool
}

// New validates cfg and returns a connector.
func New(cfg Config) (*Connector, error) {
	if cfg.Registry == nil {
		return nil, fmt.Errorf("connector: %w: registry is required", pushwire.ErrConfiguration)
	}
	if cfg.DeliveryTimeout < 0 {
		return nil, fmt.Errorf("connector: %w: negative delivery timeout", pushwire.ErrConfiguration)
	}
	if cfg.DeliveryTimeout == 0 {
		cfg.DeliveryTimeout = DefaultDeliveryTimeout
	}
	for _, t := range []struct {
		d    *time.Duration
		def  time.Duration
		name string
	}{
		{&cfg.CallbackTimeout, DefaultCallbackTimeout, "callback"},
		{&cfg.LookupTimeout, DefaultLookupTimeout, "lookup"},
		{&cfg.ConfigTimeout, DefaultConfigTimeout, "config"},
		{&cfg.DedupeTimeout, DefaultDedupeTimeout, "dedupe"},
	} {
		if *t.d < 0 {
			return nil, fmt.Errorf("connector: %w: negative %s timeout", pushwire.ErrConfiguration, t.name)
		}
		if *t.d == 0 {
			*t.d = t.def
		}
	}
	if cfg.MaxConcurrency == 0 {
		cfg.MaxConcurrency = DefaultMaxConcurrency()
	}
	if cfg.SessionCacheTTL == 0 {
		cfg.SessionCacheTTL = DefaultSessionCacheTTL
	}
	if cfg.AdminToken != "" && len(cfg.AdminToken) < MinSecretLen {
		return nil, fmt.Errorf("connector: %w: the admin token must be at least %d bytes", pushwire.ErrConfiguration, MinSecretLen)
	}
	if cfg.RegistrationToken != "" && len(cfg.RegistrationToken) < MinSecretLen {
		return nil, fmt.Errorf("connector: %w: the registration token must be at least %d bytes", pushwire.ErrConfiguration, MinSecretLen)
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("connector: %w: negative max body bytes", pushwire.ErrConfiguration)
	}
	if cfg.BodyTimeout < 0 {
		return nil, fmt.Errorf("connector: %w: negative body timeout", pushwire.ErrConfiguration)
	}
	if cfg.BodyTimeout == 0 {
		cfg.BodyTimeout = hmacverify.DefaultBodyTimeout
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = hmacverify.DefaultMaxBodyBytes
	}
	if cfg.DedupeTTL < 0 {
		return nil, fmt.Errorf("connector: %w: negative dedupe ttl", pushwire.ErrConfiguration)
	}
	if cfg.DedupeTTL == 0 {
		cfg.DedupeTTL = DefaultDedupeTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	if cfg.Configs == nil {
		cfg.Configs = NewMemoryConfigStore()
	}
	switch {
	case cfg.ClientAddr != nil && len(cfg.TrustedProxies) > 0:
		return nil, fmt.Errorf("connector: %w: ClientAddr and TrustedProxies are exclusive", pushwire.ErrConfiguration)
	case len(cfg.TrustedProxies) > 0:
		f, err := ProxiedClientAddr(cfg.TrustedProxies, cfg.ProxyHeader)
		if err != nil {
			return nil, err
		}
		cfg.ClientAddr = f
	case cfg.ClientAddr == nil:
		cfg.ClientAddr = RemoteHost
	}
	if cfg.NewFCMSender == nil {
		endpoint, client, logger := cfg.FCMBaseURL, cfg.HTTPClient, cfg.Logger
		cfg.NewFCMSender = func(ctx context.Context, sa []byte) (pushwire.Sender, error) {
			return fcm.New(ctx, fcm.Config{CredentialsJSON: sa, BaseURL: endpoint, HTTPClient: client, Logger: logger,
				Retry: fcm.RetryPolicy{MaxAttempts: 1}})
		}
	}
	if cfg.NewAPNsSender == nil {
		cfg.NewAPNsSender = defaultAPNsSender(cfg)
	}
	if err := checkSeal(&cfg); err != nil {
		return nil, err
	}
	if cfg.Dedupe == nil {
		d, err := NewMemoryDeduper(MemoryDeduperConfig{Now: cfg.Now})
		if err != nil {
			return nil, err
		}
		cfg.Dedupe = d
	}
	rl, err := newLimiter(cfg.RateLimit, DefaultRateLimit, DefaultRateBurst, cfg.Now)
	if err != nil {
		return nil, err
	}
	badSig, err := newLimiter(cfg.BadSignatureLimit, DefaultBadSignatureRate, DefaultBadSignatureBurst, cfg.Now)
	if err != nil {
		return nil, err
	}
	regAuth := cfg.RegistrationAuth
	if regAuth == nil && cfg.RegistrationToken != "" {
		regAuth = BearerToken(cfg.RegistrationToken)
	}
	c := &Connector{
		cfg:      cfg,
		reg:      bounded(cfg.Registry, cfg.LookupTimeout),
		log:      cfg.Logger,
		metrics:  cfg.Metrics,
		limiter:  rl,
		badSig:   badSig,
		inflight: &inflight{max: int64(max(cfg.MaxConcurrency, 0))},
		sessions: newSessionCache(cfg.SessionCacheTTL, DefaultSessionCacheSize, cfg.Now),
		limits:   hmacverify.ReadLimits{MaxBodyBytes: cfg.MaxBodyBytes, BodyTimeout: cfg.BodyTimeout},
		dedupe:   boundedDedupe(cfg.Dedupe, cfg.DedupeTimeout),

		badSigLog:    newLogSampler(cfg.Logger, "callback refused: bad signature", cfg.Now),
		malformedLog: newLogSampler(cfg.Logger, "callback refused: malformed", cfg.Now),
		limitedLog:   newLogSampler(cfg.Logger, "callback refused: over a limit", cfg.Now),
		build:        cfg.BuildMessage,
		apns:         cfg.APNs,
		regAuth:      regAuth,
		senders:      make(map[string]*senderEntry),

		apnsSenders: make(map[string]*senderEntry),
	}
	if cfg.APNs != nil && cfg.APNsTopic != "" {
		c.apns = topicSender{cfg.APNs, cfg.APNsTopic}
	}
	// The dispatcher is given no sender of its own: every sender comes from
	// senderFor, so it closes none; the connector closes those it built.
	disp, err := dispatch.New(dispatch.Config{
		Registry:   c.reg, // pruning is bounded as every registry call
		SenderFor:  c.senderFor,
		Shape:      c.shape,
		Timeout:    cfg.DeliveryTimeout,
		Retry:      cfg.Retry,
		Seal:       cfg.Seal,
		OnDelivery: c.onDelivery,
		Logger:     slog.New(eventLog{cfg.Logger.Handler()}),
	})
	if err != nil {
		return nil, err
	}
	c.disp = disp
	c.configs = newConfigState(cfg.Configs, cfg.StateKeys, cfg.Logger, configTimeout(cfg))
	c.routes()
	return c, nil
}

// Route names passed to [Metrics.Request].
const (
	RouteCallback        = "callback"
	RouteRegister        = "registration_put"
	RouteGetRegistration = "registration_get"
	RouteDelRegistration = "registration_delete"
	RouteSearch          = "registration_search"
	RouteConfigs         = "configs"
	RouteTestPush        = "test_push"
	RouteHealth          = "healthz"
	RouteReady           = "readyz"
	RouteOther           = "other"
)

func (c *Connector) routes() {
	m := http.NewServeMux()
	handle := func(pattern, route string, h http.HandlerFunc) {
		m.Handle(pattern, c.instrument(route, h))
	}
	handle("POST "+BasePath+"/axp-callback/notifications", RouteCallback, c.handleCallback)

	reg := func(h http.HandlerFunc) http.HandlerFunc { return c.limited(c.registrationAuth(h)) }
	handle("PUT "+BasePath+"/device-registrations/{deviceToken}", RouteRegister, reg(c.handleRegister))
	handle("GET "+BasePath+"/device-registrations/{deviceToken}", RouteGetRegistration, reg(c.handleGetRegistration))
	handle("DELETE "+BasePath+"/device-registrations/{deviceToken}", RouteDelRegistration, reg(c.handleDeleteRegistration))
	handle("POST "+BasePath+"/device-registrations:search", RouteSearch, reg(c.handleSearch))

	if c.cfg.AdminToken != "" {
		adm := func(h http.HandlerFunc) http.HandlerFunc { return c.limited(c.adminAuth(h)) }
		handle("POST "+BasePath+"/configs", RouteConfigs, adm(c.handleCreateConfig))
		handle("GET "+BasePath+"/configs", RouteConfigs, adm(c.handleListConfigs))
		handle("PUT "+BasePath+"/configs/{configId}", RouteConfigs, adm(c.handlePutConfig))
		handle("GET "+BasePath+"/configs/{configId}", RouteConfigs, adm(c.handleGetConfig))
		handle("DELETE "+BasePath+"/configs/{configId}", RouteConfigs, adm(c.handleDeleteConfig))
		handle("POST "+BasePath+"/notifications", RouteTestPush, adm(c.handleTestPush))
	}
	// A pattern without a method catches the methods a path does not
	// serve, so that a 405 is JSON like every other error.
	for _, p := range []string{
		"/axp-callback/notifications", "/device-registrations/{deviceToken}",
		"/device-registrations:search", "/configs", "/configs/{configId}", "/notifications",
	} {
		if (strings.HasPrefix(p, "/configs") || p == "/notifications") && c.cfg.AdminToken == "" {
			continue
		}
		handle(BasePath+p, RouteOther, func(w http.ResponseWriter, r *http.Request) {
			writeMessage(w, http.StatusMethodNotAllowed, "method "+truncate(r.Method, 16)+" not allowed")
		})
	}
	handle("GET /healthz", RouteHealth, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	handle("GET /readyz", RouteReady, c.handleReady)
	handle("/", RouteOther, func(w http.ResponseWriter, r *http.Request) {
		writeMessage(w, http.StatusNotFound, "path ["+truncate(r.URL.Path, 128)+"] not found")
	})
	c.mux = m
}

// ServeHTTP routes r to the connector's API. A single trailing slash is
// ignored, as the sample's Express router does.
func (c *Connector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = strings.TrimSuffix(p, "/")
		u.RawPath = strings.TrimSuffix(u.RawPath, "/")
		r2.URL = &u
		r = r2
	}
	// ServeMux would redirect a non-canonical path ("//", "/../"); an API
	// answers 404 instead (a decoded token with a slash lands here too).
	if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p {
		writeMessage(w, http.StatusNotFound, "path not found")
		return
	}
	c.mux.ServeHTTP(w, r)
}

// Close waits for in-flight deliveries (each bounded by DeliveryTimeout),
// stops watching the config store and closes the FCM and APNs senders the
// connector built. It does not close the registry, the config store, the
// de-duplication store or the APNs sender of Config.APNs, which the caller
// owns. Close is idempotent.
func (c *Connector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.configs.close()
	c.work.Wait()
	c.wg.Wait()
	// Sends a delivery gave up on at its deadline end before the senders
	// close.
	errs := []error{c.disp.Close()}
	c.mu.Lock()
	c.sendersClosed = true
	senders := c.senders
	c.senders = map[string]*senderEntry{}
	for id, e := range c.apnsSenders {
		senders["apns\x00"+id] = e
	}
	c.apnsSenders = map[string]*senderEntry{}
	c.mu.Unlock()
	for _, e := range senders {
		if cl, ok := e.sender.(io.Closer); ok {
			errs = append(errs, cl.Close())
		}
	}
	return errors.Join(errs...)
}

// fcmSender returns the FCM sender of configuration pc, building it on first
// use and rebuilding it when the configuration's credentials changed. The
// caller must call release once done with the sender: a sender replaced or
// dropped meanwhile is closed by its last user, so a change of credentials
// never fails a send already under way. A caller holding an older copy of the
// configuration than the cached sender's gets the newer sender, never
// replaces it.
func (c *Connector) fcmSender(ctx context.Context, pc PushConfig) (s pushwire.Sender, release func(), err error) {
	if len(pc.FCMServiceAccount) == 0 {
		return nil, nil, &pushwire.Error{Class: pushwire.ErrConfiguration, Provider: pushwire.ProviderFCM,
			Reason: "NoCredentials", Err: fmt.Errorf("configuration %s has no fcm service account", pc.ID)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sendersClosed {
		return nil, nil, errSendersClosed
	}
	e, ok := c.senders[pc.ID]
	if !ok || !(bytes.Equal(e.credentials, pc.FCMServiceAccount) || e.updatedAt.After(pc.UpdatedAt)) {
		s, err := c.cfg.NewFCMSender(ctx, pc.FCMServiceAccount)
		if err != nil {
			err = &pushwire.Error{Class: pushwire.ErrConfiguration, Provider: pushwire.ProviderFCM,
				Reason: "BadCredentials", Err: err}
		}
		if ok {
			c.retireLocked(e)
		}
		e = &senderEntry{credentials: bytes.Clone(pc.FCMServiceAccount), updatedAt: pc.UpdatedAt, sender: s, send: s, err: err}
		c.senders[pc.ID] = e
	}
	if e.err != nil {
		return nil, nil, e.err
	}
	e.users++
	return e.send, func() { c.releaseSender(e) }, nil
}

// releaseSender ends one use of e, closing it if it was the last use of a
// retired sender.
func (c *Connector) releaseSender(e *senderEntry) {
	c.mu.Lock()
	e.users--
	last := e.retired && e.users == 0
	c.mu.Unlock()
	if last {
		closeSender(e.sender)
	}
}

// retireLocked marks e replaced or dropped and closes it when unused; c.mu is
// held.
func (c *Connector) retireLocked(e *senderEntry) {
	e.retired = true
	if e.users == 0 {
		// Closing an FCM client only stops its idle connections; it is
		// quick, so it is done under the lock.
		closeSender(e.sender)
	}
}

// dropSender forgets the sender of configuration id; it is closed once no
// send uses it.
func (c *Connector) dropSender(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.senders[id]; ok {
		delete(c.senders, id)
		c.retireLocked(e)
	}
	if e, ok := c.apnsSenders[id]; ok {
		delete(c.apnsSenders, id)
		c.retireLocked(e)
	}
}

func closeSender(s pushwire.Sender) {
	if cl, ok := s.(io.Closer); ok && s != nil {
		_ = cl.Close()
	}
}

// Sentinel errors.
var (
	// ErrClosed is returned for work attempted after [Connector.Close].
	ErrClosed = errors.New("connector: closed")
)

// errSendersClosed is the error of a send after Close: temporary, as the
// message was not handed over.
var errSendersClosed = fmt.Errorf("%w: %w", ErrClosed, pushwire.ErrClosed)

func (c *Connector) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	_, err := c.reg.Lookup(ctx, "readyz-probe")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		c.log.Warn("readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "registry unavailable\n")
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}
