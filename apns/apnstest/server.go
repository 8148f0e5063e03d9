package apnstest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/pushwire/pushwire/apns"
)

// Config configures a fake APNs [Server]. The zero value is ready to use;
// [NewServer] copies it.
type Config struct {
	// Addr is the listen address; empty means 127.0.0.1:0. Only loopback
	// addresses are sensible: the fake is for tests.
	Addr string
	// KeyID and TeamID are the provider-token key id and team id the fake
	// accepts; empty means generated 10-character ids.
	KeyID, TeamID string
	// AuthKey is the provider-token signing key whose public half the fake
	// verifies with; nil means a generated P-256 key.
	AuthKey *ecdsa.PrivateKey
	// MoreKeys are further provider-token keys of the team the fake
	// accepts, by key id (public halves). A connection still binds to the
	// key id it first used: another one on it is UnrelatedKeyIdInToken.
	MoreKeys map[string]*ecdsa.PublicKey
	// Topics are the bundle ids the fake accepts (each with any push-type
	// suffix); empty accepts every topic.
	Topics []string
	// MaxConcurrentStreams is the HTTP/2 stream limit per connection
	// advertised to clients; 0 means 1000, like APNs.
	MaxConcurrentStreams int
	// Latency delays every answer.
	Latency time.Duration
	// MaxTokenAge is how old a provider token's iat may be before the fake
	// answers ExpiredProviderToken; 0 means one hour.
	MaxTokenAge time.Duration
	// MinTokenUpdate is how often a connection may change its provider
	// token before the fake answers TooManyProviderTokenUpdates; 0 means 20
	// minutes, negative disables the check.
	MinTokenUpdate time.Duration
	// Now is the fake's clock for token ages; nil means time.Now.
	Now func() time.Time
	// OnNotification, when set, is called with every accepted notification
	// (concurrently, from the request's goroutine).
	OnNotification func(Notification)
	// OnRequest, when set, is called with every request before the fake
	// looks at it (concurrently). It must not read the body.
	OnRequest func(*http.Request)
	// DisableRecording stops the fake from keeping accepted notifications
	// (for long benchmark runs); Notifications then stays empty.
	DisableRecording bool
	// Logger receives request logs; nil discards them.
	Logger *slog.Logger
}

// Notification is a push the fake accepted. The fake hands out copies:
// callers may keep and modify them.
type Notification struct {
	Token      string          `json:"token"`
	Topic      string          `json:"topic"`
	PushType   string          `json:"pushType"`
	Priority   int             `json:"priority"`
	APNsID     string          `json:"apnsId"`
	Expiration *int64          `json:"expiration,omitempty"`
	CollapseID string          `json:"collapseId,omitempty"`
	Payload    json.RawMessage `json:"payload"`
	// ReceivedAt is when the fake accepted it (by its clock).
	ReceivedAt time.Time `json:"-"`
	// TokenIssuedAt is the iat of the provider token that authenticated the
	// push; zero with certificate authentication.
	TokenIssuedAt time.Time `json:"-"`
}

// Action is what a scripted [Failure] does to the request and its connection.
type Action int

// Failure actions.
const (
	// ActionReply answers with the failure's status and reason.
	ActionReply Action = iota
	// ActionGoAway answers (with the reason, or accepts the push when
	// Reason is empty) and then sends GOAWAY, closing the connection
	// gracefully once its other streams are done.
	ActionGoAway
	// ActionDrop closes the connection without answering.
	ActionDrop
	// ActionHang stops the connection: nothing more is read or answered,
	// PINGs included, until the client gives up and closes it.
	ActionHang
	// ActionStall holds the request, read in full, without an answer until
	// the client cancels it or the fake closes. The connection and its
	// other streams go on as usual.
	ActionStall
)

// Failure is a scripted answer for pushes to one device token; [Server.Fail]
// copies it.
type Failure struct {
	// Reason is an APNs reason ("Unregistered", "TooManyRequests", …). The
	// status comes from Apple's table unless Status is set.
	Reason apns.Reason
	// Status overrides the HTTP status.
	Status int
	// Timestamp is the 410 timestamp; zero means now.
	Timestamp time.Time
	// RetryAfter, when positive, is sent as a Retry-After header (seconds).
	RetryAfter time.Duration
	// Action says what happens to the request and connection.
	Action Action
	// Times is how many requests the failure applies to; 0 means all until
	// [Server.Reset].
	Times int
}

