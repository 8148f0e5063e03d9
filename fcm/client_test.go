package fcm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

func TestSendNeutralMessage(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, nil)
	ctx := context.Background()

	tests := []struct {
		name  string
		in    pushwire.Message
		check func(t *testing.T, m fcmtest.Message)
	}{
		{
			name: "data only is high priority without notification",
			in:   pushwire.Message{Token: "tok-data", Data: map[string]string{"eventId": "e1", "sessionId": "s1"}},
			check: func(t *testing.T, m fcmtest.Message) {
				assert.Equal(t, map[string]string{"eventId": "e1", "sessionId": "s1"}, m.Data)
				assert.Nil(t, m.Notification)
				assert.Nil(t, m.APNS)
				require.NotNil(t, m.Android)
				assert.Equal(t, "high", m.Android.Priority)
				assert.Empty(t, m.Android.TTL)
			},
		},
		{
			name: "normal priority",
			in:   pushwire.Message{Token: "tok-normal", Priority: pushwire.PriorityNormal},
			check: func(t *testing.T, m fcmtest.Message) {
				assert.Equal(t, "normal", m.Android.Priority)
			},
		},
		{
			name: "alert becomes a notification",
			in:   pushwire.Message{Token: "tok-alert", Kind: pushwire.KindAlert, Title: "Hi \"there\"", Body: "line1\nline2 ü"},
			check: func(t *testing.T, m fcmtest.Message) {
				require.NotNil(t, m.Notification)
				assert.Equal(t, "Hi \"there\"", m.Notification.Title)
				assert.Equal(t, "line1\nline2 ü", m.Notification.Body)
				assert.Equal(t, "high", m.Android.Priority)
			},
		},
		{
			name: "mutable content alert adds the apns payload",
			in:   pushwire.Message{Token: "tok-mutable", Kind: pushwire.KindAlert, Title: "T", Body: "B", MutableContent: true},
			check: func(t *testing.T, m fcmtest.Message) {
				require.NotNil(t, m.APNS)
				var p map[string]map[string]any
				require.NoError(t, json.Unmarshal(m.APNS.Payload, &p))
				assert.Equal(t, float64(1), p["aps"]["mutable-content"])
				assert.Equal(t, map[string]any{"title": "T", "body": "B"}, p["aps"]["alert"])
			},
		},
		{
			name: "ttl and collapse key",
			in:   pushwire.Message{Token: "tok-ttl", TTL: 90*time.Second + 500*time.Millisecond, CollapseKey: "chat"},
			check: func(t *testing.T, m fcmtest.Message) {
				assert.Equal(t, "90.5s", m.Android.TTL)
				assert.Equal(t, "chat", m.Android.CollapseKey)
			},
		},
		{
			name: "ttl clamped to 28 days",
			in:   pushwire.Message{Token: "tok-long", TTL: 40 * 24 * time.Hour},
			check: func(t *testing.T, m fcmtest.Message) {
				assert.Equal(t, "2419200s", m.Android.TTL)
			},
		},
		{
			name: "expire means ttl 0",
			in:   pushwire.Message{Token: "tok-expire", TTL: time.Hour, Expire: true},
			check: func(t *testing.T, m fcmtest.Message) {
				assert.Equal(t, "0s", m.Android.TTL)
			},
		},
		{
			name: "voip is a high priority data message",
			in:   pushwire.Message{Token: "tok-voip", Kind: pushwire.KindVoIP, Data: map[string]string{"call": "1"}},
			check: func(t *testing.T, m fcmtest.Message) {
				assert.Nil(t, m.Notification)
				assert.Equal(t, "high", m.Android.Priority)
				assert.Equal(t, "1", m.Data["call"])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Reset()
			require.NoError(t, c.Send(ctx, tt.in))
			got := srv.Messages()
			require.Len(t, got, 1)
			assert.Equal(t, tt.in.Token, got[0].Message.Token)
			assert.Equal(t, srv.ProjectID(), got[0].Project)
			tt.check(t, got[0].Message)
		})
	}
}

