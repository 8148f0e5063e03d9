package registrytest

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/seal"
)

// newPayloadKeys returns fresh device keys as an app registers them.
func newPayloadKeys(t *testing.T) *pushwire.PayloadKeys {
	t.Helper()
	k, err := seal.GenerateKeys()
	require.NoError(t, err)
	p256dh, auth := k.Public().Encode()
	return &pushwire.PayloadKeys{P256DH: p256dh, Auth: auth}
}

// Payload keys belong to the registration: stored and returned as given
// (in canonical form), replaced when the binding is registered again with
// other keys, and removed when it is registered again without any, as a new
// Web Push subscription replaces the old one.
func testPayloadKeys(t *testing.T, f Factory) {
	ctx := ctxT(t)
	r := f(t, registry.Config{})
	k1 := newPayloadKeys(t)
	d := dev("s", 0)
	d.PayloadKeys = k1
	got, err := r.Register(ctx, d)
	require.NoError(t, err)
	require.NotNil(t, got.PayloadKeys)
	assert.Equal(t, *k1, *got.PayloadKeys)
	assert.NotSame(t, k1, got.PayloadKeys, "the caller's keys are copied")

	// The caller's value is not retained, nor is a returned one shared.
	k1.Auth = "mutated"
	got.PayloadKeys.P256DH = "mutated"
	g, err := r.Get(ctx, d.Key())
	require.NoError(t, err)
	require.NotNil(t, g.PayloadKeys)
	assert.NotEqual(t, "mutated", g.PayloadKeys.Auth)
	assert.NotEqual(t, "mutated", g.PayloadKeys.P256DH)
	_, err = seal.ParseKeys(g.PayloadKeys.P256DH, g.PayloadKeys.Auth)
	assert.NoError(t, err, "the stored keys still parse")

	// A device without keys beside it in the session has none.
	other := dev("s", 1)
	_, err = r.Register(ctx, other)
	require.NoError(t, err)
	list, err := r.Lookup(ctx, "s")
	require.NoError(t, err)
	require.Len(t, list, 2)
	byToken := map[string]registry.Device{list[0].Token: list[0], list[1].Token: list[1]}
	assert.Nil(t, byToken[other.Token].PayloadKeys)
	require.NotNil(t, byToken[d.Token].PayloadKeys)
	assert.Equal(t, *g.PayloadKeys, *byToken[d.Token].PayloadKeys)

	// New keys replace the old ones from the next read on.
	k2 := newPayloadKeys(t)
	d.PayloadKeys = k2
	got, err = r.Register(ctx, d)
	require.NoError(t, err)
	assert.Equal(t, *k2, *got.PayloadKeys)
	g, err = r.Get(ctx, d.Key())
	require.NoError(t, err)
	require.NotNil(t, g.PayloadKeys)
	assert.Equal(t, *k2, *g.PayloadKeys)

	// Moving the token to another session with keys keeps the new ones.
	k3 := newPayloadKeys(t)
	moved := d
	moved.Session = "s2"
	moved.PayloadKeys = k3
	_, err = r.Register(ctx, moved)
	require.NoError(t, err)
	list, err = r.Lookup(ctx, "s2")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NotNil(t, list[0].PayloadKeys)
	assert.Equal(t, *k3, *list[0].PayloadKeys)

	// Registering again without keys removes them.
	moved.PayloadKeys = nil
	got, err = r.Register(ctx, moved)
	require.NoError(t, err)
	assert.Nil(t, got.PayloadKeys)
	g, err = r.Get(ctx, d.Key())
	require.NoError(t, err)
	assert.Nil(t, g.PayloadKeys, "re-registered without keys")

	// Keys given padded or in the standard base64 alphabet are stored in
	// canonical form.
	k4 := newPayloadKeys(t)
	pub, err := base64.RawURLEncoding.DecodeString(k4.P256DH)
	require.NoError(t, err)
	auth, err := base64.RawURLEncoding.DecodeString(k4.Auth)
	require.NoError(t, err)
	d3 := dev("s3", 0)
	d3.PayloadKeys = &pushwire.PayloadKeys{P256DH: base64.StdEncoding.EncodeToString(pub), Auth: base64.URLEncoding.EncodeToString(auth)}
	got, err = r.Register(ctx, d3)
	require.NoError(t, err)
	assert.Equal(t, *k4, *got.PayloadKeys)
	g, err = r.Get(ctx, d3.Key())
	require.NoError(t, err)
	require.NotNil(t, g.PayloadKeys)
	assert.Equal(t, *k4, *g.PayloadKeys)

	if l, ok := r.(Lister); ok {
		all, err := l.All(ctx)
		require.NoError(t, err)
		n := 0
		for _, a := range all {
			if a.Token == d3.Token {
				require.NotNil(t, a.PayloadKeys)
				assert.Equal(t, *k4, *a.PayloadKeys)
				n++
			}
		}
		assert.Equal(t, 1, n)
	}
	if c, ok := r.(Checker); ok {
		assert.NoError(t, c.CheckIntegrity(ctx))
	}
}

// badPayloadKeys are keys Register must refuse with ErrBadPayloadKeys.
func badPayloadKeys(t *testing.T) []struct {
	name string
	keys pushwire.PayloadKeys
} {
	good := newPayloadKeys(t)
	pub, err := base64.RawURLEncoding.DecodeString(good.P256DH)
	require.NoError(t, err)
	compressed := append([]byte{0x02 | pub[64]&1}, pub[1:33]...)
	offCurve := append([]byte(nil), pub...)
	offCurve[64] ^= 1
	enc := base64.RawURLEncoding.EncodeToString
	return []struct {
		name string
		keys pushwire.PayloadKeys
	}{
		{"empty", pushwire.PayloadKeys{}},
		{"no auth", pushwire.PayloadKeys{P256DH: good.P256DH}},
		{"no p256dh", pushwire.PayloadKeys{Auth: good.Auth}},
		{"auth of 15 bytes", pushwire.PayloadKeys{P256DH: good.P256DH, Auth: enc(make([]byte, 15))}},
		{"auth of 17 bytes", pushwire.PayloadKeys{P256DH: good.P256DH, Auth: enc(make([]byte, 17))}},
		{"compressed point", pushwire.PayloadKeys{P256DH: enc(compressed), Auth: good.Auth}},
		{"point off the curve", pushwire.PayloadKeys{P256DH: enc(offCurve), Auth: good.Auth}},
		{"p256dh of 64 bytes", pushwire.PayloadKeys{P256DH: enc(pub[:64]), Auth: good.Auth}},
		{"not base64", pushwire.PayloadKeys{P256DH: good.P256DH, Auth: strings.Repeat("*", 22)}},
		{"space in p256dh", pushwire.PayloadKeys{P256DH: good.P256DH[:40] + " " + good.P256DH[40:], Auth: good.Auth}},
	}
}
