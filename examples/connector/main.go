// Command connector runs an AXP Custom Push Notification Connector: a
// drop-in, hardened replacement for Avaya's sample Node.js connector, serving
// the same HTTP API (see package github.com/pushwire/pushwire/connector).
//
// Try it with no credentials at all:
//
//	go run ./examples/connector -demo
//
// The demo starts fake FCM and APNs servers in-process, registers demo
// devices the way the Omni SDK sample apps do, and one that registers
// payload keys made in-process (as an app does at sign-in), sends itself one
// signed AXP callback, logs what the fakes received (for the sealed device:
// ciphertext only), prints the plaintext that device opens with its private
// key, and prints curl commands to do it again by hand. It keeps serving
// until Ctrl-C (-demo-exit stops after the round).
//
// Pushes to devices that registered payload keys are sealed end to end
// (-seal, on by default); -seal-strict sends nothing unsealed.
//
// In real mode every flag has an environment-variable equivalent: the flag
// name in upper case with dashes as underscores, prefixed with PUSHWIRE_
// (-addr ↔ PUSHWIRE_ADDR, -secret-file ↔ PUSHWIRE_SECRET_FILE, ...). A flag
// on the command line wins over its variable. Secrets, tokens and keys are
// only ever read from files. Run with -h for the list.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/examples/internal/apnsopt"
	"github.com/pushwire/pushwire/examples/internal/envflag"
	"github.com/pushwire/pushwire/examples/internal/redislog"
	"github.com/pushwire/pushwire/examples/internal/secretfile"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// envName returns the environment variable of a flag.
func envName(flagName string) string { return envflag.Name(flagName) }

