package fcm

import (
	"encoding/json"
	"strings"

	"github.com/pushwire/pushwire/internal/jsonenc"
)

// Size limits FCM applies to the encoded message.
const (
	// MaxMessageBytes is the largest encoded message FCM accepts.
	MaxMessageBytes = 4096
	// MaxTopicMessageBytes is the limit for messages sent to a topic.
	MaxTopicMessageBytes = 2048
)

// Validate checks m the way [Client.SendMessage] does before sending:
// exactly one target, topic name syntax, reserved data keys, the Android
// priority and ttl, and that raw JSON fields are JSON objects. The size limit
// is checked on the encoded message when it is sent.
func (m *Message) Validate() error {
	targets := 0
	for _, t := range [...]string{m.Token, m.FID, m.Topic, m.Condition} {
		if t != "" {
			targets++
		}
	}
	if targets != 1 {
		return invalid("message", "exactly one of token, fid, topic and condition must be set")
	}
	if m.Topic != "" && !validTopic(strings.TrimPrefix(m.Topic, "/topics/")) {
		return invalid("message.topic", "topic name must match [a-zA-Z0-9-_.~%]+")
	}
	if err := checkData("message.data", m.Data); err != nil {
		return err
	}
	if a := m.Android; a != nil {
		switch a.Priority {
		case "", AndroidPriorityNormal, AndroidPriorityHigh:
		default:
			return invalid("message.android.priority", `must be "normal" or "high"`)
		}
		if a.TTL != nil && (*a.TTL < 0 || *a.TTL > MaxTTL) {
			return invalid("message.android.ttl", "must be between 0 and 28 days")
		}
		if err := checkData("message.android.data", a.Data); err != nil {
			return err
		}
	}
	if a := m.APNS; a != nil && len(a.Payload) > 0 && !isJSONObject(a.Payload) {
		return invalid("message.apns.payload", "must be a JSON object")
	}
	if w := m.Webpush; w != nil {
		if len(w.Notification) > 0 && !isJSONObject(w.Notification) {
			return invalid("message.webpush.notification", "must be a JSON object")
		}
		if err := checkData("message.webpush.data", w.Data); err != nil {
			return err
		}
	}
	return nil
}

func isJSONObject(raw []byte) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return json.Valid(raw)
		}
		return false
	}
	return false
}

func validTopic(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == '~', c == '%':
		default:
			return false
		}
	}
	return true
}

// ReservedDataKey reports whether FCM refuses k as a data key: "from",
// "message_type", and keys starting with "google." or "gcm.".
func ReservedDataKey(k string) bool {
	return k == "from" || k == "message_type" ||
		strings.HasPrefix(k, "google.") || strings.HasPrefix(k, "gcm.")
}

func checkData(field string, data map[string]string) error {
	for k := range data {
		if k == "" {
			return invalid(field, "empty key")
		}
		if ReservedDataKey(k) {
			return invalid(field, "reserved key "+strconvQuote(k))
		}
	}
	return nil
}

func strconvQuote(s string) string {
	return string(jsonenc.AppendString(nil, truncate(s, 64)))
}