// Server is a fake APNs: TLS HTTP/2 on loopback with a self-signed CA. It
// checks provider tokens (or client certificates), headers, topics and
// payloads like APNs, answers with APNs' statuses and JSON bodies, and
// records accepted notifications. It is safe for concurrent use.
type Server struct {
	// URL is the base URL of the fake ("https://127.0.0.1:port"), for apns.Config.BaseURL.
	URL string
	// KeyID is the provider-token key id the fake accepts.
	KeyID string
	// TeamID is the team id the fake accepts.
	TeamID string

	cfg     Config
	key     *ecdsa.PrivateKey
	pki     *pki
	pool    *x509.CertPool
	srv     *http.Server
	ln      net.Listener
	serveWG sync.WaitGroup
	latency atomic.Int64
	log     *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	closed   bool
	done     chan struct{} // closed by Close: ends hung and delayed requests
	handlers sync.WaitGroup
	notes    []Notification
	changed  chan struct{}
	failures map[string]*Failure
	received map[string]int // requests read in full, by device token
	conns    int
	tokens   map[string]tokenInfo // verified JWTs
	accepted int64
	requests int64
	hung     int
	gate     chan struct{} // non-nil while paused
}

type tokenInfo struct {
	kid string
	iat time.Time
}

// NewServer starts a fake APNs. It panics if it cannot listen, like
// httptest.NewServer; use [Start] to get an error instead. Close it when done.
func NewServer(cfg Config) *Server {
	s, err := Start(cfg)
	if err != nil {
		panic("apnstest: " + err.Error())
	}
	return s
}

// Start is NewServer returning an error.
func Start(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.KeyID == "" {
		cfg.KeyID = randomID()
	}
	if cfg.TeamID == "" {
		cfg.TeamID = randomID()
	}
	if cfg.AuthKey == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		cfg.AuthKey = k
	}
	if cfg.MaxConcurrentStreams == 0 {
		cfg.MaxConcurrentStreams = 1000
	}
	if cfg.MaxTokenAge == 0 {
		cfg.MaxTokenAge = time.Hour
	}
	if cfg.MinTokenUpdate == 0 {
		cfg.MinTokenUpdate = 20 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	clientCN := "com.example.app"
	if len(cfg.Topics) > 0 {
		clientCN = cfg.Topics[0]
	}
	p, err := newPKI(clientCN)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		URL:      "https://" + ln.Addr().String(),
		KeyID:    cfg.KeyID,
		TeamID:   cfg.TeamID,
		cfg:      cfg,
		key:      cfg.AuthKey,
		pki:      p,
		pool:     pool,
		log:      cfg.Logger,
		now:      cfg.Now,
		changed:  make(chan struct{}),
		done:     make(chan struct{}),
		failures: make(map[string]*Failure),
		received: make(map[string]int),
		tokens:   make(map[string]tokenInfo),
	}
	s.latency.Store(int64(cfg.Latency))
	tlsConf := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		NextProtos:   []string{"h2"},
	}
	protos := new(http.Protocols)
	protos.SetHTTP2(true)
	s.srv = &http.Server{
		Handler:           s,
		TLSConfig:         tlsConf,
		Protocols:         protos,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // per stream on HTTP/2: slow senders are cut off
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       time.Hour,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: cfg.MaxConcurrentStreams,
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				if fc, ok := tc.NetConn().(*fakeConn); ok {
					return context.WithValue(ctx, connKey{}, fc)
				}
			}
			return ctx
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.mu.Lock()
				s.conns++
				s.mu.Unlock()
			}
		},
	}
	s.ln = tls.NewListener(&listener{Listener: ln}, tlsConf)
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		_ = s.srv.Serve(s.ln)
	}()
	return s, nil
}

func randomID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Close stops the server, closes every connection, ends scripted hangs and
// delays (also of requests served directly through [Server.ServeHTTP]) and
// waits for its goroutines to end.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.Resume()
	_ = s.srv.Close()
	s.serveWG.Wait()
	s.handlers.Wait()
}

