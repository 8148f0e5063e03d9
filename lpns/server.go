package lpns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/lpns/internal/clock"
	"github.com/pushwire/pushwire/lpns/internal/wsconn"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// Config configures a Server. Only Authenticator is required. NewServer
// copies it; do not change the values it points to afterwards.
type Config struct {
	// Authenticator validates the bearer token at the upgrade and on refresh.
	Authenticator Authenticator
	// KeepaliveTimeout is the window within which a client must send a
	// keepalive; a connection that misses it is closed with 4401
	// (default 120 s). It is announced in the hello frame in whole
	// seconds, so it is rounded up to a whole second.
	KeepaliveTimeout time.Duration
	// AckTimeout is how long Send waits for the device's ack (default 2 s).
	AckTimeout time.Duration
	// WriteTimeout bounds each frame write; a client that cannot take a frame
	// within it is closed (default 2 s).
	WriteTimeout time.Duration
	// AuthTimeout bounds each call to the Authenticator (default 5 s).
	AuthTimeout time.Duration
	// MaxFrameBytes is the largest message accepted from a client, counted
	// over all the frames of a fragmented message (default 16 KiB); a
	// larger one closes the connection with 1009.
	MaxFrameBytes int64
	// MaxPayloadBytes is the largest notification payload Send accepts
	// (default 5120, the APNs VoIP limit).
	MaxPayloadBytes int
	// SealStrict makes Send refuse every message that is neither sealed
	// end to end nor has payload keys to be sealed with (an error matching
	// pushwire.ErrPermanent and sealsend.ErrNoKeys): nothing unsealed goes
	// out through Send. Messages with keys are sealed in any case (see
	// [Server.Send]). SendPayload and SendNotification send what they are
	// given.
	SealStrict bool
	// FrameRate and FrameBurst limit the messages per second of each
	// connection, a fragmented message counting once and WebSocket pings
	// and pongs one each (token bucket; defaults 5/s and 20). The message
	// over the limit is dropped, not processed, and the connection closed
	// with 4429.
	FrameRate  float64
	FrameBurst int
	// OriginPatterns lists browser origins allowed to connect (see
	// coder/websocket AcceptOptions). Requests without an Origin header,
	// which native clients send, are always allowed.
	OriginPatterns []string
	// NodeID names this server node (default random). Announced in hello
	// and used by the Cluster.
	NodeID string
	// Cluster, when set, makes this server one node of a cluster. The
	// server takes ownership of it.
	Cluster Cluster
	// ClusterTimeout bounds directory updates (default 2 s).
	ClusterTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake and the upgrade request on
	// connections accepted by Serve (default 10 s). Behind http.Server set
	// its ReadHeaderTimeout instead.
	HandshakeTimeout time.Duration
	// MaxHeaderBytes limits the upgrade request read by Serve (default 16 KiB).
	MaxHeaderBytes int
	// Hooks receive observability events.
	Hooks Hooks
	// Logger receives diagnostics (default: discard).
	Logger *slog.Logger
	// Now is the clock for token expiry and timestamps (default time.Now).
	Now func() time.Time

	clock clock.Clock // timers (keepalive window, token expiry, ack wait); tests set a fake
}

