package dispatch_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/seal"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// deviceKeys returns a device's private keys and the keys it registers.
func deviceKeys(t *testing.T) (seal.PrivateKeys, *pushwire.PayloadKeys) {
	t.Helper()
	k, err := seal.GenerateKeys()
	require.NoError(t, err)
	p256dh, auth := k.Public().Encode()
	return k, &pushwire.PayloadKeys{P256DH: p256dh, Auth: auth}
}

// A push to a binding with payload keys reaches FCM sealed and opens with
// the device's private keys; a binding without keys in the same session
// gets its push as it is. New keys registered for the binding are used
// from the next push on.
func TestSealFCM(t *testing.T) {
	fake, client := newFCM(t)
	reg := newRegistry(t)
	priv, keys := deviceKeys(t)
	sealedDev := register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "fcm-sealed", PayloadKeys: keys})
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "fcm-plain"})
	d := newDispatcher(t, dispatch.Config{Registry: reg, FCM: client})

	msg := pushwire.Message{Kind: pushwire.KindAlert, Title: "Alice", Body: "Are you free at 3?", Data: map[string]string{"conversationId": "c-42"}}
	res, err := d.Notify(context.Background(), "s", msg)
	require.NoError(t, err)
	require.Len(t, res.Deliveries, 2)
	byToken := map[string]dispatch.Delivery{}
	for _, dv := range res.Deliveries {
		assert.Equal(t, dispatch.Delivered, dv.Outcome, "%s: %v", dv.Device.Token, dv.Err)
		byToken[dv.Device.Token] = dv
	}
	assert.True(t, byToken["fcm-sealed"].Sealed)
	assert.False(t, byToken["fcm-plain"].Sealed)

	got := map[string]pushwire.Message{}
	for _, r := range fake.Messages() {
		got[r.Message.Token] = pushwire.Message{Data: r.Message.Data}
		switch r.Message.Token {
		case "fcm-sealed":
			assert.True(t, r.Message.Sealed())
			assert.Nil(t, r.Message.Notification, "the alert text is inside the ciphertext")
			assert.NotContains(t, string(r.Raw), "Alice")
			assert.NotContains(t, string(r.Raw), "conversationId")
			c, err := r.Message.Open(priv)
			require.NoError(t, err)
			assert.Equal(t, "alert", c.Kind)
			assert.Equal(t, "Alice", c.Title)
			assert.Equal(t, "Are you free at 3?", c.Body)
			assert.Equal(t, map[string]string{"conversationId": "c-42"}, c.Data)
		case "fcm-plain":
			assert.False(t, r.Message.Sealed())
			assert.Equal(t, map[string]string{"conversationId": "c-42"}, r.Message.Data)
		}
	}
	assert.Len(t, got, 2)

	// The device registers new keys: the next push is sealed for them.
	priv2, keys2 := deviceKeys(t)
	sealedDev.PayloadKeys = keys2
	sealedDev.ExpiresAt = time.Time{}
	register(t, reg, sealedDev)
	fake.Reset()
	_, err = d.Notify(context.Background(), "s", msg)
	require.NoError(t, err)
	for _, r := range fake.Messages() {
		if r.Message.Token != "fcm-sealed" {
			continue
		}
		_, err := r.Message.Open(priv)
		assert.ErrorIs(t, err, seal.ErrDecrypt, "the old keys no longer open it")
		c, err := r.Message.Open(priv2)
		require.NoError(t, err)
		assert.Equal(t, "Alice", c.Title)
	}
}

