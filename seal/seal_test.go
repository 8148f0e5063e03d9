package seal_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/seal"
)

func newKeys(t testing.TB) seal.PrivateKeys {
	t.Helper()
	k, err := seal.GenerateKeys()
	require.NoError(t, err)
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	keys := newKeys(t)
	tests := []struct {
		name    string
		n       int
		sealer  seal.Sealer
		wantLen int // length of the record's plaintext: content, delimiter, padding
	}{
		{"empty default bucket", 0, seal.Sealer{}, 128},
		{"just under a bucket", 126, seal.Sealer{}, 128},
		{"at a bucket", 127, seal.Sealer{}, 128},
		{"just over a bucket", 128, seal.Sealer{}, 256},
		{"1 KiB", 1024, seal.Sealer{}, 1152},
		{"no padding", 1000, seal.Sealer{Bucket: 1}, 1001},
		{"negative bucket is the default", 5, seal.Sealer{Bucket: -3}, 128},
		{"bucket of 1000", 1000, seal.Sealer{Bucket: 1000}, 2000},
		{"longer than the default record size", 5000, seal.Sealer{Bucket: 1}, 5001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := bytes.Repeat([]byte{'a'}, tt.n)
			body, err := tt.sealer.Seal(keys.Public(), plain)
			require.NoError(t, err)
			assert.Equal(t, seal.HeaderSize+tt.wantLen+seal.TagSize, len(body))
			assert.Equal(t, uint32(max(tt.wantLen+seal.TagSize, seal.DefaultRecordSize)), binary.BigEndian.Uint32(body[16:20]))
			assert.Equal(t, byte(65), body[20])
			got, err := seal.Open(keys, body)
			require.NoError(t, err)
			assert.Equal(t, plain, got)
		})
	}
}

// Limit stops padding short of the limit and never cuts content.
func TestSealLimit(t *testing.T) {
	keys := newKeys(t)
	const n = 150 // 151 with the delimiter: bucket 128 pads to 256
	full := seal.HeaderSize + 256 + seal.TagSize
	least := seal.HeaderSize + n + 1 + seal.TagSize
	tests := []struct {
		name  string
		limit int
		want  int
	}{
		{"no limit", 0, full},
		{"limit above the padded body", full + 1, full},
		{"limit at the padded body", full, full},
		{"limit just under the padded body", full - 1, full - 1},
		{"limit at the unpadded body", least, least},
		{"limit under the unpadded body: content kept", least - 1, least},
		{"tiny limit", 10, least},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := bytes.Repeat([]byte{'z'}, n)
			body, err := seal.Sealer{Limit: tt.limit}.Seal(keys.Public(), plain)
			require.NoError(t, err)
			assert.Equal(t, tt.want, len(body))
			got, err := seal.Open(keys, body)
			require.NoError(t, err)
			assert.Equal(t, plain, got)
		})
	}
}

func TestSealIsFreshEveryTime(t *testing.T) {
	keys := newKeys(t)
	a, err := seal.Seal(keys.Public(), []byte("same"))
	require.NoError(t, err)
	b, err := seal.Seal(keys.Public(), []byte("same"))
	require.NoError(t, err)
	assert.NotEqual(t, a[:16], b[:16], "salt")
	assert.NotEqual(t, a[21:86], b[21:86], "ephemeral key")
	assert.NotEqual(t, a[86:], b[86:], "record")
}

// offCurve is an uncompressed point whose y does not satisfy the curve
// equation: the RFC example's device key with its last byte changed.
func offCurve(t testing.TB) []byte {
	p := b64(t, rfcUAPublic)
	p[64] ^= 1
	return p
}

func TestNewKeysRefusesInvalidKeys(t *testing.T) {
	good := newKeys(t).Public()
	p, a := good.P256DH(), good.Auth()
	compressed := append([]byte{2 + p[64]&1}, p[1:33]...)
	tests := []struct {
		name         string
		p256dh, auth []byte
		msg          string
	}{
		{"nothing", nil, nil, "auth is 0 bytes"},
		{"auth 15 bytes", p, a[:15], "auth is 15 bytes, want 16"},
		{"auth 17 bytes", p, append(good.Auth(), 0), "auth is 17 bytes, want 16"},
		{"p256dh empty", nil, a, "p256dh is 0 bytes"},
		{"p256dh 64 bytes", p[:64], a, "p256dh is 64 bytes"},
		{"p256dh 66 bytes", append(good.P256DH(), 0), a, "p256dh is 66 bytes"},
		{"p256dh compressed", compressed, a, "compressed point"},
		{"p256dh wrong prefix", append([]byte{5}, p[1:]...), a, "does not start with 0x04"},
		{"p256dh off the curve", offCurve(t), a, "not a point on P-256"},
		{"p256dh all zero", append([]byte{4}, make([]byte, 64)...), a, "not a point on P-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := seal.NewKeys(tt.p256dh, tt.auth)
			require.ErrorIs(t, err, seal.ErrInvalidKey)
			assert.Contains(t, err.Error(), tt.msg)
			assert.Equal(t, 1, countSentinels(err))
			assert.True(t, k.IsZero())
		})
	}
}