// Server is the local push server: an http.Handler accepting device
// WebSocket connections, and a pushwire.Sender delivering to them. It is safe
// for concurrent use.
//
// Serve connections with Server.Serve on a listener (lowest memory per
// connection), or mount the Server as a handler on an http.Server with
// ReadHeaderTimeout set (that bounds the TLS and WebSocket handshakes) and
// without ReadTimeout/WriteTimeout (the connections are long-lived; the
// server enforces its own keepalive and write timeouts). Each connection
// costs one goroutine, whose read loop runs in the goroutine serving the
// request, and one runtime timer for the keepalive window and token expiry;
// no goroutine wakes per connection while it is idle.
type Server struct {
	cfg     Config
	log     *slog.Logger
	cluster Cluster
	sealer  *sealsend.Sender // used for its Seal method only

	clusterOnce sync.Once // closes cluster

	stop  context.Context    // ended when connections are cut: ends the sends under way
	kill  context.CancelFunc // ends stop
	sends sync.WaitGroup     // sends under way; Add under mu while not closing

	mu        sync.Mutex
	sessions  map[string]*session   // the device's current session
	live      map[*session]struct{} // every upgraded connection until its handler ends, replaced ones included
	closing   bool
	cutting   bool                  // Close, or Shutdown past its deadline: connections are cut, not closed
	quit      chan struct{}         // closed when closing is set
	listeners []net.Listener        // of Serve
	pending   map[net.Conn]struct{} // Serve connections before the upgrade
	wg        sync.WaitGroup        // connection handlers
}

// NewServer validates cfg, fills in defaults and returns a Server. When
// cfg.Cluster is set it is started within ctx (lpnsredis subscribes to its
// node channel): NewServer returns ctx's error, wrapped, when ctx ends
// first. Without a Cluster NewServer does no I/O. ctx is not retained.
func NewServer(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Authenticator == nil {
		return nil, configError("Authenticator is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.KeepaliveTimeout, 120*time.Second)
	def(&cfg.AckTimeout, 2*time.Second)
	def(&cfg.WriteTimeout, 2*time.Second)
	def(&cfg.AuthTimeout, 5*time.Second)
	def(&cfg.ClusterTimeout, 2*time.Second)
	def(&cfg.HandshakeTimeout, 10*time.Second)
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = 16 << 10
	}
	if cfg.MaxHeaderBytes < 1024 || cfg.HandshakeTimeout < 0 {
		return nil, configError("MaxHeaderBytes must be at least 1024")
	}
	if cfg.KeepaliveTimeout < 0 || cfg.AckTimeout < 0 || cfg.WriteTimeout < 0 || cfg.AuthTimeout < 0 || cfg.ClusterTimeout < 0 {
		return nil, configError("negative timeout")
	}
	// The window is announced in whole seconds: enforce what is announced.
	cfg.KeepaliveTimeout = (cfg.KeepaliveTimeout + time.Second - 1).Truncate(time.Second)
	if cfg.MaxFrameBytes == 0 {
		cfg.MaxFrameBytes = 16 << 10
	}
	if cfg.MaxPayloadBytes == 0 {
		cfg.MaxPayloadBytes = 5120
	}
	if cfg.MaxFrameBytes < 256 || cfg.MaxPayloadBytes < 0 {
		return nil, configError("MaxFrameBytes must be at least 256")
	}
	if cfg.FrameRate == 0 {
		cfg.FrameRate = 5
	}
	if cfg.FrameBurst == 0 {
		cfg.FrameBurst = 20
	}
	if cfg.FrameRate < 0 || cfg.FrameBurst < 1 {
		return nil, configError("bad frame rate limit")
	}
	if cfg.NodeID == "" {
		cfg.NodeID = randomID()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.clock == nil {
		cfg.clock = clock.Real{}
	}
	if cfg.Now == nil {
		cfg.Now = cfg.clock.Now
	}
	sealer, err := sealsend.New(sealsend.Config{Next: notSending, Provider: pushwire.ProviderLPNS,
		Strict: cfg.SealStrict, MaxBytes: cfg.MaxPayloadBytes})
	if err != nil {
		return nil, configError(err.Error())
	}
	s := &Server{cfg: cfg, log: cfg.Logger, cluster: cfg.Cluster, sealer: sealer, sessions: make(map[string]*session),
		live: make(map[*session]struct{}), quit: make(chan struct{})}
	s.stop, s.kill = context.WithCancel(context.Background())
	if s.cluster != nil {
		if err := s.cluster.Start(ctx, cfg.NodeID, clusterHandler{s}); err != nil {
			return nil, fmt.Errorf("lpns: start cluster: %w", err)
		}
	}
	return s, nil
}

// NodeID returns the node name announced to clients.
func (s *Server) NodeID() string { return s.cfg.NodeID }

// MaxPayloadBytes returns the largest notification payload Send accepts
// (Config.MaxPayloadBytes or its default), the limit a sealed message must
// fit.
func (s *Server) MaxPayloadBytes() int { return s.cfg.MaxPayloadBytes }

// notSending is the next sender of the Server's sealer, which is used only
// to seal.
var notSending = pushwire.SenderFunc(func(context.Context, pushwire.Message) error {
	return &pushwire.Error{Class: pushwire.ErrPermanent, Provider: pushwire.ProviderLPNS,
		Err: errors.New("lpns: the sealer does not send")}
})

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ServeHTTP authenticates the device and runs its connection until it ends.
// The read loop runs in this goroutine.
//
// The checks come in this order, the first failing one answering (see
// PROTOCOL.md): 503 while shutting down, 400 when lpns.v1 is not offered,
// 401 when the bearer token is refused, then the WebSocket handshake itself
// (403 for a browser origin not allowed, 400, 405 or 426 for a malformed
// upgrade). The 503, 400 and 401 answers carry an error frame as a JSON
// body.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.isClosing() {
		w.Header().Set("Retry-After", "1")
		handshakeError(w, http.StatusServiceUnavailable, "server-shutdown", "server shutting down, reconnect to another node")
		return
	}
	if !offersSubprotocol(r) {
		s.authFailure("no-subprotocol")
		handshakeError(w, http.StatusBadRequest, "no-subprotocol", "websocket subprotocol "+Subprotocol+" required")
		return
	}
	id, err := s.authenticate(r.Context(), r, bearerToken(r))
	if err != nil {
		reason := authReason(err)
		s.authFailure(reason)
		if errors.Is(err, ErrTokenMissing) {
			// RFC 6750 section 3.1: no error code when the request
			// carried no credentials.
			w.Header().Set("WWW-Authenticate", `Bearer realm="lpns"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lpns", error="invalid_token"`)
		}
		handshakeError(w, http.StatusUnauthorized, reason, "bearer token refused")
		return
	}
	now := s.cfg.Now()
	ss := &session{srv: s, id: id, remote: r.RemoteAddr, connectedAt: now,
		lastKeepalive: now, deadline: now.Add(s.cfg.KeepaliveTimeout),
		tokens: float64(s.cfg.FrameBurst), last: now}
	conn, err := wsconn.Accept(w, r, wsconn.AcceptOptions{
		Subprotocols:   []string{Subprotocol},
		OriginPatterns: s.cfg.OriginPatterns,
		ReadLimit:      s.cfg.MaxFrameBytes,
		OnControl:      ss.control,
	})
	if err != nil {
		s.log.Debug("lpns: upgrade failed", "err", err)
		return
	}
	ss.conn = conn
	old, ok := s.register(ss)
	if !ok {
		s.closeLate(ss)
		return
	}
	defer s.release(ss)
	if old != nil {
		go old.terminate(CloseReplaced, "replaced", 409, "replaced by a newer connection")
	}
	ss.run()
}

