package lpns

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/lpns/internal/clock"
	"github.com/pushwire/pushwire/lpns/internal/wsconn"
)

// maxLateAcks is how many unacknowledged notification ids a session
// remembers, so that their late acks are not charged as frames.
const maxLateAcks = 64

// session is one live device connection. Its read loop runs in the
// handler goroutine; a single timer enforces the keepalive window and the
// token expiry; writes are bounded by WriteTimeout.
type session struct {
	srv         *Server
	conn        wsconn.Conn
	remote      string
	connectedAt time.Time

	mu            sync.Mutex
	id            Identity
	deadline      time.Time // keepalive deadline
	lastKeepalive time.Time
	timer         clock.Timer
	pending       map[string]chan bool // notification id → ack (true) / connection end (false)
	late          []string             // ids sent here that went unacknowledged, oldest first, at most maxLateAcks
	ended         bool
	closeCode     int
	closeReason   string
	limited       bool // over the frame rate: closing with 4429

	// frame-rate token bucket, guarded by mu: charged by the read loop and
	// by control, which also runs in a closing handshake's goroutine
	tokens float64
	last   time.Time

	closeOnce sync.Once
}

func (ss *session) run() {
	s := ss.srv
	ss.mu.Lock()
	ss.timer = s.cfg.clock.AfterFunc(ss.untilLocked(), ss.expire)
	ss.mu.Unlock()

	if s.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ClusterTimeout)
		err := s.cluster.Claim(ctx, ss.id.DeviceID, s.clusterTTL())
		cancel()
		if err != nil {
			s.log.Warn("lpns: cluster claim failed", "device", pushwire.Redact(ss.id.DeviceID), "err", err)
		}
	}
	if f := s.cfg.Hooks.OnConnect; f != nil {
		f(ss.id)
	}
	hello := Frame{Type: FrameHello, DeviceID: ss.id.DeviceID, Node: s.cfg.NodeID,
		Keepalive: int(s.cfg.KeepaliveTimeout / time.Second), ExpiresAt: ss.id.ExpiresAt.UTC()}
	var err error
	if err = ss.write(hello); err == nil {
		err = ss.readLoop()
	}
	ss.finish(err)
}

// untilLocked returns the time until the next deadline (keepalive or token
// expiry). ss.mu must be held.
func (ss *session) untilLocked() time.Duration {
	next := ss.deadline
	if !ss.id.ExpiresAt.IsZero() && ss.id.ExpiresAt.Before(next) {
		next = ss.id.ExpiresAt
	}
	d := next.Sub(ss.srv.cfg.Now())
	if d < 0 {
		d = 0
	}
	return d
}

// expire runs when the session timer fires.
func (ss *session) expire() {
	now := ss.srv.cfg.Now()
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	tokenExpired := !ss.id.ExpiresAt.IsZero() && !now.Before(ss.id.ExpiresAt)
	keepaliveMissed := !now.Before(ss.deadline)
	if !tokenExpired && !keepaliveMissed {
		ss.timer.Reset(ss.untilLocked()) // renewed meanwhile
		ss.mu.Unlock()
		return
	}
	id := ss.id
	ss.mu.Unlock()
	if tokenExpired {
		ss.terminate(CloseUnauthorized, "token-expired", 401, "token expired")
		return
	}
	if f := ss.srv.cfg.Hooks.OnKeepaliveTimeout; f != nil {
		f(id)
	}
	ss.terminate(CloseUnauthorized, "keepalive-timeout", 401, "no keepalive within the window")
}

func (ss *session) write(f Frame) error {
	ctx, cancel := context.WithTimeout(context.Background(), ss.srv.cfg.WriteTimeout)
	defer cancel()
	return ss.conn.Write(ctx, encodeFrame(f))
}

// terminate sends an error frame and closes with code; only the first call
// has an effect, later ones wait for it to finish.
func (ss *session) terminate(code int, reason string, status int, message string) {
	ss.closeOnce.Do(func() {
		ss.mu.Lock()
		ss.closeCode, ss.closeReason = code, reason
		ss.mu.Unlock()
		if status != 0 {
			_ = ss.write(Frame{Type: FrameError, Code: status, Reason: reason, Message: message})
		}
		_ = ss.conn.Close(code, reason)
	})
}