// AuthKey returns the provider-token signing key the fake accepts.
func (s *Server) AuthKey() *ecdsa.PrivateKey { return s.key }

// AuthKeyPEM returns the signing key as a .p8 file (PKCS#8 PEM).
func (s *Server) AuthKeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		panic("apnstest: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TokenAuth returns client credentials for the fake's key.
func (s *Server) TokenAuth() *apns.TokenAuth {
	return &apns.TokenAuth{Key: s.key, KeyID: s.KeyID, TeamID: s.TeamID}
}

// CertPool returns a pool holding the fake's CA, for apns.Config.RootCAs.
func (s *Server) CertPool() *x509.CertPool { return s.pool.Clone() }

// CAPEM returns the fake's CA certificate in PEM form.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.pki.caPEM...) }

// ClientCertificate returns a TLS client certificate the fake accepts for
// certificate authentication.
func (s *Server) ClientCertificate() tls.Certificate { return s.pki.client }

// ClientCertificatePEM returns the client certificate and its key in PEM form.
func (s *Server) ClientCertificatePEM() (certPEM, keyPEM []byte) {
	return append([]byte(nil), s.pki.clientC...), append([]byte(nil), s.pki.clientK...)
}

// ClientCertificateP12 returns the client certificate and key as a PKCS#12
// file protected by password.
func (s *Server) ClientCertificateP12(password string) ([]byte, error) {
	c := s.pki.client
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, err
	}
	return pkcs12.Modern.Encode(c.PrivateKey, leaf, []*x509.Certificate{s.pki.caCert}, password)
}

// Client returns an HTTP/2 client that trusts the fake, for apns.Config's
// HTTPClient or for other APNs client libraries. It presents no client
// certificate: with certificate authentication, add [Server.ClientCertificate]
// to its transport's TLS configuration.
func (s *Server) Client() *http.Client {
	conf := &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}}
}

// SetLatency changes the delay before every answer.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// Fail scripts a failure for pushes to token (case-insensitive), replacing
// any earlier one.
func (s *Server) Fail(token string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[strings.ToLower(token)] = &f
}

// Reset forgets recorded notifications, scripted failures and the counts of
// requests and accepted notifications.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes = nil
	s.requests = 0
	s.accepted = 0
	s.failures = make(map[string]*Failure)
	s.received = make(map[string]int)
}

// Pause makes the fake hold every request it receives (after reading it,
// before answering) until [Server.Resume].
func (s *Server) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
}

// Resume releases held requests and stops holding new ones.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// Requests returns how many requests reached the fake's handler, whatever
// their outcome.
func (s *Server) Requests() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// RequestsFor returns how many requests for the device token (case
// insensitive) the fake has read in full, headers and body, whatever it
// answered (scripted failures included), since it started or was Reset.
func (s *Server) RequestsFor(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[strings.ToLower(token)]
}

// HungConnections returns how many connections a scripted [ActionHang] has
// silenced.
func (s *Server) HungConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hung
}

// Notifications returns a copy of the accepted notifications, in order.
func (s *Server) Notifications() []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneNotes(s.notes)
}

// clone returns a copy of n that shares no memory with it.
func (n Notification) clone() Notification {
	if n.Expiration != nil {
		e := *n.Expiration
		n.Expiration = &e
	}
	if n.Payload != nil {
		n.Payload = append(json.RawMessage(nil), n.Payload...)
	}
	return n
}

// cloneNotes deep-copies notes.
func cloneNotes(notes []Notification) []Notification {
	if notes == nil {
		return nil
	}
	out := make([]Notification, len(notes))
	for i, n := range notes {
		out[i] = n.clone()
	}
	return out
}

// Accepted returns how many notifications the fake accepted (also when
// recording is disabled).
func (s *Server) Accepted() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Connections returns how many connections clients have opened so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// WaitForNotifications waits until at least n notifications have been
// recorded and returns them, or returns ctx's error.
func (s *Server) WaitForNotifications(ctx context.Context, n int) ([]Notification, error) {
	for {
		s.mu.Lock()
		if len(s.notes) >= n {
			out := cloneNotes(s.notes)
			s.mu.Unlock()
			return out, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("apnstest: waiting for %d notifications: %w", n, ctx.Err())
		}
	}
}