func TestZeroKeys(t *testing.T) {
	var k seal.Keys
	assert.True(t, k.IsZero())
	assert.Nil(t, k.P256DH())
	assert.Nil(t, k.Auth())
	p, a := k.Encode()
	assert.Empty(t, p+a)
	body, err := seal.Seal(k, []byte("x"))
	assert.Nil(t, body)
	require.ErrorIs(t, err, seal.ErrInvalidKey)
	assert.Contains(t, err.Error(), "no keys")
	assert.True(t, k.Equal(seal.Keys{}))
	assert.False(t, k.Equal(rfcKeys(t).Public()))
}

// Keys are copied in and out: changing a slice afterwards changes nothing.
func TestKeysAreValues(t *testing.T) {
	p, a := b64(t, rfcUAPublic), b64(t, rfcAuth)
	k, err := seal.NewKeys(p, a)
	require.NoError(t, err)
	p[1]++
	a[0]++
	k.P256DH()[1]++
	k.Auth()[0]++
	gp, ga := k.Encode()
	assert.Equal(t, rfcUAPublic, gp)
	assert.Equal(t, rfcAuth, ga)
	assert.True(t, k.Equal(rfcKeys(t).Public()))
	out := fmt.Sprintf("%v %+v %#v %s", k, k, k, k)
	assert.NotContains(t, out, rfcAuth)
	assert.Contains(t, out, "auth: withheld")
}

func TestParseKeys(t *testing.T) {
	std := base64.StdEncoding
	pub, auth := b64(t, rfcUAPublic), b64(t, rfcAuth)
	ok := []struct{ name, p256dh, auth string }{
		{"canonical base64url", rfcUAPublic, rfcAuth},
		{"padded base64url", base64.URLEncoding.EncodeToString(pub), base64.URLEncoding.EncodeToString(auth)},
		{"standard alphabet, padded", std.EncodeToString(pub), std.EncodeToString(auth)},
		{"standard alphabet, unpadded", base64.RawStdEncoding.EncodeToString(pub), base64.RawStdEncoding.EncodeToString(auth)},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			k, err := seal.ParseKeys(tt.p256dh, tt.auth)
			require.NoError(t, err)
			assert.Equal(t, pub, k.P256DH())
			assert.Equal(t, auth, k.Auth())
			p, a := k.Encode()
			assert.Equal(t, rfcUAPublic, p)
			assert.Equal(t, rfcAuth, a)
		})
	}
	bad := []struct{ name, p256dh, auth, msg string }{
		{"empty p256dh", "", rfcAuth, "p256dh is empty"},
		{"empty auth", rfcUAPublic, "", "auth is empty"},
		{"not base64", "not base64!", rfcAuth, "p256dh is not base64url"},
		{"too much padding", rfcUAPublic, rfcAuth + "===", "auth is not base64url"},
		{"short auth", rfcUAPublic, enc(auth[:8]), "auth is 8 bytes"},
		{"off the curve", enc(offCurve(t)), rfcAuth, "not a point on P-256"},
		{"keys swapped", rfcAuth, rfcUAPublic, "auth is 65 bytes"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			k, err := seal.ParseKeys(tt.p256dh, tt.auth)
			require.ErrorIs(t, err, seal.ErrInvalidKey)
			assert.Contains(t, err.Error(), tt.msg)
			assert.True(t, k.IsZero())
		})
	}
}

