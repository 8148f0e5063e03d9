package lpns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Subprotocol is the WebSocket subprotocol name of this protocol version.
const Subprotocol = "lpns.v1"

// Frame types (the "type" field of every frame). See PROTOCOL.md.
const (
	FrameHello        = "hello"         // server → client, once after the upgrade
	FrameKeepalive    = "keepalive"     // client → server
	FrameKeepaliveAck = "keepalive-ack" // server → client
	FrameRefresh      = "refresh"       // client → server, carries a new token
	FrameRefreshAck   = "refresh-ack"   // server → client
	FrameNotification = "notification"  // server → client
	FrameAck          = "ack"           // client → server, acknowledges a notification
	FrameError        = "error"         // server → client, just before a close
)

// Close codes used by the server (WebSocket private range 4000-4999). The
// code minus 4000 is the HTTP status it resembles.
const (
	CloseBadFrame     = 4400 // malformed or unexpected frame
	CloseUnauthorized = 4401 // token invalid or expired, or keepalive missed
	CloseLoggedOut    = 4403 // user logged out: reconnect only with a new login
	CloseDeviceGone   = 4404 // device deleted: do not reconnect
	CloseReplaced     = 4409 // a newer connection for the device replaced this one
	CloseUserGone     = 4410 // user deleted: do not reconnect
	CloseRateLimited  = 4429 // too many frames: reconnect after a backoff
	CloseInternal     = 4500 // server error: reconnect with backoff
	CloseShutdown     = 4503 // server shutting down: reconnect to another node now
	CloseNetwork      = 4451 // moved to a network without local push: do not reconnect here
)

// Limits on frame fields.
const (
	maxIDLen     = 128
	maxTokenLen  = 8192
	maxTextField = 512
)

// Frame is one protocol message. Fields not used by a frame type are omitted
// on the wire; unknown fields are ignored when parsing, so later minor
// versions can add fields. A Frame is a plain value; do not share one
// while modifying it.
type Frame struct {
	// Type is one of the Frame* constants.
	Type string `json:"type"`
	// ID identifies a notification (notification, ack).
	ID string `json:"id,omitempty"`
	// Payload is the notification content, any JSON value (notification).
	Payload json.RawMessage `json:"payload,omitempty"`
	// CreatedAt is when the server accepted the notification (notification).
	CreatedAt time.Time `json:"createdAt,omitzero"`
	// Token is a new bearer token (refresh).
	Token string `json:"token,omitempty"`
	// ExpiresAt is when the connection's token expires (hello, refresh-ack).
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Keepalive is the server's keepalive window in seconds (hello): the
	// client must send a keepalive within every window.
	Keepalive int `json:"keepalive,omitempty"`
	// DeviceID is the authenticated device (hello).
	DeviceID string `json:"deviceId,omitempty"`
	// Node names the server node the client reached (hello).
	Node string `json:"node,omitempty"`
	// Code is the HTTP-like status of an error (error).
	Code int `json:"code,omitempty"`
	// Reason is a machine-readable error reason (error).
	Reason string `json:"reason,omitempty"`
	// Message is a human-readable error text (error).
	Message string `json:"message,omitempty"`
}

// ErrBadFrame is returned by ParseFrame for data that is not a valid frame.
var ErrBadFrame = errors.New("lpns: bad frame")

// ParseFrame decodes and validates one frame received from the network. It
// rejects unknown frame types, missing required fields and oversized fields.
func ParseFrame(data []byte) (Frame, error) {
	var f Frame
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return Frame{}, fmt.Errorf("%w: not a JSON object", ErrBadFrame)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return Frame{}, fmt.Errorf("%w: %v", ErrBadFrame, errText(err))
	}
	if err := f.validate(); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// errText shortens decoder errors so they never echo large inputs.
func errText(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func (f *Frame) validate() error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrBadFrame, why) }
	if len(f.ID) > maxIDLen {
		return bad("id too long")
	}
	if len(f.Token) > maxTokenLen {
		return bad("token too long")
	}
	if len(f.Reason) > maxTextField || len(f.Message) > maxTextField || len(f.Node) > maxTextField || len(f.DeviceID) > maxTextField {
		return bad("text field too long")
	}
	switch f.Type {
	case FrameKeepalive, FrameKeepaliveAck, FrameHello, FrameRefreshAck:
	case FrameRefresh:
		if f.Token == "" {
			return bad("refresh without token")
		}
	case FrameAck:
		if f.ID == "" {
			return bad("ack without id")
		}
	case FrameNotification:
		if f.ID == "" {
			return bad("notification without id")
		}
	case FrameError:
		if f.Code == 0 {
			return bad("error without code")
		}
	case "":
		return bad("missing type")
	default:
		return bad("unknown type")
	}
	return nil
}

// encodeFrame marshals f. Frames built by this package always encode.
func encodeFrame(f Frame) []byte {
	b, err := json.Marshal(f)
	if err != nil {
		// Only an invalid Payload can fail; payloads are validated before.
		b, _ = json.Marshal(Frame{Type: FrameError, Code: 500, Reason: "encode"})
	}
	return b
}