func TestSendMessageAllFields(t *testing.T) {
	srv := newServer(t, fcmtest.Config{TLS: true})
	c := newClient(t, srv, nil)
	m := &fcm.Message{
		Token:        "tok-full",
		Notification: &fcm.Notification{Title: "t", Body: "b", Image: "https://example.com/i.png"},
		Data:         map[string]string{"k": "v", "unicode": "☃\u2028"},
		Android: &fcm.AndroidConfig{
			CollapseKey:           "ck",
			Priority:              fcm.AndroidPriorityNormal,
			TTL:                   ptr(3 * time.Second),
			RestrictedPackageName: "com.example",
			Data:                  map[string]string{"a": "1"},
			Notification: &fcm.AndroidNotification{
				Title: "at", Body: "ab", Icon: "ic", Color: "#aabbcc", Sound: "default", Tag: "tag",
				ClickAction: "OPEN", BodyLocKey: "bk", BodyLocArgs: []string{"x", "y"},
				TitleLocKey: "tk", TitleLocArgs: []string{"z"}, ChannelID: "ch", Image: "img",
			},
			FCMOptions:   &fcm.FCMOptions{AnalyticsLabel: "android-label"},
			DirectBootOK: true,
		},
		APNS: &fcm.APNSConfig{
			Headers:    map[string]string{"apns-priority": "10"},
			Payload:    json.RawMessage(`{ "aps" : { "badge" : 3 } }`),
			FCMOptions: &fcm.APNSFCMOptions{AnalyticsLabel: "apns-label", Image: "img"},
		},
		Webpush: &fcm.WebpushConfig{
			Headers:      map[string]string{"Urgency": "high"},
			Data:         map[string]string{"w": "1"},
			Notification: json.RawMessage(`{"title":"wt"}`),
			FCMOptions:   &fcm.WebpushFCMOptions{Link: "https://example.com", AnalyticsLabel: "web"},
		},
		FCMOptions: &fcm.FCMOptions{AnalyticsLabel: "label"},
	}
	name, err := c.SendMessage(context.Background(), m)
	require.NoError(t, err)
	got := srv.Messages()
	require.Len(t, got, 1)
	assert.Equal(t, got[0].Name, name)
	assert.True(t, strings.HasPrefix(name, "projects/"+srv.ProjectID()+"/messages/"))
	g := got[0].Message
	assert.Equal(t, "b", g.Notification.Body)
	assert.Equal(t, m.Data, g.Data)
	assert.Equal(t, "normal", g.Android.Priority)
	assert.Equal(t, "3s", g.Android.TTL)
	assert.Equal(t, "com.example", g.Android.RestrictedPackageName)
	assert.Equal(t, []string{"x", "y"}, g.Android.Notification.BodyLocArgs)
	assert.Equal(t, "#aabbcc", g.Android.Notification.Color)
	assert.Equal(t, "android-label", g.Android.FCMOptions.AnalyticsLabel)
	assert.True(t, g.Android.DirectBootOK)
	assert.Equal(t, "10", g.APNS.Headers["apns-priority"])
	assert.JSONEq(t, `{"aps":{"badge":3}}`, string(g.APNS.Payload))
	assert.Equal(t, "apns-label", g.APNS.FCMOptions.AnalyticsLabel)
	assert.Equal(t, "high", g.Webpush.Headers["Urgency"])
	assert.JSONEq(t, `{"title":"wt"}`, string(g.Webpush.Notification))
	assert.Equal(t, "https://example.com", g.Webpush.FCMOptions.Link)
	assert.Equal(t, "label", g.FCMOptions.AnalyticsLabel)
}

func TestSendTargets(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, nil)
	for _, m := range []*fcm.Message{
		{Token: "t1"},
		{FID: "fid-1"},
		{Topic: "news"},
		{Topic: "/topics/sports"},
		{Condition: "'a' in topics && 'b' in topics"},
	} {
		_, err := c.SendMessage(context.Background(), m)
		require.NoError(t, err)
	}
	got := srv.Messages()
	require.Len(t, got, 5)
	assert.Equal(t, "t1", got[0].Message.Token)
	assert.Equal(t, "fid-1", got[1].Message.FID)
	assert.Equal(t, "news", got[2].Message.Topic)
	assert.Equal(t, "/topics/sports", got[3].Message.Topic)
	assert.Equal(t, "'a' in topics && 'b' in topics", got[4].Message.Condition)
}

func TestValidateOnly(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, nil)
	name, err := c.SendMessage(context.Background(), &fcm.Message{Token: "t", ValidateOnly: true})
	require.NoError(t, err)
	assert.Contains(t, name, "fake_message_id")
	assert.Empty(t, srv.Messages(), "a dry run is not delivered")
	assert.Equal(t, 1, srv.SendRequests())
}

