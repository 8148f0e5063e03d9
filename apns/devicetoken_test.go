package apns_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pushwire/pushwire/apns"
)

func TestValidDeviceToken(t *testing.T) {
	tests := []struct {
		name  string
		token string
		want  bool
	}{
		{"empty", "", false},
		{"63 digits", strings.Repeat("a", 63), false},
		{"64 digits", strings.Repeat("a", 64), true},
		{"65 digits (odd)", strings.Repeat("a", 65), false},
		{"upper case", strings.Repeat("0A", 32), true},
		{"198 digits", strings.Repeat("f", 198), true},
		{"200 digits", strings.Repeat("f", 200), true},
		{"202 digits", strings.Repeat("f", 202), false},
		{"not hex", strings.Repeat("zz", 32), false},
		{"an FCM token", "cXj2:APA91b" + strings.Repeat("0", 60), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, apns.ValidDeviceToken(tt.token))
		})
	}
}