// options are the parsed flags.
type options struct {
	addr, tlsCert, tlsKey            string
	configID, secretFile             string
	fcmCredentials, fcmBaseURL       string
	apnsKey, apnsKeyID, apnsTeamID   string
	apnsTopic, apnsBaseURL, apnsCA   string
	registryDSN                      string
	stateKeyFile, generateStateKey   string
	resealState                      bool
	adminTokenFile, regTokenFile     string
	logFormat, logLevel              string
	deliveryTimeout, shutdownTimeout time.Duration
	dedupeTTL                        time.Duration
	callbackTimeout, lookupTimeout   time.Duration
	registryWait                     time.Duration
	registrationTTL                  time.Duration
	maxDevices                       int
	maxConcurrency                   int
	rateLimit                        float64
	rateBurst                        int
	badSigRate                       float64
	badSigBurst                      int
	metricsAddr                      string
	trustedProxies                   string
	proxyHeader                      string
	trusted                          []netip.Prefix
	demo, demoExit                   bool
	seal, sealStrict                 bool
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("connector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address `HOST:PORT`")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate `FILE` (PEM; needs -tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "private key `FILE` of -tls-cert (PEM)")
	fs.StringVar(&o.configID, "config-id", "", "`ID` of the AXP push configuration created at start-up from -secret-file and -fcm-credentials (default: a new UUID, printed)")
	fs.StringVar(&o.secretFile, "secret-file", "", "`FILE` with that configuration's AXP secret, one per line (several lines = rotation)")
	fs.StringVar(&o.fcmCredentials, "fcm-credentials", "", "FCM service-account JSON `FILE` of that configuration")
	fs.StringVar(&o.fcmBaseURL, "fcm-base-url", "", "FCM base `URL` override (for fakes)")
	fs.StringVar(&o.apnsKey, "apns-key", "", "APNs auth key `FILE` (.p8); enables direct APNs pushes to iOS APNs tokens")
	fs.StringVar(&o.apnsKeyID, "apns-key-id", "", "APNs key `ID` (10 characters)")
	fs.StringVar(&o.apnsTeamID, "apns-team-id", "", "Apple team `ID` (10 characters)")
	fs.StringVar(&o.apnsTopic, "apns-topic", "", "APNs `topic` (the app's bundle id)")
	fs.StringVar(&o.apnsBaseURL, "apns-base-url", apns.ProductionURL, "APNs base `URL`")
	fs.StringVar(&o.apnsCA, "apns-ca", "", "extra CA certificate `FILE` (PEM) to trust for -apns-base-url (for fakes)")
	fs.StringVar(&o.registryDSN, "registry", "memory", "device registry `DSN`: memory, sqlite:PATH, postgres://..., redis://...")
	fs.StringVar(&o.stateKeyFile, "state-key-file", "", "key `FILE` sealing the stored configurations' secrets (AES-256-GCM; one 64-hex-digit key per line, the last seals; mode 0600). Required with postgres and redis; sqlite defaults to PATH.key, generated on first start")
	fs.StringVar(&o.generateStateKey, "generate-state-key", "", "create state key `FILE` (mode 0600), or append a new key to it (rotation), and exit")
	fs.BoolVar(&o.resealState, "reseal-state", false, "re-seal every stored configuration under the last key of -state-key-file, then exit (rotation: after -generate-state-key)")
	fs.StringVar(&o.adminTokenFile, "admin-token-file", "", "`FILE` with the bearer token of the /configs admin routes (unset: routes off)")
	fs.StringVar(&o.regTokenFile, "registration-token-file", "", "`FILE` with the bearer token device registration requires (unset: open, as the sample)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&o.deliveryTimeout, "delivery-timeout", connector.DefaultDeliveryTimeout, "deadline of a callback's deliveries")
	fs.DurationVar(&o.dedupeTTL, "dedupe-ttl", connector.DefaultDedupeTTL, "how long a handled callback and its per-device outcomes are remembered (kept in the -registry backend)")
	fs.DurationVar(&o.callbackTimeout, "callback-timeout", connector.DefaultCallbackTimeout, "bound of a whole callback, lookups and delivery included: it is answered by then whatever hangs")
	fs.DurationVar(&o.lookupTimeout, "lookup-timeout", connector.DefaultLookupTimeout, "bound of each registry, configuration-store and de-duplication call")
	fs.IntVar(&o.maxConcurrency, "max-concurrency", connector.DefaultMaxConcurrency(), "callbacks in progress at most; more are answered 503 with Retry-After at once (negative: no limit; default 64 per CPU)")
	fs.Float64Var(&o.badSigRate, "bad-signature-rate", connector.DefaultBadSignatureRate, "callbacks with a bad signature per second per client address before its callbacks are refused 429 without lookup (negative: off)")
	fs.IntVar(&o.badSigBurst, "bad-signature-burst", connector.DefaultBadSignatureBurst, "burst of -bad-signature-rate")
	fs.DurationVar(&o.registryWait, "registry-wait", time.Minute, "how long start-up retries a registry that does not answer (/readyz is 503 meanwhile) before giving up")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this `HOST:PORT` of its own (unset: no metrics endpoint; never on -addr)")
	fs.DurationVar(&o.registrationTTL, "registration-ttl", registry.DefaultTTL, "how long a device registration lives unless renewed (negative: forever)")
	fs.IntVar(&o.maxDevices, "max-devices-per-session", registry.DefaultMaxDevicesPerSession, "devices kept per session; the least recently registered go first (negative: no cap)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long shutdown waits for in-flight requests")
	fs.Float64Var(&o.rateLimit, "rate-limit", connector.DefaultRateLimit, "registration/admin requests per second per client address (negative: off)")
	fs.IntVar(&o.rateBurst, "rate-burst", connector.DefaultRateBurst, "burst of -rate-limit")
	fs.StringVar(&o.trustedProxies, "trusted-proxies", "", "reverse proxies in front of the connector, `CIDR,…`: from them the client address is read from -proxy-header (unset: the peer is the client)")
	fs.StringVar(&o.proxyHeader, "proxy-header", connector.HeaderXForwardedFor, "`header` the trusted proxies append the client address to: X-Forwarded-For or Forwarded (RFC 7239)")
	fs.BoolVar(&o.seal, "seal", true, "seal pushes end to end (RFC 8291) for devices that registered \"payloadKeys\" (false: send them in the clear)")
	fs.BoolVar(&o.sealStrict, "seal-strict", false, "send nothing unsealed: pushes to devices without payload keys fail (needs -seal)")
	fs.BoolVar(&o.demo, "demo", false, "run the self-contained demo with in-process fake FCM and APNs")
	fs.BoolVar(&o.demoExit, "demo-exit", false, "with -demo: exit after the demo round instead of serving")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: connector [flags]\n\n"+
			"An AXP Custom Push Notification Connector serving the API of Avaya's sample\n"+
			"connector under /custom-notification-connector, plus /healthz and /readyz\n(Prometheus metrics on a listener of their own: -metrics-addr).\n\n"+
			"Every flag can also be set through the environment variable named in brackets;\n"+
			"the command line wins. Secrets are only read from files.\n\nFlags:\n")
		envflag.PrintDefaults(out, fs)
	}
	return fs
}