// abort closes the connection without a handshake.
func (ss *session) abort() {
	ss.closeOnce.Do(func() {
		ss.mu.Lock()
		ss.closeCode, ss.closeReason = 1006, "aborted"
		ss.mu.Unlock()
		_ = ss.conn.CloseNow()
	})
}

func (ss *session) readLoop() error {
	s := ss.srv
	for {
		data, err := ss.conn.Read(context.Background())
		if errors.Is(err, wsconn.ErrBinary) {
			ss.terminate(CloseBadFrame, "bad-frame", 400, "binary frame")
			return err
		}
		if err != nil {
			return err
		}
		f, err := ParseFrame(data)
		if err != nil {
			ss.terminate(CloseBadFrame, "bad-frame", 400, "malformed frame")
			return err
		}
		// Acks of notifications sent on this connection, in flight or
		// recently timed out, answer the server's own traffic and are
		// exempt from the frame-rate limit; everything else counts.
		if !(f.Type == FrameAck && ss.acked(f.ID)) && !ss.allow() {
			ss.terminate(CloseRateLimited, "rate-limited", 429, "too many frames")
			return errors.New("rate limited")
		}
		switch f.Type {
		case FrameAck:
			// handled above; a late or unknown ack was reported
		case FrameKeepalive:
			if err := ss.keepalive(); err != nil {
				return err
			}
		case FrameRefresh:
			if err := ss.refresh(f.Token); err != nil {
				return err
			}
		default:
			ss.terminate(CloseBadFrame, "bad-frame", 400, "unexpected frame type "+f.Type)
			return fmt.Errorf("unexpected frame %q", f.Type)
		}
		_ = s
	}
}

// control charges a ping or pong from the client, which the WebSocket
// library handles inside Read, against the frame-rate limit. Over it, the
// ping goes unanswered and the connection is closed with 4429 from another
// goroutine (a close from inside Read would wait for itself).
func (ss *session) control() bool {
	if ss.allow() {
		return true
	}
	ss.mu.Lock()
	first := !ss.limited
	ss.limited = true
	ss.mu.Unlock()
	if first {
		go ss.terminate(CloseRateLimited, "rate-limited", 429, "too many frames")
	}
	return false
}

// allow applies the per-connection token bucket.
func (ss *session) allow() bool {
	cfg := &ss.srv.cfg
	now := cfg.Now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.tokens += now.Sub(ss.last).Seconds() * cfg.FrameRate
	ss.last = now
	if max := float64(cfg.FrameBurst); ss.tokens > max {
		ss.tokens = max
	}
	if ss.tokens < 1 {
		return false
	}
	ss.tokens--
	return true
}

func (ss *session) keepalive() error {
	s := ss.srv
	now := s.cfg.Now()
	ss.mu.Lock()
	ss.lastKeepalive = now
	ss.deadline = now.Add(s.cfg.KeepaliveTimeout)
	ss.timer.Reset(ss.untilLocked())
	ss.mu.Unlock()
	if s.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ClusterTimeout)
		mine, err := s.cluster.Refresh(ctx, ss.id.DeviceID, s.clusterTTL())
		cancel()
		if err != nil {
			s.log.Warn("lpns: cluster refresh failed", "device", pushwire.Redact(ss.id.DeviceID), "err", err)
		} else if !mine {
			ss.terminate(CloseReplaced, "replaced", 409, "replaced by a newer connection")
			return errors.New("replaced")
		}
	}
	return ss.write(Frame{Type: FrameKeepaliveAck})
}

func (ss *session) refresh(token string) error {
	s := ss.srv
	id, err := s.authenticate(context.Background(), nil, token)
	if err == nil && id.DeviceID != ss.id.DeviceID {
		err = errWrongDevice
	}
	if err != nil {
		reason := authReason(err)
		s.authFailure(reason)
		ss.terminate(CloseUnauthorized, reason, 401, "token refresh rejected")
		return err
	}
	ss.mu.Lock()
	ss.id.ExpiresAt = id.ExpiresAt
	if id.UserID != "" {
		ss.id.UserID = id.UserID
	}
	ss.timer.Reset(ss.untilLocked())
	ss.mu.Unlock()
	return ss.write(Frame{Type: FrameRefreshAck, ExpiresAt: id.ExpiresAt.UTC()})
}

