package apns

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/pushwire/pushwire"
)

// PushType is the value of the apns-push-type header.
type PushType string

// Push types Apple defines.
const (
	PushTypeAlert        PushType = "alert"
	PushTypeBackground   PushType = "background"
	PushTypeVoIP         PushType = "voip"
	PushTypeLocation     PushType = "location"
	PushTypeComplication PushType = "complication"
	PushTypeFileProvider PushType = "fileprovider"
	PushTypeMDM          PushType = "mdm"
	PushTypeLiveActivity PushType = "liveactivity"
	PushTypePushToTalk   PushType = "pushtotalk"
	PushTypeWidgets      PushType = "widgets"
	PushTypeControls     PushType = "controls"
)

// pushTypeSuffix is the suffix a topic needs for each push type.
var pushTypeSuffix = map[PushType]string{
	PushTypeAlert:        "",
	PushTypeBackground:   "",
	PushTypeVoIP:         ".voip",
	PushTypeLocation:     ".location-query",
	PushTypeComplication: ".complication",
	PushTypeFileProvider: ".pushkit.fileprovider",
	PushTypeMDM:          "",
	PushTypeLiveActivity: ".push-type.liveactivity",
	PushTypePushToTalk:   ".voip-ptt",
	PushTypeWidgets:      ".push-type.widgets",
	PushTypeControls:     ".push-type.controls",
}

// Valid reports whether t is one of the push types Apple defines.
func (t PushType) Valid() bool { _, ok := pushTypeSuffix[t]; return ok }

// TopicSuffix returns the suffix Apple requires on the topic for push type t
// (".voip" for VoIP, ".push-type.liveactivity" for Live Activities, …), or
// "" when the bare bundle id is the topic.
func (t PushType) TopicSuffix() string { return pushTypeSuffix[t] }

// Topic returns the topic for sending push type t to the app bundleID: the
// bundle id plus the suffix t needs, not added twice.
func Topic(bundleID string, t PushType) string {
	s := pushTypeSuffix[t]
	if s == "" || strings.HasSuffix(bundleID, s) {
		return bundleID
	}
	return bundleID + s
}

// Priority is the value of the apns-priority header.
type Priority int

// Priorities. The zero value sends no header, which APNs treats as 10 —
// except for background pushes, which the client sends at 5.
const (
	PriorityDefault   Priority = 0
	PriorityLow       Priority = 1  // prioritise the device's power over all else
	PriorityConserve  Priority = 5  // consider the device's power
	PriorityImmediate Priority = 10 // deliver immediately
)

// Payload size limits Apple enforces.
const (
	MaxPayloadBytes     = 4096
	MaxVoIPPayloadBytes = 5120
	MaxCollapseIDBytes  = 64
)

// Notification is one push to one device: the APNs request headers and the
// JSON payload. Either Payload (raw JSON) or Content (the typed builder) must
// be set; Payload wins when both are.
//
// A Notification is read, never modified, by Push; it may be reused after
// Push returns but must not be modified while a Push is using it.
type Notification struct {
	// DeviceToken is the device's hex token. Required.
	DeviceToken string
	// Topic is the apns-topic (bundle id plus the suffix the push type needs).
	// Empty means the client's default topic, with the push type's suffix added.
	Topic string
	// PushType is the apns-push-type; empty means alert.
	PushType PushType
	// Priority is the apns-priority; zero sends none (10), or 5 for background pushes.
	Priority Priority
	// Expiration is when APNs may stop trying to deliver; zero sends no
	// apns-expiration header (APNs stores the notification once, for a while).
	Expiration time.Time
	// ExpireNow sends apns-expiration: 0 — deliver immediately or never. It
	// overrides Expiration.
	ExpireNow bool
	// CollapseID is the apns-collapse-id (at most 64 bytes).
	CollapseID string
	// ID is the apns-id, a canonical UUID, kept by every retry. Empty means
	// APNs assigns one (or the client does, with Config.GenerateIDs).
	ID string
	// Payload is the raw JSON payload.
	Payload []byte
	// Content builds the payload when Payload is nil.
	Content *Payload
}

// Response is APNs' answer to a push. It is a plain value owned by the
// caller.
type Response struct {
	// StatusCode is the HTTP status (200 on success).
	StatusCode int
	// APNsID is the notification's apns-id.
	APNsID string
	// UniqueID is apns-unique-id (development environment only).
	UniqueID string
	// Reason is Apple's reason for a rejection.
	Reason Reason
	// Timestamp is the 410 timestamp: when the token became invalid.
	Timestamp time.Time
}

// Sent reports whether APNs accepted the notification.
func (r *Response) Sent() bool { return r != nil && r.StatusCode == 200 }

// ValidDeviceToken reports whether token has the form of an APNs device
// token: an even number of hex digits, at least 64 and at most 200.
func ValidDeviceToken(token string) bool {
	if len(token) < 64 || len(token) > 200 || len(token)%2 != 0 {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ValidUUID reports whether s is a canonical 8-4-4-4-12 hex UUID, the form
// apns-id must have.
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// validate checks n before it is sent and returns the resolved push type,
// topic and priority, or an *Error with the reason APNs would give.
func (n *Notification) validate(defaultTopic string, payload []byte) (PushType, string, Priority, error) {
	pt := n.PushType
	if pt == "" {
		pt = PushTypeAlert
	}
	fail := func(reason Reason) (PushType, string, Priority, error) {
		return pt, "", 0, &Error{Reason: reason, APNsID: n.ID, Token: pushwire.Redact(n.DeviceToken)}
	}
	if n.DeviceToken == "" {
		return fail(ReasonMissingDeviceToken)
	}
	if !ValidDeviceToken(n.DeviceToken) {
		return fail(ReasonBadDeviceToken)
	}
	if !pt.Valid() {
		return fail(ReasonInvalidPushType)
	}
	topic := n.Topic
	if topic == "" {
		if defaultTopic == "" {
			return fail(ReasonMissingTopic)
		}
		topic = Topic(defaultTopic, pt)
	}
	if s := pt.TopicSuffix(); s != "" && !strings.HasSuffix(topic, s) {
		return fail(ReasonBadTopic)
	}
	prio := n.Priority
	switch prio {
	case PriorityDefault, PriorityLow, PriorityConserve, PriorityImmediate:
	default:
		return fail(ReasonBadPriority)
	}
	if pt == PushTypeBackground {
		if prio == PriorityImmediate {
			return fail(ReasonBadPriority)
		}
		if prio == PriorityDefault {
			prio = PriorityConserve
		}
	}
	if len(n.CollapseID) > MaxCollapseIDBytes {
		return fail(ReasonBadCollapseID)
	}
	if n.ID != "" && !ValidUUID(n.ID) {
		return fail(ReasonBadMessageID)
	}
	if !n.ExpireNow && !n.Expiration.IsZero() && n.Expiration.Unix() <= 0 {
		return fail(ReasonBadExpirationDate)
	}
	if len(payload) == 0 {
		return fail(ReasonPayloadEmpty)
	}
	limit := MaxPayloadBytes
	if pt == PushTypeVoIP {
		limit = MaxVoIPPayloadBytes
	}
	if len(payload) > limit {
		return fail(ReasonPayloadTooLarge)
	}
	if payload[0] != '{' || !json.Valid(payload) {
		return fail(reasonInvalidPayload)
	}
	return pt, topic, prio, nil
}