func TestValidation(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, nil)
	big := strings.Repeat("x", 4100)
	tests := []struct {
		name  string
		m     *fcm.Message
		field string
	}{
		{"nil", nil, "message"},
		{"no target", &fcm.Message{Data: map[string]string{"a": "b"}}, "message"},
		{"two targets", &fcm.Message{Token: "t", Topic: "x"}, "message"},
		{"bad topic", &fcm.Message{Topic: "a b"}, "message.topic"},
		{"reserved from", &fcm.Message{Token: "t", Data: map[string]string{"from": "x"}}, "message.data"},
		{"reserved message_type", &fcm.Message{Token: "t", Data: map[string]string{"message_type": "x"}}, "message.data"},
		{"reserved google.", &fcm.Message{Token: "t", Data: map[string]string{"google.foo": "x"}}, "message.data"},
		{"reserved gcm.", &fcm.Message{Token: "t", Data: map[string]string{"gcm.n.e": "x"}}, "message.data"},
		{"empty key", &fcm.Message{Token: "t", Data: map[string]string{"": "x"}}, "message.data"},
		{"reserved android data", &fcm.Message{Token: "t", Android: &fcm.AndroidConfig{Data: map[string]string{"from": "x"}}}, "message.android.data"},
		{"reserved webpush data", &fcm.Message{Token: "t", Webpush: &fcm.WebpushConfig{Data: map[string]string{"gcm.x": "x"}}}, "message.webpush.data"},
		{"negative ttl", &fcm.Message{Token: "t", Android: &fcm.AndroidConfig{TTL: ptr(-time.Second)}}, "message.android.ttl"},
		{"ttl over 28 days", &fcm.Message{Token: "t", Android: &fcm.AndroidConfig{TTL: ptr(fcm.MaxTTL + time.Nanosecond)}}, "message.android.ttl"},
		{"bad priority", &fcm.Message{Token: "t", Android: &fcm.AndroidConfig{Priority: "urgent"}}, "message.android.priority"},
		{"apns payload not object", &fcm.Message{Token: "t", APNS: &fcm.APNSConfig{Payload: json.RawMessage(`[1]`)}}, "message.apns.payload"},
		{"apns payload invalid", &fcm.Message{Token: "t", APNS: &fcm.APNSConfig{Payload: json.RawMessage(`{"a":`)}}, "message.apns.payload"},
		{"webpush notification not object", &fcm.Message{Token: "t", Webpush: &fcm.WebpushConfig{Notification: json.RawMessage(`"x"`)}}, "message.webpush.notification"},
		{"too big for a token", &fcm.Message{Token: "t", Data: map[string]string{"k": big}}, "message"},
		{"too big for a topic", &fcm.Message{Topic: "news", Data: map[string]string{"k": big[:2100]}}, "message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.SendMessage(context.Background(), tt.m)
			require.Error(t, err)
			assert.ErrorIs(t, err, fcm.ErrInvalidMessage)
			assert.ErrorIs(t, err, pushwire.ErrPermanent)
			assert.NotErrorIs(t, err, pushwire.ErrRetryable)
			var ve *fcm.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.field, ve.Field)
		})
	}
	t.Run("neutral message without token", func(t *testing.T) {
		err := c.Send(context.Background(), pushwire.Message{Data: map[string]string{"a": "b"}})
		assert.ErrorIs(t, err, fcm.ErrInvalidMessage)
	})
	assert.Equal(t, 0, srv.SendRequests(), "no request for an invalid message")

	t.Run("limits are inclusive", func(t *testing.T) {
		// A message just under the limit is sent: the limits are not off by a lot.
		m := &fcm.Message{Topic: "news", Data: map[string]string{"k": big[:2000]}}
		_, err := c.SendMessage(context.Background(), m)
		require.NoError(t, err)
	})
}

// classes lists the root classes an error matches.
func classes(err error) []error {
	var out []error
	for _, c := range []error{pushwire.ErrDeadToken, pushwire.ErrRetryable, pushwire.ErrPermanent, pushwire.ErrConfiguration} {
		if errors.Is(err, c) {
			out = append(out, c)
		}
	}
	return out
}

