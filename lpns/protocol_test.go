package lpns_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/lpns"
)

func TestParseFrame(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"keepalive", `{"type":"keepalive"}`, true},
		{"keepalive with unknown field", `{"type":"keepalive","future":1}`, true},
		{"ack", `{"type":"ack","id":"n1"}`, true},
		{"refresh", `{"type":"refresh","token":"t"}`, true},
		{"notification", `{"type":"notification","id":"n","payload":{"a":1},"createdAt":"2026-01-02T03:04:05Z"}`, true},
		{"error", `{"type":"error","code":401,"reason":"token-expired"}`, true},
		{"empty", ``, false},
		{"array", `[]`, false},
		{"null", `null`, false},
		{"no type", `{}`, false},
		{"unknown type", `{"type":"x"}`, false},
		{"ack without id", `{"type":"ack"}`, false},
		{"refresh without token", `{"type":"refresh"}`, false},
		{"error without code", `{"type":"error"}`, false},
		{"type not string", `{"type":5}`, false},
		{"long id", `{"type":"ack","id":"` + string(make([]byte, 200)) + `"}`, false},
		{"trailing garbage", `{"type":"keepalive"} x`, false},
		{"id a number", `{"type":"ack","id":5}`, false},
		{"id null", `{"type":"ack","id":null}`, false},
		{"keepalive a string", `{"type":"hello","keepalive":"120"}`, false},
		{"keepalive a fraction", `{"type":"hello","keepalive":120.5}`, false},
		{"code a string", `{"type":"error","code":"401"}`, false},
		{"expiresAt not RFC 3339", `{"type":"refresh-ack","expiresAt":"tomorrow"}`, false},
		{"payload any JSON", `{"type":"notification","id":"n","payload":[1,"x",null]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lpns.ParseFrame([]byte(tt.in))
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, lpns.ErrBadFrame)
			}
		})
	}
}

func TestFrameRoundTrip(t *testing.T) {
	f := lpns.Frame{Type: lpns.FrameNotification, ID: "n-1", Payload: json.RawMessage(`{"k":"v"}`),
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b, err := json.Marshal(f)
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"notification","id":"n-1","payload":{"k":"v"},"createdAt":"2026-01-02T03:04:05Z"}`, string(b))
	g, err := lpns.ParseFrame(b)
	require.NoError(t, err)
	assert.Equal(t, f, g)
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{`{"type":"keepalive"}`, `{"type":"ack","id":"x"}`, `{"type":"refresh","token":"abc"}`,
		`{"type":"notification","id":"n","payload":{"a":[1,2]},"createdAt":"2026-01-02T03:04:05Z"}`,
		`{"type":"error","code":401}`, `{"type":"hello","keepalive":120,"expiresAt":"2026-01-02T03:04:05.123Z"}`, `{`, `"`, `{"type":"ack","id":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := lpns.ParseFrame(data)
		if err != nil {
			require.ErrorIs(t, err, lpns.ErrBadFrame)
			require.LessOrEqual(t, len(err.Error()), 200, "errors never echo large inputs")
			return
		}
		// A valid frame re-encodes and parses to the same frame.
		b, err := json.Marshal(fr)
		require.NoError(t, err)
		again, err := lpns.ParseFrame(b)
		require.NoError(t, err)
		require.Equal(t, fr.Type, again.Type)
		require.Equal(t, fr.ID, again.ID)
		require.Equal(t, fr.Token, again.Token)
	})
}

// Field limits count the bytes of the decoded UTF-8 string, checked just
// under, at and just over each limit, on every frame type.
func TestParseFrameFieldLimits(t *testing.T) {
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	tests := []struct {
		field string
		limit int
		frame string // with %s for the field
	}{
		{"id", 128, `{"type":"ack","id":%s}`},
		{"token", 8192, `{"type":"refresh","token":%s}`},
		{"reason", 512, `{"type":"error","code":400,"reason":%s}`},
		{"message", 512, `{"type":"error","code":400,"message":%s}`},
		{"node", 512, `{"type":"hello","node":%s}`},
		{"deviceId", 512, `{"type":"hello","deviceId":%s}`},
		{"reason", 512, `{"type":"keepalive","reason":%s}`},
	}
	for _, tt := range tests {
		for _, n := range []int{tt.limit - 1, tt.limit, tt.limit + 1} {
			t.Run(fmt.Sprintf("%s %d", tt.field, n), func(t *testing.T) {
				_, err := lpns.ParseFrame([]byte(fmt.Sprintf(tt.frame, str(strings.Repeat("a", n)))))
				if n <= tt.limit {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, lpns.ErrBadFrame)
				}
			})
		}
	}
	// "é" is two bytes in UTF-8 and six characters escaped: 256 of them
	// are at the 512-byte limit, 257 over it.
	esc := strings.Repeat(`\u00e9`, 256)
	_, err := lpns.ParseFrame([]byte(`{"type":"error","code":400,"reason":"` + esc + `"}`))
	assert.NoError(t, err)
	_, err = lpns.ParseFrame([]byte(`{"type":"error","code":400,"reason":"` + esc + `\u00e9"}`))
	assert.ErrorIs(t, err, lpns.ErrBadFrame)
}
