package apns_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
)

// json.Marshal encodes a Payload value as it encodes a pointer: the APNs
// payload, not the Go fields.
func TestPayloadMarshalValueAndPointer(t *testing.T) {
	p := apns.Payload{
		Alert:  &apns.Alert{Title: "t", Body: "b"},
		Badge:  apns.Badge(2),
		Custom: map[string]any{"k": "v"},
	}
	const want = `{"aps":{"alert":{"title":"t","body":"b"},"badge":2},"k":"v"}`
	tests := []struct {
		name string
		v    any
	}{
		{"value", p},
		{"pointer", &p},
		{"value in a struct", struct{ P apns.Payload }{p}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			require.NoError(t, err)
			if tt.name == "value in a struct" {
				assert.JSONEq(t, `{"P":`+want+`}`, string(b))
				return
			}
			assert.JSONEq(t, want, string(b))
		})
	}
}

// A NaN or infinite number cannot be sent: it is an error, not a 0.
func TestPayloadNonFiniteNumbers(t *testing.T) {
	finite := 0.5
	tests := []struct {
		name    string
		p       apns.Payload
		wantErr bool
	}{
		{"finite score", apns.Payload{RelevanceScore: &finite}, false},
		{"NaN score", apns.Payload{RelevanceScore: ptr(math.NaN())}, true},
		{"+Inf score", apns.Payload{RelevanceScore: ptr(math.Inf(1))}, true},
		{"-Inf score", apns.Payload{RelevanceScore: ptr(math.Inf(-1))}, true},
		{"finite volume", apns.Payload{Sound: &apns.Sound{Name: "a", Critical: true, Volume: 1}}, false},
		{"NaN volume", apns.Payload{Sound: &apns.Sound{Name: "a", Critical: true, Volume: math.NaN()}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.p)
			if !tt.wantErr {
				require.NoError(t, err)
				assert.True(t, json.Valid(b))
				return
			}
			assert.Error(t, err)
			assert.Nil(t, b)
		})
	}
}

// Push refuses a payload with a NaN relevance score before sending it.
func TestPushNaNRelevanceScore(t *testing.T) {
	srv, c := pair(t, apnstest.Config{}, nil)
	_, err := c.Push(context.Background(), &apns.Notification{DeviceToken: tok(1), Content: &apns.Payload{RelevanceScore: ptr(math.NaN())}})
	require.Error(t, err)
	assert.ErrorIs(t, err, apns.ErrInvalidPayload)
	assert.Empty(t, srv.Notifications())
}
