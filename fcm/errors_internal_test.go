package fcm

import (
	"context"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/stretchr/testify/assert"
)

func TestParseErrorBodies(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		check      func(t *testing.T, e *Error)
	}{
		{
			name:   "all details",
			status: 400,
			body: `{"error":{"code":400,"message":"Invalid value","status":"INVALID_ARGUMENT","details":[
				{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"},
				{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.android.ttl","description":"bad ttl"},{"field":"message.data","description":"bad key"}]},
				{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INVALID_ARG","domain":"fcm.googleapis.com","metadata":{"service":"fcm.googleapis.com"}},
				{"@type":"type.googleapis.com/google.rpc.Unknown","x":1}]}}`,
			check: func(t *testing.T, e *Error) {
				assert.Equal(t, CodeInvalidArgument, e.Code)
				assert.Equal(t, []FieldViolation{{"message.android.ttl", "bad ttl"}, {"message.data", "bad key"}}, e.FieldViolations)
				assert.Equal(t, &ErrorInfo{Reason: "INVALID_ARG", Domain: "fcm.googleapis.com", Metadata: map[string]string{"service": "fcm.googleapis.com"}}, e.ErrorInfo)
				assert.Equal(t, pushwire.ErrPermanent, e.Class(), "not about the token")
			},
		},
		{
			name:   "quota failure",
			status: 429,
			body: `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[
				{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"QUOTA_EXCEEDED"},
				{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"subject":"device","description":"too many"}]}]}}`,
			retryAfter: "Thu, 01 Jan 2026 00:00:45 GMT",
			check: func(t *testing.T, e *Error) {
				assert.Equal(t, []QuotaViolation{{"device", "too many"}}, e.QuotaViolations)
				assert.Equal(t, 45*time.Second, e.RetryAfter())
				assert.Equal(t, pushwire.ErrRetryable, e.Class())
			},
		},
		{
			name:   "html from a proxy",
			status: 502,
			body:   `<html><body>Bad Gateway</body></html>`,
			check: func(t *testing.T, e *Error) {
				assert.Equal(t, "Bad Gateway", e.Message)
				assert.Empty(t, e.Code)
				assert.Equal(t, pushwire.ErrRetryable, e.Class())
			},
		},
		{
			name:   "400 token problem without FcmError",
			status: 400,
			body:   `{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT"}}`,
			check: func(t *testing.T, e *Error) {
				assert.Equal(t, pushwire.ErrDeadToken, e.Class())
			},
		},
		{
			name:   "a malformed detail is skipped",
			status: 400,
			body: `{"error":{"code":400,"status":"INVALID_ARGUMENT","details":[
				{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"},
				{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":5},
				{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.token"}],"reason":7}]}}`,
			check: func(t *testing.T, e *Error) {
				assert.Equal(t, CodeInvalidArgument, e.Code, "the valid detail's code stays")
				assert.Empty(t, e.FieldViolations)
				assert.Equal(t, pushwire.ErrPermanent, e.Class(), "a token is not pruned on a detail that could not be read")
			},
		},
		{
			name:   "unknown FCM code falls back to the status",
			status: 503,
			body:   `{"error":{"code":503,"status":"UNAVAILABLE","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"SOMETHING_NEW"}]}}`,
			check: func(t *testing.T, e *Error) {
				assert.Equal(t, ErrorCode("SOMETHING_NEW"), e.Code)
				assert.Equal(t, pushwire.ErrRetryable, e.Class())
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseError(tt.status, tt.retryAfter, []byte(tt.body), now)
			assert.Equal(t, tt.status, e.Status)
			tt.check(t, e)
			assert.NotEmpty(t, e.Error())
		})
	}
}

// The delay before retry n is drawn from [0, c], c = MinBackoff·2^(n-1)
// capped at MaxBackoff, both ends included.
func TestRetryDelayRange(t *testing.T) {
	tests := []struct {
		min, max time.Duration
		attempt  int
		ceiling  time.Duration
	}{
		{1, 3, 1, 1},
		{1, 3, 2, 2}, // MinBackoff == MaxBackoff>>1: the shift is taken
		{1, 3, 3, 3}, // capped
		{1, 4, 3, 4}, // at MaxBackoff exactly
		{2, 3, 2, 3},
		{3, 3, 1, 3},
	}
	for _, tt := range tests {
		c := &Client{retry: RetryPolicy{MinBackoff: tt.min, MaxBackoff: tt.max}, now: time.Now}
		fe := &Error{Status: 503, class: pushwire.ErrRetryable}
		seen := map[time.Duration]bool{}
		for range 500 {
			d, ok := c.retryDelay(context.Background(), fe, tt.attempt, 10)
			assert.True(t, ok)
			assert.GreaterOrEqual(t, d, time.Duration(0))
			assert.LessOrEqual(t, d, tt.ceiling, "%v-%v attempt %d", tt.min, tt.max, tt.attempt)
			seen[d] = true
		}
		assert.True(t, seen[0], "%v-%v attempt %d: 0 is drawn", tt.min, tt.max, tt.attempt)
		assert.True(t, seen[tt.ceiling], "%v-%v attempt %d: the ceiling is drawn", tt.min, tt.max, tt.attempt)
	}
}