func TestParsePrivateKeys(t *testing.T) {
	k := rfcKeys(t)
	require.NoError(t, k.Validate())
	for _, tt := range []struct{ name, priv, auth, msg string }{
		{"short scalar", enc(b64(t, rfcUAPrivate)[:31]), rfcAuth, "private key is 31 bytes"},
		{"zero scalar", enc(make([]byte, 32)), rfcAuth, "not a P-256 scalar"},
		{"scalar above the order", enc(bytes.Repeat([]byte{0xff}, 32)), rfcAuth, "not a P-256 scalar"},
		{"short auth", rfcUAPrivate, enc(make([]byte, 4)), "auth is 4 bytes"},
		{"not base64", rfcUAPrivate, "%%", "auth is not base64url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := seal.ParsePrivateKeys(tt.priv, tt.auth)
			require.ErrorIs(t, err, seal.ErrInvalidKey)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	require.NoError(t, err)
	assert.ErrorIs(t, seal.PrivateKeys{Private: x25519, Auth: make([]byte, 16)}.Validate(), seal.ErrInvalidKey)
	_, err = seal.Open(seal.PrivateKeys{Private: x25519, Auth: make([]byte, 16)}, b64(t, rfcBody))
	assert.ErrorIs(t, err, seal.ErrInvalidKey)
	assert.ErrorIs(t, seal.PrivateKeys{Auth: make([]byte, 16)}.Validate(), seal.ErrInvalidKey)
	assert.True(t, seal.PrivateKeys{}.Public().IsZero())
}

func TestOpenRefuses(t *testing.T) {
	keys := rfcKeys(t)
	other := newKeys(t)
	body := func() []byte { return b64(t, rfcBody) }
	tests := []struct {
		name string
		keys seal.PrivateKeys
		body []byte
		want error
		msg  string
	}{
		{"other device", seal.PrivateKeys{Private: other.Private, Auth: keys.Auth}, body(), seal.ErrDecrypt, "does not decrypt"},
		{"other auth", seal.PrivateKeys{Private: keys.Private, Auth: other.Auth}, body(), seal.ErrDecrypt, "does not decrypt"},
		{"no private key", seal.PrivateKeys{Auth: keys.Auth}, body(), seal.ErrInvalidKey, "no private key"},
		{"short auth", seal.PrivateKeys{Private: keys.Private, Auth: keys.Auth[:8]}, body(), seal.ErrInvalidKey, "auth is 8 bytes"},
		{"nil body", keys, nil, seal.ErrMalformed, "0 bytes, shorter than the 86-byte header"},
		{"zero key id", keys, append(body()[:20], 0), seal.ErrMalformed, "key id is 0 bytes"},
		{"header only", keys, body()[:seal.HeaderSize], seal.ErrMalformed, "record of 0 bytes is truncated"},
		{"record of 16 bytes", keys, body()[:seal.HeaderSize+16], seal.ErrMalformed, "record of 16 bytes is truncated"},
		{"record of 17 bytes", keys, body()[:seal.HeaderSize+17], seal.ErrDecrypt, "does not decrypt"},
		{"trailing byte", keys, append(body(), 0), seal.ErrDecrypt, "does not decrypt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := seal.Open(tt.keys, tt.body)
			assert.Nil(t, plain)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.msg)
			assert.Equal(t, 1, countSentinels(err))
		})
	}
}

// Record sizes around the record's length: at and above it the body
// opens (rs is not authenticated), below it the body is refused.
func TestOpenRecordSize(t *testing.T) {
	keys := rfcKeys(t)
	record := len(b64(t, rfcBody)) - seal.HeaderSize // 58
	for _, tt := range []struct {
		rs uint32
		ok bool
	}{{17, false}, {18, false}, {uint32(record - 1), false}, {uint32(record), true}, {uint32(record + 1), true}, {1 << 31, true}} {
		b := b64(t, rfcBody)
		binary.BigEndian.PutUint32(b[16:], tt.rs)
		_, err := seal.Open(keys, b)
		if tt.ok {
			assert.NoError(t, err, "rs %d", tt.rs)
		} else {
			assert.ErrorIs(t, err, seal.ErrMalformed, "rs %d", tt.rs)
		}
	}
}

