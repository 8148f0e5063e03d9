// Command callpush is the call-server flow of package dispatch in one
// program: a local push (LPNS) server for iPhones on the enterprise Wi-Fi,
// APNs VoIP pushes for iPhones away from it, FCM for Android phones, and a
// device registry in which an iPhone's LPNS device id and its APNs VoIP token
// share one device label, so that the phone gets one push per call: local
// first, through APNs when it is not connected or does not acknowledge.
//
// Try it with no credentials at all:
//
//	go run ./examples/callpush -demo
//
// The demo starts a fake APNs and a fake FCM in-process, the local push
// server on loopback and a simulated iPhone connected to it. It registers
// user "alice" with that iPhone (LPNS device id and APNs VoIP token, both
// labelled iphone-1) and an Android phone (an FCM token, android-1), places a
// call and prints one line per device delivery:
//
//	call=1 device=iphone-1 provider=lpns path=local outcome=delivered latency=1.2ms
//	call=1 device=android-1 provider=fcm path=fcm outcome=delivered latency=3.4ms
//
// followed by what the phone and the fakes received: the local notification,
// the FCM message (high priority, data only). It then closes the iPhone's
// local connection (the phone left the Wi-Fi) and places a second call, which
// reaches the iPhone as an APNs push of type voip on topic <bundle>.voip:
//
//	call=2 device=iphone-1 provider=apns path=apns outcome=delivered latency=4.1ms local="lpns: send to …hone-1: lpns: device not connected"
//	call=2 device=android-1 provider=fcm path=fcm outcome=delivered latency=2.2ms
//
// # Real mode
//
// Without -demo the program serves phones over wss:// (-addr, :9560 as Cisco
// uses; -tls-cert and -tls-key, or -insecure-ws on loopback) and a small HTTP
// API on -api-addr. Phones authenticate with a JWT verified by -jwt-key
// (claims device_id and sub). Credentials use the connector's flag names:
// -apns-key, -apns-key-id, -apns-team-id, -apns-topic, -apns-base-url, -apns-ca
// for APNs and -fcm-credentials, -fcm-base-url for FCM; at least one of the
// two providers is required. -registry selects the device registry (memory,
// sqlite:PATH, postgres://..., redis://...). Every flag can also be set
// through its environment variable, PUSHWIRE_ and the flag name in upper case
// with underscores (-apns-key-id ↔ PUSHWIRE_APNS_KEY_ID); the command line
// wins. Run with -h for the list.
//
// The API takes a bearer token (-api-token-file) and JSON bodies:
//
//	POST /devices  {"user": "alice", "provider": "lpns", "token": "<LPNS device id>", "device": "iphone-1"}
//	POST /devices  {"user": "alice", "provider": "apns", "token": "<hex VoIP token>", "device": "iphone-1"}
//	POST /devices  {"user": "alice", "provider": "fcm", "token": "<FCM token>", "device": "pixel-7"}
//	POST /calls    {"user": "alice", "callerName": "Bob", "callerNumber": "1001"}
//
// A device registration may also carry "platform" (ios, android), "appId"
// (the bundle id of an APNs token; default -apns-topic) and "environment"
// (production, sandbox). POST /calls answers with one entry per device
// (device, provider, path, outcome, latency, error) and prints the same
// delivery lines as the demo on standard output; 404 when the user has no
// device. For example:
//
//	curl -s -H "Authorization: Bearer $(cat api.token)" -d '{"user":"alice","callerName":"Bob"}' http://127.0.0.1:9562/calls
//
// Invalid flags and unreadable files exit with status 2, failures at run
// time with status 1.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/examples/internal/apnsopt"
	"github.com/pushwire/pushwire/examples/internal/envflag"
	"github.com/pushwire/pushwire/examples/internal/registrydsn"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// options are the parsed flags.
