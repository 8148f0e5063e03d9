package fcmtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
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
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of [Config].
const (
	DefaultProjectID    = "fcmtest-project"
	DefaultMaxBodyBytes = 64 << 10
)

// Config configures a [Server]. The zero value is ready to use.
type Config struct {
	// TLS serves HTTPS with HTTP/2 (use [Server.Client] or
	// [Server.Certificate] to trust it); default plain HTTP/1.1.
	TLS bool
	// Addr is the listen address; default "127.0.0.1:0". Only loopback
	// addresses are accepted.
	Addr string
	// ProjectID is the project the fake serves; default [DefaultProjectID].
	ProjectID string
	// ClientEmail is the service account's e-mail; default
	// fcmtest@{project}.iam.gserviceaccount.com.
	ClientEmail string
	// PrivateKey is the service-account key; default a fresh RSA 2048 key.
	PrivateKey *rsa.PrivateKey
	// TokenLifetime is the lifetime of issued access tokens; default 1h.
	TokenLifetime time.Duration
	// MaxBodyBytes caps request bodies; default [DefaultMaxBodyBytes].
	MaxBodyBytes int64
	// OnMessage, when set, is called for every accepted message (not for
	// validate_only requests), after it was recorded. Calls may be
	// concurrent.
	OnMessage func(Received)
	// DisableRecording stops the fake from keeping accepted messages (Messages and
	// WaitForMessages then see none), for long-running fakes that only
	// need OnMessage.
	DisableRecording bool
	// MaxConcurrentStreams is the HTTP/2 stream limit per connection
	// announced by a TLS fake; default 100, about what FCM allows.
	MaxConcurrentStreams int
	// Logger receives request logs; default discards.
	Logger *slog.Logger
	// Now is the clock for token expiry and JWT checks; default time.Now.
	Now func() time.Time
}

// Server is a running fake FCM. It is safe for concurrent use.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234 (no trailing
	// slash); use it as the fcm client's BaseURL.
	URL string

	cfg    Config
	hs     *httptest.Server
	key    *rsa.PrivateKey
	keyID  string
	saJSON []byte
	closed chan struct{}
	once   sync.Once
	// handlers counts the running handlers, so that Close can wait for
	// them: an HTTP/2 connection ends without waiting for its streams'.
	handlers sync.WaitGroup

	mu        sync.Mutex
	closing   bool // set by Close; no handler starts after it
	tokens    map[string]tokenInfo
	msgs      []Received
	changed   chan struct{}
	tokenReqs int
	sendReqs  int
	seq       uint64
	inFlight  int
	conns     int
	openConns int
	maxFlight int
	perToken  map[string]*Failure
	received  map[string]int // send requests read in full, by target
	next      []Failure
	always    *Failure
}

type tokenInfo struct {
	expiry time.Time
}

// NewServer starts a fake FCM server and panics if it cannot, like
// httptest.NewServer. Use [Start] to get the error instead.
func NewServer(cfg Config) *Server {
	s, err := Start(cfg)
	if err != nil {
		panic("fcmtest: " + err.Error())
	}
	return s
}

// Start starts a fake FCM server.
func Start(cfg Config) (*Server, error) {
	if cfg.ProjectID == "" {
		cfg.ProjectID = DefaultProjectID
	}
	if strings.ContainsAny(cfg.ProjectID, "/?#% \"\\") {
		return nil, errors.New("invalid project id")
	}
	if cfg.ClientEmail == "" {
		cfg.ClientEmail = "fcmtest@" + cfg.ProjectID + ".iam.gserviceaccount.com"
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if err := checkLoopback(cfg.Addr); err != nil {
		return nil, err
	}
	key := cfg.PrivateKey
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("generate key: %w", err)
		}
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		key:      key,
		keyID:    randomHex(20),
		closed:   make(chan struct{}),
		tokens:   make(map[string]tokenInfo),
		changed:  make(chan struct{}),
		perToken: make(map[string]*Failure),
		received: make(map[string]int),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", s.handleToken)
	mux.HandleFunc("/v1/projects/{project}/messages:send", s.handleSend)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		(&apiError{httpStatus: 404, status: "NOT_FOUND", message: "The requested URL was not found on this server."}).write(w)
	})
	hs := httptest.NewUnstartedServer(s.track(mux))
	_ = hs.Listener.Close()
	hs.Listener = l
	hs.Config.ReadHeaderTimeout = 10 * time.Second
	hs.Config.ReadTimeout = 30 * time.Second
	hs.Config.IdleTimeout = 90 * time.Second
	hs.Config.MaxHeaderBytes = 64 << 10
	if cfg.MaxConcurrentStreams <= 0 {
		cfg.MaxConcurrentStreams = 100
	}
	hs.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams}
	hs.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		switch state {
		case http.StateNew:
			s.mu.Lock()
			s.conns++
			s.openConns++
			s.mu.Unlock()
		case http.StateClosed, http.StateHijacked:
			// A hijacked connection is the fake's to close (Drop).
			s.mu.Lock()
			s.openConns--
			s.mu.Unlock()
		}
	}
	hs.Config.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)
	if cfg.TLS {
		hs.EnableHTTP2 = true
		hs.StartTLS()
	} else {
		hs.Start()
	}
	s.hs = hs
	s.URL = hs.URL
	s.saJSON, err = s.buildServiceAccount()
	if err != nil {
		hs.Close()
		return nil, err
	}
	return s, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("addr: %w", err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("addr %q is not a loopback address", addr)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) buildServiceAccount() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		return nil, err
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	sa := map[string]string{
		"type":                        "service_account",
		"project_id":                  s.cfg.ProjectID,
		"private_key_id":              s.keyID,
		"private_key":                 string(pemKey),
		"client_email":                s.cfg.ClientEmail,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    s.URL + "/auth",
		"token_uri":                   s.TokenURL(),
		"auth_provider_x509_cert_url": s.URL + "/certs",
		"client_x509_cert_url":        s.URL + "/certs/" + s.cfg.ClientEmail,
		"universe_domain":             "googleapis.com",
	}
	return json.MarshalIndent(sa, "", "  ")
}

