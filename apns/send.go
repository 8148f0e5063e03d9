package apns

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"slices"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/jsonenc"
)

var _ pushwire.Sender = (*Client)(nil)

// Send implements pushwire.Sender. The message becomes:
//
//   - KindData: a background push (priority 5, aps content-available: 1);
//   - KindAlert: an alert push with aps alert title and body (priority 10,
//     or 5 with PriorityNormal);
//   - KindVoIP: a voip push to Topic + ".voip" at priority 10.
//
// Data entries become top-level payload keys (the key "aps" is rejected),
// MutableContent sets aps mutable-content, Expire sends apns-expiration: 0,
// TTL sends an expiration TTL from now, CollapseKey is the apns-collapse-id
// and ID the apns-id: a UUID is used as is, any other id is turned into a
// stable name-based UUID, and an empty one is left to APNs (or to
// Config.GenerateIDs).
func (c *Client) Send(ctx context.Context, m pushwire.Message) error {
	n := Notification{
		DeviceToken: m.Token,
		Topic:       m.Topic,
		ExpireNow:   m.Expire,
		CollapseID:  m.CollapseKey,
	}
	if !m.Expire && m.TTL > 0 {
		n.Expiration = c.now().Add(m.TTL)
	}
	switch m.Kind {
	case pushwire.KindVoIP:
		n.PushType = PushTypeVoIP
		n.Priority = PriorityImmediate
		if n.Topic != "" {
			n.Topic = Topic(n.Topic, PushTypeVoIP)
		}
	case pushwire.KindAlert:
		n.PushType = PushTypeAlert
		n.Priority = PriorityImmediate
		if m.Priority == pushwire.PriorityNormal {
			n.Priority = PriorityConserve
		}
	default:
		n.PushType = PushTypeBackground
		n.Priority = PriorityConserve
	}
	switch {
	case m.ID == "":
	case ValidUUID(m.ID):
		n.ID = m.ID
	default:
		n.ID = nameUUID(m.ID)
	}
	if _, ok := m.Data["aps"]; ok {
		return &Error{Reason: reasonInvalidPayload, Token: pushwire.Redact(m.Token), Err: errCustomAPS}
	}
	st := new(sendState)
	n.Payload = appendMessagePayload(st.payload[:0], &m) // grows onto the heap when large
	return c.push(ctx, &n, &st.pushState)
}

// appendMessagePayload encodes m's payload without reflection.
func appendMessagePayload(b []byte, m *pushwire.Message) []byte {
	b = append(b, `{"aps":{`...)
	switch m.Kind {
	case pushwire.KindAlert, pushwire.KindVoIP:
		if m.Title != "" || m.Body != "" || m.Kind == pushwire.KindAlert {
			b = append(b, `"alert":{`...)
			comma := false
			if m.Title != "" {
				b = append(b, `"title":`...)
				b = jsonenc.AppendString(b, m.Title)
				comma = true
			}
			if m.Body != "" {
				if comma {
					b = append(b, ',')
				}
				b = append(b, `"body":`...)
				b = jsonenc.AppendString(b, m.Body)
			}
			b = append(b, '}')
			if m.MutableContent {
				b = append(b, `,"mutable-content":1`...)
			}
		} else if m.MutableContent {
			b = append(b, `"mutable-content":1`...)
		}
	default:
		b = append(b, `"content-available":1`...)
		if m.MutableContent {
			b = append(b, `,"mutable-content":1`...)
		}
	}
	b = append(b, '}')
	if len(m.Data) > 0 {
		var arr [16]string
		keys := arr[:0]
		for k := range m.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = append(b, ',')
			b = jsonenc.AppendString(b, k)
			b = append(b, ':')
			b = jsonenc.AppendString(b, m.Data[k])
		}
	}
	return append(b, '}')
}

// nameUUID derives a stable UUID (version 5 layout, SHA-1 of the id) from an
// arbitrary message id, so that retries and duplicates keep one apns-id.
func nameUUID(id string) string {
	sum := sha1.Sum([]byte("pushwire/apns-id:" + id))
	hi := binary.BigEndian.Uint64(sum[0:8])
	lo := binary.BigEndian.Uint64(sum[8:16])
	hi = hi&^(0xf<<12) | 5<<12
	var b [36]byte
	formatUUIDRaw(&b, hi, lo)
	return string(b[:])
}
