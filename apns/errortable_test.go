package apns_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
)

// answer is one APNs error answer: the status, the body's reason and
// timestamp (omitted when empty or zero), or a raw body.
type answer struct {
	status     int
	reason     apns.Reason
	timestamp  int64  // ms; 0: no timestamp member
	raw        string // when set, the body instead of the JSON built from reason and timestamp
	retryAfter string
}

func (a answer) body() string {
	if a.raw != "" {
		return a.raw
	}
	var m []string
	if a.reason != "" {
		m = append(m, `"reason":`+strconv.Quote(string(a.reason)))
	}
	if a.timestamp != 0 {
		m = append(m, `"timestamp":`+strconv.FormatInt(a.timestamp, 10))
	}
	return "{" + strings.Join(m, ",") + "}"
}

// answering returns a client whose every request gets a, then 200 when
// okAfter is true (so that a retry succeeds), and the request counter.
func answering(t *testing.T, a answer, okAfter bool, retry apns.RetryPolicy) (*apns.Client, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		if n.Add(1) > 1 && okAfter {
			return &http.Response{StatusCode: 200, ProtoMajor: 2, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
		}
		h := http.Header{}
		if a.retryAfter != "" {
			h.Set("Retry-After", a.retryAfter)
		}
		return &http.Response{StatusCode: a.status, ProtoMajor: 2, Header: h,
			Body: io.NopCloser(strings.NewReader(a.body())), Request: r}, nil
	})
	c, err := apns.New(apns.Config{HTTPClient: &http.Client{Transport: rt}, Topic: bundle, Retry: retry})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, &n
}

