package fcm

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The mirror types describe the wire format with encoding/json tags: the
// hand-written encoder must produce JSON that decodes to the same value as
// encoding/json's rendering of the mirror.
type mirrorRequest struct {
	ValidateOnly bool          `json:"validate_only,omitempty"`
	Message      mirrorMessage `json:"message"`
}

type mirrorMessage struct {
	Token        string            `json:"token,omitempty"`
	FID          string            `json:"fid,omitempty"`
	Topic        string            `json:"topic,omitempty"`
	Condition    string            `json:"condition,omitempty"`
	Notification *mirrorNote       `json:"notification,omitempty"`
	Data         map[string]string `json:"data,omitempty"`
	Android      *mirrorAndroid    `json:"android,omitempty"`
	APNS         *mirrorAPNS       `json:"apns,omitempty"`
	Webpush      *mirrorWebpush    `json:"webpush,omitempty"`
	FCMOptions   *mirrorFCMOptions `json:"fcm_options,omitempty"`
}

type mirrorNote struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
	Image string `json:"image,omitempty"`
}

type mirrorFCMOptions struct {
	AnalyticsLabel string `json:"analytics_label,omitempty"`
}

type mirrorAndroid struct {
	CollapseKey           string             `json:"collapse_key,omitempty"`
	Priority              string             `json:"priority,omitempty"`
	TTL                   string             `json:"ttl,omitempty"`
	RestrictedPackageName string             `json:"restricted_package_name,omitempty"`
	Data                  map[string]string  `json:"data,omitempty"`
	Notification          *mirrorAndroidNote `json:"notification,omitempty"`
	FCMOptions            *mirrorFCMOptions  `json:"fcm_options,omitempty"`
	DirectBootOK          bool               `json:"direct_boot_ok,omitempty"`
}

type mirrorAndroidNote struct {
	Title        string   `json:"title,omitempty"`
	Body         string   `json:"body,omitempty"`
	Icon         string   `json:"icon,omitempty"`
	Color        string   `json:"color,omitempty"`
	Sound        string   `json:"sound,omitempty"`
	Tag          string   `json:"tag,omitempty"`
	ClickAction  string   `json:"click_action,omitempty"`
	BodyLocKey   string   `json:"body_loc_key,omitempty"`
	BodyLocArgs  []string `json:"body_loc_args,omitempty"`
	TitleLocKey  string   `json:"title_loc_key,omitempty"`
	TitleLocArgs []string `json:"title_loc_args,omitempty"`
	ChannelID    string   `json:"channel_id,omitempty"`
	Image        string   `json:"image,omitempty"`
}

type mirrorAPNS struct {
	Headers    map[string]string `json:"headers,omitempty"`
	Payload    json.RawMessage   `json:"payload,omitempty"`
	FCMOptions *struct {
		AnalyticsLabel string `json:"analytics_label,omitempty"`
		Image          string `json:"image,omitempty"`
	} `json:"fcm_options,omitempty"`
}

type mirrorWebpush struct {
	Headers      map[string]string `json:"headers,omitempty"`
	Data         map[string]string `json:"data,omitempty"`
	Notification json.RawMessage   `json:"notification,omitempty"`
	FCMOptions   *struct {
		Link           string `json:"link,omitempty"`
		AnalyticsLabel string `json:"analytics_label,omitempty"`
	} `json:"fcm_options,omitempty"`
}

