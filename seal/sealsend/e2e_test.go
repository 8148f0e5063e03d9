package sealsend_test

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
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/seal"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// Through the real FCM client to the fake: the recorded message is a data
// message with the three members, and opens with the device's keys.
func TestFCMEndToEnd(t *testing.T) {
	srv := fcmtest.NewServer(fcmtest.Config{})
	defer srv.Close()
	ctx := context.Background()
	client, err := fcm.New(ctx, fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
	require.NoError(t, err)
	s, err := sealsend.New(sealsend.Config{Next: client, Provider: pushwire.ProviderFCM, Strict: true})
	require.NoError(t, err)
	defer s.Close()

	dev := newDevice(t)
	msg := pushwire.Message{Token: "fcm-device-1", Kind: pushwire.KindAlert, Title: "Alice", Body: "Are you free at 3?",
		Data: map[string]string{"conversationId": "c-42"}, CollapseKey: "chat", PayloadKeys: dev.wire}
	require.NoError(t, s.Send(ctx, msg))

	got := srv.Messages()
	require.Len(t, got, 1)
	m := got[0].Message
	assert.Nil(t, m.Notification, "no visible text: Android would show it without the app")
	assert.Len(t, m.Data, 3)
	assert.NotContains(t, string(got[0].Raw), "conversationId", "data keys are sealed too")
	require.NotNil(t, m.Android)
	assert.Equal(t, "chat", m.Android.CollapseKey)
	assert.Equal(t, "high", m.Android.Priority)

	c, err := seal.OpenData(dev.keys, m.Data)
	require.NoError(t, err)
	assert.Equal(t, "alert", c.Kind)
	assert.Equal(t, "Alice", c.Title)
	assert.Equal(t, "Are you free at 3?", c.Body)
	assert.Equal(t, map[string]string{"conversationId": "c-42"}, c.Data)

	// Strict: a message without keys never reaches FCM.
	err = s.Send(ctx, pushwire.Message{Token: "fcm-device-2", Data: map[string]string{"a": "b"}})
	assert.ErrorIs(t, err, pushwire.ErrPermanent)
	assert.Equal(t, 1, srv.SendRequests())
}

// Through the real APNs client to the fake: an alert is a placeholder
// with mutable-content; a VoIP push has no text; both open. A message
// sealed to exactly the limit is accepted by the fake, one byte more is
// refused before sending.
func TestAPNsEndToEnd(t *testing.T) {
	fake := apnstest.NewServer(apnstest.Config{})
	defer fake.Close()
	client, err := apns.New(apns.Config{BaseURL: fake.URL, RootCAs: fake.CertPool(), Token: fake.TokenAuth(), Topic: "com.example.app"})
	require.NoError(t, err)
	s, err := sealsend.New(sealsend.Config{Next: client, Provider: pushwire.ProviderAPNs, Strict: true})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	dev := newDevice(t)
	token := strings.Repeat("ab", 32)

	require.NoError(t, s.Send(ctx, pushwire.Message{Token: token, Kind: pushwire.KindAlert, Title: "Alice", Body: "hi", PayloadKeys: dev.wire}))
	require.NoError(t, s.Send(ctx, pushwire.Message{Token: token, Kind: pushwire.KindVoIP, Data: map[string]string{"callId": "42"}, PayloadKeys: dev.wire}))
	notes := fake.Notifications()
	require.Len(t, notes, 2)

	var alert struct {
		APS struct {
			Alert          map[string]string `json:"alert"`
			MutableContent int               `json:"mutable-content"`
		} `json:"aps"`
		Encoding, Ciphertext, TrackingID string
	}
	require.NoError(t, json.Unmarshal(notes[0].Payload, &alert))
	assert.Equal(t, map[string]string{"body": "New notification"}, alert.APS.Alert)
	assert.Equal(t, 1, alert.APS.MutableContent)
	assert.Equal(t, "alert", notes[0].PushType)
	assert.Equal(t, notes[0].APNsID, alert.TrackingID, "the tracking id is the apns-id")

	for i, want := range []seal.Content{
		{Kind: "alert", Title: "Alice", Body: "hi"},
		{Kind: "voip", Data: map[string]string{"callId": "42"}},
	} {
		var payload map[string]any
		require.NoError(t, json.Unmarshal(notes[i].Payload, &payload))
		data := map[string]string{}
		for _, k := range []string{"encoding", "ciphertext", "trackingId"} {
			data[k], _ = payload[k].(string)
		}
		assert.Len(t, payload, 4, "aps and the three members: %s", notes[i].Payload)
		c, err := seal.OpenData(dev.keys, data)
		require.NoError(t, err)
		want.TrackingID = c.TrackingID
		assert.Equal(t, want, c)
	}
	assert.Equal(t, "voip", notes[1].PushType)
	assert.JSONEq(t, `{}`, string(mustField(t, notes[1].Payload, "aps")))

	// The limit, through the real client.
	limited := newSender(t, sealsend.Config{Next: client, Provider: pushwire.ProviderAPNs, Bucket: 1})
	_, at, over := sealedSizes(t, limited, pushwire.Message{Token: token, Kind: pushwire.KindAlert, PayloadKeys: dev.wire})
	require.NoError(t, limited.Send(ctx, at))
	notes = fake.Notifications()
	assert.GreaterOrEqual(t, len(notes[len(notes)-1].Payload), apns.MaxPayloadBytes-1)
	assert.LessOrEqual(t, len(notes[len(notes)-1].Payload), apns.MaxPayloadBytes)
	var tl *sealsend.TooLargeError
	require.ErrorAs(t, limited.Send(ctx, over), &tl)
	assert.Len(t, fake.Notifications(), len(notes))
}

func mustField(t *testing.T, raw []byte, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	return m[key]
}