// Strict mode refuses a binding without keys: outcome failed, an error of
// class permanent naming the cause, nothing reaches the provider; the
// binding with keys in the same session is delivered sealed.
func TestSealStrictRefuses(t *testing.T) {
	fake, client := newFCM(t)
	apnsFake, apnsClient := newAPNs(t)
	reg := newRegistry(t)
	priv, keys := deviceKeys(t)
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "fcm-plain"})
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: apnsToken, AppID: bundle})
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderAPNs, Token: voipToken, AppID: bundle, PayloadKeys: keys})
	d := newDispatcher(t, dispatch.Config{Registry: reg, FCM: client, APNs: apnsClient, Seal: dispatch.SealConfig{Mode: dispatch.SealStrict}})

	res, err := d.Notify(context.Background(), "s", pushwire.Message{Kind: pushwire.KindAlert, Title: "Alice", Body: "hi"})
	require.NoError(t, err)
	require.Len(t, res.Deliveries, 3)
	for _, dv := range res.Deliveries {
		if dv.Device.Token == voipToken {
			assert.Equal(t, dispatch.Delivered, dv.Outcome)
			assert.True(t, dv.Sealed)
			continue
		}
		assert.Equal(t, dispatch.Failed, dv.Outcome, dv.Device.Token)
		assert.ErrorIs(t, dv.Err, pushwire.ErrPermanent)
		assert.ErrorIs(t, dv.Err, sealsend.ErrNoKeys)
		assert.NotErrorIs(t, dv.Err, pushwire.ErrRetryable)
		assert.Zero(t, dv.Attempts, "nothing was sent")
		assert.False(t, dv.Sealed)
	}
	assert.Zero(t, fake.SendRequests(), "nothing reached fcm")
	notes := apnsFake.Notifications()
	require.Len(t, notes, 1, "only the binding with keys reached apns")
	assert.Equal(t, voipToken, notes[0].Token)
	assert.True(t, notes[0].Sealed())
	c, err := notes[0].Open(priv)
	require.NoError(t, err)
	assert.Equal(t, seal.Content{Kind: "alert", Title: "Alice", Body: "hi", TrackingID: notes[0].APNsID}, c)
	assert.Equal(t, 2, res.Counts().Failed)
}

// localPhone registers a phone with an APNs VoIP binding (with keys) and
// a local binding (with localKeys), connects it to a local push server and
// returns what the test needs.
func localPhone(t *testing.T, localKeys bool) (priv seal.PrivateKeys, reg *registry.Memory, apnsFake *apnstest.Server,
	cfg dispatch.Config, p *phone) {
	apnsFake, apnsClient := newAPNs(t)
	srv, url := newLPNS(t, lpns.Config{})
	reg = newRegistry(t)
	priv, keys := deviceKeys(t)
	iphone := map[string]string{dispatch.LabelDevice: "iphone-1"}
	register(t, reg, registry.Device{Session: "alice", Provider: pushwire.ProviderAPNs, Token: voipToken, AppID: bundle, Labels: iphone, PayloadKeys: keys})
	local := registry.Device{Session: "alice", Provider: pushwire.ProviderLPNS, Token: "iphone-1", Labels: iphone}
	if localKeys {
		local.PayloadKeys = keys
	}
	register(t, reg, local)
	p = dialPhone(t, url, "iphone-1", true)
	_, err := p.c.WaitConnected(waitCtx(t))
	require.NoError(t, err)
	return priv, reg, apnsFake, dispatch.Config{Registry: reg, APNs: apnsClient, LPNS: srv}, p
}

var sealedCall = pushwire.Message{Kind: pushwire.KindVoIP, Data: map[string]string{"callId": "1", "callerName": "Bob"}}

// Over local push a binding with keys gets a sealed notification that the
// phone opens.
func TestSealLocal(t *testing.T) {
	priv, _, apnsFake, cfg, p := localPhone(t, true)
	d := newDispatcher(t, cfg)
	res, err := d.Notify(context.Background(), "alice", sealedCall)
	require.NoError(t, err)
	require.Len(t, res.Deliveries, 1)
	dv := res.Deliveries[0]
	assert.Equal(t, dispatch.PathLocal, dv.Path)
	assert.Equal(t, dispatch.Delivered, dv.Outcome, "%v", dv.Err)
	assert.True(t, dv.Sealed)
	n := <-p.got
	assert.NotContains(t, string(n.Payload), "Bob")
	var payload struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	require.NoError(t, json.Unmarshal(n.Payload, &payload))
	assert.Equal(t, "voip", payload.Kind)
	c, err := seal.OpenData(priv, payload.Data)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"callId": "1", "callerName": "Bob"}, c.Data)
	assert.Equal(t, n.ID, c.TrackingID)
	assert.Empty(t, apnsFake.Notifications())
}

// In strict mode a phone whose local binding has no keys is pushed, sealed,
// through its remote binding that has some; nothing unsealed goes out.
func TestSealStrictLocalFallsBack(t *testing.T) {
	priv, _, apnsFake, cfg, p := localPhone(t, false)
	cfg.Seal.Mode = dispatch.SealStrict
	d := newDispatcher(t, cfg)
	res, err := d.Notify(context.Background(), "alice", sealedCall)
	require.NoError(t, err)
	require.Len(t, res.Deliveries, 1)
	dv := res.Deliveries[0]
	assert.Equal(t, dispatch.PathAPNs, dv.Path)
	assert.Equal(t, dispatch.Delivered, dv.Outcome, "%v", dv.Err)
	assert.True(t, dv.Sealed)
	assert.ErrorIs(t, dv.LocalErr, sealsend.ErrNoKeys)
	notes := apnsFake.Notifications()
	require.Len(t, notes, 1)
	c, err := notes[0].Open(priv)
	require.NoError(t, err)
	assert.Equal(t, "voip", c.Kind)
	select {
	case n := <-p.got:
		t.Fatalf("the phone got an unsealed local push: %s", n.Payload)
	default:
	}
}

