package fcmtest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/seal"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// A message sealed by sealsend through the fcm client is reported sealed
// and opens with the device's keys; an unsealed one is not, and other keys
// do not open it.
func TestMessageSealedOpen(t *testing.T) {
	srv := fcmtest.NewServer(fcmtest.Config{})
	defer srv.Close()
	ctx := context.Background()
	client, err := fcm.New(ctx, fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
	require.NoError(t, err)
	s, err := sealsend.New(sealsend.Config{Next: client, Provider: pushwire.ProviderFCM})
	require.NoError(t, err)
	defer s.Close()

	dev, err := seal.GenerateKeys()
	require.NoError(t, err)
	other, err := seal.GenerateKeys()
	require.NoError(t, err)
	p256dh, auth := dev.Public().Encode()
	require.NoError(t, s.Send(ctx, pushwire.Message{Token: "sealed-device", Kind: pushwire.KindAlert, Title: "Alice", Body: "hi",
		Data: map[string]string{"conversationId": "c-42"}, ID: "track-1", PayloadKeys: &pushwire.PayloadKeys{P256DH: p256dh, Auth: auth}}))
	require.NoError(t, s.Send(ctx, pushwire.Message{Token: "plain-device", Data: map[string]string{"conversationId": "c-42"}}))

	got := srv.Messages()
	require.Len(t, got, 2)
	sealed, plain := got[0].Message, got[1].Message
	assert.True(t, sealed.Sealed())
	assert.False(t, plain.Sealed())

	c, err := sealed.Open(dev)
	require.NoError(t, err)
	assert.Equal(t, seal.Content{Kind: "alert", Title: "Alice", Body: "hi", Data: map[string]string{"conversationId": "c-42"}, TrackingID: "track-1"}, c)

	_, err = sealed.Open(other)
	assert.ErrorIs(t, err, seal.ErrDecrypt)
	_, err = plain.Open(dev)
	assert.ErrorIs(t, err, seal.ErrNotSealed)

	// An altered ciphertext does not open.
	altered := sealed
	altered.Data = map[string]string{}
	for k, v := range sealed.Data {
		altered.Data[k] = v
	}
	ct := []byte(altered.Data[seal.MemberCiphertext])
	ct[len(ct)-2] ^= 'A' ^ 'B'
	altered.Data[seal.MemberCiphertext] = string(ct)
	assert.True(t, altered.Sealed())
	_, err = altered.Open(dev)
	assert.Error(t, err)
}