// acked resolves the notification id. It reports whether the id was sent
// on this connection: waiting for its ack, or among the recent ones whose
// ack came too late (each forgotten once acked, so a repeated ack counts).
func (ss *session) acked(id string) bool {
	ss.mu.Lock()
	ch, ok := ss.pending[id]
	sent := ok
	if ok {
		delete(ss.pending, id)
	} else if i := slices.Index(ss.late, id); i >= 0 {
		ss.late = slices.Delete(ss.late, i, i+1)
		sent = true
	}
	ss.mu.Unlock()
	if ok {
		ch <- true
		return true
	}
	if f := ss.srv.cfg.Hooks.OnLateAck; f != nil {
		f(ss.id.DeviceID, id)
	}
	return sent
}

// errInterrupted is returned by deliver when its context ended.
var errInterrupted = errors.New("lpns: send interrupted")

// deliver writes a notification and waits for its ack. It reports whether
// the notification was written (then the device may have received it);
// when ctx ends first it returns errInterrupted.
func (ss *session) deliver(ctx context.Context, id string, payload []byte) (bool, error) {
	s := ss.srv
	ch := make(chan bool, 1)
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return false, ErrNotConnected
	}
	if _, dup := ss.pending[id]; dup {
		ss.mu.Unlock()
		return false, fmt.Errorf("%w: notification id already in flight", ErrInvalidPayload)
	}
	if ss.pending == nil {
		ss.pending = make(map[string]chan bool)
	}
	ss.pending[id] = ch
	ss.mu.Unlock()
	defer func() {
		ss.mu.Lock()
		if ss.pending[id] == ch { // no ack (yet): remember the id for a late one
			delete(ss.pending, id)
			if !slices.Contains(ss.late, id) {
				if len(ss.late) == maxLateAcks {
					ss.late = slices.Delete(ss.late, 0, 1)
				}
				ss.late = append(ss.late, id)
			}
		}
		ss.mu.Unlock()
	}()
	err := ss.write(Frame{Type: FrameNotification, ID: id, Payload: payload, CreatedAt: s.cfg.Now().UTC()})
	if err != nil {
		// The connection could not take the frame in WriteTimeout (a slow
		// reader) or is gone; the write timeout has closed it. A frame
		// cut short is not a notification the device can read.
		return false, fmt.Errorf("%w: connection failed during write", ErrNotConnected)
	}
	t := s.cfg.clock.NewTimer(s.cfg.AckTimeout)
	defer t.Stop()
	select {
	case ok := <-ch:
		if ok {
			return true, nil
		}
		return true, fmt.Errorf("%w: connection closed before ack", ErrNotAcknowledged)
	case <-t.C():
		return true, ErrNotAcknowledged
	case <-ctx.Done():
		return true, errInterrupted
	}
}

// finish runs when the read loop ended: it removes the session and fails
// the sends waiting for an ack.
func (ss *session) finish(readErr error) {
	s := ss.srv
	ss.abort() // no-op when terminate ran; waits for it otherwise
	ss.mu.Lock()
	ss.ended = true
	ss.timer.Stop()
	for id, ch := range ss.pending {
		delete(ss.pending, id)
		ch <- false
	}
	code, reason := ss.closeCode, ss.closeReason
	ss.mu.Unlock()
	if reason == "aborted" && readErr != nil { // closed by the peer or the network
		if c := wsconn.CloseStatus(readErr); c != -1 {
			code, reason = c, wsconn.CloseReason(readErr)
		} else if wsconn.IsMessageTooBig(readErr) {
			code, reason = 1009, "frame-too-large"
		} else {
			reason = "connection-lost"
		}
	}
	if s.unregister(ss) && s.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ClusterTimeout)
		_ = s.cluster.Release(ctx, ss.id.DeviceID)
		cancel()
	}
	s.log.Debug("lpns: session ended", "device", pushwire.Redact(ss.id.DeviceID), "code", code, "reason", reason)
	if f := s.cfg.Hooks.OnDisconnect; f != nil {
		f(ss.id, code, reason)
	}
}
