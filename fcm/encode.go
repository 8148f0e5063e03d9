package fcm

import (
	"strconv"
	"time"

	"github.com/pushwire/pushwire/internal/jsonenc"
)

// This file is a hand-written JSON encoder for the send request. It writes
// the same JSON that encoding/json would produce for the equivalent structs
// (compact, snake_case names, empty fields omitted), without reflection and
// without allocating beyond the output buffer. Map keys are written in map
// order: JSON objects are unordered.

// appendRequest appends {"validate_only":true,"message":{...}} to b and
// returns it along with the offsets of the message object within it.
func appendRequest(b []byte, m *Message) (out []byte, msgStart, msgEnd int) {
	b = append(b, '{')
	if m.ValidateOnly {
		b = append(b, `"validate_only":true,`...)
	}
	b = append(b, `"message":`...)
	msgStart = len(b)
	b = appendMessage(b, m)
	msgEnd = len(b)
	b = append(b, '}')
	return b, msgStart, msgEnd
}

func appendMessage(b []byte, m *Message) []byte {
	b = append(b, '{')
	first := true
	b = appendStringField(b, &first, "token", m.Token)
	b = appendStringField(b, &first, "fid", m.FID)
	b = appendStringField(b, &first, "topic", m.Topic)
	b = appendStringField(b, &first, "condition", m.Condition)
	if n := m.Notification; n != nil {
		b = jsonenc.AppendKey(b, &first, "notification")
		b = append(b, '{')
		f := true
		b = appendStringField(b, &f, "title", n.Title)
		b = appendStringField(b, &f, "body", n.Body)
		b = appendStringField(b, &f, "image", n.Image)
		b = append(b, '}')
	}
	if len(m.Data) > 0 {
		b = jsonenc.AppendKey(b, &first, "data")
		b = appendStringMap(b, m.Data)
	}
	if a := m.Android; a != nil {
		b = jsonenc.AppendKey(b, &first, "android")
		b = appendAndroid(b, a)
	}
	if a := m.APNS; a != nil {
		b = jsonenc.AppendKey(b, &first, "apns")
		b = append(b, '{')
		f := true
		if len(a.Headers) > 0 {
			b = jsonenc.AppendKey(b, &f, "headers")
			b = appendStringMap(b, a.Headers)
		}
		if len(a.Payload) > 0 {
			b = jsonenc.AppendKey(b, &f, "payload")
			b = appendCompact(b, a.Payload)
		}
		if o := a.FCMOptions; o != nil {
			b = jsonenc.AppendKey(b, &f, "fcm_options")
			b = append(b, '{')
			g := true
			b = appendStringField(b, &g, "analytics_label", o.AnalyticsLabel)
			b = appendStringField(b, &g, "image", o.Image)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if w := m.Webpush; w != nil {
		b = jsonenc.AppendKey(b, &first, "webpush")
		b = append(b, '{')
		f := true
		if len(w.Headers) > 0 {
			b = jsonenc.AppendKey(b, &f, "headers")
			b = appendStringMap(b, w.Headers)
		}
		if len(w.Data) > 0 {
			b = jsonenc.AppendKey(b, &f, "data")
			b = appendStringMap(b, w.Data)
		}
		if len(w.Notification) > 0 {
			b = jsonenc.AppendKey(b, &f, "notification")
			b = appendCompact(b, w.Notification)
		}
		if o := w.FCMOptions; o != nil {
			b = jsonenc.AppendKey(b, &f, "fcm_options")
			b = append(b, '{')
			g := true
			b = appendStringField(b, &g, "link", o.Link)
			b = appendStringField(b, &g, "analytics_label", o.AnalyticsLabel)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if o := m.FCMOptions; o != nil {
		b = jsonenc.AppendKey(b, &first, "fcm_options")
		b = appendFCMOptions(b, o)
	}
	return append(b, '}')
}

func appendAndroid(b []byte, a *AndroidConfig) []byte {
	b = append(b, '{')
	f := true
	b = appendStringField(b, &f, "collapse_key", a.CollapseKey)
	b = appendStringField(b, &f, "priority", string(a.Priority))
	if a.TTL != nil {
		b = jsonenc.AppendKey(b, &f, "ttl")
		b = append(b, '"')
		b = appendDuration(b, *a.TTL)
		b = append(b, '"')
	}
	b = appendStringField(b, &f, "restricted_package_name", a.RestrictedPackageName)
	if len(a.Data) > 0 {
		b = jsonenc.AppendKey(b, &f, "data")
		b = appendStringMap(b, a.Data)
	}
	if n := a.Notification; n != nil {
		b = jsonenc.AppendKey(b, &f, "notification")
		b = append(b, '{')
		g := true
		b = appendStringField(b, &g, "title", n.Title)
		b = appendStringField(b, &g, "body", n.Body)
		b = appendStringField(b, &g, "icon", n.Icon)
		b = appendStringField(b, &g, "color", n.Color)
		b = appendStringField(b, &g, "sound", n.Sound)
		b = appendStringField(b, &g, "tag", n.Tag)
		b = appendStringField(b, &g, "click_action", n.ClickAction)
		b = appendStringField(b, &g, "body_loc_key", n.BodyLocKey)
		if len(n.BodyLocArgs) > 0 {
			b = jsonenc.AppendKey(b, &g, "body_loc_args")
			b = jsonenc.AppendStrings(b, n.BodyLocArgs)
		}
		b = appendStringField(b, &g, "title_loc_key", n.TitleLocKey)
		if len(n.TitleLocArgs) > 0 {
			b = jsonenc.AppendKey(b, &g, "title_loc_args")
			b = jsonenc.AppendStrings(b, n.TitleLocArgs)
		}
		b = appendStringField(b, &g, "channel_id", n.ChannelID)
		b = appendStringField(b, &g, "image", n.Image)
		b = append(b, '}')
	}
	if o := a.FCMOptions; o != nil {
		b = jsonenc.AppendKey(b, &f, "fcm_options")
		b = appendFCMOptions(b, o)
	}
	if a.DirectBootOK {
		b = jsonenc.AppendKey(b, &f, "direct_boot_ok")
		b = append(b, "true"...)
	}
	return append(b, '}')
}

func appendFCMOptions(b []byte, o *FCMOptions) []byte {
	b = append(b, '{')
	f := true
	b = appendStringField(b, &f, "analytics_label", o.AnalyticsLabel)
	return append(b, '}')
}

// appendStringField writes "key":"value" unless value is empty.
func appendStringField(b []byte, first *bool, key, value string) []byte {
	if value == "" {
		return b
	}
	b = jsonenc.AppendKey(b, first, key)
	return jsonenc.AppendString(b, value)
}

func appendStringMap(b []byte, m map[string]string) []byte {
	b = append(b, '{')
	first := true
	for k, v := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		b = jsonenc.AppendString(b, v)
	}
	return append(b, '}')
}

// appendCompact appends raw JSON (already validated) without insignificant
// whitespace.
func appendCompact(b []byte, raw []byte) []byte {
	inString, escaped := false, false
	for _, c := range raw {
		if inString {
			b = append(b, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inString = true
		}
		b = append(b, c)
	}
	return b
}

// appendDuration writes d in the protobuf Duration JSON form: seconds with
// up to nine fractional digits and an "s" suffix ("3s", "1.5s").
func appendDuration(b []byte, d time.Duration) []byte {
	if d < 0 {
		b = append(b, '-')
		d = -d
	}
	sec := int64(d / time.Second)
	nanos := int64(d % time.Second)
	b = strconv.AppendInt(b, sec, 10)
	if nanos != 0 {
		var frac [9]byte
		for i := 8; i >= 0; i-- {
			frac[i] = byte('0' + nanos%10)
			nanos /= 10
		}
		n := 9
		for n > 0 && frac[n-1] == '0' {
			n--
		}
		b = append(b, '.')
		b = append(b, frac[:n]...)
	}
	return append(b, 's')
}