// mirror converts m with the obvious field mapping; ttl uses the reference
// protobuf Duration rendering below.
func mirror(m *Message) mirrorRequest {
	r := mirrorRequest{ValidateOnly: m.ValidateOnly, Message: mirrorMessage{
		Token: m.Token, FID: m.FID, Topic: m.Topic, Condition: m.Condition,
		Data: m.Data,
	}}
	if n := m.Notification; n != nil {
		mn := mirrorNote(*n)
		r.Message.Notification = &mn
	}
	if o := m.FCMOptions; o != nil {
		r.Message.FCMOptions = &mirrorFCMOptions{AnalyticsLabel: o.AnalyticsLabel}
	}
	if a := m.Android; a != nil {
		ma := &mirrorAndroid{CollapseKey: a.CollapseKey, Priority: string(a.Priority),
			RestrictedPackageName: a.RestrictedPackageName, Data: a.Data, DirectBootOK: a.DirectBootOK}
		if a.TTL != nil {
			ma.TTL = refDuration(*a.TTL)
		}
		if n := a.Notification; n != nil {
			mn := mirrorAndroidNote(*n)
			ma.Notification = &mn
		}
		if o := a.FCMOptions; o != nil {
			ma.FCMOptions = &mirrorFCMOptions{AnalyticsLabel: o.AnalyticsLabel}
		}
		r.Message.Android = ma
	}
	if a := m.APNS; a != nil {
		ma := &mirrorAPNS{Headers: a.Headers, Payload: a.Payload}
		if o := a.FCMOptions; o != nil {
			ma.FCMOptions = &struct {
				AnalyticsLabel string `json:"analytics_label,omitempty"`
				Image          string `json:"image,omitempty"`
			}{o.AnalyticsLabel, o.Image}
		}
		r.Message.APNS = ma
	}
	if w := m.Webpush; w != nil {
		mw := &mirrorWebpush{Headers: w.Headers, Data: w.Data, Notification: w.Notification}
		if o := w.FCMOptions; o != nil {
			mw.FCMOptions = &struct {
				Link           string `json:"link,omitempty"`
				AnalyticsLabel string `json:"analytics_label,omitempty"`
			}{o.Link, o.AnalyticsLabel}
		}
		r.Message.Webpush = mw
	}
	return r
}

// refDuration renders d as protobuf JSON with fmt, independently of
// appendDuration.
func refDuration(d time.Duration) string {
	sec, ns := int64(d/time.Second), int64(d%time.Second)
	if ns == 0 {
		return fmt.Sprintf("%ds", sec)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%09d", sec, ns), "0") + "s"
}

func decodeAny(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	return v
}

func checkRoundTrip(t testing.TB, m *Message) {
	t.Helper()
	ours, start, end := appendRequest(nil, m)
	require.True(t, json.Valid(ours), "%q", ours)
	ref, err := json.Marshal(mirror(m))
	require.NoError(t, err)
	assert.Equal(t, decodeAny(t, ref), decodeAny(t, ours))
	assert.True(t, json.Valid(ours[start:end]))
}

func TestEncodeMatchesEncodingJSON(t *testing.T) {
	ttl := 90*time.Second + 5*time.Millisecond
	zero := time.Duration(0)
	maxTTL := MaxTTL
	tests := []*Message{
		{Token: "t"},
		{Topic: "news", ValidateOnly: true},
		{Condition: "'a' in topics", Data: map[string]string{}},
		{FID: "f", Notification: &Notification{Title: "a\"b\\c\n\t\r\x00\x1f<>&", Body: "☃ \u2028\u2029 é", Image: "i"}},
		{Token: "t", Data: map[string]string{"k\x01": "v\xff\xfe", "emoji": "😀", "": ""}},
		{Token: "t", Android: &AndroidConfig{TTL: &ttl, Priority: AndroidPriorityHigh, CollapseKey: "c",
			Notification: &AndroidNotification{Title: "x", BodyLocArgs: []string{"a", "\"b"}, TitleLocArgs: []string{""}},
			FCMOptions:   &FCMOptions{AnalyticsLabel: "l"}, DirectBootOK: true, Data: map[string]string{"a": "b"}}},
		{Token: "t", Android: &AndroidConfig{TTL: &zero}},
		{Token: "t", Android: &AndroidConfig{TTL: &maxTTL}},
		{Token: "t", Android: &AndroidConfig{}},
		{Token: "t", APNS: &APNSConfig{Headers: map[string]string{"apns-priority": "5"},
			Payload: json.RawMessage("{\n \"aps\" : { \"alert\" : \"a b\\\" c\" } }"), FCMOptions: &APNSFCMOptions{Image: "i"}}},
		{Token: "t", Webpush: &WebpushConfig{Notification: json.RawMessage(`{"title": "x y"}`), Data: map[string]string{"w": "1"},
			FCMOptions: &WebpushFCMOptions{Link: "https://x"}, Headers: map[string]string{"TTL": "60"}}},
		{Token: "t", FCMOptions: &FCMOptions{}},
	}
	for _, m := range tests {
		checkRoundTrip(t, m)
	}
}

func TestAppendDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{time.Second, "1s"},
		{1500 * time.Millisecond, "1.5s"},
		{time.Nanosecond, "0.000000001s"},
		{MaxTTL, "2419200s"},
		{3*time.Second + 100*time.Microsecond, "3.0001s"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, string(appendDuration(nil, tt.d)))
		assert.Equal(t, tt.want, refDuration(tt.d))
	}
}

