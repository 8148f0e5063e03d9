package lpns_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/seal"
	"github.com/pushwire/pushwire/seal/sealsend"
)

func sealKeys(t *testing.T) (seal.PrivateKeys, *pushwire.PayloadKeys) {
	t.Helper()
	k, err := seal.GenerateKeys()
	require.NoError(t, err)
	p256dh, auth := k.Public().Encode()
	return k, &pushwire.PayloadKeys{P256DH: p256dh, Auth: auth}
}

// dialSealed connects a client for device that opens sealed notifications
// with keys (nil: a client without keys) and records what its handler gets.
func dialSealed(t *testing.T, url, device string, keys *seal.PrivateKeys) chan lpns.Notification {
	t.Helper()
	got := make(chan lpns.Notification, 8)
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{
		URLs:        []string{url},
		Token:       func(context.Context) (string, error) { return testToken(device, 0), nil },
		Handler:     func(_ context.Context, n lpns.Notification) error { got <- n; return nil },
		PayloadKeys: keys,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return got
}

// Send seals a message with payload keys: the payload keeps the kind and
// holds only the sealed members, the notification id is the tracking id,
// and a client with the device's keys hands the opened content to its
// handler; a client without keys gets the ciphertext and can open it with
// Notification.Open.
func TestSendSeals(t *testing.T) {
	srv := newTestServer(t, lpns.Config{})
	priv, keys := sealKeys(t)
	opened := dialSealed(t, srv.url, "phone-keys", &priv)
	raw := dialSealed(t, srv.url, "phone-raw", nil)
	ctx := context.Background()
	msg := pushwire.Message{Kind: pushwire.KindVoIP, Title: "Incoming call", Body: "Bob",
		Data: map[string]string{"callId": "42", "callerName": "Bob"}, ID: "call-42", PayloadKeys: keys}

	msg.Token = "phone-keys"
	require.NoError(t, srv.Send(ctx, msg))
	n := <-opened
	assert.Equal(t, "call-42", n.ID)
	assert.True(t, n.Sealed())
	assert.NotContains(t, string(n.Payload), "Bob")
	var payload map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(n.Payload, &payload))
	assert.JSONEq(t, `"voip"`, string(payload["kind"]))
	assert.Len(t, payload, 2, "kind and data only: %s", n.Payload)
	require.NotNil(t, n.Content)
	assert.Equal(t, seal.Content{Kind: "voip", Title: "Incoming call", Body: "Bob",
		Data: map[string]string{"callId": "42", "callerName": "Bob"}, TrackingID: "call-42"}, *n.Content)

	msg.Token = "phone-raw"
	require.NoError(t, srv.Send(ctx, msg))
	n = <-raw
	assert.True(t, n.Sealed())
	assert.Nil(t, n.Content, "a client without keys does not open")
	c, err := n.Open(priv)
	require.NoError(t, err)
	assert.Equal(t, "call-42", c.TrackingID)

	// Unsealed messages and payloads are what they were.
	require.NoError(t, srv.Send(ctx, pushwire.Message{Token: "phone-keys", Data: map[string]string{"a": "b"}}))
	n = <-opened
	assert.False(t, n.Sealed())
	assert.Nil(t, n.Content)
	_, err = n.Open(priv)
	assert.ErrorIs(t, err, seal.ErrNotSealed)
	require.NoError(t, srv.SendPayload(ctx, "phone-keys", []byte(`[1,2]`)))
	n = <-opened
	assert.False(t, n.Sealed())
	_, err = n.Open(priv)
	assert.ErrorIs(t, err, seal.ErrMalformed)
}

// A client whose keys do not open a sealed notification does not hand it
// to its handler and does not acknowledge it.
func TestClientDropsWhatDoesNotOpen(t *testing.T) {
	srv := newTestServer(t, lpns.Config{AckTimeout: 300 * time.Millisecond})
	_, keys := sealKeys(t)
	other, _ := sealKeys(t)
	got := dialSealed(t, srv.url, "phone-1", &other)
	err := srv.Send(context.Background(), pushwire.Message{Token: "phone-1", Data: map[string]string{"a": "b"}, PayloadKeys: keys})
	assert.ErrorIs(t, err, lpns.ErrNotAcknowledged)
	select {
	case n := <-got:
		t.Fatalf("the handler got %s", n.Payload)
	default:
	}
}

