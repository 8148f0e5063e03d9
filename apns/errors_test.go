package apns_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
)

// Every reason in Apple's table, answered by the fake, becomes an *apns.Error
// carrying the reason and matching exactly one pushwire class.
func TestEveryReasonClassified(t *testing.T) {
	tests := []struct {
		reason apns.Reason
		status int
		class  error
	}{
		{"BadCollapseId", 400, pushwire.ErrPermanent},
		{"BadDeviceToken", 400, pushwire.ErrDeadToken},
		{"BadExpirationDate", 400, pushwire.ErrPermanent},
		{"BadMessageId", 400, pushwire.ErrPermanent},
		{"BadPriority", 400, pushwire.ErrPermanent},
		{"BadTopic", 400, pushwire.ErrConfiguration},
		{"DeviceTokenNotForTopic", 400, pushwire.ErrDeadToken},
		{"DuplicateHeaders", 400, pushwire.ErrPermanent},
		{"IdleTimeout", 400, pushwire.ErrRetryable},
		{"InvalidPushType", 400, pushwire.ErrPermanent},
		{"MissingDeviceToken", 400, pushwire.ErrPermanent},
		{"MissingTopic", 400, pushwire.ErrConfiguration},
		{"PayloadEmpty", 400, pushwire.ErrPermanent},
		{"TopicDisallowed", 400, pushwire.ErrConfiguration},
		{"BadCertificate", 403, pushwire.ErrConfiguration},
		{"BadCertificateEnvironment", 403, pushwire.ErrConfiguration},
		{"ExpiredProviderToken", 403, pushwire.ErrConfiguration},
		{"Forbidden", 403, pushwire.ErrConfiguration},
		{"InvalidProviderToken", 403, pushwire.ErrConfiguration},
		{"MissingProviderToken", 403, pushwire.ErrConfiguration},
		{"UnrelatedKeyIdInToken", 403, pushwire.ErrConfiguration},
		{"BadEnvironmentKeyIdInToken", 403, pushwire.ErrConfiguration},
		{"BadPath", 404, pushwire.ErrPermanent},
		{"MethodNotAllowed", 405, pushwire.ErrPermanent},
		{"ExpiredToken", 410, pushwire.ErrDeadToken},
		{"Unregistered", 410, pushwire.ErrDeadToken},
		{"PayloadTooLarge", 413, pushwire.ErrPermanent},
		{"TooManyProviderTokenUpdates", 429, pushwire.ErrRetryable},
		{"TooManyRequests", 429, pushwire.ErrRetryable},
		{"InternalServerError", 500, pushwire.ErrRetryable},
		{"ServiceUnavailable", 503, pushwire.ErrRetryable},
		{"Shutdown", 503, pushwire.ErrRetryable},
	}
	srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) { cfg.Retry.MaxAttempts = 1 })
	dead := time.UnixMilli(time.Now().Add(-48 * time.Hour).UnixMilli())
	classes := []error{pushwire.ErrDeadToken, pushwire.ErrRetryable, pushwire.ErrPermanent}
	for i, tt := range tests {
		t.Run(string(tt.reason), func(t *testing.T) {
			assert.Equal(t, tt.status, tt.reason.Status())
			token := tok(1000 + i)
			f := apnstest.Failure{Reason: tt.reason}
			if tt.status == http.StatusGone {
				f.Timestamp = dead
			}
			srv.Fail(token, f)
			res, err := c.Push(context.Background(), &apns.Notification{DeviceToken: token, Payload: []byte(`{"aps":{}}`)})
			require.Error(t, err)
			require.NotNil(t, res)
			assert.Equal(t, tt.status, res.StatusCode)
			assert.Equal(t, tt.reason, res.Reason)
			var ae *apns.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.Status)
			assert.Equal(t, tt.reason, ae.Reason)
			assert.ErrorIs(t, err, tt.class)
			n := 0
			for _, cl := range classes {
				if errors.Is(err, cl) {
					n++
				}
			}
			assert.Equal(t, 1, n, "exactly one of dead/retryable/permanent")
			if tt.class == pushwire.ErrConfiguration {
				assert.ErrorIs(t, err, pushwire.ErrPermanent)
			}
			assert.NotContains(t, err.Error(), token, "no full token in error strings")
			if tt.status == http.StatusGone {
				since, ok := pushwire.DeadSince(err)
				require.True(t, ok)
				assert.True(t, dead.Equal(since), "410 timestamp %v, got %v", dead, since)
				assert.True(t, dead.Equal(res.Timestamp))
			}
		})
	}
	assert.Empty(t, srv.Notifications())
}

func TestRetryAfterAndUnknownReason(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, func(cfg *apns.Config) { cfg.Retry.MaxAttempts = 1 })
	srv.Fail(tok(1), apnstest.Failure{Reason: "TooManyRequests", RetryAfter: 3 * time.Second})
	srv.Fail(tok(2), apnstest.Failure{Reason: "SomethingNew", Status: 502})
	srv.Fail(tok(3), apnstest.Failure{Reason: "SomethingElse", Status: 410})
	srv.Fail(tok(4), apnstest.Failure{Reason: "Odd", Status: 400})

	_, err := c.Push(context.Background(), &apns.Notification{DeviceToken: tok(1), Payload: []byte(`{}`)})
	d, ok := pushwire.RetryAfter(err)
	require.True(t, ok)
	assert.Equal(t, 3*time.Second, d)

	_, err = c.Push(context.Background(), &apns.Notification{DeviceToken: tok(2), Payload: []byte(`{}`)})
	assert.ErrorIs(t, err, pushwire.ErrRetryable)
	_, err = c.Push(context.Background(), &apns.Notification{DeviceToken: tok(3), Payload: []byte(`{}`)})
	assert.ErrorIs(t, err, pushwire.ErrDeadToken)
	_, err = c.Push(context.Background(), &apns.Notification{DeviceToken: tok(4), Payload: []byte(`{}`)})
	assert.ErrorIs(t, err, pushwire.ErrPermanent)
	assert.NotErrorIs(t, err, pushwire.ErrRetryable)
	assert.Zero(t, apns.Reason("SomethingNew").Status(), "not in Apple's table")
}

// roundTripFunc is an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A Retry-After in seconds is parsed; one too long for a time.Duration is
// clamped instead of wrapping negative, and anything else is ignored.
func TestRetryAfterParsed(t *testing.T) {
	const longest = time.Duration(math.MaxInt64) / time.Second * time.Second
	tests := []struct {
		header string
		want   time.Duration // 0: none
	}{
		{"120", 2 * time.Minute},
		{"9223372036", longest},
		{"9223372037", longest},
		{"10000000000", longest},
		{"99999999999999999999999999", longest},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return &http.Response{
					StatusCode: http.StatusTooManyRequests,
					ProtoMajor: 2,
					Header:     http.Header{"Retry-After": {tt.header}},
					Body:       io.NopCloser(strings.NewReader(`{"reason":"TooManyRequests"}`)),
					Request:    r,
				}, nil
			})
			c, err := apns.New(apns.Config{HTTPClient: &http.Client{Transport: rt}, Topic: bundle, Retry: apns.RetryPolicy{MaxAttempts: 1}})
			require.NoError(t, err)
			defer c.Close()
			err = c.Send(context.Background(), pushwire.Message{Token: tok(0)})
			require.Error(t, err)
			assertClass(t, err, pushwire.ErrRetryable)
			d, ok := pushwire.RetryAfter(err)
			assert.Equal(t, tt.want, d)
			assert.Equal(t, tt.want > 0, ok)
		})
	}
}