type options struct {
	addr, apiAddr                  string
	tlsCert, tlsKey                string
	insecureWS                     bool
	jwtKey, jwtIssuer, jwtAudience string
	apiTokenFile                   string
	apnsKey, apnsKeyID, apnsTeamID string
	apnsTopic, apnsBaseURL, apnsCA string
	fcmCredentials, fcmBaseURL     string
	registryDSN                    string
	callTimeout, localTimeout      time.Duration
	logLevel                       string
	demo                           bool
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("callpush", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", ":9560", "local push (WebSocket) listen `HOST:PORT`")
	fs.StringVar(&o.apiAddr, "api-addr", "127.0.0.1:9562", "HTTP API listen `HOST:PORT` (POST /devices, POST /calls)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "certificate chain `FILE` (PEM) for wss://")
	fs.StringVar(&o.tlsKey, "tls-key", "", "private key `FILE` (PEM) of -tls-cert")
	fs.BoolVar(&o.insecureWS, "insecure-ws", false, "serve plain ws:// instead of TLS (loopback -addr only)")
	fs.StringVar(&o.jwtKey, "jwt-key", "", "`FILE` with the PEM public key (or certificate) that verifies the phones' ES256 tokens")
	fs.StringVar(&o.jwtIssuer, "jwt-issuer", "", "required iss claim of the phones' tokens")
	fs.StringVar(&o.jwtAudience, "jwt-audience", "", "required aud value of the phones' tokens")
	fs.StringVar(&o.apiTokenFile, "api-token-file", "", "`FILE` with the bearer token of the HTTP API (at least 16 characters)")
	fs.StringVar(&o.apnsKey, "apns-key", "", "APNs auth key `FILE` (.p8): VoIP pushes to iPhones away from the local push server")
	fs.StringVar(&o.apnsKeyID, "apns-key-id", "", "APNs key `ID` (10 characters)")
	fs.StringVar(&o.apnsTeamID, "apns-team-id", "", "Apple team `ID` (10 characters)")
	fs.StringVar(&o.apnsTopic, "apns-topic", "", "APNs `topic` (the app's bundle id; VoIP pushes go to <topic>.voip)")
	fs.StringVar(&o.apnsBaseURL, "apns-base-url", apns.ProductionURL, "APNs base `URL`")
	fs.StringVar(&o.apnsCA, "apns-ca", "", "extra CA certificate `FILE` (PEM) to trust for -apns-base-url (for fakes)")
	fs.StringVar(&o.fcmCredentials, "fcm-credentials", "", "FCM service-account JSON `FILE`: pushes to Android phones")
	fs.StringVar(&o.fcmBaseURL, "fcm-base-url", "", "FCM base `URL` override (for fakes)")
	fs.StringVar(&o.registryDSN, "registry", "memory", registrydsn.Usage)
	fs.DurationVar(&o.callTimeout, "call-timeout", dispatch.DefaultTimeout, "deadline of one call's deliveries")
	fs.DurationVar(&o.localTimeout, "local-timeout", dispatch.DefaultLocalTimeout, "how long a phone's local push may take before it goes through APNs")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	fs.BoolVar(&o.demo, "demo", false, "run the demo: in-process fake APNs and FCM, a simulated iPhone, two calls; then exit")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: callpush [flags]\n\n"+
			"Pushes calls to a user's phones: local push first for iPhones on the\n"+
			"enterprise Wi-Fi, APNs VoIP otherwise, FCM for Android. Try -demo.\n\n"+
			"Every flag can also be set through the environment variable named in brackets;\n"+
			"the command line wins. Keys and tokens are only read from files.\n\nFlags:\n")
		envflag.PrintDefaults(out, fs)
	}
	return fs
}

