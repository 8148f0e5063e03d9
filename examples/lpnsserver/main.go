// Command lpnsserver runs a local push notification server: phones keep a
// WebSocket to it (wss:// on :9560 by default) and receive notifications,
// with an authenticated HTTP admin API to send them and list sessions, an
// optional Redis cluster mode and an optional APNs VoIP fallback.
//
// Try it in two terminals, with no certificates or keys:
//
//	go run ./examples/lpnsserver -demo
//	go run ./examples/lpnsclient -url ws://127.0.0.1:9560/ -token-file <printed path>
//
// The demo generates an ES256 key pair, writes a device token and an admin
// token to a temporary directory, serves plain ws:// on loopback and sends the
// connected demo phone an "incoming call" every -demo-every; the client prints
// each notification and acknowledges it. The server prints a curl command to
// send one by hand through the admin API.
//
// Production: -tls-cert/-tls-key (the certificate is checked at start-up for
// what iOS refuses), -jwt-key with the public key that verifies device tokens,
// -admin-token-file, and optionally -redis and the -apns-* flags.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/examples/internal/apnsopt"
	"github.com/pushwire/pushwire/examples/internal/redislog"
	"github.com/pushwire/pushwire/examples/internal/secretfile"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/lpns/lpnsredis"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

type options struct {
	addr, adminAddr, host          string
	tlsCert, tlsKey                string
	insecureWS                     bool
	jwtKey, jwtAlg, jwtIss, jwtAud string
	deviceClaim, userClaim         string
	adminTokenFile                 string
	redisURL, redisPrefix, nodeID  string
	apnsKey, apnsKeyID, apnsTeamID string
	apnsTopic, apnsBaseURL, apnsCA string
	keepalive, ackTimeout          time.Duration
	demo                           bool
	demoEvery                      time.Duration
	logLevel                       string
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lpnsserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", ":9560", "WebSocket listen `HOST:PORT`")
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:9561", "admin API listen `HOST:PORT` (POST /send, GET /sessions, POST /disconnect, GET /metrics)")
	fs.StringVar(&o.host, "host", "", "`NAME` phones use to reach this server, checked against the certificate (default: the host of -addr, else the machine's name)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "certificate chain `FILE` (PEM) for wss://")
	fs.StringVar(&o.tlsKey, "tls-key", "", "private key `FILE` (PEM) of -tls-cert")
	fs.BoolVar(&o.insecureWS, "insecure-ws", false, "serve plain ws:// instead of TLS (loopback addresses only)")
	fs.StringVar(&o.jwtKey, "jwt-key", "", "`FILE` with the PEM public key (or certificate) that verifies device tokens")
	fs.StringVar(&o.jwtAlg, "jwt-alg", "ES256", "accepted JWT signing `ALG`s, comma-separated (\"none\" is refused)")
	fs.StringVar(&o.jwtIss, "jwt-issuer", "", "required JWT iss claim")
	fs.StringVar(&o.jwtAud, "jwt-audience", "", "required JWT aud value")
	fs.StringVar(&o.deviceClaim, "jwt-device-claim", "device_id", "JWT claim carrying the device id")
	fs.StringVar(&o.userClaim, "jwt-user-claim", "sub", "JWT claim carrying the user id")
	fs.StringVar(&o.adminTokenFile, "admin-token-file", "", "`FILE` with the bearer token of the admin API (required unless -demo)")
	fs.StringVar(&o.redisURL, "redis", "", "Redis `URL` for cluster mode (redis://host:port/db)")
	fs.StringVar(&o.redisPrefix, "redis-prefix", "lpns:", "Redis key and channel prefix")
	fs.StringVar(&o.nodeID, "node-id", "", "this node's `NAME` (default: the host name)")
	fs.StringVar(&o.apnsKey, "apns-key", "", "APNs auth key `FILE` (.p8); enables the APNs VoIP fallback")
	fs.StringVar(&o.apnsKeyID, "apns-key-id", "", "APNs key `ID` (10 characters)")
	fs.StringVar(&o.apnsTeamID, "apns-team-id", "", "Apple team `ID` (10 characters)")
	fs.StringVar(&o.apnsTopic, "apns-topic", "", "APNs `topic` (the app's bundle id; VoIP pushes go to <topic>.voip)")
	fs.StringVar(&o.apnsBaseURL, "apns-base-url", apns.ProductionURL, "APNs base `URL`")
	fs.StringVar(&o.apnsCA, "apns-ca", "", "extra CA certificate `FILE` (PEM) to trust for -apns-base-url (for fakes)")
	fs.DurationVar(&o.keepalive, "keepalive", 120*time.Second, "keepalive window")
	fs.DurationVar(&o.ackTimeout, "ack-timeout", 2*time.Second, "how long a send waits for the phone's ack")
	fs.BoolVar(&o.demo, "demo", false, "demo mode: generated keys and tokens, plain ws:// on 127.0.0.1:9560, periodic demo calls")
	fs.DurationVar(&o.demoEvery, "demo-every", 10*time.Second, "with -demo: interval of demo notifications to connected phones (0: off)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return fs
}

// ready, when not nil, receives the WebSocket and admin URLs once serving (tests).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- [2]string) int {
	var o options
	fs := newFlagSet(&o, stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintln(stderr, "lpnsserver: bad -log-level")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(ctx, &o, log, stdout, ready); err != nil {
		fmt.Fprintln(stderr, "lpnsserver:", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, o *options, log *slog.Logger, stdout io.Writer, ready chan<- [2]string) error {
	var demoKey *ecdsa.PrivateKey
	var adminToken string
	if o.demo {
		var err error
		if demoKey, adminToken, err = setupDemo(o, stdout); err != nil {
			return err
		}
	}
	if o.tlsCert == "" && !o.insecureWS {
		return errors.New("-tls-cert and -tls-key are required (or -insecure-ws on loopback)")
	}
	if o.insecureWS {
		if err := requireLoopback(&o.addr); err != nil {
			return err
		}
	}
	if !o.demo {
		if o.adminTokenFile == "" {
			return errors.New("-admin-token-file is required")
		}
		b, err := secretfile.Read(o.adminTokenFile)
		if err != nil {
			return fmt.Errorf("-admin-token-file: %w", err)
		}
		if adminToken = strings.TrimSpace(string(b)); len(adminToken) < 16 {
			return errors.New("-admin-token-file: token must have at least 16 characters")
		}
	}
	auth, err := newAuthenticator(o, demoKey)
	if err != nil {
		return err
	}
	if o.nodeID == "" {
		o.nodeID, _ = os.Hostname()
	}

	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	cfg := lpns.Config{Authenticator: auth, KeepaliveTimeout: o.keepalive, AckTimeout: o.ackTimeout,
		NodeID: o.nodeID, Hooks: m.hooks(), Logger: log}
	var rdb *redis.Client
	if o.redisURL != "" {
		opt, err := redis.ParseURL(o.redisURL)
		if err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
		redislog.Route(log) // the client's own lines follow -log-format too
		rdb = redis.NewClient(opt)
		defer rdb.Close()
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
		if cfg.Cluster, err = lpnsredis.New(lpnsredis.Config{Client: rdb, Prefix: o.redisPrefix, Logger: log}); err != nil {
			return err
		}
		log.Info("cluster mode", "node", o.nodeID, "redis", opt.Addr)
	}
	srv, err := lpns.NewServer(ctx, cfg)
	if err != nil {
		return err
	}
	var remote pushwire.Sender
	if o.apnsKey != "" {
		c, err := newAPNs(o, log)
		if err != nil {
			_ = srv.Close()
			return err
		}
		defer c.Close()
		remote = c
		log.Info("APNs VoIP fallback enabled", "host", o.apnsBaseURL, "topic", o.apnsTopic)
	}

	wsLn, err := net.Listen("tcp", o.addr)
	if err != nil {
		_ = srv.Close()
		return err
	}
	scheme := "ws"
	if !o.insecureWS {
		tlsConf, err := loadTLS(o, log)
		if err != nil {
			_ = srv.Close()
			wsLn.Close()
			return err
		}
		wsLn = tls.NewListener(wsLn, tlsConf)
		scheme = "wss"
	}
	adminLn, err := net.Listen("tcp", o.adminAddr)
	if err != nil {
		_ = srv.Close()
		wsLn.Close()
		return err
	}
	admin := &http.Server{Handler: adminHandler(srv, remote, adminToken, reg, log), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	errc := make(chan error, 2)
	// Server.Serve runs its own accept loop (lower memory per idle
	// connection than behind http.Server); the server is also an
	// http.Handler for mounting in an existing mux.
	go func() { errc <- srv.Serve(wsLn) }()
	go func() { errc <- admin.Serve(adminLn) }()
	wsURL := fmt.Sprintf("%s://%s/", scheme, wsLn.Addr())
	adminURL := fmt.Sprintf("http://%s", adminLn.Addr())
	log.Info("serving", "websocket", wsURL, "admin", adminURL, "node", o.nodeID)
	if o.demo {
		fmt.Fprintf(stdout, "\nterminal 2:  go run ./examples/lpnsclient -url %s -token-file %s\n", wsURL, demoPath("device.token"))
		fmt.Fprintf(stdout, "send by hand: curl -s -H \"Authorization: Bearer $(cat %s)\" -d '{\"deviceId\":\"demo-phone\",\"payload\":{\"caller\":\"1001\"}}' %s/send\n",
			demoPath("admin.token"), adminURL)
		fmt.Fprintf(stdout, "sessions:     curl -s -H \"Authorization: Bearer $(cat %s)\" %s/sessions\n\n", demoPath("admin.token"), adminURL)
	}
	if ready != nil {
		ready <- [2]string{wsURL, adminURL}
	}
	demoDone := make(chan struct{})
	// The demo's calls stop when serving stops, whether for a signal or
	// because a server failed.
	demoCtx, stopDemo := context.WithCancel(ctx)
	defer stopDemo()
	if o.demo && o.demoEvery > 0 {
		go demoCalls(demoCtx, srv, o.demoEvery, log, demoDone)
	} else {
		close(demoDone)
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	log.Info("shutting down: telling phones to reconnect elsewhere")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = admin.Shutdown(sctx)
	_ = srv.Shutdown(sctx) // closes the listener, sends 4503 to every phone
	if errors.Is(err, lpns.ErrServerClosed) {
		err = nil
	}
	stopDemo()
	<-demoDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func requireLoopback(addr *string) error {
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if host == "" {
		*addr = net.JoinHostPort("127.0.0.1", port)
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("-insecure-ws is only allowed on a loopback -addr")
	}
	return nil
}

func newAuthenticator(o *options, demoKey *ecdsa.PrivateKey) (lpns.Authenticator, error) {
	var pub any
	switch {
	case demoKey != nil:
		pub = &demoKey.PublicKey
	case o.jwtKey != "":
		b, err := os.ReadFile(o.jwtKey)
		if err != nil {
			return nil, fmt.Errorf("-jwt-key: %w", err)
		}
		if pub, err = parsePublicKey(b); err != nil {
			return nil, fmt.Errorf("-jwt-key: %w", err)
		}
	default:
		return nil, errors.New("-jwt-key is required (or -demo)")
	}
	methods := splitList(o.jwtAlg)
	a, err := lpns.NewJWTAuthenticator(lpns.JWTConfig{
		KeyFunc:     func(*jwt.Token) (any, error) { return pub, nil },
		Methods:     methods,
		Issuer:      o.jwtIss,
		Audience:    o.jwtAud,
		DeviceClaim: o.deviceClaim,
		UserClaim:   o.userClaim,
	})
	if err != nil {
		return nil, err
	}
	for _, m := range methods {
		if err := algFitsKey(m, pub); err != nil {
			return nil, fmt.Errorf("-jwt-alg: %w", err)
		}
	}
	return a, nil
}

// splitList splits a comma-separated flag value, trimming spaces.
func splitList(s string) []string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// algFitsKey checks that tokens signed with alg can be verified with the
// public key pub: the HMAC algorithms never can (a public key used as an
// HMAC secret lets anyone who has it sign tokens); lpns refuses "none".
func algFitsKey(alg string, pub any) error {
	ok := false
	switch {
	case strings.HasPrefix(alg, "ES"):
		_, ok = pub.(*ecdsa.PublicKey)
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		_, ok = pub.(*rsa.PublicKey)
	case alg == "EdDSA":
		_, ok = pub.(ed25519.PublicKey)
	}
	if !ok || jwt.GetSigningMethod(alg) == nil {
		return fmt.Errorf("%q cannot be verified with the -jwt-key public key (%T); use ES256, ES384, ES512, RS256..., PS256... or EdDSA as the key allows", truncateFlag(alg), pub)
	}
	return nil
}

func truncateFlag(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

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

func loadTLS(o *options, log *slog.Logger) (*tls.Config, error) {
	if o.tlsKey == "" {
		return nil, errors.New("-tls-key is required with -tls-cert")
	}
	certPEM, err := os.ReadFile(o.tlsCert)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert: %w", err)
	}
	keyPEM, err := secretfile.Read(o.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("-tls-key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	chain := make([]*x509.Certificate, 0, len(pair.Certificate))
	for _, der := range pair.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("-tls-cert: %w", err)
		}
		chain = append(chain, c)
	}
	host := o.host
	if host == "" {
		if h, _, err := net.SplitHostPort(o.addr); err == nil && h != "" {
			host = h
		} else {
			host, _ = os.Hostname()
		}
	}
	problems := lpns.CheckChain(chain, host, time.Now())
	for _, p := range problems {
		log.Warn("certificate: iOS will refuse it", "host", host, "problem", p.Code, "detail", p.Message)
	}
	if len(problems) == 0 {
		log.Info("certificate looks acceptable to iOS", "host", host, "notAfter", chain[0].NotAfter.Format(time.DateOnly))
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// newAPNs builds the APNs client of the -apns-* flags.
func newAPNs(o *options, log *slog.Logger) (*apns.Client, error) {
	if o.apnsKeyID == "" || o.apnsTeamID == "" || o.apnsTopic == "" {
		return nil, errors.New("-apns-key needs -apns-key-id, -apns-team-id and -apns-topic")
	}
	opts := apnsopt.Options{KeyID: o.apnsKeyID, TeamID: o.apnsTeamID, Topic: o.apnsTopic, BaseURL: o.apnsBaseURL}
	var err error
	if opts.Key, err = secretfile.Read(o.apnsKey); err != nil {
		return nil, fmt.Errorf("-apns-key: %w", err)
	}
	if o.apnsCA != "" {
		if opts.CA, err = os.ReadFile(o.apnsCA); err != nil {
			return nil, fmt.Errorf("-apns-ca: %w", err)
		}
	}
	cfg, err := opts.Config(log)
	if err != nil {
		return nil, err
	}
	return apns.New(cfg)
}

// demo support

func demoPath(name string) string { return filepath.Join(os.TempDir(), "lpns-demo", name) }

// setupDemo generates a signing key, writes a demo device token and an admin
// token, and switches to plain ws:// on loopback unless TLS was configured.
func setupDemo(o *options, stdout io.Writer) (*ecdsa.PrivateKey, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	o.jwtAlg, o.jwtIss, o.jwtAud = "ES256", "lpnsserver-demo", "lpns"
	o.deviceClaim, o.userClaim = "device_id", "sub"
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": o.jwtIss, "aud": o.jwtAud, "sub": "demo-user", "device_id": "demo-phone",
		"iat": time.Now().Unix(), "exp": time.Now().Add(24 * time.Hour).Unix(),
	}).SignedString(key)
	if err != nil {
		return nil, "", err
	}
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	admin := fmt.Sprintf("%x", raw)
	if err := privateDir(filepath.Dir(demoPath("x"))); err != nil {
		return nil, "", err
	}
	// Through a temporary file and a rename: mode 0600 even over an
	// older file, and a symbolic link planted at the path is replaced,
	// not followed.
	if err := secretfile.Write(demoPath("device.token"), []byte(tok+"\n")); err != nil {
		return nil, "", err
	}
	if err := secretfile.Write(demoPath("admin.token"), []byte(admin+"\n")); err != nil {
		return nil, "", err
	}
	if o.tlsCert == "" {
		o.insecureWS = true
	}
	fmt.Fprintf(stdout, "demo: device token for \"demo-phone\" (valid 24 h) in %s\n", demoPath("device.token"))
	fmt.Fprintf(stdout, "demo: admin API token in %s\n", demoPath("admin.token"))
	return key, admin, nil
}

// privateDir makes dir, or makes sure an existing dir is a real directory
// (not a symbolic link) that only this user can enter: the demo's folder
// has a predictable name in a shared temporary directory, where another
// user could have made it first. Chmod succeeds only for its owner.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("%s is not a private directory of this user: %w", dir, err)
	}
	return nil
}

func demoCalls(ctx context.Context, srv *lpns.Server, every time.Duration, log *slog.Logger, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, s := range srv.Sessions() {
			n++
			start := time.Now()
			err := srv.Send(ctx, pushwire.Message{Token: s.DeviceID, Kind: pushwire.KindVoIP,
				Data: map[string]string{"caller": "1001", "callerName": "Front desk", "call": fmt.Sprint(n)}})
			log.Info("demo call", "device", pushwire.Redact(s.DeviceID), "err", err, "took", time.Since(start).Round(time.Microsecond))
		}
	}
}

// admin API

type sendRequest struct {
	DeviceID  string          `json:"deviceId"`
	ID        string          `json:"id,omitempty"`
	Payload   json.RawMessage `json:"payload"`
	APNsToken string          `json:"apnsToken,omitempty"`
}

func adminHandler(srv *lpns.Server, remote pushwire.Sender, token string, reg *prometheus.Registry, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /send", func(w http.ResponseWriter, r *http.Request) {
		var req sendRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		if err := dec.Decode(&req); err != nil || req.DeviceID == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {\"deviceId\", \"payload\"}"})
			return
		}
		if len(req.Payload) == 0 {
			req.Payload = json.RawMessage(`{}`)
		}
		id := req.ID
		if id == "" {
			id = newUUID()
		}
		path, err := deliver(r.Context(), srv, remote, req, id)
		status := http.StatusOK
		switch {
		case err == nil:
		case errors.Is(err, lpns.ErrPayloadTooLarge):
			status = http.StatusRequestEntityTooLarge
		case errors.Is(err, lpns.ErrInvalidPayload):
			status = http.StatusBadRequest
		case errors.Is(err, lpns.ErrNotConnected):
			status = http.StatusNotFound
		case errors.Is(err, lpns.ErrNotAcknowledged):
			status = http.StatusGatewayTimeout
		default:
			status = http.StatusBadGateway
		}
		out := map[string]string{"id": id, "path": path}
		if err != nil {
			out["error"] = err.Error()
		}
		log.Info("admin send", "device", pushwire.Redact(req.DeviceID), "path", path, "err", err)
		writeJSON(w, status, out)
	})
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"node": srv.NodeID(), "count": srv.Count(), "sessions": srv.Sessions()})
	})
	mux.HandleFunc("POST /disconnect", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			DeviceID string                `json:"deviceId"`
			Reason   lpns.DisconnectReason `json:"reason"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {\"deviceId\", \"reason\"}"})
			return
		}
		found, err := srv.Disconnect(r.Context(), req.DeviceID, req.Reason)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"found": found})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return requireBearer(token, mux)
}

// deliver sends req locally and, with an APNs sender, falls back to an APNs
// VoIP push (the same id) when the device is not connected, does not
// acknowledge or the server is closing, as package dispatch does for the
// phones of a session. It returns the path taken: "local", "remote" or "".
func deliver(ctx context.Context, srv *lpns.Server, remote pushwire.Sender, req sendRequest, id string) (string, error) {
	localErr := srv.SendNotification(ctx, req.DeviceID, id, req.Payload)
	if localErr == nil {
		return "local", nil
	}
	if remote == nil || ctx.Err() != nil || !(errors.Is(localErr, lpns.ErrNotConnected) ||
		errors.Is(localErr, lpns.ErrNotAcknowledged) || errors.Is(localErr, lpns.ErrServerClosed)) {
		return "", localErr
	}
	if req.APNsToken == "" {
		return "", fmt.Errorf("local delivery failed (%v), and no apnsToken in the request", localErr)
	}
	// The payload travels as a pushwire.Message: JSON object members
	// become data entries of the APNs VoIP push.
	data := map[string]string{}
	var obj map[string]any
	if json.Unmarshal(req.Payload, &obj) == nil {
		for k, v := range obj {
			if s, ok := v.(string); ok {
				data[k] = s
			} else {
				b, _ := json.Marshal(v)
				data[k] = string(b)
			}
		}
	}
	err := remote.Send(ctx, pushwire.Message{Token: req.APNsToken, ID: id, Kind: pushwire.KindVoIP, Data: data})
	if err != nil {
		return "", fmt.Errorf("local delivery failed (%v), remote: %w", localErr, err)
	}
	return "remote", nil
}

func requireBearer(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		if !strings.HasPrefix(got, "Bearer ") || !constantTimeEqual(strings.TrimPrefix(got, "Bearer "), token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lpnsserver"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