// parse reads flags from the environment, then from args.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, stderr)
	if err := envflag.Parse(fs, args, getenv, stderr); err != nil {
		return nil, err
	}
	switch o.logFormat {
	case "text", "json":
	default:
		return nil, envflag.Usagef("-log-format must be text or json, not %q", o.logFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, envflag.Usagef("-log-level must be debug, info, warn or error, not %q", o.logLevel)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, envflag.Usagef("-tls-cert and -tls-key go together")
	}
	if o.deliveryTimeout <= 0 || o.shutdownTimeout <= 0 || o.callbackTimeout <= 0 || o.lookupTimeout <= 0 || o.registryWait <= 0 || o.dedupeTTL <= 0 {
		return nil, envflag.Usagef("-delivery-timeout, -callback-timeout, -lookup-timeout, -registry-wait, -shutdown-timeout and -dedupe-ttl must be positive")
	}
	if o.maxConcurrency == 0 {
		return nil, envflag.Usagef("-max-concurrency must not be zero (negative: no limit)")
	}
	if o.badSigBurst < 1 {
		return nil, envflag.Usagef("-bad-signature-burst must be at least 1")
	}
	if o.registrationTTL == 0 || o.maxDevices == 0 {
		return nil, envflag.Usagef("-registration-ttl and -max-devices-per-session must not be zero")
	}
	if o.rateBurst < 1 {
		return nil, envflag.Usagef("-rate-burst must be at least 1")
	}
	if o.trustedProxies != "" {
		trusted, err := connector.ParsePrefixes(o.trustedProxies)
		if err != nil {
			return nil, envflag.Usagef("-trusted-proxies: %v", err)
		}
		o.trusted = trusted
	}
	if _, err := connector.ProxiedClientAddr(nil, o.proxyHeader); err != nil {
		return nil, envflag.Usagef("-proxy-header: %v", err)
	}
	if o.configID != "" {
		if err := connector.ValidateID(o.configID); err != nil {
			return nil, envflag.Usagef("-config-id %v", err)
		}
	}
	if err := checkDSN(o.registryDSN); err != nil {
		return nil, err
	}
	if o.resealState && o.generateStateKey != "" {
		return nil, envflag.Usagef("-reseal-state and -generate-state-key are separate steps")
	}
	if o.sealStrict && !o.seal {
		return nil, envflag.Usagef("-seal-strict needs -seal")
	}
	if o.demoExit && !o.demo {
		return nil, envflag.Usagef("-demo-exit needs -demo")
	}
	if o.apnsKey != "" && (o.apnsKeyID == "" || o.apnsTeamID == "" || o.apnsTopic == "") {
		return nil, envflag.Usagef("-apns-key needs -apns-key-id, -apns-team-id and -apns-topic")
	}
	return o, nil
}

// run is the program; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "connector:", err)
		return 2
	}
	if o.generateStateKey != "" {
		err = generateStateKey(o.generateStateKey, stdout)
	} else {
		err = serve(ctx, o, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "connector:", err)
		var ue *envflag.UsageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func newLogger(o *options, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(o.logLevel))
	ho := &slog.HandlerOptions{Level: lvl}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// sealConfig is the connector's sealing as -seal and -seal-strict say.
func sealConfig(o *options) dispatch.SealConfig {
	switch {
	case !o.seal:
		return dispatch.SealConfig{Mode: dispatch.SealOff}
	case o.sealStrict:
		return dispatch.SealConfig{Mode: dispatch.SealStrict}
	}
	return dispatch.SealConfig{Mode: dispatch.SealWithKeys}
}

// readSecretFile reads a file holding a secret named by a flag; failure,
// and a file its group or others may access, is a usage error.
func readSecretFile(flagName, path string) ([]byte, error) {
	b, err := secretfile.Read(path)
	if err != nil {
		return nil, envflag.Usagef("-%s: %v", flagName, err)
	}
	return b, nil
}

// readFile reads a file named by a flag; failure is a usage error.
func readFile(flagName, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, envflag.Usagef("-%s: cannot read %s: %v", flagName, path, err)
	}
	return b, nil
}