func TestErrorClasses(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, func(cfg *fcm.Config) { cfg.Retry.MaxAttempts = 1 })
	dead := []error{pushwire.ErrDeadToken}
	retry := []error{pushwire.ErrRetryable}
	perm := []error{pushwire.ErrPermanent}
	conf := []error{pushwire.ErrPermanent, pushwire.ErrConfiguration}
	tests := []struct {
		name       string
		fail       fcmtest.Failure
		class      []error
		httpStatus int
		status     string
		code       fcm.ErrorCode
		retryAfter time.Duration
	}{
		{"unregistered", fcmtest.Unregistered(), dead, 404, "NOT_FOUND", fcm.CodeUnregistered, 0},
		{"invalid token", fcmtest.InvalidToken(), dead, 400, "INVALID_ARGUMENT", fcm.CodeInvalidArgument, 0},
		{"invalid token by message only", fcmtest.Failure{Code: "INVALID_ARGUMENT", Message: "The registration token is not a valid FCM registration token"}, dead, 400, "INVALID_ARGUMENT", fcm.CodeInvalidArgument, 0},
		{"invalid argument", fcmtest.InvalidArgument("Invalid value at 'message.android.ttl'"), perm, 400, "INVALID_ARGUMENT", fcm.CodeInvalidArgument, 0},
		{"sender id mismatch", fcmtest.SenderIDMismatch(), conf, 403, "PERMISSION_DENIED", fcm.CodeSenderIDMismatch, 0},
		{"third party auth", fcmtest.ThirdPartyAuthError(), conf, 401, "UNAUTHENTICATED", fcm.CodeThirdPartyAuthError, 0},
		{"quota exceeded", fcmtest.QuotaExceeded(30 * time.Second), retry, 429, "RESOURCE_EXHAUSTED", fcm.CodeQuotaExceeded, 30 * time.Second},
		{"quota exceeded without retry-after", fcmtest.QuotaExceeded(0), retry, 429, "RESOURCE_EXHAUSTED", fcm.CodeQuotaExceeded, time.Minute},
		{"bare 429", fcmtest.TooManyRequests(7 * time.Second), retry, 429, "", "", 7 * time.Second},
		{"unavailable", fcmtest.Unavailable(3 * time.Second), retry, 503, "UNAVAILABLE", fcm.CodeUnavailable, 3 * time.Second},
		{"internal", fcmtest.Internal(), retry, 500, "INTERNAL", fcm.CodeInternal, 0},
		{"bare 502", fcmtest.Failure{Status: 502, Bare: true}, retry, 502, "", "", 0},
		{"bare 401", fcmtest.Failure{Status: 401, Bare: true}, conf, 401, "", "", 0},
		{"404 without UNREGISTERED", fcmtest.Failure{Status: 404}, conf, 404, "NOT_FOUND", "", 0},
		{"other 4xx", fcmtest.Failure{Status: 409}, perm, 409, "ABORTED", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Reset()
			srv.FailToken("tok-err", tt.fail)
			err := c.Send(context.Background(), pushwire.Message{Token: "tok-err"})
			require.Error(t, err)
			assert.ElementsMatch(t, tt.class, classes(err))
			var fe *fcm.Error
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.httpStatus, fe.Status)
			assert.Equal(t, tt.status, fe.RPCStatus)
			assert.Equal(t, tt.code, fe.Code)
			assert.Equal(t, tt.retryAfter, fe.RetryAfter())
			ra, ok := pushwire.RetryAfter(err)
			assert.Equal(t, tt.retryAfter, ra)
			assert.Equal(t, tt.retryAfter > 0, ok)
			// A refused access token (401 without FcmError) is
			// fetched anew and the send tried once more.
			want := 1
			if tt.httpStatus == 401 && tt.code == "" {
				want = 2
			}
			assert.Equal(t, want, fe.Attempts)
			assert.Equal(t, want, srv.SendRequests())
			assert.NotContains(t, err.Error(), "tok-err", "no token in error strings")
			assert.Equal(t, strings.ToLower(err.Error()[:10]), err.Error()[:10])
		})
	}
}

func TestErrorDetails(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, func(cfg *fcm.Config) { cfg.Retry.MaxAttempts = 1 })
	srv.FailToken("tok-bad", fcmtest.InvalidToken())
	srv.FailToken("tok-quota", fcmtest.QuotaExceeded(time.Second))
	var fe *fcm.Error
	_, err := c.SendMessage(context.Background(), &fcm.Message{Token: "tok-bad"})
	require.ErrorAs(t, err, &fe)
	require.Len(t, fe.FieldViolations, 1)
	assert.Equal(t, "message.token", fe.FieldViolations[0].Field)

	_, err = c.SendMessage(context.Background(), &fcm.Message{Token: "tok-quota"})
	require.ErrorAs(t, err, &fe)
	require.NotEmpty(t, fe.QuotaViolations)
	assert.Equal(t, "project", fe.QuotaViolations[0].Subject)
}

func TestRetryAfterHTTPDate(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, func(cfg *fcm.Config) {
		cfg.Retry.MaxAttempts = 1
		cfg.Now = func() time.Time { return now }
	})
	tests := []struct {
		header string
		want   time.Duration
	}{
		{now.Add(90 * time.Second).Format("Mon, 02 Jan 2006 15:04:05 GMT"), 90 * time.Second},
		{now.Add(-time.Minute).Format("Mon, 02 Jan 2006 15:04:05 GMT"), 0},
		{"12", 12 * time.Second},
		{"-3", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			srv.FailNext(1, fcmtest.Failure{Code: "UNAVAILABLE", RetryAfter: tt.header})
			err := c.Send(context.Background(), pushwire.Message{Token: "t"})
			var fe *fcm.Error
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.want, fe.RetryAfter())
		})
	}
}

func TestRetryTransientThenSucceed(t *testing.T) {
	tests := []struct {
		name string
		fail fcmtest.Failure
	}{
		{"unavailable", fcmtest.Unavailable(0)},
		{"internal", fcmtest.Internal()},
		{"bare 503", fcmtest.Failure{Status: 503, Bare: true}},
		{"dropped connection", fcmtest.Drop()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fcmtest.Config{})
			rec := &sleepRecorder{}
			c := newClient(t, srv, func(cfg *fcm.Config) {
				cfg.Retry = fcm.RetryPolicy{MaxAttempts: 3, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Sleep: rec.Sleep}
			})
			srv.FailNext(2, tt.fail)
			name, err := c.SendMessage(context.Background(), &fcm.Message{Token: "t"})
			require.NoError(t, err)
			assert.NotEmpty(t, name)
			assert.Equal(t, 3, srv.SendRequests())
			d := rec.Delays()
			require.Len(t, d, 2)
			// Full jitter: retry n waits between 0 and MinBackoff·2^(n-1).
			assert.LessOrEqual(t, d[0], 100*time.Millisecond)
			assert.LessOrEqual(t, d[1], 200*time.Millisecond)
			assert.GreaterOrEqual(t, d[0], time.Duration(0))
		})
	}
}

