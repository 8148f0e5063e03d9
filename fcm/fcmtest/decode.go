package fcmtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FCM's limits.
const (
	maxMessageBytes      = 4096
	maxTopicMessageBytes = 2048
	maxTTLSeconds        = 28 * 24 * 3600
	maxTokenLen          = 4096
)

type sendRequest struct {
	ValidateOnly bool            `json:"validate_only"`
	Message      json.RawMessage `json:"message"`
}

// decodeSend parses and checks a send request body as FCM would. Fields
// may be named by their proto or their JSON names (see canonicalNames);
// msg and compact have them under their proto names. It never panics on
// hostile input.
func decodeSend(body []byte) (req sendRequest, msg Message, compact []byte, aerr *apiError) {
	if !utf8.Valid(body) {
		return req, msg, nil, badRequest("", "Invalid JSON payload received. Invalid UTF-8.")
	}
	if !json.Valid(body) {
		// A syntax error, or data after the request object.
		dec := json.NewDecoder(bytes.NewReader(body))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return req, msg, nil, badRequest("", "Invalid JSON payload received. "+jsonProblem(err))
		}
		return req, msg, nil, badRequest("", "Invalid JSON payload received. Unexpected data after the request object.")
	}
	body, nerr := canonicalNames(body, requestFields)
	if nerr != nil {
		return req, msg, nil, nerr.apiError()
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, msg, nil, badRequest("", "Invalid JSON payload received. "+jsonProblem(err))
	}
	if len(req.Message) == 0 || string(req.Message) == "null" {
		return req, msg, nil, badRequest("message", "Message is required.")
	}
	dec = json.NewDecoder(bytes.NewReader(req.Message))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msg); err != nil {
		return req, msg, nil, badRequest("message", "Invalid JSON payload received. "+jsonProblem(err))
	}
	dropNulls(&msg)
	var buf bytes.Buffer
	if err := json.Compact(&buf, req.Message); err != nil {
		return req, msg, nil, badRequest("message", "Invalid JSON payload received.")
	}
	compact = buf.Bytes()
	if aerr := checkMessage(&msg, len(compact)); aerr != nil {
		return req, msg, nil, aerr
	}
	return req, msg, compact, nil
}

// dropNulls clears the raw JSON fields of m that hold null: proto3 JSON
// reads null as the field's default, as encoding/json does for the others.
func dropNulls(m *Message) {
	null := func(raw *json.RawMessage) {
		if string(bytes.TrimSpace(*raw)) == "null" {
			*raw = nil
		}
	}
	if m.APNS != nil {
		null(&m.APNS.Payload)
	}
	if m.Webpush != nil {
		null(&m.Webpush.Notification)
	}
	if m.Android != nil && m.Android.Notification != nil {
		null(&m.Android.Notification.LightSettings)
	}
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("Syntax error at offset %d.", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("Invalid value at '%s' (%s).", truncate(te.Field, 100), te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return "Unknown name " + truncate(strings.TrimPrefix(err.Error(), "json: unknown field "), 100) + ": Cannot find field."
	}
	return "Cannot parse the request body."
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s + "…"
}

func checkMessage(m *Message, size int) *apiError {
	n := 0
	for _, t := range []string{m.Token, m.FID, m.Topic, m.Condition} {
		if t != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return badRequest("message", "Recipient of the message is not set.")
	case n > 1:
		return badRequest("message", "Exactly one of token, fid, topic or condition must be set.")
	}
	if m.Token != "" && !validToken(m.Token) {
		return badRequest("message.token", "The registration token is not a valid FCM registration token")
	}
	if m.FID != "" && !validToken(m.FID) {
		return badRequest("message.fid", "The Firebase installation ID is not valid")
	}
	if m.Topic != "" && !validTopic(strings.TrimPrefix(m.Topic, "/topics/")) {
		return badRequest("message.topic", "Invalid topic name")
	}
	if m.Condition != "" && len(m.Condition) > 1024 {
		return badRequest("message.condition", "Invalid condition expression")
	}
	if e := checkData("message.data", m.Data); e != nil {
		return e
	}
	if a := m.Android; a != nil {
		switch strings.ToLower(a.Priority) {
		case "", "normal", "high":
		default:
			return badRequest("message.android.priority", "Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority)")
		}
		if a.TTL != "" && !validTTL(a.TTL) {
			return badRequest("message.android.ttl", "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration): must be a duration between 0s and 2419200s ending in 's'")
		}
		if e := checkData("message.android.data", a.Data); e != nil {
			return e
		}
		if n := a.Notification; n != nil && n.Color != "" && !validColor(n.Color) {
			return badRequest("message.android.notification.color", "Invalid color format, must be #rrggbb")
		}
	}
	if a := m.APNS; a != nil && len(a.Payload) > 0 && !isObject(a.Payload) {
		return badRequest("message.apns.payload", "Invalid value at 'message.apns.payload' (type.googleapis.com/google.protobuf.Struct)")
	}
	if w := m.Webpush; w != nil {
		if len(w.Notification) > 0 && !isObject(w.Notification) {
			return badRequest("message.webpush.notification", "Invalid value at 'message.webpush.notification' (type.googleapis.com/google.protobuf.Struct)")
		}
		if e := checkData("message.webpush.data", w.Data); e != nil {
			return e
		}
	}
	limit := maxMessageBytes
	if m.Topic != "" || m.Condition != "" {
		limit = maxTopicMessageBytes
	}
	if size > limit {
		return badRequest("message", "Message is too big: "+strconv.Itoa(size)+" bytes, limit "+strconv.Itoa(limit))
	}
	return nil
}

func validToken(t string) bool {
	if len(t) > maxTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == ':', c == '.':
		default:
			return false
		}
	}
	return true
}

func validTopic(t string) bool {
	if t == "" || len(t) > 900 {
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

func validColor(c string) bool {
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	for i := 1; i < 7; i++ {
		x := c[i]
		if !(x >= '0' && x <= '9' || x >= 'a' && x <= 'f' || x >= 'A' && x <= 'F') {
			return false
		}
	}
	return true
}

// validTTL accepts the protobuf Duration JSON form "N[.fffffffff]s" within
// 0..28 days.
func validTTL(s string) bool {
	if len(s) < 2 || s[len(s)-1] != 's' {
		return false
	}
	s = s[:len(s)-1]
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if intPart == "" || len(intPart) > 12 || hasFrac && (frac == "" || len(frac) > 9) {
		return false
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	sec, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || sec > maxTTLSeconds {
		return false
	}
	if sec == maxTTLSeconds && strings.Trim(frac, "0") != "" {
		return false
	}
	return true
}

func reservedKey(k string) bool {
	return k == "from" || k == "message_type" ||
		strings.HasPrefix(k, "google.") || strings.HasPrefix(k, "gcm.")
}

func checkData(field string, data map[string]string) *apiError {
	for k := range data {
		if k == "" {
			return badRequest(field, "Invalid data payload key: empty key")
		}
		if reservedKey(k) {
			return badRequest(field, "Invalid data payload key: "+truncate(k, 64))
		}
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{' && json.Valid(raw)
}