// parse reads flags from the environment, then from args, and checks them.
func parse(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, stderr)
	if err := envflag.Parse(fs, args, getenv, stderr); err != nil {
		return nil, err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, envflag.Usagef("-log-level must be debug, info, warn or error, not %q", o.logLevel)
	}
	if o.callTimeout <= 0 || o.localTimeout <= 0 {
		return nil, envflag.Usagef("-call-timeout and -local-timeout must be positive")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, envflag.Usagef("-tls-cert and -tls-key go together")
	}
	if o.demo {
		return o, nil // the demo makes up its own credentials
	}
	if o.apnsKey == "" && o.fcmCredentials == "" {
		return nil, envflag.Usagef("no push credentials: give -apns-key (with -apns-key-id, -apns-team-id, -apns-topic) and/or -fcm-credentials, or run -demo")
	}
	if o.apnsKey != "" && (o.apnsKeyID == "" || o.apnsTeamID == "" || o.apnsTopic == "") {
		return nil, envflag.Usagef("-apns-key needs -apns-key-id, -apns-team-id and -apns-topic")
	}
	if o.jwtKey == "" {
		return nil, envflag.Usagef("-jwt-key is required: it verifies the tokens phones connect with")
	}
	if o.apiTokenFile == "" {
		return nil, envflag.Usagef("-api-token-file is required: it protects the HTTP API")
	}
	if o.tlsCert == "" && !o.insecureWS {
		return nil, envflag.Usagef("-tls-cert and -tls-key are required (or -insecure-ws on a loopback -addr)")
	}
	if o.tlsCert != "" && o.insecureWS {
		return nil, envflag.Usagef("-insecure-ws and -tls-cert exclude each other")
	}
	if o.insecureWS {
		if err := requireLoopback(o.addr); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// requireLoopback accepts an address on a loopback interface only.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return envflag.Usagef("-addr: %v", err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return envflag.Usagef("-insecure-ws needs a loopback -addr such as 127.0.0.1:9560, not %q", addr)
	}
	return nil
}

// observer lets tests watch a run; nil in the program.
type observer struct {
	// demo is called once the demo's fakes and phone are set up.
	demo func(*demoEnv)
	// ready is called with the WebSocket and API URLs once serving (real mode).
	ready func(wsURL, apiURL string)
}

// run is the program; it returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, obs *observer) int {
	o, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "callpush:", err)
		return 2
	}
	if obs == nil {
		obs = &observer{}
	}
	out := &lockedWriter{w: stdout}
	if err := serve(ctx, o, out, stderr, obs); err != nil {
		fmt.Fprintln(stderr, "callpush:", err)
		var ue *envflag.UsageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// lockedWriter serializes writes: delivery lines come from concurrent calls.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// files are the contents of the files the flags name, read up front so that
// a bad path fails before anything starts.
type files struct {
	apnsKey, apnsCA []byte
	fcmCredentials  []byte
	jwtKey          any // public key
	apiToken        string
	tls             *tls.Config
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

func readFiles(o *options) (*files, error) {
	f := &files{}
	var err error
	if o.apnsKey != "" {
		if f.apnsKey, err = readFile("apns-key", o.apnsKey); err != nil {
			return nil, err
		}
	}
	if o.apnsCA != "" {
		if f.apnsCA, err = readFile("apns-ca", o.apnsCA); err != nil {
			return nil, err
		}
	}
	if o.fcmCredentials != "" {
		if f.fcmCredentials, err = readFile("fcm-credentials", o.fcmCredentials); err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(f.fcmCredentials)) == 0 {
			return nil, envflag.Usagef("-fcm-credentials: %s is empty", o.fcmCredentials)
		}
	}
	if o.jwtKey != "" {
		b, err := readFile("jwt-key", o.jwtKey)
		if err != nil {
			return nil, err
		}
		if f.jwtKey, err = parsePublicKey(b); err != nil {
			return nil, envflag.Usagef("-jwt-key: %s: %v", o.jwtKey, err)
		}
	}
	if o.apiTokenFile != "" {
		b, err := readFile("api-token-file", o.apiTokenFile)
		if err != nil {
			return nil, err
		}
		if f.apiToken = strings.TrimSpace(string(b)); len(f.apiToken) < 16 || strings.ContainsAny(f.apiToken, "\r\n") {
			return nil, envflag.Usagef("-api-token-file: %s must hold one line of at least 16 characters", o.apiTokenFile)
		}
	}
	if o.tlsCert != "" {
		cert, err := readFile("tls-cert", o.tlsCert)
		if err != nil {
			return nil, err
		}
		key, err := readFile("tls-key", o.tlsKey)
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, envflag.Usagef("-tls-cert/-tls-key: %v", err)
		}
		f.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return f, nil
}

// parsePublicKey reads the first PEM public key or certificate of b.
func parsePublicKey(b []byte) (any, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM public key or certificate found")
		}
		switch blk.Type {
		case "PUBLIC KEY":
			return x509.ParsePKIXPublicKey(blk.Bytes)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, err
			}
			return c.PublicKey, nil
		}
	}
}