func TestRetryGivesUp(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	rec := &sleepRecorder{}
	c := newClient(t, srv, func(cfg *fcm.Config) {
		cfg.Retry = fcm.RetryPolicy{MaxAttempts: 4, MinBackoff: time.Millisecond, Sleep: rec.Sleep}
	})
	srv.FailAll(fcmtest.Internal())
	err := c.Send(context.Background(), pushwire.Message{Token: "t"})
	var fe *fcm.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, 4, fe.Attempts)
	assert.Equal(t, 4, srv.SendRequests())
	assert.Len(t, rec.Delays(), 3)
	assert.ErrorIs(t, err, pushwire.ErrRetryable)
}

func TestRetryBackoffCapped(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	rec := &sleepRecorder{}
	c := newClient(t, srv, func(cfg *fcm.Config) {
		cfg.Retry = fcm.RetryPolicy{MaxAttempts: 8, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Sleep: rec.Sleep}
	})
	srv.FailAll(fcmtest.Unavailable(0))
	require.Error(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
	d := rec.Delays()
	require.Len(t, d, 7)
	for i, v := range d {
		ceiling := min(10*time.Millisecond<<i, 40*time.Millisecond)
		assert.LessOrEqual(t, v, ceiling, "retry %d", i+1)
	}
}

// A MaxBackoff as long as a time.Duration can be (math.MaxInt64) is a valid
// "no cap": once MinBackoff·2^(n-1) passes it, retries draw their delay from
// the whole range instead of overflowing it.
func TestRetryHugeMaxBackoff(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	rec := &sleepRecorder{}
	const attempts = 40
	c := newClient(t, srv, func(cfg *fcm.Config) {
		cfg.Retry = fcm.RetryPolicy{MaxAttempts: attempts, MaxBackoff: math.MaxInt64, Sleep: rec.Sleep}
	})
	srv.FailAll(fcmtest.Internal())
	err := c.Send(context.Background(), pushwire.Message{Token: "t"})
	var fe *fcm.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, attempts, fe.Attempts)
	assert.Equal(t, "INTERNAL", fe.RPCStatus)
	assert.Equal(t, attempts, srv.SendRequests())
	d := rec.Delays()
	require.Len(t, d, attempts-1)
	for i, v := range d {
		assert.GreaterOrEqual(t, v, time.Duration(0), "retry %d", i+1)
		if i < 20 { // 500ms·2^i is below math.MaxInt64 for these
			assert.LessOrEqual(t, v, 500*time.Millisecond<<i, "retry %d", i+1)
		}
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	rec := &sleepRecorder{}
	c := newClient(t, srv, func(cfg *fcm.Config) {
		cfg.Retry = fcm.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Second, Sleep: rec.Sleep}
	})
	srv.FailNext(1, fcmtest.Unavailable(5*time.Second))
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
	assert.Equal(t, []time.Duration{5 * time.Second}, rec.Delays())
}

func TestRetryAfterBeyondMaxBackoffIsReturned(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	rec := &sleepRecorder{}
	c := newClient(t, srv, func(cfg *fcm.Config) {
		cfg.Retry = fcm.RetryPolicy{MaxBackoff: 2 * time.Second, Sleep: rec.Sleep}
	})
	srv.FailNext(1, fcmtest.Unavailable(30*time.Second))
	err := c.Send(context.Background(), pushwire.Message{Token: "t"})
	require.ErrorIs(t, err, pushwire.ErrRetryable)
	ra, _ := pushwire.RetryAfter(err)
	assert.Equal(t, 30*time.Second, ra)
	assert.Empty(t, rec.Delays())
	assert.Equal(t, 1, srv.SendRequests())
}

