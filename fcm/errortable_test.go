package fcm_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
)

// assertOneClass checks that err matches class and no other pushwire class
// (an ErrConfiguration error also matches ErrPermanent).
func assertOneClass(t *testing.T, err, class error) {
	t.Helper()
	for _, c := range []error{pushwire.ErrDeadToken, pushwire.ErrRetryable, pushwire.ErrPermanent, pushwire.ErrConfiguration} {
		want := c == class || (class == pushwire.ErrConfiguration && c == pushwire.ErrPermanent)
		assert.Equal(t, want, errors.Is(err, c), "errors.Is(%v, %v)", err, c)
	}
}

// FCM's error table, row by row, answered by the fake: every FcmError code,
// INVALID_ARGUMENT about the token (dead) and about the message (permanent:
// a valid token is never pruned because a message is malformed), answers
// without an FcmError (the HTTP status decides), and Retry-After as seconds
// and as an HTTP date. Each row has exactly one pushwire class, and the
// retry decision follows from it: retryable answers are retried, quota
// answers (QUOTA_EXCEEDED, 429) only when RetryQuota is set, after their
// Retry-After; no other answer is retried.
func TestErrorTable(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dead, retry, perm, conf := pushwire.ErrDeadToken, pushwire.ErrRetryable, pushwire.ErrPermanent, pushwire.ErrConfiguration
	const tokenMsg = "The registration token is not a valid FCM registration token"
	tests := []struct {
		name   string
		f      fcmtest.Failure
		status int
		code   fcm.ErrorCode
		class  error
		ra     time.Duration // RetryAfter of the error; 0: none
		quota  bool          // retried only with RetryQuota
	}{
		// Every FcmError code at the status FCM gives it.
		{"UNREGISTERED", fcmtest.Unregistered(), 404, fcm.CodeUnregistered, dead, 0, false},
		{"INVALID_ARGUMENT about the token", fcmtest.InvalidToken(), 400, fcm.CodeInvalidArgument, dead, 0, false},
		{"INVALID_ARGUMENT about the message", fcmtest.InvalidArgument("Invalid value at 'message.android.ttl'"), 400, fcm.CodeInvalidArgument, perm, 0, false},
		{"SENDER_ID_MISMATCH", fcmtest.SenderIDMismatch(), 403, fcm.CodeSenderIDMismatch, conf, 0, false},
		{"THIRD_PARTY_AUTH_ERROR", fcmtest.ThirdPartyAuthError(), 401, fcm.CodeThirdPartyAuthError, conf, 0, false},
		{"QUOTA_EXCEEDED", fcmtest.QuotaExceeded(30 * time.Second), 429, fcm.CodeQuotaExceeded, retry, 30 * time.Second, true},
		{"QUOTA_EXCEEDED without Retry-After", fcmtest.QuotaExceeded(0), 429, fcm.CodeQuotaExceeded, retry, time.Minute, true},
		{"UNAVAILABLE", fcmtest.Unavailable(3 * time.Second), 503, fcm.CodeUnavailable, retry, 3 * time.Second, false},
		{"UNAVAILABLE without Retry-After", fcmtest.Unavailable(0), 503, fcm.CodeUnavailable, retry, 0, false},
		{"INTERNAL", fcmtest.Internal(), 500, fcm.CodeInternal, retry, 0, false},
		{"UNSPECIFIED_ERROR", fcmtest.Failure{Code: "UNSPECIFIED_ERROR"}, 500, fcm.CodeUnspecified, retry, 0, false},
		{"UNSPECIFIED_ERROR at 400", fcmtest.Failure{Code: "UNSPECIFIED_ERROR", Status: 400}, 400, fcm.CodeUnspecified, perm, 0, false},

		// INVALID_ARGUMENT: only an answer about the token prunes.
		{"INVALID_ARGUMENT about the token by message only", fcmtest.Failure{Code: "INVALID_ARGUMENT", Message: tokenMsg}, 400, fcm.CodeInvalidArgument, dead, 0, false},
		{"INVALID_ARGUMENT without detail", fcmtest.Failure{Code: "INVALID_ARGUMENT"}, 400, fcm.CodeInvalidArgument, perm, 0, false},
		{"INVALID_ARGUMENT about message.data that speaks of the token", fcmtest.Failure{Code: "INVALID_ARGUMENT", Field: "message.data", Message: tokenMsg}, 400, fcm.CodeInvalidArgument, perm, 0, false},
		{"INVALID_ARGUMENT quoting a value that mentions a registration token", fcmtest.Failure{Code: "INVALID_ARGUMENT", Message: `Invalid value at 'message.data[0].value' (TYPE_STRING), "the registration token is not a valid one"`}, 400, fcm.CodeInvalidArgument, perm, 0, false},
		{"INVALID_ARGUMENT about message.token.x", fcmtest.Failure{Code: "INVALID_ARGUMENT", Field: "message.token.x"}, 400, fcm.CodeInvalidArgument, perm, 0, false},

		// No FcmError: the HTTP status (and the google.rpc status) decide.
		{"400 about the token without FcmError", fcmtest.Failure{Status: 400, Field: "message.token"}, 400, "", dead, 0, false},
		{"400 FAILED_PRECONDITION naming the token", fcmtest.Failure{Status: 400, RPCStatus: "FAILED_PRECONDITION", Field: "message.token"}, 400, "", perm, 0, false},
		{"400 about the message without FcmError", fcmtest.Failure{Status: 400, Field: "message.data"}, 400, "", perm, 0, false},
		{"bare 400", fcmtest.Failure{Status: 400, Bare: true}, 400, "", perm, 0, false},
		{"bare 401", fcmtest.Failure{Status: 401, Bare: true}, 401, "", conf, 0, false},
		{"bare 403", fcmtest.Failure{Status: 403, Bare: true}, 403, "", conf, 0, false},
		{"404 without UNREGISTERED", fcmtest.Failure{Status: 404}, 404, "", conf, 0, false},
		{"bare 409", fcmtest.Failure{Status: 409, Bare: true}, 409, "", perm, 0, false},
		{"bare 428", fcmtest.Failure{Status: 428, Bare: true}, 428, "", perm, 0, false},
		{"bare 429", fcmtest.TooManyRequests(7 * time.Second), 429, "", retry, 7 * time.Second, true},
		{"bare 429 without Retry-After", fcmtest.TooManyRequests(0), 429, "", retry, time.Minute, true},
		{"bare 429 with an HTTP date", fcmtest.Failure{Status: 429, Bare: true, RetryAfter: now.Add(45 * time.Second).Format(http.TimeFormat)}, 429, "", retry, 45 * time.Second, true},
		{"bare 430", fcmtest.Failure{Status: 430, Bare: true}, 430, "", perm, 0, false},
		{"bare 499", fcmtest.Failure{Status: 499, Bare: true}, 499, "", perm, 0, false},
		{"bare 500", fcmtest.Failure{Status: 500, Bare: true}, 500, "", retry, 0, false},
		{"bare 502", fcmtest.Failure{Status: 502, Bare: true}, 502, "", retry, 0, false},
		{"bare 503", fcmtest.Failure{Status: 503, Bare: true}, 503, "", retry, 0, false},
		{"bare 503 with Retry-After in seconds", fcmtest.Failure{Status: 503, Bare: true, RetryAfter: "20"}, 503, "", retry, 20 * time.Second, false},
		{"bare 503 with an HTTP date", fcmtest.Failure{Status: 503, Bare: true, RetryAfter: now.Add(90 * time.Second).Format(http.TimeFormat)}, 503, "", retry, 90 * time.Second, false},
		{"bare 503 with a past HTTP date", fcmtest.Failure{Status: 503, Bare: true, RetryAfter: now.Add(-time.Second).Format(http.TimeFormat)}, 503, "", retry, 0, false},
		{"bare 504", fcmtest.Failure{Status: 504, Bare: true}, 504, "", retry, 0, false},

		// A code FCM has not documented (yet): the HTTP status decides.
		{"unknown code at 400", fcmtest.Failure{Code: "SOMETHING_NEW", Status: 400}, 400, "SOMETHING_NEW", perm, 0, false},
		{"unknown code at 404", fcmtest.Failure{Code: "SOMETHING_NEW", Status: 404}, 404, "SOMETHING_NEW", conf, 0, false},
		{"unknown code at 503", fcmtest.Failure{Code: "SOMETHING_NEW", Status: 503}, 503, "SOMETHING_NEW", retry, 0, false},

		// An FcmError code decides over an unexpected HTTP status.
		{"UNREGISTERED at 400", fcmtest.Failure{Code: "UNREGISTERED", Status: 400}, 400, fcm.CodeUnregistered, dead, 0, false},
		{"INVALID_ARGUMENT about the token at 500", fcmtest.Failure{Code: "INVALID_ARGUMENT", Status: 500, Field: "message.token"}, 500, fcm.CodeInvalidArgument, dead, 0, false},
		{"INVALID_ARGUMENT about the message at 503", fcmtest.Failure{Code: "INVALID_ARGUMENT", Status: 503, Field: "message.data"}, 503, fcm.CodeInvalidArgument, perm, 0, false},
		{"QUOTA_EXCEEDED at 400", fcmtest.Failure{Code: "QUOTA_EXCEEDED", Status: 400}, 400, fcm.CodeQuotaExceeded, retry, time.Minute, true},
		{"UNAVAILABLE at 400", fcmtest.Failure{Code: "UNAVAILABLE", Status: 400}, 400, fcm.CodeUnavailable, retry, 0, false},
		{"INTERNAL at 400", fcmtest.Failure{Code: "INTERNAL", Status: 400}, 400, fcm.CodeInternal, retry, 0, false},
		{"SENDER_ID_MISMATCH at 400", fcmtest.Failure{Code: "SENDER_ID_MISMATCH", Status: 400}, 400, fcm.CodeSenderIDMismatch, conf, 0, false},
		{"THIRD_PARTY_AUTH_ERROR at 400", fcmtest.Failure{Code: "THIRD_PARTY_AUTH_ERROR", Status: 400}, 400, fcm.CodeThirdPartyAuthError, conf, 0, false},
	}
	codes := map[fcm.ErrorCode]bool{}
	for _, tt := range tests {
		codes[tt.code] = true
	}
	for _, c := range []fcm.ErrorCode{fcm.CodeUnspecified, fcm.CodeInvalidArgument, fcm.CodeUnregistered, fcm.CodeSenderIDMismatch,
		fcm.CodeQuotaExceeded, fcm.CodeUnavailable, fcm.CodeInternal, fcm.CodeThirdPartyAuthError} {
		require.True(t, codes[c], "a row for %s", c)
	}

	srv := newServer(t, fcmtest.Config{})
	client := func(t *testing.T, p fcm.RetryPolicy) (*fcm.Client, *sleepRecorder) {
		rec := &sleepRecorder{}
		p.Sleep = rec.Sleep
		p.MinBackoff = time.Nanosecond
		p.MaxBackoff = 2 * time.Minute
		return newClient(t, srv, func(cfg *fcm.Config) {
			cfg.Retry = p
			cfg.Now = func() time.Time { return now }
		}), rec
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Refused access tokens (401 without FcmError) are fetched
			// anew and the send tried once more: one request more.
			extra := 0
			if tt.status == 401 && tt.code == "" {
				extra = 1
			}

			// The answer, classified, with no retry.
			srv.Reset()
			c, rec := client(t, fcm.RetryPolicy{MaxAttempts: 1})
			srv.FailNext(1+extra, tt.f)
			err := c.Send(context.Background(), pushwire.Message{Token: "tok-table"})
			require.Error(t, err)
			assertOneClass(t, err, tt.class)
			var fe *fcm.Error
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.status, fe.Status)
			assert.Equal(t, tt.code, fe.Code)
			assert.Equal(t, tt.class, fe.Class())
			ra, ok := pushwire.RetryAfter(err)
			assert.Equal(t, tt.ra, ra)
			assert.Equal(t, tt.ra > 0, ok)
			_, ok = pushwire.DeadSince(err)
			assert.False(t, ok, "FCM does not say since when")
			assert.Equal(t, 1+extra, srv.SendRequests())
			assert.Empty(t, rec.Delays())
			assert.NotContains(t, err.Error(), "tok-table")

			// The retry decision, with and without RetryQuota.
			for _, retryQuota := range []bool{false, true} {
				srv.Reset()
				c, rec := client(t, fcm.RetryPolicy{MaxAttempts: 2, RetryQuota: retryQuota})
				srv.FailNext(1+extra, tt.f)
				err := c.Send(context.Background(), pushwire.Message{Token: "tok-table"})
				retried := tt.class == pushwire.ErrRetryable && (!tt.quota || retryQuota)
				if !retried {
					assertOneClass(t, err, tt.class)
					assert.Equal(t, 1+extra, srv.SendRequests(), "RetryQuota %v: not retried", retryQuota)
					assert.Empty(t, rec.Delays())
					continue
				}
				require.NoError(t, err, "RetryQuota %v: retried, and the retry succeeded", retryQuota)
				assert.Equal(t, 2, srv.SendRequests())
				d := rec.Delays()
				require.Len(t, d, 1)
				if tt.ra > 0 {
					assert.Equal(t, tt.ra, d[0], "Retry-After honoured")
				} else {
					assert.LessOrEqual(t, d[0], time.Nanosecond, "MinBackoff")
				}
			}
		})
	}
}