// handshakeError answers a refused upgrade with an error frame as the body.
func handshakeError(w http.ResponseWriter, status int, reason, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(encodeFrame(Frame{Type: FrameError, Code: status, Reason: reason, Message: message}), '\n'))
}

func offersSubprotocol(r *http.Request) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == Subprotocol {
				return true
			}
		}
	}
	return false
}

func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const p = "bearer "
	if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
		return strings.TrimSpace(h[len(p):])
	}
	return ""
}

func (s *Server) authenticate(ctx context.Context, r *http.Request, token string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrTokenMissing
	}
	if len(token) > maxTokenLen {
		return Identity{}, fmt.Errorf("%w: too long", ErrTokenInvalid)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AuthTimeout)
	defer cancel()
	id, err := s.cfg.Authenticator.Authenticate(ctx, r, token)
	if err != nil {
		return Identity{}, err
	}
	if id.DeviceID == "" || len(id.DeviceID) > maxIDLen {
		return Identity{}, fmt.Errorf("%w: no device id", ErrTokenInvalid)
	}
	if !id.ExpiresAt.IsZero() && !s.cfg.Now().Before(id.ExpiresAt) {
		return Identity{}, ErrTokenExpired
	}
	return id, nil
}

func (s *Server) authFailure(reason string) {
	s.log.Info("lpns: authentication failed", "reason", reason)
	if f := s.cfg.Hooks.OnAuthFailure; f != nil {
		f(reason)
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// register makes ss the device's current session and counts its handler
// until release. It returns the session it replaced, and false when the
// server is closing.
func (s *Server) register(ss *session) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, false
	}
	s.wg.Add(1)
	s.live[ss] = struct{}{}
	old := s.sessions[ss.id.DeviceID]
	s.sessions[ss.id.DeviceID] = ss
	return old, true
}