func FuzzEncodeMessage(f *testing.F) {
	f.Add("tok", "key", "value", "title", int64(1500000000), `{"aps":{}}`, true)
	f.Add("", "from", "\xff", "\n", int64(-1), `[]`, false)
	f.Fuzz(func(t *testing.T, token, key, value, title string, ttl int64, payload string, vo bool) {
		d := time.Duration(ttl)
		m := &Message{Token: token, ValidateOnly: vo, Data: map[string]string{key: value},
			Notification: &Notification{Title: title},
			Android:      &AndroidConfig{TTL: &d, Data: map[string]string{value: key}, Notification: &AndroidNotification{BodyLocArgs: []string{title, key}}}}
		if isJSONObject([]byte(payload)) {
			m.APNS = &APNSConfig{Payload: json.RawMessage(payload)}
		}
		if d < 0 {
			// Negative durations are refused by Validate; the
			// reference rendering does not cover them.
			m.Android.TTL = nil
		}
		checkRoundTrip(t, m)
		_ = m.Validate()
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(404, "", []byte(`{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`))
	f.Add(400, "", []byte(`{"error":{"code":400,"status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.token"}]}]}}`))
	f.Add(429, "Tue, 15 Nov 1994 08:12:31 GMT", []byte(`<html>`))
	f.Add(503, "120", []byte(`{"error":{"details":[1,"x",{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"r","metadata":{"a":"b"}}]}}`))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		e := parseError(status, retryAfter, body, time.Unix(0, 0))
		require.NotNil(t, e.Class())
		assert.GreaterOrEqual(t, e.RetryAfter(), time.Duration(0))
		assert.LessOrEqual(t, e.RetryAfter(), 24*time.Hour)
		n := 0
		for _, c := range []error{errDead, errRetry, errPerm} {
			if e.Is(c) {
				n++
			}
		}
		assert.Equal(t, 1, n, "exactly one root class")
		_ = e.Error()
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{" 5 ", 5 * time.Second},
		{"-1", 0},
		{"1", time.Second},
		{"86399", 24*time.Hour - time.Second},
		{"86400", 24 * time.Hour},
		{"86401", 24 * time.Hour},
		{"99999999999", 24 * time.Hour},
		{"Fri, 01 May 2026 12:00:00 GMT", 0},
		{"Fri, 01 May 2026 12:00:01 GMT", time.Second},
		{"Sat, 02 May 2026 11:59:59 GMT", 24*time.Hour - time.Second},
		{"Sat, 02 May 2026 12:00:00 GMT", 24 * time.Hour},
		{"Sat, 02 May 2026 12:00:01 GMT", 24 * time.Hour},
		{"Fri, 01 May 2026 12:00:30 GMT", 30 * time.Second},
		{"Friday, 01-May-26 12:01:00 GMT", time.Minute},
		{"Fri May  1 12:00:10 2026", 10 * time.Second},
		{"Fri, 01 May 2026 11:00:00 GMT", 0},
		{"tomorrow", 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, parseRetryAfter(tt.in, now), tt.in)
	}
}