// checkCertificate logs what iOS would refuse in the wss:// certificate.
func checkCertificate(cfg *tls.Config, addr string, log *slog.Logger) {
	var chain []*x509.Certificate
	for _, der := range cfg.Certificates[0].Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		chain = append(chain, c)
	}
	host, _, _ := net.SplitHostPort(addr)
	if host == "" {
		host, _ = os.Hostname()
	}
	for _, p := range lpns.CheckChain(chain, host, time.Now()) {
		log.Warn("certificate: iOS will refuse it", "host", host, "problem", p.Code, "detail", p.Message)
	}
}

// stack is what a run serves: registry, senders, dispatcher, local push.
type stack struct {
	reg    registry.Registry
	lpns   *lpns.Server
	disp   *dispatch.Dispatcher
	wsURL  string
	served chan error
	topic  string // default APNs topic of registrations
}

// close shuts the dispatcher down (and with it the senders and the local
// push server, which tells phones to reconnect elsewhere), then the registry.
func (s *stack) close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.disp.Shutdown(ctx); err != nil {
		log.Warn("shutdown did not finish in time", "err", err)
	}
	if err := <-s.served; err != nil && !errors.Is(err, lpns.ErrServerClosed) {
		log.Warn("local push server", "err", err)
	}
	_ = s.reg.Close()
}

// start opens the registry, builds the senders and the dispatcher and starts
// serving local push on o.addr.
func start(ctx context.Context, o *options, f *files, log *slog.Logger, hooks lpns.Hooks) (*stack, error) {
	reg, err := registrydsn.Open(ctx, o.registryDSN, registry.Config{Logger: log})
	if errors.Is(err, registrydsn.ErrBadDSN) {
		return nil, envflag.Usagef("%v", err)
	}
	if err != nil {
		return nil, err
	}
	// Dispatch owns the retries: the senders try once (see package dispatch).
	dc := dispatch.Config{Registry: reg, Timeout: o.callTimeout, LocalTimeout: o.localTimeout, Logger: log}
	var closers []func() error
	fail := func(err error) (*stack, error) {
		for _, c := range closers {
			_ = c()
		}
		_ = reg.Close()
		return nil, err
	}
	if len(f.apnsKey) > 0 {
		cfg, err := apnsopt.Options{Key: f.apnsKey, KeyID: o.apnsKeyID, TeamID: o.apnsTeamID,
			Topic: o.apnsTopic, BaseURL: o.apnsBaseURL, CA: f.apnsCA}.Config(log)
		if err != nil {
			return fail(envflag.Usagef("%v", err))
		}
		cfg.Retry = apns.RetryPolicy{MaxAttempts: 1}
		c, err := apns.New(cfg)
		if err != nil {
			return fail(envflag.Usagef("apns: %v", err))
		}
		closers = append(closers, c.Close)
		dc.APNs = c
	}
	if len(f.fcmCredentials) > 0 {
		c, err := fcm.New(ctx, fcm.Config{CredentialsJSON: f.fcmCredentials, BaseURL: o.fcmBaseURL,
			Retry: fcm.RetryPolicy{MaxAttempts: 1}, Logger: log})
		if err != nil {
			return fail(envflag.Usagef("-fcm-credentials: %v", err))
		}
		closers = append(closers, c.Close)
		dc.FCM = c
	}
	auth, err := lpns.NewJWTAuthenticator(lpns.JWTConfig{
		KeyFunc:  func(*jwt.Token) (any, error) { return f.jwtKey, nil },
		Methods:  []string{"ES256"},
		Issuer:   o.jwtIssuer,
		Audience: o.jwtAudience,
	})
	if err != nil {
		return fail(err)
	}
	srv, err := lpns.NewServer(ctx, lpns.Config{Authenticator: auth, AckTimeout: o.localTimeout, Hooks: hooks, Logger: log})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, srv.Close)
	dc.LPNS = srv
	disp, err := dispatch.New(dc)
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		_ = disp.Close()
		_ = reg.Close()
		return nil, fmt.Errorf("-addr: %w", err)
	}
	scheme := "ws"
	if f.tls != nil {
		checkCertificate(f.tls, o.addr, log)
		ln = tls.NewListener(ln, f.tls)
		scheme = "wss"
	}
	s := &stack{reg: reg, lpns: srv, disp: disp, served: make(chan error, 1), topic: o.apnsTopic,
		wsURL: fmt.Sprintf("%s://%s/", scheme, ln.Addr())}
	go func() { s.served <- srv.Serve(ln) }()
	return s, nil
}