// release ends the handler of a registered session. A replaced session
// stays live until then, while its closing handshake runs, so that Close
// can still cut it.
func (s *Server) release(ss *session) {
	s.mu.Lock()
	delete(s.live, ss)
	s.mu.Unlock()
	s.wg.Done()
}

// closeLate closes a connection upgraded while the server was closing:
// with 4503, or at once when the server is cutting connections, which also
// cuts a closing handshake begun here.
func (s *Server) closeLate(ss *session) {
	s.mu.Lock()
	cut := s.cutting
	if !cut {
		s.live[ss] = struct{}{}
	}
	s.mu.Unlock()
	if cut {
		_ = ss.conn.CloseNow()
		return
	}
	_ = ss.conn.Close(CloseShutdown, "server-shutdown")
	s.mu.Lock()
	delete(s.live, ss)
	s.mu.Unlock()
}

// cut closes every upgraded connection at once, also those in a closing
// handshake, and makes connections upgraded from now on close at once.
func (s *Server) cut() {
	s.kill() // the sends under way end
	s.mu.Lock()
	s.cutting = true
	list := make([]*session, 0, len(s.live))
	for ss := range s.live {
		list = append(list, ss)
	}
	s.mu.Unlock()
	for _, ss := range list {
		_ = ss.conn.CloseNow() // also cuts a closing handshake in progress
		ss.abort()
	}
}

// unregister removes ss if it is still the device's session.
func (s *Server) unregister(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ss.id.DeviceID] == ss {
		delete(s.sessions, ss.id.DeviceID)
		return true
	}
	return false
}

func (s *Server) lookup(deviceID string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[deviceID]
}

func (s *Server) clusterTTL() time.Duration {
	return s.cfg.KeepaliveTimeout + s.cfg.KeepaliveTimeout/4
}

// Send delivers msg to the device msg.Token and waits for its ack. The
// payload is the JSON encoding of msg (see PROTOCOL.md, "Message payload");
// msg.ID is the notification id (generated when empty). It implements
// pushwire.Sender; errors match ErrNotConnected, ErrNotAcknowledged,
// ErrPayloadTooLarge, ErrInvalidPayload or ErrServerClosed (which matches
// pushwire.ErrClosed), or are those of pushwire.ContextError when ctx ends.
// Once the notification was written (or handed to the node holding the
// device) a failure also matches pushwire.ErrUnknownOutcome: the device may
// have received it.
//
// A message with PayloadKeys is sealed end to end for them first, as
// package seal/sealsend seals for LPNS (PROTOCOL.md, "Sealed payload"):
// the kind stays, the title and body go, and the data holds only the
// sealed members; its notification id is the tracking id. A message that
// would not fit MaxPayloadBytes once sealed fails with a
// *sealsend.TooLargeError, keys that do not parse with an error matching
// seal.ErrInvalidKey, and, with Config.SealStrict, a message without keys
// that is not already sealed with one matching sealsend.ErrNoKeys; all of
// class pushwire.ErrPermanent, before anything is sent. A closing server
// answers ErrServerClosed without sealing.
func (s *Server) Send(ctx context.Context, msg pushwire.Message) error {
	if (msg.PayloadKeys != nil || s.cfg.SealStrict) && !s.isClosing() {
		// A closing server refuses the message below, unsealed and unsent.
		sealed, err := s.sealer.Seal(msg)
		if err != nil {
			return fmt.Errorf("lpns: send to %s: %w", pushwire.Redact(msg.Token), err)
		}
		msg = sealed
	}
	payload, err := MessagePayload(msg)
	if err != nil {
		return err
	}
	id := msg.ID
	if id == "" {
		id = randomID()
	}
	return s.SendNotification(ctx, msg.Token, id, payload)
}