// ServiceAccountJSON returns a service-account key file for the fake: its
// token_uri points at the fake, its project_id is [Server.ProjectID].
func (s *Server) ServiceAccountJSON() []byte {
	return append([]byte(nil), s.saJSON...)
}

// ProjectID returns the project the fake serves.
func (s *Server) ProjectID() string { return s.cfg.ProjectID }

// TokenURL returns the OAuth2 token endpoint URL.
func (s *Server) TokenURL() string { return s.URL + "/token" }

// ClientEmail returns the service account's e-mail (the JWT issuer).
func (s *Server) ClientEmail() string { return s.cfg.ClientEmail }

// Client returns an HTTP client that trusts the fake's TLS certificate (and
// speaks HTTP/2 to it); for a plain HTTP fake, a client with its own
// transport. Close closes its idle connections.
func (s *Server) Client() *http.Client { return s.hs.Client() }

// Certificate returns the TLS certificate of a TLS fake, nil otherwise.
func (s *Server) Certificate() *x509.Certificate { return s.hs.Certificate() }

// Close stops the server: scripted delays end, connections close (also
// those of clients in the middle of sending a request) and Close returns
// once every handler has returned. The recorded messages and the counters
// no longer change after it.
func (s *Server) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		close(s.closed)
		// httptest.Server.Close closes the idle connections only and
		// waits for the others, which a client that stops in the middle
		// of a request keeps busy until ReadTimeout. Close them all,
		// again until Close returns, for one accepted just before the
		// listener closed.
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.hs.Close()
		}()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			s.hs.CloseClientConnections()
			select {
			case <-done:
				s.handlers.Wait()
				return
			case <-tick.C:
			}
		}
	})
}

// track runs h unless the server is closing, counting it in s.handlers.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			panic(http.ErrAbortHandler)
		}
		s.handlers.Add(1)
		s.mu.Unlock()
		defer s.handlers.Done()
		h.ServeHTTP(w, r)
	})
}

// Messages returns the accepted messages in arrival order.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// WaitForMessages waits until at least n messages were accepted and returns
// them, or returns ctx's error with the messages so far.
func (s *Server) WaitForMessages(ctx context.Context, n int) ([]Received, error) {
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			out := append([]Received(nil), s.msgs...)
			s.mu.Unlock()
			return out, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return s.Messages(), ctx.Err()
		case <-s.closed:
			return s.Messages(), errors.New("fcmtest: server closed")
		}
	}
}

// Reset forgets the recorded messages, the request counters and all
// scripted failures. Issued access tokens stay valid.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = nil
	s.tokenReqs = 0
	s.sendReqs = 0
	s.received = make(map[string]int)
	s.maxFlight = s.inFlight
	s.perToken = make(map[string]*Failure)
	s.next = nil
	s.always = nil
}

// TokenRequests returns how many token requests the fake answered
// (successfully or not).
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenReqs
}

// RequestsFor returns how many send requests for the registration token (or
// FID, topic or condition) target the fake has read in full and decoded,
// whatever it answered (scripted failures included), since it started or
// was Reset.
func (s *Server) RequestsFor(target string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[target]
}

// SendRequests returns how many send requests arrived (accepted or not).
func (s *Server) SendRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendReqs
}