// readToken reads a one-line token file; the token must be at least
// connector.MinSecretLen bytes.
func readToken(flagName, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := readSecretFile(flagName, path)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" || strings.ContainsAny(t, "\r\n") {
		return "", envflag.Usagef("-%s: %s must hold one non-empty line", flagName, path)
	}
	if len(t) < connector.MinSecretLen {
		return "", envflag.Usagef("-%s: the token in %s is %d bytes; it must be at least %d (e.g. openssl rand -hex 32)", flagName, path, len(t), connector.MinSecretLen)
	}
	return t, nil
}

// readSecrets reads one secret per non-empty line.
func readSecrets(path string) ([][]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := readSecretFile("secret-file", path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if len(line) < connector.MinSecretLen {
				return nil, envflag.Usagef("-secret-file: the secret on line %d of %s is %d bytes; it must be at least %d", i+1, path, len(line), connector.MinSecretLen)
			}
			out = append(out, []byte(line))
		}
	}
	if len(out) == 0 {
		return nil, envflag.Usagef("-secret-file: %s holds no secret", path)
	}
	return out, nil
}

// files are the contents of every file the flags name, read up front so that
// a bad path fails before anything starts.
type files struct {
	secrets              [][]byte
	adminToken, regToken string
	fcmCredentials       []byte
	apnsKey, apnsCA      []byte
	tlsCert              tls.Certificate
	tlsEnabled           bool
}

func readFiles(o *options) (*files, error) {
	f := &files{}
	var err error
	if f.secrets, err = readSecrets(o.secretFile); err != nil {
		return nil, err
	}
	if f.adminToken, err = readToken("admin-token-file", o.adminTokenFile); err != nil {
		return nil, err
	}
	if f.regToken, err = readToken("registration-token-file", o.regTokenFile); err != nil {
		return nil, err
	}
	if o.fcmCredentials != "" {
		if f.fcmCredentials, err = readSecretFile("fcm-credentials", o.fcmCredentials); err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(f.fcmCredentials)) == 0 {
			return nil, envflag.Usagef("-fcm-credentials: %s is empty", o.fcmCredentials)
		}
	}
	if o.apnsKey != "" {
		if f.apnsKey, err = readSecretFile("apns-key", o.apnsKey); err != nil {
			return nil, err
		}
	}
	if o.apnsCA != "" {
		if f.apnsCA, err = readFile("apns-ca", o.apnsCA); err != nil {
			return nil, err
		}
	}
	if o.tlsCert != "" {
		cert, err := readFile("tls-cert", o.tlsCert)
		if err != nil {
			return nil, err
		}
		key, err := readSecretFile("tls-key", o.tlsKey)
		if err != nil {
			return nil, err
		}
		if f.tlsCert, err = tls.X509KeyPair(cert, key); err != nil {
			return nil, envflag.Usagef("-tls-cert/-tls-key: %v", err)
		}
		f.tlsEnabled = true
	}
	return f, nil
}