// SendPayload delivers a JSON payload to deviceID under a new notification id
// and waits for the ack, as Send does.
func (s *Server) SendPayload(ctx context.Context, deviceID string, payload []byte) error {
	return s.SendNotification(ctx, deviceID, randomID(), payload)
}

// SendNotification delivers a JSON payload with notification id to deviceID:
// to the local connection, or through the Cluster to the node holding the
// device. It returns nil once the device acknowledged it, within AckTimeout
// (or ctx's deadline, if sooner).
func (s *Server) SendNotification(ctx context.Context, deviceID, id string, payload []byte) error {
	start := time.Now()
	routed := false
	err := s.validateSend(deviceID, id, payload)
	if err == nil {
		if cerr := ctx.Err(); cerr != nil {
			err = pushwire.ContextError(pushwire.ProviderLPNS, cerr, false)
		} else if !s.beginSend() {
			err = ErrServerClosed
		} else {
			routed, err = s.send(ctx, deviceID, id, payload)
			s.sends.Done()
		}
	}
	if f := s.cfg.Hooks.OnSend; f != nil {
		f(outcomeOf(err), time.Since(start), routed)
	}
	if err != nil {
		return fmt.Errorf("lpns: send to %s: %w", pushwire.Redact(deviceID), err)
	}
	return nil
}

// beginSend registers a send; it fails once Shutdown or Close began.
func (s *Server) beginSend() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.sends.Add(1)
	return true
}

// send delivers to the local connection or through the Cluster, and
// reports whether the Cluster routed it.
func (s *Server) send(ctx context.Context, deviceID, id string, payload []byte) (bool, error) {
	// sctx ends with ctx, or when Close cuts the connections.
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.stop, cancel)
	defer func() {
		stop()
		cancel()
	}()
	if ss := s.lookup(deviceID); ss != nil {
		return false, s.deliverTo(ctx, sctx, ss, id, payload)
	}
	if s.cluster == nil {
		return false, ErrNotConnected
	}
	rctx, rcancel := context.WithTimeout(sctx, s.cfg.AckTimeout+s.cfg.AckTimeout/4)
	err := s.cluster.Route(rctx, deviceID, id, payload)
	rcancel()
	switch {
	case err == nil:
		return true, nil
	case sctx.Err() != nil:
		// Handed to the node holding the device: it may have delivered.
		return true, s.ended(ctx, true)
	case errors.Is(err, context.DeadlineExceeded):
		return true, pushwire.UnknownOutcome(fmt.Errorf("%w: routed delivery timed out", ErrNotAcknowledged))
	case errors.Is(err, ErrNotAcknowledged):
		return true, pushwire.UnknownOutcome(err)
	}
	return true, err
}

// deliverTo delivers to a local session within sctx, which ends with ctx
// (the caller's) or when the connections are cut.
func (s *Server) deliverTo(ctx, sctx context.Context, ss *session, id string, payload []byte) error {
	written, err := ss.deliver(sctx, id, payload)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrInvalidPayload):
		return err
	case err == errInterrupted || s.stop.Err() != nil:
		return s.ended(ctx, written)
	case written:
		return pushwire.UnknownOutcome(err)
	}
	return err
}