// serve runs the demo round, or serves the API until ctx is done.
func serve(ctx context.Context, o *options, stdout io.Writer, stderr io.Writer, obs *observer) error {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(o.logLevel))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if o.demo {
		return runDemo(ctx, o, stdout, log, obs)
	}
	f, err := readFiles(o)
	if err != nil {
		return err
	}
	s, err := start(ctx, o, f, log, lpns.Hooks{})
	if err != nil {
		return err
	}
	defer s.close(log)

	ln, err := net.Listen("tcp", o.apiAddr)
	if err != nil {
		return fmt.Errorf("-api-addr: %w", err)
	}
	api := &http.Server{
		Handler:           bearer(f.apiToken, newAPI(s, stdout, log)),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      o.callTimeout + 15*time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	apiURL := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "local push on %s, API on %s\n", s.wsURL, apiURL)
	served := make(chan error, 1)
	go func() { served <- api.Serve(ln) }()
	if obs.ready != nil {
		obs.ready(s.wsURL, apiURL)
	}
	var runErr error
	apiDone := false
	select {
	case runErr = <-served:
		apiDone = true
	case runErr = <-s.served:
		s.served <- runErr // s.close reads it again
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = api.Shutdown(sctx) // no new calls; calls under way finish
	if !apiDone {
		if err := <-served; runErr == nil {
			runErr = err
		}
	}
	if runErr == nil || errors.Is(runErr, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve: %w", runErr)
}

// deliveryLine is the one line printed per device delivery.
func deliveryLine(call string, d dispatch.Delivery) string {
	var b strings.Builder
	device := d.Phone
	if device == "" {
		device = pushwire.Redact(d.Device.Token)
	}
	path := string(d.Path)
	if path == "" {
		path = "none"
	}
	fmt.Fprintf(&b, "call=%s device=%s provider=%s path=%s outcome=%s latency=%s",
		call, device, d.Device.Provider, path, d.Outcome, roundLatency(d.Latency))
	if r := d.Retries(); r > 0 {
		fmt.Fprintf(&b, " retries=%d", r)
	}
	if d.LocalErr != nil {
		fmt.Fprintf(&b, " local=%q", d.LocalErr.Error())
	}
	if d.Err != nil {
		fmt.Fprintf(&b, " err=%q", d.Err.Error())
	}
	if d.Outcome == dispatch.Dead {
		fmt.Fprintf(&b, " pruned=%t", d.Pruned)
	}
	return b.String()
}

func roundLatency(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