func TestRetryNeverPastDeadline(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	rec := &sleepRecorder{}
	c := newClient(t, srv, func(cfg *fcm.Config) {
		cfg.Retry = fcm.RetryPolicy{MaxBackoff: time.Hour, Sleep: rec.Sleep}
	})
	srv.FailNext(1, fcmtest.Unavailable(20*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.Send(ctx, pushwire.Message{Token: "t"})
	require.ErrorIs(t, err, pushwire.ErrRetryable)
	assert.Empty(t, rec.Delays(), "a wait past the deadline is not started")
	assert.Equal(t, 1, srv.SendRequests())
}

func TestQuotaNotRetriedByDefault(t *testing.T) {
	for _, f := range []fcmtest.Failure{fcmtest.QuotaExceeded(2 * time.Second), fcmtest.TooManyRequests(2 * time.Second)} {
		srv := newServer(t, fcmtest.Config{})
		rec := &sleepRecorder{}
		c := newClient(t, srv, func(cfg *fcm.Config) { cfg.Retry.Sleep = rec.Sleep })
		srv.FailNext(1, f)
		err := c.Send(context.Background(), pushwire.Message{Token: "t"})
		require.ErrorIs(t, err, pushwire.ErrRetryable)
		assert.Equal(t, 1, srv.SendRequests())
		assert.Empty(t, rec.Delays())
	}
}

func TestQuotaRetriedWhenAsked(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	rec := &sleepRecorder{}
	c := newClient(t, srv, func(cfg *fcm.Config) {
		cfg.Retry = fcm.RetryPolicy{RetryQuota: true, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Minute, Sleep: rec.Sleep}
	})
	srv.FailNext(1, fcmtest.QuotaExceeded(0))
	srv.FailNext(1, fcmtest.TooManyRequests(3*time.Second))
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
	assert.Equal(t, []time.Duration{time.Minute, 3 * time.Second}, rec.Delays())
	assert.Equal(t, 3, srv.SendRequests())
}

func TestPermanentNeverRetried(t *testing.T) {
	for _, f := range []fcmtest.Failure{fcmtest.Unregistered(), fcmtest.InvalidArgument("bad"), fcmtest.SenderIDMismatch(), fcmtest.ThirdPartyAuthError()} {
		srv := newServer(t, fcmtest.Config{})
		rec := &sleepRecorder{}
		c := newClient(t, srv, func(cfg *fcm.Config) { cfg.Retry = fcm.RetryPolicy{MaxAttempts: 5, Sleep: rec.Sleep} })
		srv.FailNext(1, f)
		require.Error(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
		assert.Equal(t, 1, srv.SendRequests(), f.Code)
		assert.Empty(t, rec.Delays())
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	c := newClient(t, srv, func(cfg *fcm.Config) {
		cfg.Retry = fcm.RetryPolicy{Sleep: func(ctx context.Context, d time.Duration) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}}
	})
	srv.FailAll(fcmtest.Unavailable(0))
	err := c.Send(ctx, pushwire.Message{Token: "t"})
	require.ErrorIs(t, err, pushwire.ErrRetryable, "the last answer is returned")
	assert.Equal(t, 1, srv.SendRequests())
}

func TestSlowResponseHonoursContext(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c := newClient(t, srv, nil)
	// Warm the client (access token, connection), so that the deadline
	// below is spent waiting for the answer, not on set-up.
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "warm-up"}))
	srv.FailAll(fcmtest.Slow(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Send(ctx, pushwire.Message{Token: "t"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, []error{pushwire.ErrRetryable}, classes(err), "an ended context is retryable (pushwire.ContextError)")
	assert.ErrorIs(t, err, pushwire.ErrUnknownOutcome, "the request was written before the deadline")
}

// A hung token endpoint holds a send only until its context ends, not for
// the token HTTP client's timeout; the sends waiting meanwhile share one
// fetch.
func TestHungTokenEndpointHonoursContext(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	var fetches atomic.Int32
	arrived := make(chan struct{}, 1)
	unblock := make(chan struct{})
	abandoned := make(chan struct{}, 1)
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		_, _ = io.Copy(io.Discard, r.Body) // the server then notices a closed connection
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-unblock:
		case <-r.Context().Done():
			abandoned <- struct{}{}
		}
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(hung.Close)
	var release sync.Once
	end := func() { release.Do(func() { close(unblock) }) }
	t.Cleanup(end) // runs first: ends the fetch
	var sa map[string]any
	require.NoError(t, json.Unmarshal(srv.ServiceAccountJSON(), &sa))
	sa["token_uri"] = hung.URL
	creds, err := json.Marshal(sa)
	require.NoError(t, err)
	c := newClient(t, srv, func(cfg *fcm.Config) {
		cfg.CredentialsJSON = creds
		// The fetch's own bound, far beyond the sends' deadlines and
		// the test's.
		cfg.HTTPClient = &http.Client{Timeout: time.Hour}
	})

	const n = 5
	errs := make(chan error, n)
	start := time.Now()
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			errs <- c.Send(ctx, pushwire.Message{Token: "t"})
		}()
	}
	for range n {
		err := <-errs
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, []error{pushwire.ErrRetryable}, classes(err), "an ended context is retryable (pushwire.ContextError)")
		assert.NotErrorIs(t, err, pushwire.ErrUnknownOutcome, "no request was written")
	}
	assert.Less(t, time.Since(start), 5*time.Second, "the sends ended at their deadline, not the fetch's timeout")
	<-arrived
	assert.Equal(t, int32(1), fetches.Load(), "the sends shared one token fetch")
	assert.Equal(t, 0, srv.SendRequests())

	// Close ends the fetch under way (the token endpoint sees the request
	// abandoned) instead of waiting for the token client's timeout.
	closed := make(chan struct{})
	go func() { _ = c.Close(); close(closed) }()
	select {
	case <-abandoned:
	case <-time.After(time.Minute):
		t.Error("Close did not end the token fetch")
		end()
	}
	<-closed
}

// gatedSource is a token source whose Token blocks until release is closed.
type gatedSource struct {
	release chan struct{}
	calls   atomic.Int32
	src     oauth2.TokenSource
}