// ended is the error of a send whose context (ctx, the caller's) ended or
// that Close ended; written reports whether the notification may have
// reached the device.
func (s *Server) ended(ctx context.Context, written bool) error {
	if err := ctx.Err(); err != nil {
		return pushwire.ContextError(pushwire.ProviderLPNS, err, written)
	}
	if written {
		return pushwire.UnknownOutcome(fmt.Errorf("%w: the send under way was ended", ErrServerClosed))
	}
	return ErrServerClosed
}

func (s *Server) validateSend(deviceID, id string, payload []byte) error {
	switch {
	case s.isClosing():
		return ErrServerClosed
	case deviceID == "" || len(deviceID) > maxIDLen:
		return fmt.Errorf("%w: bad device id", ErrInvalidPayload)
	case id == "" || len(id) > maxIDLen:
		return fmt.Errorf("%w: bad notification id", ErrInvalidPayload)
	case len(payload) > s.cfg.MaxPayloadBytes:
		return ErrPayloadTooLarge
	case !json.Valid(payload):
		return fmt.Errorf("%w: not JSON", ErrInvalidPayload)
	}
	return nil
}

func outcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeAcked
	case errors.Is(err, ErrNotConnected), errors.Is(err, ErrServerClosed):
		return OutcomeNotConnected
	case errors.Is(err, ErrNotAcknowledged), errors.Is(err, pushwire.ErrUnknownOutcome):
		return OutcomeNotAcked
	case errors.Is(err, ErrPayloadTooLarge):
		return OutcomeTooLarge
	case errors.Is(err, ErrInvalidPayload):
		return OutcomeInvalid
	}
	return OutcomeError
}

// DisconnectReason says why the server ends a device's session (a plain
// string value).
type DisconnectReason string

// Disconnect reasons and the close codes they produce.
const (
	ReasonLoggedOut      DisconnectReason = "logged-out"      // 4403
	ReasonUserDeleted    DisconnectReason = "user-deleted"    // 4410
	ReasonDeviceDeleted  DisconnectReason = "device-deleted"  // 4404
	ReasonNetworkChanged DisconnectReason = "network-changed" // 4451
	ReasonUnauthorized   DisconnectReason = "unauthorized"    // 4401
)

func (r DisconnectReason) close() (code, status int, ok bool) {
	switch r {
	case ReasonLoggedOut:
		return CloseLoggedOut, 403, true
	case ReasonUserDeleted:
		return CloseUserGone, 410, true
	case ReasonDeviceDeleted:
		return CloseDeviceGone, 404, true
	case ReasonNetworkChanged:
		return CloseNetwork, 451, true
	case ReasonUnauthorized:
		return CloseUnauthorized, 401, true
	case "replaced":
		return CloseReplaced, 409, true
	}
	return 0, 0, false
}

// Disconnect closes deviceID's session with reason: an error frame, then the
// matching close code. With a Cluster, the node holding the device closes it.
// It reports whether a session was found; the close completes in the
// background.
func (s *Server) Disconnect(ctx context.Context, deviceID string, reason DisconnectReason) (bool, error) {
	if _, _, ok := reason.close(); !ok || reason == "replaced" {
		return false, fmt.Errorf("%w: unknown disconnect reason %q", ErrInvalidPayload, reason)
	}
	if s.disconnectLocal(deviceID, string(reason)) {
		return true, nil
	}
	if s.cluster != nil {
		return s.cluster.Disconnect(ctx, deviceID, string(reason))
	}
	return false, nil
}

func (s *Server) disconnectLocal(deviceID, reason string) bool {
	ss := s.lookup(deviceID)
	if ss == nil {
		return false
	}
	code, status, _ := DisconnectReason(reason).close()
	// Asynchronous: the closing handshake can take seconds with an
	// unresponsive client. The session's handler waits for it to finish.
	go ss.terminate(code, reason, status, "session closed: "+reason)
	return true
}