// With sealing off, dispatch seals nothing and hands the binding's keys to
// the sender in the message; a custom Shape's message gets them too, and
// the caller's own keys in the notification are never used.
func TestSealOffPassesKeys(t *testing.T) {
	reg := newRegistry(t)
	_, keys := deviceKeys(t)
	_, callerKeys := deviceKeys(t)
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderFCM, Token: "fcm-1", PayloadKeys: keys})
	for _, tc := range []struct {
		name  string
		shape dispatch.ShapeFunc
	}{
		{"default shape", nil},
		{"custom shape", func(msg pushwire.Message, _ registry.Device) pushwire.Message { return msg }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{}
			d := newDispatcher(t, dispatch.Config{Registry: reg, FCM: s, Shape: tc.shape, Seal: dispatch.SealConfig{Mode: dispatch.SealOff}})
			res, err := d.Notify(context.Background(), "s", pushwire.Message{Data: map[string]string{"a": "b"}, PayloadKeys: callerKeys})
			require.NoError(t, err)
			require.Len(t, res.Deliveries, 1)
			assert.False(t, res.Deliveries[0].Sealed)
			sent := s.sent()
			require.Len(t, sent, 1)
			require.NotNil(t, sent[0].PayloadKeys)
			assert.Equal(t, *keys, *sent[0].PayloadKeys)
			assert.Equal(t, map[string]string{"a": "b"}, sent[0].Data)
		})
	}
}

// A message too large once sealed fails permanently before sending; an
// LPNS limit below the default is taken from the lpns server.
func TestSealTooLarge(t *testing.T) {
	srv, url := newLPNS(t, lpns.Config{MaxPayloadBytes: 1024})
	reg := newRegistry(t)
	_, keys := deviceKeys(t)
	register(t, reg, registry.Device{Session: "s", Provider: pushwire.ProviderLPNS, Token: "p1", PayloadKeys: keys})
	p := dialPhone(t, url, "p1", true)
	_, err := p.c.WaitConnected(waitCtx(t))
	require.NoError(t, err)
	d := newDispatcher(t, dispatch.Config{Registry: reg, LPNS: srv})
	big := make([]byte, 900)
	for i := range big {
		big[i] = 'x'
	}
	res, err := d.Notify(context.Background(), "s", pushwire.Message{Data: map[string]string{"blob": string(big)}})
	require.NoError(t, err)
	require.Len(t, res.Deliveries, 1)
	dv := res.Deliveries[0]
	assert.Equal(t, dispatch.Failed, dv.Outcome)
	var tl *sealsend.TooLargeError
	require.ErrorAs(t, dv.Err, &tl)
	assert.Equal(t, 1024, tl.Limit)
	assert.ErrorIs(t, dv.Err, pushwire.ErrPermanent)
	select {
	case n := <-p.got:
		t.Fatalf("the phone got %s", n.Payload)
	default:
	}
}

func TestSealConfig(t *testing.T) {
	reg := newRegistry(t)
	for _, sc := range []dispatch.SealConfig{
		{Mode: dispatch.SealMode(7)},
		{Mode: -1},
		{Bucket: -1},
		{LPNSMaxBytes: -1},
	} {
		_, err := dispatch.New(dispatch.Config{Registry: reg, Seal: sc})
		assert.ErrorIs(t, err, pushwire.ErrConfiguration, "%+v", sc)
	}
	for _, m := range []dispatch.SealMode{dispatch.SealWithKeys, dispatch.SealStrict, dispatch.SealOff} {
		d, err := dispatch.New(dispatch.Config{Registry: reg, Seal: dispatch.SealConfig{Mode: m}})
		require.NoError(t, err, m.String())
		require.NoError(t, d.Close())
	}
	assert.Equal(t, "with-keys", dispatch.SealWithKeys.String())
	assert.Equal(t, "strict", dispatch.SealStrict.String())
	assert.Equal(t, "off", dispatch.SealOff.String())
}