func (s *gatedSource) Token() (*oauth2.Token, error) {
	s.calls.Add(1)
	<-s.release
	return s.src.Token()
}

// A TokenSource that blocks (Token takes no context) holds a send only
// until its context ends; the call goes on and its token serves the sends
// that follow.
func TestBlockedTokenSourceHonoursContext(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	jc, err := google.JWTConfigFromJSON(srv.ServiceAccountJSON(), fcm.Scope)
	require.NoError(t, err)
	gated := &gatedSource{
		release: make(chan struct{}),
		src:     jc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())),
	}
	release := sync.OnceFunc(func() { close(gated.release) })
	t.Cleanup(release)
	c := newClient(t, srv, func(cfg *fcm.Config) {
		cfg.CredentialsJSON = nil
		cfg.TokenSource = gated
		cfg.ProjectID = srv.ProjectID()
	})
	msg := pushwire.Message{Token: "t"}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- c.Send(ctx, msg) }()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, []error{pushwire.ErrRetryable}, classes(err), "an ended context is retryable (pushwire.ContextError)")
		assert.NotErrorIs(t, err, pushwire.ErrUnknownOutcome, "no request was written")
	case <-time.After(10 * time.Second):
		release()
		<-errc
		require.FailNow(t, "the send did not end at its deadline while the token source blocked")
	}
	require.Eventually(t, func() bool { return gated.calls.Load() == 1 }, 10*time.Second, time.Millisecond)

	go func() { errc <- c.Send(context.Background(), msg) }()
	release()
	require.NoError(t, <-errc)
	require.NoError(t, c.Send(context.Background(), msg))
	assert.Equal(t, int32(1), gated.calls.Load(), "one Token call served all sends")
	assert.Equal(t, 1, srv.TokenRequests())
	assert.Len(t, srv.Messages(), 2)
}

func TestTokenFetchedOnce(t *testing.T) {
	srv := newServer(t, fcmtest.Config{TLS: true})
	c := newClient(t, srv, nil)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t", Data: map[string]string{"i": string(rune('a' + i%26))}}))
		}()
	}
	wg.Wait()
	assert.Len(t, srv.Messages(), 50)
	assert.Equal(t, 1, srv.TokenRequests())
}

func TestTokenRefreshedWhenExpired(t *testing.T) {
	// Tokens of 1s lifetime are within oauth2's 10s expiry margin, so every
	// send fetches a new one: proves the cache honours expiry.
	srv := newServer(t, fcmtest.Config{TokenLifetime: time.Second})
	c := newClient(t, srv, nil)
	for range 3 {
		require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
	}
	assert.Equal(t, 3, srv.TokenRequests())
}

func TestTokenSourceConfig(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	jc, err := google.JWTConfigFromJSON(srv.ServiceAccountJSON(), fcm.Scope)
	require.NoError(t, err)
	counting := &countingSource{src: jc.TokenSource(ctx)}

	_, err = fcm.New(context.Background(), fcm.Config{TokenSource: counting})
	require.ErrorIs(t, err, pushwire.ErrConfiguration, "ProjectID is required with a TokenSource")

	c, err := fcm.New(context.Background(), fcm.Config{
		TokenSource: counting, ProjectID: srv.ProjectID(), BaseURL: srv.URL, HTTPClient: srv.Client(),
	})
	require.NoError(t, err)
	defer c.Close()
	for range 5 {
		require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
	}
	assert.Equal(t, 1, srv.TokenRequests())
	assert.Equal(t, srv.ProjectID(), c.ProjectID())
}

type countingSource struct {
	mu  sync.Mutex
	n   int
	src oauth2.TokenSource
}

func (s *countingSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return s.src.Token()
}