// The retry decision at its limits: a Retry-After up to MaxBackoff is
// waited out, a longer one is returned; a wait that would end at or past the
// context's deadline is not started.
func TestRetryDecisionLimits(t *testing.T) {
	// The client's clock reads at, the context ends at at+left.
	at := time.Now().Add(time.Hour)
	tests := []struct {
		name       string
		retryAfter time.Duration
		maxBackoff time.Duration
		left       time.Duration // 0: no deadline
		retried    bool
	}{
		{"Retry-After just under MaxBackoff", 19 * time.Second, 20 * time.Second, 0, true},
		{"Retry-After at MaxBackoff", 20 * time.Second, 20 * time.Second, 0, true},
		{"Retry-After just over MaxBackoff", 21 * time.Second, 20 * time.Second, 0, false},
		{"wait ends just before the deadline", 20 * time.Second, time.Minute, 20*time.Second + time.Nanosecond, true},
		{"wait ends at the deadline", 20 * time.Second, time.Minute, 20 * time.Second, false},
		{"wait ends past the deadline", 20 * time.Second, time.Minute, 20*time.Second - time.Nanosecond, false},
		{"far deadline", 20 * time.Second, time.Minute, 2 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fcmtest.Config{})
			rec := &sleepRecorder{}
			c := newClient(t, srv, func(cfg *fcm.Config) {
				cfg.Retry = fcm.RetryPolicy{MaxAttempts: 2, MinBackoff: time.Nanosecond, MaxBackoff: tt.maxBackoff, Sleep: rec.Sleep}
				cfg.Now = func() time.Time { return at }
			})
			srv.FailNext(1, fcmtest.Unavailable(tt.retryAfter))
			ctx := context.Background()
			if tt.left > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, at.Add(tt.left))
				defer cancel()
			}
			err := c.Send(ctx, pushwire.Message{Token: "t"})
			if !tt.retried {
				assertOneClass(t, err, pushwire.ErrRetryable)
				ra, _ := pushwire.RetryAfter(err)
				assert.Equal(t, tt.retryAfter, ra)
				assert.Equal(t, 1, srv.SendRequests())
				assert.Empty(t, rec.Delays())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 2, srv.SendRequests())
			assert.Equal(t, []time.Duration{tt.retryAfter}, rec.Delays())
		})
	}
}