// Strict mode refuses what is not sealed, before sending; an already
// sealed message passes.
func TestSendSealStrict(t *testing.T) {
	srv := newTestServer(t, lpns.Config{SealStrict: true})
	priv, keys := sealKeys(t)
	got := dialSealed(t, srv.url, "phone-1", &priv)
	ctx := context.Background()

	err := srv.Send(ctx, pushwire.Message{Token: "phone-1", Data: map[string]string{"a": "b"}})
	assert.ErrorIs(t, err, pushwire.ErrPermanent)
	assert.ErrorIs(t, err, sealsend.ErrNoKeys)
	assert.NotErrorIs(t, err, pushwire.ErrRetryable)

	sealer, err := sealsend.New(sealsend.Config{Next: srv.Server, Provider: pushwire.ProviderLPNS})
	require.NoError(t, err)
	sealed, err := sealer.Seal(pushwire.Message{Token: "phone-1", Data: map[string]string{"a": "b"}, PayloadKeys: keys})
	require.NoError(t, err)
	require.NoError(t, srv.Send(ctx, sealed))
	n := <-got
	require.NotNil(t, n.Content)
	assert.Equal(t, map[string]string{"a": "b"}, n.Content.Data)
	select {
	case n := <-got:
		t.Fatalf("the refused message arrived: %s", n.Payload)
	default:
	}
}

// A sealed message must fit MaxPayloadBytes: just under and at the limit
// it goes, one byte over it is refused before sending.
func TestSendSealedLimit(t *testing.T) {
	const limit = 1024
	srv := newTestServer(t, lpns.Config{MaxPayloadBytes: limit})
	assert.Equal(t, limit, srv.MaxPayloadBytes())
	priv, keys := sealKeys(t)
	got := dialSealed(t, srv.url, "phone-1", &priv)
	ctx := context.Background()

	// The sealed payload's size for a given blob length, measured with a
	// sealer without limit and without padding.
	measure, err := sealsend.New(sealsend.Config{Next: srv.Server, Provider: pushwire.ProviderLPNS, Bucket: 1, MaxBytes: 1 << 20})
	require.NoError(t, err)
	size := func(n int) int {
		m, err := measure.Seal(pushwire.Message{Token: "phone-1", ID: "id-1", Data: map[string]string{"b": strings.Repeat("x", n)}, PayloadKeys: keys})
		require.NoError(t, err)
		p, err := lpns.MessagePayload(m)
		require.NoError(t, err)
		return len(p)
	}
	n := 0
	for size(n+1) <= limit {
		n++
	}
	// base64 grows in steps of 4 characters per 3 bytes: find the blob
	// whose sealed payload is exactly at the limit, if any, else just under.
	at := size(n)
	require.LessOrEqual(t, at, limit)
	require.NoError(t, srv.Send(ctx, pushwire.Message{Token: "phone-1", ID: "id-1", Data: map[string]string{"b": strings.Repeat("x", n)}, PayloadKeys: keys}))
	got1 := <-got
	assert.LessOrEqual(t, len(got1.Payload), limit)
	require.NotNil(t, got1.Content)
	assert.Len(t, got1.Content.Data["b"], n)

	err = srv.Send(ctx, pushwire.Message{Token: "phone-1", ID: "id-1", Data: map[string]string{"b": strings.Repeat("x", n+1)}, PayloadKeys: keys})
	var tl *sealsend.TooLargeError
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, limit, tl.Limit)
	assert.Greater(t, tl.Size, limit)
	assert.ErrorIs(t, err, pushwire.ErrPermanent)
}

func TestClientPayloadKeysChecked(t *testing.T) {
	_, err := lpns.NewClient(lpns.ClientConfig{
		URLs:        []string{"ws://127.0.0.1:1"},
		Token:       func(context.Context) (string, error) { return "", nil },
		Handler:     func(context.Context, lpns.Notification) error { return nil },
		PayloadKeys: &seal.PrivateKeys{},
	})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
}