func TestTokenErrors(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	other := newServer(t, fcmtest.Config{PrivateKey: mustKey(t)})

	t.Run("wrong key is a configuration error", func(t *testing.T) {
		var sa map[string]string
		require.NoError(t, json.Unmarshal(srv.ServiceAccountJSON(), &sa))
		var osa map[string]string
		require.NoError(t, json.Unmarshal(other.ServiceAccountJSON(), &osa))
		sa["private_key"] = osa["private_key"]
		raw, _ := json.Marshal(sa)
		c := newClient(t, srv, func(cfg *fcm.Config) { cfg.CredentialsJSON = raw })
		err := c.Send(context.Background(), pushwire.Message{Token: "t"})
		require.ErrorIs(t, err, pushwire.ErrConfiguration)
		assert.NotContains(t, err.Error(), "PRIVATE KEY")
		assert.Equal(t, 0, srv.SendRequests())
	})
	t.Run("revoked access token is replaced", func(t *testing.T) {
		srv.Reset()
		c := newClient(t, srv, func(cfg *fcm.Config) { cfg.Retry.MaxAttempts = 1 })
		require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
		srv.RevokeTokens()
		require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
		assert.Equal(t, 2, srv.TokenRequests())
		assert.Equal(t, 3, srv.SendRequests())
		require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
		assert.Equal(t, 2, srv.TokenRequests(), "the new token is cached")
	})
	t.Run("revoked tokens of concurrent sends are replaced once", func(t *testing.T) {
		srv.Reset()
		c := newClient(t, srv, nil)
		require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
		srv.RevokeTokens()
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				assert.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
			}()
		}
		wg.Wait()
		// Sends that read the old token before the first replacement
		// may replace it again; far fewer fetches than sends.
		assert.Less(t, srv.TokenRequests(), 12)
	})
	t.Run("persistent 401 is a configuration error", func(t *testing.T) {
		srv.Reset()
		c := newClient(t, srv, nil)
		srv.FailAll(fcmtest.Failure{Status: 401})
		err := c.Send(context.Background(), pushwire.Message{Token: "t"})
		var fe *fcm.Error
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, 401, fe.Status)
		assert.Equal(t, "UNAUTHENTICATED", fe.RPCStatus)
		assert.ErrorIs(t, err, pushwire.ErrConfiguration)
		assert.Equal(t, 2, fe.Attempts)
		assert.Equal(t, 2, srv.SendRequests())
		assert.Equal(t, 2, srv.TokenRequests())
		srv.ClearFailures()
	})
	t.Run("wrong project is a configuration error", func(t *testing.T) {
		c := newClient(t, srv, func(cfg *fcm.Config) { cfg.ProjectID = "someone-else" })
		err := c.Send(context.Background(), pushwire.Message{Token: "t"})
		var fe *fcm.Error
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, 403, fe.Status)
		assert.ErrorIs(t, err, pushwire.ErrConfiguration)
	})
	t.Run("unreachable endpoint is retryable", func(t *testing.T) {
		gone := newServer(t, fcmtest.Config{})
		sa := gone.ServiceAccountJSON()
		url := gone.URL
		gone.Close()
		c := newClient(t, srv, func(cfg *fcm.Config) {
			cfg.CredentialsJSON = sa
			cfg.BaseURL = url
			cfg.Retry.MaxAttempts = 1
		})
		err := c.Send(context.Background(), pushwire.Message{Token: "t"})
		var fe *fcm.Error
		require.ErrorAs(t, err, &fe)
		assert.ErrorIs(t, err, pushwire.ErrRetryable)
		assert.Equal(t, 0, fe.Status)
	})
}

func mustKey(t *testing.T) *rsaKey {
	t.Helper()
	return newRSAKey(t)
}

func TestNewConfigErrors(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	sa := srv.ServiceAccountJSON()
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	user := []byte(`{"type":"authorized_user","client_id":"a","client_secret":"b","refresh_token":"c"}`)
	noProject := []byte(strings.Replace(string(sa), `"project_id": "`+srv.ProjectID()+`"`, `"project_id": ""`, 1))
	tests := []struct {
		name string
		cfg  fcm.Config
	}{
		{"nothing", fcm.Config{}},
		{"both", fcm.Config{CredentialsJSON: sa, TokenSource: ts, ProjectID: "p"}},
		{"garbage json", fcm.Config{CredentialsJSON: []byte("{nope")}},
		{"wrong credential type", fcm.Config{CredentialsJSON: user, ProjectID: "p"}},
		{"no project", fcm.Config{CredentialsJSON: noProject}},
		{"bad project", fcm.Config{TokenSource: ts, ProjectID: "a/b"}},
		{"negative concurrency", fcm.Config{TokenSource: ts, ProjectID: "p", MaxConcurrency: -1}},
		{"bad endpoint", fcm.Config{TokenSource: ts, ProjectID: "p", BaseURL: "ftp://x"}},
		{"endpoint without host", fcm.Config{TokenSource: ts, ProjectID: "p", BaseURL: "http://"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := fcm.New(context.Background(), tt.cfg)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, pushwire.ErrConfiguration)
			assert.ErrorIs(t, err, pushwire.ErrConfiguration)
			assert.NotContains(t, err.Error(), "PRIVATE KEY")
		})
	}
}

func TestClose(t *testing.T) {
	srv := newServer(t, fcmtest.Config{})
	c, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
	require.NoError(t, err)
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	assert.ErrorIs(t, c.Send(context.Background(), pushwire.Message{Token: "t"}), pushwire.ErrClosed)
	res := c.SendEach(context.Background(), []*fcm.Message{{Token: "a"}})
	assert.ErrorIs(t, res[0].Err, pushwire.ErrClosed)
}

func TestHTTPClientWithTimeoutAndJar(t *testing.T) {
	// A client with a Timeout or Jar is used through http.Client.Do.
	srv := newServer(t, fcmtest.Config{TLS: true})
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := &http.Client{Timeout: 10 * time.Second, Jar: jar, Transport: srv.Client().Transport}
	c := newClient(t, srv, func(cfg *fcm.Config) { cfg.HTTPClient = hc })
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "t"}))
		}()
	}
	wg.Wait()
	assert.Len(t, srv.Messages(), 8)
}