// Every prefix of a body and every single-bit change is refused with one
// of the sentinels, never a panic or a plaintext.
func TestOpenEveryTruncationAndBitFlip(t *testing.T) {
	keys := rfcKeys(t)
	full := b64(t, rfcBody)
	for n := 0; n < len(full); n++ {
		plain, err := seal.Open(keys, full[:n])
		require.Error(t, err, "prefix %d", n)
		require.Nil(t, plain)
		require.Equal(t, 1, countSentinels(err), "prefix %d: %v", n, err)
	}
	for i := range full {
		for bit := range 8 {
			b := append([]byte(nil), full...)
			b[i] ^= 1 << bit
			plain, err := seal.Open(keys, b)
			if i >= 16 && i < 20 && err == nil {
				// The record size is not authenticated: a change that
				// keeps it valid (at least the record's length) opens.
				require.GreaterOrEqual(t, binary.BigEndian.Uint32(b[16:20]), uint32(len(full)-seal.HeaderSize))
				continue
			}
			require.Error(t, err, "byte %d bit %d", i, bit)
			require.Nil(t, plain)
			require.Equal(t, 1, countSentinels(err), "byte %d bit %d: %v", i, bit, err)
		}
	}
}

func TestSealDataOpenData(t *testing.T) {
	keys := newKeys(t)
	c := seal.Content{Kind: "alert", Title: "Alice", Body: "Free at 3? <b>&</b>", Data: map[string]string{"conversationId": "c-42"}, TrackingID: "t-1"}
	data, err := seal.Sealer{}.SealData(keys.Public(), c)
	require.NoError(t, err)
	assert.Len(t, data, 3)
	assert.Equal(t, "aes128gcm", data[seal.MemberEncoding])
	assert.Equal(t, "t-1", data[seal.MemberTrackingID])
	assert.True(t, seal.IsSealed(data))
	for _, v := range data {
		assert.NotContains(t, v, "Alice")
	}
	got, err := seal.OpenData(keys, data)
	require.NoError(t, err)
	assert.Equal(t, c, got)

	noID, err := seal.Sealer{}.SealData(keys.Public(), seal.Content{Kind: "data"})
	require.NoError(t, err)
	assert.NotContains(t, noID, seal.MemberTrackingID)
	got, err = seal.OpenData(keys, noID)
	require.NoError(t, err)
	assert.Equal(t, seal.Content{Kind: "data"}, got)

	_, err = seal.Sealer{}.SealData(seal.Keys{}, c)
	assert.ErrorIs(t, err, seal.ErrInvalidKey)
}

func TestOpenDataRefuses(t *testing.T) {
	keys := newKeys(t)
	sealed := func(content string) string {
		body, err := seal.Seal(keys.Public(), []byte(content))
		require.NoError(t, err)
		return enc(body)
	}
	good, err := seal.Sealer{}.SealData(keys.Public(), seal.Content{Kind: "data", TrackingID: "t-1"})
	require.NoError(t, err)
	tests := []struct {
		name string
		data map[string]string
		want error
		msg  string
	}{
		{"nil", nil, seal.ErrNotSealed, "not sealed"},
		{"plain data", map[string]string{"sessionId": "s-1"}, seal.ErrNotSealed, "not sealed"},
		{"other encoding", map[string]string{"encoding": "aesgcm", "ciphertext": good["ciphertext"]}, seal.ErrNotSealed, "not sealed"},
		{"no ciphertext", map[string]string{"encoding": "aes128gcm"}, seal.ErrMalformed, "no ciphertext member"},
		{"padded base64", map[string]string{"encoding": "aes128gcm", "ciphertext": good["ciphertext"] + "=="}, seal.ErrMalformed, "not base64url"},
		{"tracking id swapped", map[string]string{"encoding": "aes128gcm", "ciphertext": good["ciphertext"], "trackingId": "t-2"}, seal.ErrMalformed, "tracking id"},
		{"not JSON", map[string]string{"encoding": "aes128gcm", "ciphertext": sealed("hello")}, seal.ErrMalformed, "not a JSON object"},
		{"JSON without kind", map[string]string{"encoding": "aes128gcm", "ciphertext": sealed(`{"title":"x"}`)}, seal.ErrMalformed, "not a JSON object"},
		{"JSON null", map[string]string{"encoding": "aes128gcm", "ciphertext": sealed(`null`)}, seal.ErrMalformed, "not a JSON object"},
		{"other keys", map[string]string{"encoding": "aes128gcm", "ciphertext": enc(b64(t, rfcBody))}, seal.ErrDecrypt, "does not decrypt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want != seal.ErrNotSealed && tt.data["ciphertext"] != "", seal.IsSealed(tt.data))
			_, err := seal.OpenData(keys, tt.data)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.msg)
			assert.False(t, strings.Contains(err.Error(), tt.data["ciphertext"]) && tt.data["ciphertext"] != "")
		})
	}
}