// Connections returns how many connections clients opened to the fake
// (since it started; Reset does not clear it).
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// OpenConnections returns how many client connections to the fake are open
// now, as far as the fake has seen: a connection the client closed counts
// once the fake has read the end of it.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openConns
}

// PeakConcurrency returns the largest number of send requests the fake was
// handling at the same time since it started or was Reset.
func (s *Server) PeakConcurrency() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxFlight
}

// RevokeTokens invalidates every access token issued so far: the next send
// with one gets 401 UNAUTHENTICATED.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = make(map[string]tokenInfo)
}

// FailToken scripts f for requests to the registration token (or FID or
// topic) target, f.Times times or until cleared.
func (s *Server) FailToken(target string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perToken[target] = &f
}

// FailNext scripts f for the next n send requests, whatever their target.
func (s *Server) FailNext(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.next = append(s.next, f)
	}
}

// FailAll scripts f for every send request until ClearFailures or Reset.
func (s *Server) FailAll(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = &f
}

// ClearFailures removes all scripted failures.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perToken = make(map[string]*Failure)
	s.next = nil
	s.always = nil
}

// scripted returns the failure to apply to a request for target, if any.
// Called with s.mu held.
func (s *Server) scripted(target string) (Failure, bool) {
	if f, ok := s.perToken[target]; ok {
		out := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				delete(s.perToken, target)
			}
		}
		return out, true
	}
	if len(s.next) > 0 {
		f := s.next[0]
		s.next = s.next[1:]
		return f, true
	}
	if s.always != nil {
		return *s.always, true
	}
	return Failure{}, false
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		(&apiError{httpStatus: 405, status: "UNIMPLEMENTED", message: "Method not allowed."}).write(w)
		return
	}
	s.mu.Lock()
	s.sendReqs++
	s.inFlight++
	s.maxFlight = max(s.maxFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()

	if aerr := s.checkAuth(r); aerr != nil {
		aerr.write(w)
		return
	}
	project := r.PathValue("project")
	if project != s.cfg.ProjectID {
		(&apiError{httpStatus: 403, status: "PERMISSION_DENIED",
			message: "Permission 'cloudmessaging.messages.create' denied on resource (or it may not exist)."}).write(w)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		badRequest("", "Invalid JSON payload received. Content-Type must be application/json.").write(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			(&apiError{httpStatus: 400, status: "INVALID_ARGUMENT",
				message: "Request payload size exceeds the limit: " + strconv.FormatInt(s.cfg.MaxBodyBytes, 10) + " bytes."}).write(w)
		}
		return
	}
	req, msg, compact, aerr := decodeSend(body)
	if aerr != nil {
		s.cfg.Logger.Debug("fcmtest: refused message", "error", aerr.message)
		aerr.write(w)
		return
	}
	target := msg.Token + msg.FID + msg.Topic + msg.Condition

	s.mu.Lock()
	s.received[target]++
	f, failing := s.scripted(target)
	s.mu.Unlock()
	if failing {
		if f.Delay > 0 && !s.wait(r.Context(), f.Delay) {
			return
		}
		if f.Hang {
			select {
			case <-r.Context().Done():
			case <-s.closed:
			}
			s.drop(w) // no answer, not even an empty one
			return
		}
		if f.Drop {
			s.drop(w)
			return
		}
		if f.isAnswer() {
			f.apiError().write(w)
			return
		}
	}

	if req.ValidateOnly {
		writeJSON(w, 200, map[string]string{"name": "projects/" + project + "/messages/fake_message_id"})
		return
	}
	s.mu.Lock()
	s.seq++
	name := fmt.Sprintf("projects/%s/messages/0:%d%%fcmtest", project, s.seq)
	rec := Received{Project: project, Name: name, Message: msg, Raw: compact}
	if !s.cfg.DisableRecording {
		s.msgs = append(s.msgs, rec)
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
	if s.cfg.OnMessage != nil {
		s.cfg.OnMessage(rec)
	}
	writeJSON(w, 200, map[string]string{"name": name})
}

// wait sleeps d unless the request or the server ends first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closed:
	}
	return false
}

// drop closes the connection without an answer (HTTP/1.x) or resets the
// stream (HTTP/2).
func (s *Server) drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) checkAuth(r *http.Request) *apiError {
	unauth := &apiError{httpStatus: 401, status: "UNAUTHENTICATED",
		message: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."}
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return unauth
	}
	s.mu.Lock()
	info, known := s.tokens[tok]
	s.mu.Unlock()
	if known && s.cfg.Now().Before(info.expiry) {
		return nil
	}
	if !known && strings.Count(tok, ".") == 2 && s.verifySelfSignedJWT(tok) == nil {
		return nil
	}
	return unauth
}
