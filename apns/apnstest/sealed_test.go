package apnstest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/seal"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// A push sealed by sealsend through the apns client is reported sealed and
// opens with the device's keys; an unsealed one is not, and other keys or a
// payload that is not an object do not open it.
func TestNotificationSealedOpen(t *testing.T) {
	fake := apnstest.NewServer(apnstest.Config{})
	defer fake.Close()
	client, err := apns.New(apns.Config{BaseURL: fake.URL, RootCAs: fake.CertPool(), Token: fake.TokenAuth(), Topic: "com.example.app"})
	require.NoError(t, err)
	s, err := sealsend.New(sealsend.Config{Next: client, Provider: pushwire.ProviderAPNs})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()

	dev, err := seal.GenerateKeys()
	require.NoError(t, err)
	other, err := seal.GenerateKeys()
	require.NoError(t, err)
	p256dh, auth := dev.Public().Encode()
	token := strings.Repeat("ab", 32)
	require.NoError(t, s.Send(ctx, pushwire.Message{Token: token, Kind: pushwire.KindVoIP, Data: map[string]string{"callId": "42"},
		PayloadKeys: &pushwire.PayloadKeys{P256DH: p256dh, Auth: auth}}))
	require.NoError(t, s.Send(ctx, pushwire.Message{Token: token, Kind: pushwire.KindAlert, Title: "Alice", Body: "hi"}))

	notes := fake.Notifications()
	require.Len(t, notes, 2)
	sealed, plain := notes[0], notes[1]
	assert.True(t, sealed.Sealed())
	assert.False(t, plain.Sealed())

	c, err := sealed.Open(dev)
	require.NoError(t, err)
	assert.Equal(t, "voip", c.Kind)
	assert.Equal(t, map[string]string{"callId": "42"}, c.Data)
	assert.Equal(t, sealed.APNsID, c.TrackingID, "the tracking id is the apns-id")

	_, err = sealed.Open(other)
	assert.ErrorIs(t, err, seal.ErrDecrypt)
	_, err = plain.Open(dev)
	assert.ErrorIs(t, err, seal.ErrNotSealed)

	for _, payload := range []string{`[1]`, `{"encoding":1,"ciphertext":"x"}`, `not json`} {
		n := sealed
		n.Payload = json.RawMessage(payload)
		assert.False(t, n.Sealed(), payload)
		_, err = n.Open(dev)
		assert.ErrorIs(t, err, seal.ErrMalformed, payload)
	}
}
