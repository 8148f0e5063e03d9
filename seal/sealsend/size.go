package sealsend

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/jsonenc"
)

// The functions below give the length of a sealed message as this
// module's provider clients encode it: the FCM message object (package
// fcm, encode.go), the APNs payload (package apns, send.go) and the LPNS
// notification payload (package lpns, MessagePayload). They cover only the
// fields a sealed message has. Tests compare them with what the fakes
// receive, so a change to an encoder that they do not follow fails there.

// size returns the encoded length of out for the Sender's provider.
func (s *Sender) size(out *pushwire.Message) int {
	switch s.cfg.Provider {
	case pushwire.ProviderFCM:
		return fcmSize(out)
	case pushwire.ProviderAPNs:
		return apnsSize(out)
	}
	return lpnsSize(out)
}

// maxFCMTTL is fcm.MaxTTL: the fcm client clamps longer TTLs to it.
const maxFCMTTL = 28 * 24 * time.Hour

// fcmSize is the length of {"token":…,"data":{…},"android":{…}}.
func fcmSize(m *pushwire.Message) int {
	var scratch [256]byte
	n := len(`{}`)
	members := 0
	if m.Token != "" {
		n += len(`"token":`) + len(jsonenc.AppendString(scratch[:0], m.Token))
		members++
	}
	if len(m.Data) > 0 {
		n += len(`"data":`) + mapSize(m.Data)
		members++
	}
	// android: {"collapse_key":…,"priority":…,"ttl":"…s"}
	android := len(`{}`) + len(`"priority":`) + len(`"high"`)
	if m.Priority == pushwire.PriorityNormal {
		android += len(`"normal"`) - len(`"high"`)
	}
	if m.CollapseKey != "" {
		android += len(`"collapse_key":`) + len(jsonenc.AppendString(scratch[:0], m.CollapseKey)) + len(`,`)
	}
	switch {
	case m.Expire:
		android += len(`,"ttl":"0s"`)
	case m.TTL > 0:
		android += len(`,"ttl":""`) + durationSize(min(m.TTL, maxFCMTTL))
	}
	n += len(`"android":`) + android
	members++
	return n + members - 1 // commas between members
}

// durationSize is the length of d in protobuf Duration JSON ("1.5s").
func durationSize(d time.Duration) int {
	n := len(strconv.FormatInt(int64(d/time.Second), 10)) + len("s")
	if nanos := int64(d % time.Second); nanos != 0 {
		digits := 9
		for nanos%10 == 0 {
			nanos /= 10
			digits--
		}
		n += len(".") + digits
	}
	return n
}

// mapSize is the length of a JSON object of string members.
func mapSize(m map[string]string) int {
	var scratch [256]byte
	n := len(`{}`) + len(m) - 1
	if len(m) == 0 {
		n++
	}
	for k, v := range m {
		n += len(jsonenc.AppendString(scratch[:0], k)) + len(`:`) + len(jsonenc.AppendString(scratch[:0], v))
	}
	return n
}

// apnsSize is the length of {"aps":{…},"k":"v",…}.
func apnsSize(m *pushwire.Message) int {
	var scratch [256]byte
	aps := len(`{}`)
	switch m.Kind {
	case pushwire.KindAlert, pushwire.KindVoIP:
		if m.Title != "" || m.Body != "" || m.Kind == pushwire.KindAlert {
			alert := len(`{}`)
			if m.Title != "" {
				alert += len(`"title":`) + len(jsonenc.AppendString(scratch[:0], m.Title))
			}
			if m.Body != "" {
				if m.Title != "" {
					alert++
				}
				alert += len(`"body":`) + len(jsonenc.AppendString(scratch[:0], m.Body))
			}
			aps += len(`"alert":`) + alert
			if m.MutableContent {
				aps += len(`,"mutable-content":1`)
			}
		} else if m.MutableContent {
			aps += len(`"mutable-content":1`)
		}
	default:
		aps += len(`"content-available":1`)
		if m.MutableContent {
			aps += len(`,"mutable-content":1`)
		}
	}
	n := len(`{"aps":}`) + aps
	for k, v := range m.Data {
		n += len(`,`) + len(jsonenc.AppendString(scratch[:0], k)) + len(`:`) + len(jsonenc.AppendString(scratch[:0], v))
	}
	return n
}

// lpnsPayload mirrors lpns' messagePayload.
type lpnsPayload struct {
	Kind           string            `json:"kind"`
	Topic          string            `json:"topic,omitempty"`
	Title          string            `json:"title,omitempty"`
	Body           string            `json:"body,omitempty"`
	MutableContent bool              `json:"mutableContent,omitempty"`
	Data           map[string]string `json:"data,omitempty"`
	CollapseKey    string            `json:"collapseKey,omitempty"`
}

// lpnsSize is the length of lpns.MessagePayload(m).
func lpnsSize(m *pushwire.Message) int {
	b, err := json.Marshal(lpnsPayload{Kind: m.Kind.String(), Topic: m.Topic, Title: m.Title, Body: m.Body,
		MutableContent: m.MutableContent, Data: m.Data, CollapseKey: m.CollapseKey})
	if err != nil {
		return 0 // strings and a string map always encode
	}
	return len(b)
}