type connKey struct{}

// listener wraps accepted connections so the fake can drop or freeze them.
type listener struct{ net.Listener }

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &fakeConn{Conn: c}, nil
}

// fakeConn is a server-side connection with per-connection token state.
type fakeConn struct {
	net.Conn
	hung atomic.Bool

	mu         sync.Mutex
	token      string
	kid        string
	lastChange time.Time
}

// Read stops delivering data once the connection hangs: what arrives is
// discarded until the peer closes the connection.
func (c *fakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for c.hung.Load() {
		if err != nil {
			return 0, err
		}
		n, err = c.Conn.Read(p)
	}
	return n, err
}

// Write pretends to send once the connection hangs.
func (c *fakeConn) Write(p []byte) (int, error) {
	if c.hung.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// ServeHTTP is the fake's handler. It is reached through URL; it is exported
// so that it can be exercised directly (a request without TLS state is
// authenticated by provider token only).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.reply(w, "", http.StatusServiceUnavailable, apns.ReasonShutdown, time.Time{})
		return
	}
	s.handlers.Add(1)
	s.requests++
	s.mu.Unlock()
	defer s.handlers.Done()
	s.handle(w, r)
}

func (s *Server) reply(w http.ResponseWriter, apnsID string, status int, reason apns.Reason, ts time.Time) {
	h := w.Header()
	h["Date"] = nil // APNs sends no Date header; nil keeps Go's server from adding one
	if apnsID == "" {
		apnsID = newUUID() // APNs answers every request with an apns-id
	}
	h["apns-id"] = []string{apnsID}
	if status == http.StatusOK {
		w.WriteHeader(status)
		return
	}
	h["Content-Type"] = []string{"application/json"}
	w.WriteHeader(status)
	body := `{"reason":` + strconv.Quote(string(reason))
	if !ts.IsZero() {
		body += `,"timestamp":` + strconv.FormatInt(ts.UnixMilli(), 10)
	}
	_, _ = io.WriteString(w, body+"}")
}