// serve runs the connector until ctx is done (or, in demo-exit mode, until
// the demo round is over). It listens at once; until the registry answers
// (retried for -registry-wait), /healthz is 200, /readyz 503 and every API
// route 503 with Retry-After.
func serve(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	f, err := readFiles(o)
	if err != nil {
		return err
	}
	log := newLogger(o, stderr)
	// The Redis client writes its own lines (reconnections, pool
	// problems) through a process-wide logger: route them through ours so
	// that -log-format and -log-level apply.
	redislog.Route(log)

	var demo *demoEnv
	if o.demo {
		if demo, err = startDemo(o, f); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer demo.close()
	}

	stateKeys, err := loadStateKeys(o, log)
	if err != nil {
		return err
	}
	regCfg := registry.Config{Logger: log, TTL: o.registrationTTL, MaxDevicesPerSession: o.maxDevices}
	if o.resealState {
		st, err := openStores(ctx, o.registryDSN, regCfg)
		if err != nil {
			return err
		}
		defer st.reg.Close()
		if st.configs == nil {
			return envflag.Usagef("-reseal-state needs a persistent -registry")
		}
		n, err := connector.ResealConfigs(ctx, st.configs, stateKeys)
		if err != nil {
			return fmt.Errorf("reseal: %w", err)
		}
		fmt.Fprintf(stdout, "re-sealed %d configuration(s) under the last key of the state key file\n", n)
		return nil
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return envflag.Usagef("-addr: %v", err)
	}
	scheme := "http"
	var tlsConfig *tls.Config
	if f.tlsEnabled {
		scheme = "https"
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{f.tlsCert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, tlsConfig)
	}
	base := scheme + "://" + ln.Addr().String()
	var api atomic.Pointer[http.Handler]
	starting := http.Handler(http.HandlerFunc(startingHandler))
	api.Store(&starting)
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*api.Load()).ServeHTTP(w, r) }),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		// A callback is answered within -callback-timeout of its body
		// having been read, which takes at most the connector's body
		// timeout: the answer is always written before this.
		WriteTimeout:   hmacverify.DefaultBodyTimeout + o.callbackTimeout + 5*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop := func() error {
		shutdown(srv, o.shutdownTimeout, log)
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	}
	st, err := waitForStores(ctx, o, regCfg, log.With("addr", base))
	if err != nil {
		_ = stop()
		if ctx.Err() != nil {
			return nil // stopped while waiting
		}
		return err
	}
	defer st.reg.Close()

	var apnsClient *apns.Client
	if len(f.apnsKey) > 0 {
		if apnsClient, err = newAPNs(o, f, log); err != nil {
			_ = stop()
			return err
		}
		defer apnsClient.Close()
	}

	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := newPromMetrics(promReg)

	cc := connector.Config{
		Registry:          st.reg,
		Configs:           st.configs,
		StateKeys:         stateKeys,
		FCMBaseURL:        o.fcmBaseURL,
		AdminToken:        f.adminToken,
		RegistrationToken: f.regToken,
		RateLimit:         connector.RateLimit{Rate: o.rateLimit, Burst: o.rateBurst},
		BadSignatureLimit: connector.RateLimit{Rate: o.badSigRate, Burst: o.badSigBurst},
		MaxConcurrency:    o.maxConcurrency,
		TrustedProxies:    o.trusted,
		ProxyHeader:       o.proxyHeader,
		DeliveryTimeout:   o.deliveryTimeout,
		Dedupe:            st.dedupe,
		DedupeTTL:         o.dedupeTTL,
		Seal:              sealConfig(o),
		CallbackTimeout:   o.callbackTimeout,
		LookupTimeout:     o.lookupTimeout,
		ConfigTimeout:     o.lookupTimeout,
		DedupeTimeout:     o.lookupTimeout,
		Metrics:           metrics,
		Logger:            log,
	}
	if apnsClient != nil {
		cc.APNs, cc.APNsTopic = apnsClient, o.apnsTopic
	}
	c, err := connector.New(cc)
	if err != nil {
		_ = stop()
		return err
	}
	defer c.Close()

	configID := o.configID
	// With a persistent registry the configurations created through
	// /configs are kept; a start-up configuration is only written when the
	// flags describe one, so that restarts do not pile up empty ones.
	startup := !persistent(o.registryDSN) || o.configID != "" || len(f.secrets) > 0 || len(f.fcmCredentials) > 0
	if configID == "" && startup {
		configID = uuid.NewString()
	}
	if startup {
		if err := c.AddConfig(ctx, connector.PushConfig{ID: configID, Secrets: f.secrets, FCMServiceAccount: f.fcmCredentials}); err != nil {
			_ = stop()
			return envflag.Usagef("start-up configuration: %v", err)
		}
		fmt.Fprintf(stdout, "push configuration id: %s\n", configID)
	}
	if !startup {
		log.Info("no start-up configuration; the stored ones are served")
	} else if len(f.secrets) == 0 {
		log.Warn("no -secret-file: callbacks to this configuration's devices are refused (401) until a secret is set through /configs")
	}
	if startup && len(f.fcmCredentials) == 0 {
		log.Warn("no -fcm-credentials: pushes to this configuration's FCM devices fail until a service account is set through /configs")
	}
	if f.adminToken == "" {
		log.Info("no -admin-token-file: the /configs routes are off")
	}
	if f.regToken == "" {
		log.Info("device registration is open (no -registration-token-file), as in the sample connector")
	}

	if o.metricsAddr != "" {
		mln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			_ = stop()
			return envflag.Usagef("-metrics-addr: %v", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { _ = msrv.Serve(mln) }()
		defer shutdown(msrv, o.shutdownTimeout, log)
		fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", mln.Addr())
	}

	// Not an http.ServeMux: it would redirect paths such as "//" before the
	// connector's own routing answers them with a 404.
	ready := http.Handler(c)
	api.Store(&ready)
	fmt.Fprintf(stdout, "listening on %s\n", base)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if demo != nil {
		if err := demo.round(runCtx, base, configID, f, o, stdout, log); err != nil {
			_ = stop()
			return fmt.Errorf("demo: %w", err)
		}
		if o.demoExit {
			cancel()
		} else {
			fmt.Fprintln(stdout, "\nserving until Ctrl-C")
		}
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-runCtx.Done():
	}
	log.Info("shutting down")
	return stop()
}

