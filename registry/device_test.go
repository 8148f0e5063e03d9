package registry_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/seal"
)

// A Device with payload keys, logged through slog (text or JSON) or
// printed with any verb, never shows the authentication secret, and slog
// shows neither the keys nor the whole token.
func TestDeviceLogsNoSecret(t *testing.T) {
	k, err := seal.GenerateKeys()
	require.NoError(t, err)
	p256dh, auth := k.Public().Encode()
	token := "fcm-token-" + strings.Repeat("x", 40) + "tail42"
	d := registry.Device{
		Session: "s", Provider: pushwire.ProviderFCM, Token: token, AppID: "project-1",
		ExpiresAt:   time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		PayloadKeys: &pushwire.PayloadKeys{P256DH: p256dh, Auth: auth},
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("registered", "device", d)
	}
	logged := buf.String()
	assert.NotContains(t, logged, auth)
	assert.NotContains(t, logged, p256dh)
	assert.NotContains(t, logged, token)
	assert.Contains(t, logged, "tail42")
	assert.Contains(t, logged, "device.payloadKeys=true")
	assert.Contains(t, logged, `"payloadKeys":true`)

	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(verb, d), auth, verb)
	}

	buf.Reset()
	d.PayloadKeys = nil
	slog.New(slog.NewTextHandler(&buf, nil)).Info("registered", "device", d)
	assert.Contains(t, buf.String(), "device.payloadKeys=false")
}