// SessionInfo describes one live connection. It is a plain value (a
// snapshot).
type SessionInfo struct {
	DeviceID      string    `json:"deviceId"`
	UserID        string    `json:"userId,omitempty"`
	Node          string    `json:"node"`
	RemoteAddr    string    `json:"remoteAddr"`
	ConnectedAt   time.Time `json:"connectedAt"`
	LastKeepalive time.Time `json:"lastKeepalive"`
	ExpiresAt     time.Time `json:"expiresAt,omitzero"`
}

// Sessions lists the sessions connected to this node, sorted by device id.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	out := make([]SessionInfo, 0, len(list))
	for _, ss := range list {
		ss.mu.Lock()
		out = append(out, SessionInfo{DeviceID: ss.id.DeviceID, UserID: ss.id.UserID, Node: s.cfg.NodeID,
			RemoteAddr: ss.remote, ConnectedAt: ss.connectedAt, LastKeepalive: ss.lastKeepalive, ExpiresAt: ss.id.ExpiresAt})
		ss.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out
}

// Count returns the number of sessions connected to this node.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Shutdown stops accepting connections and sends (Send then returns
// ErrServerClosed), waits for the sends under way to end (each within
// AckTimeout), then sends every client an error frame and close code 4503
// ("server shutdown, reconnect elsewhere") and waits for the connections to
// end. When ctx ends first it does what Close does (the sends still under
// way end with ErrServerClosed) and returns ctx's error. It closes the
// Cluster.
func (s *Server) Shutdown(ctx context.Context) error {
	list := s.beginClose()
	sent := make(chan struct{})
	go func() {
		s.sends.Wait()
		close(sent)
	}()
	select {
	case <-sent:
	case <-ctx.Done():
		s.cut()
		s.wg.Wait()
		<-sent
		_ = s.closeCluster()
		return ctx.Err()
	}
	var wg sync.WaitGroup
	for _, ss := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss.terminate(CloseShutdown, "server-shutdown", 503, "server shutting down, reconnect to another node")
		}()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.cut()
		<-done
	}
	if cerr := s.closeCluster(); err == nil {
		err = cerr
	}
	return err
}

// Close refuses new sends (ErrServerClosed), ends the sends under way (they
// return ErrServerClosed, matching pushwire.ErrUnknownOutcome too when the
// notification had been written), closes every connection at once, without
// a closing handshake (as a crash would, for tests), waits for the sends
// and the handlers to end and closes the Cluster. It also cuts the
// connections a Shutdown in progress waits for. It is idempotent.
func (s *Server) Close() error {
	s.beginClose()
	s.cut()
	s.wg.Wait()
	s.sends.Wait()
	return s.closeCluster()
}

// closeCluster closes the Cluster on the first call only: Close after
// Shutdown must not close it twice.
func (s *Server) closeCluster() error {
	var err error
	s.clusterOnce.Do(func() {
		if s.cluster != nil {
			err = s.cluster.Close()
		}
	})
	return err
}

func (s *Server) beginClose() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	s.closing = true
	close(s.quit)
	for _, ln := range s.listeners {
		_ = ln.Close()
	}
	for nc := range s.pending {
		_ = nc.Close()
	}
	list := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	return list
}

// clusterHandler exposes the server to its Cluster.
type clusterHandler struct{ s *Server }

func (h clusterHandler) DeliverLocal(ctx context.Context, deviceID, id string, payload []byte) error {
	if err := h.s.validateSend(deviceID, id, payload); err != nil {
		return err
	}
	ss := h.s.lookup(deviceID)
	if ss == nil {
		return ErrNotConnected
	}
	return h.s.deliverTo(ctx, ctx, ss, id, payload)
}

func (h clusterHandler) DisconnectLocal(deviceID, reason string) bool {
	if _, _, ok := DisconnectReason(reason).close(); !ok {
		return false
	}
	return h.s.disconnectLocal(deviceID, reason)
}