// startingHandler answers while the registry is not open yet.
func startingHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch r.URL.Path {
	case "/healthz":
		_, _ = io.WriteString(w, "ok\n")
	case "/readyz":
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "starting: waiting for the registry\n")
	default:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"message":"starting: the registry is not available yet"}`+"\n")
	}
}

// stores are the registry and the stores kept beside it (nil for the memory
// registry: the connector's memory stores then).
type stores struct {
	reg     registry.Registry
	configs connector.ConfigStore
	dedupe  connector.Deduper
}

// openStores opens the registry of dsn and the configuration and
// de-duplication stores beside it.
func openStores(ctx context.Context, dsn string, cfg registry.Config) (stores, error) {
	reg, err := openRegistry(ctx, dsn, cfg)
	if err != nil {
		return stores{}, err
	}
	configs, err := openConfigStore(ctx, reg)
	if err != nil {
		_ = reg.Close()
		return stores{}, err
	}
	dedupe, err := openDeduper(ctx, reg)
	if err != nil {
		_ = reg.Close()
		return stores{}, err
	}
	return stores{reg: reg, configs: configs, dedupe: dedupe}, nil
}

// Start-up retry of the registry.
const (
	registryAttemptTimeout = 5 * time.Second
	registryMinBackoff     = 250 * time.Millisecond
	registryMaxBackoff     = 5 * time.Second
)

// waitForStores opens the stores, retrying with backoff while the registry
// does not answer, for at most -registry-wait. A usage or configuration
// error is not retried.
func waitForStores(ctx context.Context, o *options, cfg registry.Config, log *slog.Logger) (stores, error) {
	deadline := time.Now().Add(o.registryWait)
	backoff := registryMinBackoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithDeadline(ctx, minTime(deadline, time.Now().Add(registryAttemptTimeout)))
		st, err := openStores(actx, o.registryDSN, cfg)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info("registry available", "attempts", attempt)
			}
			return st, nil
		}
		var ue *envflag.UsageError
		if errors.As(err, &ue) || errors.Is(err, pushwire.ErrConfiguration) || ctx.Err() != nil {
			return stores{}, err
		}
		if !time.Now().Add(backoff).Before(deadline) {
			return stores{}, fmt.Errorf("%w (gave up after %d attempts in -registry-wait %s)", err, attempt, o.registryWait)
		}
		log.Warn("registry unavailable; retrying (/readyz answers 503 meanwhile)", "err", err, "attempt", attempt, "retryIn", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return stores{}, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, registryMaxBackoff)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// shutdown stops accepting and waits (bounded) for in-flight requests.
func shutdown(srv *http.Server, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown did not finish in time; closing connections", "err", err)
		_ = srv.Close()
	}
}

// newAPNs builds the APNs client of the -apns-* flags.
func newAPNs(o *options, f *files, log *slog.Logger) (*apns.Client, error) {
	cfg, err := apnsopt.Options{Key: f.apnsKey, KeyID: o.apnsKeyID, TeamID: o.apnsTeamID,
		Topic: o.apnsTopic, BaseURL: o.apnsBaseURL, CA: f.apnsCA}.Config(log)
	if err != nil {
		return nil, envflag.Usagef("%v", err)
	}
	cfg.Retry = apns.RetryPolicy{MaxAttempts: 1} // the connector retries
	c, err := apns.New(cfg)
	if err != nil {
		return nil, envflag.Usagef("apns: %v", err)
	}
	return c, nil
}

// compile-time check: the APNs client is a pushwire.Sender.
var _ pushwire.Sender = (*apns.Client)(nil)