// maxBody bounds what the fake reads of a request body.
const maxBody = apns.MaxVoIPPayloadBytes

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if s.cfg.OnRequest != nil {
		s.cfg.OnRequest(r)
	}
	fc, _ := r.Context().Value(connKey{}).(*fakeConn)
	// Every answer carries an apns-id: the request's when it is a valid
	// one, else a new UUID.
	apnsID, badID := newUUID(), false
	if v := r.Header.Values("Apns-Id"); len(v) == 1 {
		if apns.ValidUUID(v[0]) {
			apnsID = v[0]
		} else {
			badID = true
		}
	}
	fail := func(reason apns.Reason) {
		s.reply(w, apnsID, reason.Status(), reason, time.Time{})
	}
	if r.Method != http.MethodPost {
		fail(apns.ReasonMethodNotAllowed)
		return
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !ok {
		fail(apns.ReasonBadPath)
		return
	}
	for k, v := range r.Header {
		if len(v) > 1 && (strings.HasPrefix(k, "Apns-") || k == "Authorization") {
			fail(apns.ReasonDuplicateHeaders)
			return
		}
	}
	if badID {
		fail(apns.ReasonBadMessageID)
		return
	}
	if token == "" {
		fail(apns.ReasonMissingDeviceToken)
		return
	}
	if !apns.ValidDeviceToken(token) {
		fail(apns.ReasonBadDeviceToken)
		return
	}
	certAuth := r.TLS != nil && len(r.TLS.VerifiedChains) > 0
	var iat time.Time
	if !certAuth {
		var reason apns.Reason
		if iat, reason = s.checkToken(fc, r.Header.Get("Authorization")); reason != "" {
			fail(reason)
			return
		}
	}
	n := Notification{Token: strings.ToLower(token), APNsID: apnsID, TokenIssuedAt: iat}
	pt := r.Header.Get("Apns-Push-Type")
	if pt == "" {
		pt = string(inferPushType(r.Header.Get("Apns-Topic")))
	}
	if !apns.PushType(pt).Valid() {
		fail(apns.ReasonInvalidPushType)
		return
	}
	n.PushType = pt
	n.Topic = r.Header.Get("Apns-Topic")
	if n.Topic == "" {
		// Without the header APNs takes the topic from the certificate's
		// subject; provider tokens have no default.
		base := ""
		if certAuth {
			base = certTopic(r.TLS.VerifiedChains[0][0])
		}
		if base == "" {
			fail(apns.ReasonMissingTopic)
			return
		}
		n.Topic = apns.Topic(base, apns.PushType(pt))
	}
	if reason := s.checkTopic(n.Topic, apns.PushType(pt)); reason != "" {
		fail(reason)
		return
	}
	n.Priority = 10
	if pt == string(apns.PushTypeBackground) {
		n.Priority = 5 // lenient: a missing priority is taken as the only valid one
	}
	if v := r.Header.Get("Apns-Priority"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || (p != 10 && p != 5 && p != 1) {
			fail(apns.ReasonBadPriority)
			return
		}
		n.Priority = p
	}
	if pt == string(apns.PushTypeBackground) && n.Priority == 10 {
		fail(apns.ReasonBadPriority)
		return
	}
	if v := r.Header.Get("Apns-Expiration"); v != "" {
		e, err := strconv.ParseInt(v, 10, 64)
		if err != nil || e < 0 {
			fail(apns.ReasonBadExpirationDate)
			return
		}
		n.Expiration = &e
	}
	n.CollapseID = r.Header.Get("Apns-Collapse-Id")
	if len(n.CollapseID) > apns.MaxCollapseIDBytes {
		fail(apns.ReasonBadCollapseID)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody+1))
	if err != nil && len(body) <= maxBody {
		return // client went away
	}
	s.mu.Lock()
	s.received[n.Token]++
	s.mu.Unlock()
	limit := apns.MaxPayloadBytes
	if pt == string(apns.PushTypeVoIP) {
		limit = apns.MaxVoIPPayloadBytes
	}
	if len(body) > limit {
		fail(apns.ReasonPayloadTooLarge)
		return
	}
	if len(body) == 0 || body[0] != '{' || !json.Valid(body) {
		fail(apns.ReasonPayloadEmpty)
		return
	}
	n.Payload = body

	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if d := time.Duration(s.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
	}

	if f, ok := s.takeFailure(n.Token); ok {
		switch f.Action {
		case ActionDrop:
			if fc != nil {
				_ = fc.Close()
			}
			panic(http.ErrAbortHandler)
		case ActionStall:
			select {
			case <-r.Context().Done():
			case <-s.done:
			}
			panic(http.ErrAbortHandler) // reset the stream: no answer
		case ActionHang:
			if fc != nil {
				fc.hung.Store(true)
				s.mu.Lock()
				s.hung++
				s.mu.Unlock()
			}
			select {
			case <-r.Context().Done():
			case <-s.done: // a request served directly has no connection to close
			}
			return
		case ActionGoAway:
			w.Header().Set("Connection", "close")
			if f.Reason == "" && f.Status == 0 {
				s.accept(w, n)
				return
			}
		}
		status := f.Status
		if status == 0 {
			status = f.Reason.Status()
		}
		if status == 0 {
			status = http.StatusBadRequest
		}
		ts := f.Timestamp
		if status == http.StatusGone && ts.IsZero() {
			ts = s.now()
		}
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
		}
		s.reply(w, apnsID, status, f.Reason, ts)
		return
	}
	s.accept(w, n)
}

func (s *Server) accept(w http.ResponseWriter, n Notification) {
	n.ReceivedAt = s.now()
	s.mu.Lock()
	s.accepted++
	if !s.cfg.DisableRecording {
		s.notes = append(s.notes, n.clone()) // n itself goes to OnNotification
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
	if s.cfg.OnNotification != nil {
		s.cfg.OnNotification(n)
	}
	w.Header()["apns-unique-id"] = []string{newUUID()}
	s.reply(w, n.APNsID, http.StatusOK, "", time.Time{})
}

func (s *Server) takeFailure(token string) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.failures[token]
	if !ok {
		return Failure{}, false
	}
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			delete(s.failures, token)
		}
	}
	return *f, true
}

