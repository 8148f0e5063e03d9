package sealsend

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
)

// sizeCases are sealed-shaped messages with every field the size
// functions read, including strings that need JSON escapes.
func sizeCases(token string) []pushwire.Message {
	data := func(id string) map[string]string {
		return map[string]string{"encoding": "aes128gcm", "ciphertext": strings.Repeat("Ab-_", 100), "trackingId": id}
	}
	return []pushwire.Message{
		{Token: token, Kind: pushwire.KindData, Data: data("0b7f7a52-3f8e-4e0c-9a55-5a0c1d2b9e61")},
		{Token: token, Kind: pushwire.KindData, Data: data(`id with "quotes" \ and <html> & é`), Priority: pushwire.PriorityNormal},
		{Token: token, Kind: pushwire.KindData, Data: data("t"), CollapseKey: `chat "42"`, TTL: 90 * time.Minute},
		{Token: token, Kind: pushwire.KindData, Data: data("t"), TTL: 1500 * time.Millisecond},
		{Token: token, Kind: pushwire.KindData, Data: data("t"), TTL: time.Nanosecond},
		{Token: token, Kind: pushwire.KindData, Data: data("t"), TTL: 10 * time.Nanosecond},
		{Token: token, Kind: pushwire.KindData, Data: data("t"), TTL: maxFCMTTL - time.Nanosecond},
		{Token: token, Kind: pushwire.KindData, Data: data("t"), TTL: maxFCMTTL},
		{Token: token, Kind: pushwire.KindData, Data: data("t"), TTL: 60 * 24 * time.Hour},
		{Token: token, Kind: pushwire.KindData, Data: data("t"), Expire: true, TTL: time.Hour},
		{Token: token, Kind: pushwire.KindAlert, Title: "New\tnotification", Body: "", MutableContent: true, Data: data("t")},
		{Token: token, Kind: pushwire.KindAlert, Title: "", Body: "New notification", MutableContent: true, Data: data("t")},
		{Token: token, Kind: pushwire.KindAlert, Title: "A", Body: "B\u2028", MutableContent: true, Data: data("t")},
		{Token: token, Kind: pushwire.KindVoIP, Data: data("t"), Topic: "com.example.app"},
		{Token: token, Kind: pushwire.KindVoIP, Data: data("t"), Topic: "com.example.app", CollapseKey: "c<1>"},
	}
}

func TestFCMSizeIsWhatFCMReceives(t *testing.T) {
	srv := fcmtest.NewServer(fcmtest.Config{})
	defer srv.Close()
	ctx := context.Background()
	c, err := fcm.New(ctx, fcm.Config{CredentialsJSON: srv.ServiceAccountJSON(), BaseURL: srv.URL})
	require.NoError(t, err)
	defer c.Close()

	for i, m := range sizeCases("fcm-token_0123456789:APA91b") {
		if m.Kind != pushwire.KindData {
			continue // sealed FCM messages are data messages
		}
		srv.Reset()
		require.NoError(t, c.Send(ctx, m), "case %d", i)
		got := srv.Messages()
		require.Len(t, got, 1)
		assert.Equal(t, len(got[0].Raw), fcmSize(&m), "case %d: %s", i, got[0].Raw)
	}
}

func TestAPNsSizeIsWhatAPNsReceives(t *testing.T) {
	fake := apnstest.NewServer(apnstest.Config{})
	defer fake.Close()
	c, err := apns.New(apns.Config{BaseURL: fake.URL, RootCAs: fake.CertPool(), Token: fake.TokenAuth(), Topic: "com.example.app"})
	require.NoError(t, err)
	defer c.Close()

	for i, m := range sizeCases(strings.Repeat("ab", 32)) {
		require.NoError(t, c.Send(context.Background(), m), "case %d", i)
		notes := fake.Notifications()
		require.Len(t, notes, i+1)
		assert.Equal(t, len(notes[i].Payload), apnsSize(&m), "case %d: %s", i, notes[i].Payload)
	}
}