// Apple's error table, row by row: every documented reason with its HTTP
// status, answers without a reason, reasons Apple has not documented (yet),
// and answers that are not JSON. Each row has exactly one pushwire class,
// checked on the *apns.Error alone (Class) and through the client (errors.Is
// on what Send returns, with the retry decision that follows from the
// class: retryable rows are tried again, no other row is). A 410 carries the
// time since which the token is dead when its body has a timestamp, and no
// time at all otherwise: a registry then prunes as of its own record, never
// as of 1970.
func TestErrorTable(t *testing.T) {
	const ms = int64(1767225600000) // 2026-01-01T00:00:00Z
	dead, retry, perm, conf := pushwire.ErrDeadToken, pushwire.ErrRetryable, pushwire.ErrPermanent, pushwire.ErrConfiguration
	tests := []struct {
		name  string
		a     answer
		class error
		since time.Time // the 410 timestamp; zero: DeadSince reports none
	}{
		// Every reason Apple documents, at its status.
		{"BadCollapseId", answer{status: 400, reason: apns.ReasonBadCollapseID}, perm, time.Time{}},
		{"BadDeviceToken", answer{status: 400, reason: apns.ReasonBadDeviceToken}, dead, time.Time{}},
		{"BadExpirationDate", answer{status: 400, reason: apns.ReasonBadExpirationDate}, perm, time.Time{}},
		{"BadMessageId", answer{status: 400, reason: apns.ReasonBadMessageID}, perm, time.Time{}},
		{"BadPriority", answer{status: 400, reason: apns.ReasonBadPriority}, perm, time.Time{}},
		{"BadTopic", answer{status: 400, reason: apns.ReasonBadTopic}, conf, time.Time{}},
		{"DeviceTokenNotForTopic", answer{status: 400, reason: apns.ReasonDeviceTokenNotForTopic}, dead, time.Time{}},
		{"DuplicateHeaders", answer{status: 400, reason: apns.ReasonDuplicateHeaders}, perm, time.Time{}},
		{"IdleTimeout", answer{status: 400, reason: apns.ReasonIdleTimeout}, retry, time.Time{}},
		{"InvalidPushType", answer{status: 400, reason: apns.ReasonInvalidPushType}, perm, time.Time{}},
		{"MissingDeviceToken", answer{status: 400, reason: apns.ReasonMissingDeviceToken}, perm, time.Time{}},
		{"MissingTopic", answer{status: 400, reason: apns.ReasonMissingTopic}, conf, time.Time{}},
		{"PayloadEmpty", answer{status: 400, reason: apns.ReasonPayloadEmpty}, perm, time.Time{}},
		{"TopicDisallowed", answer{status: 400, reason: apns.ReasonTopicDisallowed}, conf, time.Time{}},
		{"BadCertificate", answer{status: 403, reason: apns.ReasonBadCertificate}, conf, time.Time{}},
		{"BadCertificateEnvironment", answer{status: 403, reason: apns.ReasonBadCertificateEnvironment}, conf, time.Time{}},
		{"ExpiredProviderToken", answer{status: 403, reason: apns.ReasonExpiredProviderToken}, conf, time.Time{}},
		{"Forbidden", answer{status: 403, reason: apns.ReasonForbidden}, conf, time.Time{}},
		{"InvalidProviderToken", answer{status: 403, reason: apns.ReasonInvalidProviderToken}, conf, time.Time{}},
		{"MissingProviderToken", answer{status: 403, reason: apns.ReasonMissingProviderToken}, conf, time.Time{}},
		{"UnrelatedKeyIdInToken", answer{status: 403, reason: apns.ReasonUnrelatedKeyIDInToken}, conf, time.Time{}},
		{"BadEnvironmentKeyIdInToken", answer{status: 403, reason: apns.ReasonBadEnvironmentKeyIDInToken}, conf, time.Time{}},
		{"BadPath", answer{status: 404, reason: apns.ReasonBadPath}, perm, time.Time{}},
		{"MethodNotAllowed", answer{status: 405, reason: apns.ReasonMethodNotAllowed}, perm, time.Time{}},
		{"ExpiredToken", answer{status: 410, reason: apns.ReasonExpiredToken, timestamp: ms}, dead, time.UnixMilli(ms)},
		{"Unregistered", answer{status: 410, reason: apns.ReasonUnregistered, timestamp: ms}, dead, time.UnixMilli(ms)},
		{"PayloadTooLarge", answer{status: 413, reason: apns.ReasonPayloadTooLarge}, perm, time.Time{}},
		{"TooManyProviderTokenUpdates", answer{status: 429, reason: apns.ReasonTooManyProviderTokenUpdates}, retry, time.Time{}},
		{"TooManyRequests", answer{status: 429, reason: apns.ReasonTooManyRequests}, retry, time.Time{}},
		{"InternalServerError", answer{status: 500, reason: apns.ReasonInternalServerError}, retry, time.Time{}},
		{"ServiceUnavailable", answer{status: 503, reason: apns.ReasonServiceUnavailable}, retry, time.Time{}},
		{"Shutdown", answer{status: 503, reason: apns.ReasonShutdown}, retry, time.Time{}},

		// 410 and its timestamp: since when the token is dead, or unknown.
		{"Unregistered without timestamp", answer{status: 410, reason: apns.ReasonUnregistered}, dead, time.Time{}},
		{"ExpiredToken without timestamp", answer{status: 410, reason: apns.ReasonExpiredToken}, dead, time.Time{}},
		{"Unregistered with timestamp 0", answer{status: 410, raw: `{"reason":"Unregistered","timestamp":0}`}, dead, time.Time{}},
		{"Unregistered with a negative timestamp", answer{status: 410, raw: `{"reason":"Unregistered","timestamp":-1}`}, dead, time.Time{}},
		{"Unregistered with timestamp 1 ms", answer{status: 410, reason: apns.ReasonUnregistered, timestamp: 1}, dead, time.UnixMilli(1)},
		{"Unregistered with a timestamp that is not a number", answer{status: 410, raw: `{"reason":"Unregistered","timestamp":"yesterday"}`}, dead, time.Time{}},
		{"410 without a body", answer{status: 410, raw: " "}, dead, time.Time{}},

		// No reason: the HTTP status decides.
		{"400 without reason", answer{status: 400}, perm, time.Time{}},
		{"403 without reason", answer{status: 403}, conf, time.Time{}},
		{"404 without reason", answer{status: 404}, perm, time.Time{}},
		{"405 without reason", answer{status: 405}, perm, time.Time{}},
		{"410 without reason", answer{status: 410, timestamp: ms}, dead, time.UnixMilli(ms)},
		{"413 without reason", answer{status: 413}, perm, time.Time{}},
		{"428 without reason", answer{status: 428}, perm, time.Time{}},
		{"429 without reason", answer{status: 429}, retry, time.Time{}},
		{"430 without reason", answer{status: 430}, perm, time.Time{}},
		{"499 without reason", answer{status: 499}, perm, time.Time{}},
		{"500 without reason", answer{status: 500}, retry, time.Time{}},
		{"502 not json", answer{status: 502, raw: "<html>Bad Gateway</html>"}, retry, time.Time{}},
		{"503 without reason", answer{status: 503}, retry, time.Time{}},
		{"409 without reason", answer{status: 409}, perm, time.Time{}},

		// A reason Apple does not document: the HTTP status decides.
		{"unknown reason at 400", answer{status: 400, reason: "SomethingNew"}, perm, time.Time{}},
		{"unknown reason at 403", answer{status: 403, reason: "SomethingNew"}, conf, time.Time{}},
		{"unknown reason at 410", answer{status: 410, reason: "SomethingNew", timestamp: ms}, dead, time.UnixMilli(ms)},
		{"unknown reason at 429", answer{status: 429, reason: "SomethingNew"}, retry, time.Time{}},
		{"unknown reason at 500", answer{status: 500, reason: "SomethingNew"}, retry, time.Time{}},
		{"unknown reason at 503", answer{status: 503, reason: "SomethingNew"}, retry, time.Time{}},
		{"reason spelled in another case", answer{status: 400, reason: "baddevicetoken"}, perm, time.Time{}},

		// A documented reason decides over an unexpected status.
		{"BadDeviceToken at 500", answer{status: 500, reason: apns.ReasonBadDeviceToken}, dead, time.Time{}},
		{"TooManyRequests at 400", answer{status: 400, reason: apns.ReasonTooManyRequests}, retry, time.Time{}},
		{"Unregistered at 400", answer{status: 400, reason: apns.ReasonUnregistered}, dead, time.Time{}},
	}
	documented := map[apns.Reason]bool{}
	for _, tt := range tests {
		if s := tt.a.reason.Status(); s != 0 && s == tt.a.status {
			documented[tt.a.reason] = true
		}
	}
	require.Len(t, documented, 32, "every reason Apple documents has a row at its status")

	policy := apns.RetryPolicy{MaxAttempts: 2, MinBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The classification alone.
			e := &apns.Error{Status: tt.a.status, Reason: tt.a.reason}
			assert.Equal(t, tt.class, e.Class())
			assertClass(t, e, tt.class)

			// Through the client: the answer is read, classified, and
			// retried only when retryable.
			c, n := answering(t, tt.a, true, policy)
			err := c.Send(context.Background(), pushwire.Message{Token: tok(7)})
			if tt.class == pushwire.ErrRetryable {
				require.NoError(t, err, "retried, and the retry succeeded")
				assert.EqualValues(t, 2, n.Load())
				c, n = answering(t, tt.a, false, apns.RetryPolicy{MaxAttempts: 1})
				err = c.Send(context.Background(), pushwire.Message{Token: tok(7)})
			}
			require.Error(t, err)
			assert.EqualValues(t, 1, n.Load(), "one request")
			assertClass(t, err, tt.class)
			var ae *apns.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.a.status, ae.Status)
			if tt.a.raw == "" {
				assert.Equal(t, tt.a.reason, ae.Reason)
			}
			assert.NotContains(t, err.Error(), tok(7), "no full token in the error")
			since, ok := pushwire.DeadSince(err)
			assert.Equal(t, !tt.since.IsZero(), ok, "DeadSince known")
			assert.True(t, tt.since.Equal(since), "DeadSince %v, want %v", since, tt.since)
			assert.True(t, tt.since.Equal(ae.DeadSince()))
			assert.True(t, since.IsZero() || since.Year() >= 1970 && since.UnixMilli() > 0, "never the epoch")
			_, ok = pushwire.RetryAfter(err)
			assert.False(t, ok, "no Retry-After")
		})
	}
}