// checkTopic returns the reason for rejecting topic with push type pt, or "".
func (s *Server) checkTopic(topic string, pt apns.PushType) apns.Reason {
	if len(topic) > 255 || strings.ContainsAny(topic, " /") {
		return apns.ReasonBadTopic
	}
	base := topic
	if suffix := pt.TopicSuffix(); suffix != "" {
		var ok bool
		if base, ok = strings.CutSuffix(topic, suffix); !ok || base == "" {
			return apns.ReasonBadTopic
		}
	} else if strings.HasSuffix(topic, ".voip") || strings.HasSuffix(topic, ".complication") {
		return apns.ReasonBadTopic
	}
	if len(s.cfg.Topics) == 0 {
		return ""
	}
	for _, t := range s.cfg.Topics {
		if t == base {
			return ""
		}
	}
	return apns.ReasonTopicDisallowed
}

// inferredPushTypes are the push types the fake derives from the topic's
// suffix when a request has no apns-push-type header.
var inferredPushTypes = []apns.PushType{
	apns.PushTypeVoIP,
	apns.PushTypeComplication,
	apns.PushTypeFileProvider,
	apns.PushTypeLiveActivity,
}

// inferPushType returns the push type for a request without an
// apns-push-type header: the one topic's suffix names, else alert.
func inferPushType(topic string) apns.PushType {
	for _, pt := range inferredPushTypes {
		if strings.HasSuffix(topic, pt.TopicSuffix()) {
			return pt
		}
	}
	return apns.PushTypeAlert
}

// certTopic returns the topic a client certificate is issued for: its
// subject's common name after "Apple Push Services: " (or any other
// "…: " prefix), or "".
func certTopic(c *x509.Certificate) string {
	cn := c.Subject.CommonName
	if i := strings.LastIndex(cn, ": "); i >= 0 {
		cn = cn[i+2:]
	}
	return strings.TrimSpace(cn)
}

// checkToken verifies a provider token and returns its iat, or a reason.
func (s *Server) checkToken(fc *fakeConn, auth string) (time.Time, apns.Reason) {
	if auth == "" {
		return time.Time{}, apns.ReasonMissingProviderToken
	}
	scheme, raw, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || raw == "" || len(raw) > 4096 {
		return time.Time{}, apns.ReasonInvalidProviderToken
	}
	now := s.now()
	s.mu.Lock()
	info, cached := s.tokens[raw]
	s.mu.Unlock()
	if !cached {
		var err error
		if info, err = s.verify(raw); err != nil {
			s.log.Debug("apnstest: invalid provider token", "err", err)
			return time.Time{}, apns.ReasonInvalidProviderToken
		}
		s.mu.Lock()
		if len(s.tokens) >= 1024 {
			s.tokens = make(map[string]tokenInfo)
		}
		s.tokens[raw] = info
		s.mu.Unlock()
	}
	if now.Sub(info.iat) > s.cfg.MaxTokenAge {
		return time.Time{}, apns.ReasonExpiredProviderToken
	}
	if fc == nil {
		return info.iat, ""
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	switch {
	case fc.token == "":
		fc.token, fc.kid, fc.lastChange = raw, info.kid, now
	case fc.token == raw:
	case fc.kid != info.kid:
		return time.Time{}, apns.ReasonUnrelatedKeyIDInToken
	case s.cfg.MinTokenUpdate > 0 && now.Sub(fc.lastChange) < s.cfg.MinTokenUpdate:
		return time.Time{}, apns.ReasonTooManyProviderTokenUpdates
	default:
		fc.token, fc.lastChange = raw, now
	}
	return info.iat, ""
}

var errUnknownKey = errors.New("unknown key id")

// verify checks a JWT's signature, algorithm, key id and issuer.
func (s *Server) verify(raw string) (tokenInfo, error) {
	var info tokenInfo
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"})).ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		info.kid = kid
		if kid == s.KeyID {
			return &s.key.PublicKey, nil
		}
		if k, ok := s.cfg.MoreKeys[kid]; ok && kid != "" {
			return k, nil
		}
		return nil, errUnknownKey
	})
	if err != nil {
		return info, err
	}
	if iss, _ := claims["iss"].(string); iss != s.TeamID {
		return info, errors.New("issuer is not the team id")
	}
	iat, ok := claims["iat"].(float64)
	if !ok {
		return info, errors.New("no iat claim")
	}
	info.iat = time.Unix(int64(iat), 0)
	return info, nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