// A 410 from the fake without a timestamp is answered with the fake's "now";
// through the client the token is dead since then, and the same holds for
// every 410 reason.
func TestDeadSinceFromFake(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) { cfg.Retry.MaxAttempts = 1 })
	ts := time.UnixMilli(time.Now().Add(-72 * time.Hour).UnixMilli())
	for i, r := range []apns.Reason{apns.ReasonUnregistered, apns.ReasonExpiredToken} {
		srv.Fail(tok(i), apnstest.Failure{Reason: r, Timestamp: ts})
		err := c.Send(context.Background(), pushwire.Message{Token: tok(i)})
		assertClass(t, err, pushwire.ErrDeadToken)
		since, ok := pushwire.DeadSince(err)
		require.True(t, ok, r)
		assert.True(t, ts.Equal(since), "%s: %v, want %v", r, since, ts)
	}
}

// Retry decisions around Retry-After: a delay up to MaxBackoff is waited
// out (at least that long) and the push retried; a longer one (or one past the deadline) ends the
// push at once with the delay in its error, for the caller to schedule.
func TestRetryAfterDecision(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		maxBackoff time.Duration
		deadline   time.Duration // 0: none
		retried    bool
		want       time.Duration // RetryAfter of the error, when not retried
	}{
		{"just over MaxBackoff", "1", time.Second - time.Nanosecond, 0, false, time.Second},
		{"far over MaxBackoff", "3600", 5 * time.Second, 0, false, time.Hour},
		{"at MaxBackoff", "1", time.Second, 0, true, 0},
		{"past the deadline", "1", 5 * time.Second, 500 * time.Millisecond, false, time.Second},
		{"zero", "0", time.Nanosecond, 0, true, 0},
		{"not seconds", "Wed, 21 Oct 2015 07:28:00 GMT", time.Nanosecond, 0, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, n := answering(t, answer{status: 429, reason: apns.ReasonTooManyRequests, retryAfter: tt.retryAfter}, true,
				apns.RetryPolicy{MaxAttempts: 2, MinBackoff: time.Nanosecond, MaxBackoff: tt.maxBackoff})
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			start := time.Now()
			err := c.Send(ctx, pushwire.Message{Token: tok(1)})
			if tt.retried {
				require.NoError(t, err)
				assert.EqualValues(t, 2, n.Load())
				if tt.retryAfter == "1" {
					assert.GreaterOrEqual(t, time.Since(start), time.Second, "Retry-After waited out")
				}
				return
			}
			assertClass(t, err, pushwire.ErrRetryable)
			assert.EqualValues(t, 1, n.Load(), "not retried")
			d, ok := pushwire.RetryAfter(err)
			assert.True(t, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}
