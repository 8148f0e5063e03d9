package seal_test

import (
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/seal"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the fixed inputs")

// RFC 8291 Appendix A, every value as the RFC prints it (base64url).
const (
	rfcPlaintext = "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24"
	rfcASPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
	rfcASPublic  = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
	rfcUAPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
	rfcUAPublic  = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	rfcSalt      = "DGv6ra1nlYgDCS1FRnbzlw"
	rfcAuth      = "BTBZMqHH6r4Tts7J_aSIgg"
	rfcBody      = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)

func rfcKeys(t testing.TB) seal.PrivateKeys {
	t.Helper()
	k, err := seal.ParsePrivateKeys(rfcUAPrivate, rfcAuth)
	require.NoError(t, err)
	return k
}

func TestRFC8291AppendixAOpens(t *testing.T) {
	keys := rfcKeys(t)
	pub, auth := keys.Public().Encode()
	require.Equal(t, rfcUAPublic, pub)
	require.Equal(t, rfcAuth, auth)

	plain, err := seal.Open(keys, b64(t, rfcBody))
	require.NoError(t, err)
	assert.Equal(t, "When I grow up, I want to be a watermelon", string(plain))
	assert.Equal(t, b64(t, rfcPlaintext), plain)
}

func TestRFC8291AppendixASealsByteForByte(t *testing.T) {
	as, err := ecdh.P256().NewPrivateKey(b64(t, rfcASPrivate))
	require.NoError(t, err)
	require.Equal(t, rfcASPublic, enc(as.PublicKey().Bytes()))
	keys, err := seal.ParseKeys(rfcUAPublic, rfcAuth)
	require.NoError(t, err)

	// The example has no padding beyond the delimiter: bucket 1.
	s := seal.WithFixed(seal.Sealer{Bucket: 1}, as, b64(t, rfcSalt))
	body, err := s.Seal(keys, b64(t, rfcPlaintext))
	require.NoError(t, err)
	assert.Equal(t, rfcBody, enc(body))
	// The independent construction agrees as well.
	assert.Equal(t, rfcBody, enc(refBody(t, keys.P256DH(), keys.Auth(), as, b64(t, rfcSalt), 4096,
		append(b64(t, rfcPlaintext), 2))))
}

// vectorFile is the layout of testdata/vectors.json, documented in
// README.md. Binary values are base64url without padding.
type vectorFile struct {
	Comment string    `json:"comment"`
	Valid   []vector  `json:"valid"`
	Invalid []invalid `json:"invalid"`
}

type vector struct {
	Name       string `json:"name"`
	Comment    string `json:"comment"`
	Plaintext  string `json:"plaintext"`
	UAPrivate  string `json:"uaPrivate"`
	UAPublic   string `json:"uaPublic"`
	Auth       string `json:"auth"`
	ASPrivate  string `json:"asPrivate"`
	ASPublic   string `json:"asPublic"`
	Salt       string `json:"salt"`
	RecordSize uint32 `json:"recordSize"`
	Padding    int    `json:"padding"`
	Body       string `json:"body"`
}

type invalid struct {
	Name      string `json:"name"`
	Comment   string `json:"comment"`
	UAPrivate string `json:"uaPrivate"`
	Auth      string `json:"auth"`
	Body      string `json:"body"`
	Error     string `json:"error"` // "malformed" or "decrypt"
}

// fixedKey derives a P-256 private key from a label, so that the
// generated vectors are reproducible.
func fixedKey(t testing.TB, label string) *ecdh.PrivateKey {
	t.Helper()
	d := sha256.Sum256([]byte("pushwire/seal test vector: " + label))
	k, err := ecdh.P256().NewPrivateKey(d[:])
	require.NoError(t, err)
	return k
}

func fixedBytes(label string, n int) []byte {
	d := sha256.Sum256([]byte("pushwire/seal test vector: " + label))
	return d[:n]
}

// buildVectors computes the vectors from their fixed inputs with the
// package's Sealer.
func buildVectors(t *testing.T) vectorFile {
	ua := fixedKey(t, "device")
	auth := fixedBytes("auth", 16)
	keys, err := seal.NewKeys(ua.PublicKey().Bytes(), auth)
	require.NoError(t, err)
	f := vectorFile{Comment: "RFC 8291 / RFC 8188 aes128gcm test vectors for pushwire's sealed pushes; layout in seal/README.md. Binary values are base64url without padding."}

	rfc := vector{
		Name: "rfc8291-appendix-a", Comment: "RFC 8291 Appendix A, verbatim",
		Plaintext: rfcPlaintext, UAPrivate: rfcUAPrivate, UAPublic: rfcUAPublic, Auth: rfcAuth,
		ASPrivate: rfcASPrivate, ASPublic: rfcASPublic, Salt: rfcSalt, RecordSize: 4096, Padding: 0, Body: rfcBody,
	}
	f.Valid = append(f.Valid, rfc)

	add := func(name, comment string, plain []byte, bucket int) {
		as := fixedKey(t, name+"/ephemeral")
		salt := fixedBytes(name+"/salt", 16)
		body, err := seal.WithFixed(seal.Sealer{Bucket: bucket}, as, salt).Seal(keys, plain)
		require.NoError(t, err)
		f.Valid = append(f.Valid, vector{
			Name: name, Comment: comment, Plaintext: enc(plain),
			UAPrivate: enc(ua.Bytes()), UAPublic: enc(keys.P256DH()), Auth: enc(auth),
			ASPrivate: enc(as.Bytes()), ASPublic: enc(as.PublicKey().Bytes()), Salt: enc(salt),
			RecordSize: binary.BigEndian.Uint32(body[16:20]),
			Padding:    len(body) - seal.Overhead - len(plain),
			Body:       enc(body),
		})
	}
	add("alert", "a sealed alert as package sealsend writes it (JSON content), padded to the default bucket of 128",
		[]byte(`{"kind":"alert","title":"Alice","body":"Are you free at 3?","data":{"conversationId":"c-42"},"trackingId":"0b7f7a52-3f8e-4e0c-9a55-5a0c1d2b9e61"}`), 0)
	add("data", "a sealed AXP data push (the connector's metadata), padded to the default bucket of 128",
		[]byte(`{"kind":"data","data":{"conversationId":"c-42","customerId":"cu-7","eventDate":"2026-03-01T10:00:00Z","eventId":"e-1","sessionId":"s-9"},"trackingId":"e-1"}`), 0)
	add("empty", "an empty plaintext, no padding", nil, 1)
	add("exact-bucket", "127 bytes of content: with the delimiter exactly one bucket of 128, no padding bytes",
		[]byte(strings.Repeat("x", 127)), 128)
	add("long", "1000 bytes in buckets of 256: 23 zero bytes of padding", []byte(strings.Repeat("0123456789", 100)), 256)

	// Bodies a decoder must refuse, built from the "alert" inputs and the
	// RFC example.
	rfcBytes := func() []byte { return append([]byte(nil), b64(t, rfcBody)...) }
	bad := func(name, comment, uaPriv, auth, errClass string, body []byte) {
		f.Invalid = append(f.Invalid, invalid{Name: name, Comment: comment, UAPrivate: uaPriv, Auth: auth, Body: enc(body), Error: errClass})
	}
	{
		b := rfcBytes()
		bad("wrong-auth", "the RFC example opened with another authentication secret", rfcUAPrivate, enc(fixedBytes("other auth", 16)), "decrypt", b)
		b = rfcBytes()
		b[len(b)-1] ^= 1
		bad("tampered-tag", "the RFC example with the last bit of the tag flipped", rfcUAPrivate, rfcAuth, "decrypt", b)
		b = rfcBytes()
		b[seal.HeaderSize] ^= 0x80
		bad("tampered-ciphertext", "the RFC example with the first ciphertext byte altered", rfcUAPrivate, rfcAuth, "decrypt", b)
		b = rfcBytes()
		b[0] ^= 1
		bad("tampered-salt", "the RFC example with the salt altered", rfcUAPrivate, rfcAuth, "decrypt", b)
		b = rfcBytes()[:seal.HeaderSize+10]
		bad("truncated-record", "the RFC example cut 10 bytes into the record: shorter than a tag", rfcUAPrivate, rfcAuth, "malformed", b)
		b = rfcBytes()[:len(b64(t, rfcBody))-1]
		bad("truncated-tag", "the RFC example without its last byte", rfcUAPrivate, rfcAuth, "decrypt", b)
		b = rfcBytes()[:40]
		bad("truncated-header", "the RFC example cut inside the key id", rfcUAPrivate, rfcAuth, "malformed", b)
		b = rfcBytes()
		binary.BigEndian.PutUint32(b[16:], 17)
		bad("record-size-too-small", "rs = 17, below RFC 8188's minimum of 18", rfcUAPrivate, rfcAuth, "malformed", b)
		b = rfcBytes()
		binary.BigEndian.PutUint32(b[16:], uint32(len(b)-seal.HeaderSize-1))
		bad("record-size-below-record", "rs one byte shorter than the record: the body would be two records", rfcUAPrivate, rfcAuth, "malformed", b)
		b = rfcBytes()
		b[20] = 64
		bad("key-id-length", "idlen = 64 instead of 65", rfcUAPrivate, rfcAuth, "malformed", b)
		b = rfcBytes()
		b[21+64] ^= 1
		bad("key-id-off-curve", "the sender key's last byte altered: not a point on P-256", rfcUAPrivate, rfcAuth, "malformed", b)
	}
	as := fixedKey(t, "bad/ephemeral")
	salt := fixedBytes("bad/salt", 16)
	for _, c := range []struct {
		name, comment string
		record        []byte
	}{
		{"delimiter-01", "content followed by 0x01 (a non-final record delimiter) in a one-record message", []byte("hello\x01\x00\x00")},
		{"delimiter-03", "content followed by 0x03, not a delimiter", []byte("hello\x03\x00\x00")},
		{"no-delimiter", "a record of zero bytes only", []byte{0, 0, 0, 0}},
	} {
		bad(c.name, c.comment, enc(ua.Bytes()), enc(auth), "malformed", refBody(t, keys.P256DH(), auth, as, salt, 4096, c.record))
	}
	return f
}

func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		b, err := json.MarshalIndent(buildVectors(t), "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var f vectorFile
	require.NoError(t, json.Unmarshal(raw, &f))
	require.NotEmpty(t, f.Valid)
	require.NotEmpty(t, f.Invalid)
	// The file is what the fixed inputs give today.
	assert.Equal(t, buildVectors(t), f)

	for _, v := range f.Valid {
		t.Run(v.Name, func(t *testing.T) {
			keys, err := seal.ParsePrivateKeys(v.UAPrivate, v.Auth)
			require.NoError(t, err)
			plain, err := seal.Open(keys, b64(t, v.Body))
			require.NoError(t, err)
			assert.Equal(t, v.Plaintext, enc(plain))
			body := b64(t, v.Body)
			assert.Equal(t, v.RecordSize, binary.BigEndian.Uint32(body[16:20]))
			assert.Equal(t, v.ASPublic, enc(body[21:seal.HeaderSize]))
			assert.Equal(t, v.Salt, enc(body[:16]))
			assert.Equal(t, len(body), seal.Overhead+len(plain)+v.Padding)

			as, err := ecdh.P256().NewPrivateKey(b64(t, v.ASPrivate))
			require.NoError(t, err)
			pub, err := seal.ParseKeys(v.UAPublic, v.Auth)
			require.NoError(t, err)
			// Padding to the vector's length, then sealing with its fixed
			// key and salt, gives its body.
			s := seal.WithFixed(seal.Sealer{Bucket: len(plain) + 1 + v.Padding}, as, b64(t, v.Salt))
			again, err := s.Seal(pub, plain)
			require.NoError(t, err)
			assert.Equal(t, v.Body, enc(again))
		})
	}
	for _, v := range f.Invalid {
		t.Run(v.Name, func(t *testing.T) {
			keys, err := seal.ParsePrivateKeys(v.UAPrivate, v.Auth)
			require.NoError(t, err)
			plain, err := seal.Open(keys, b64(t, v.Body))
			assert.Nil(t, plain)
			want := map[string]error{"malformed": seal.ErrMalformed, "decrypt": seal.ErrDecrypt}[v.Error]
			require.NotNil(t, want, "error class %q", v.Error)
			assert.ErrorIs(t, err, want)
			assert.Equal(t, 1, countSentinels(err), "%v", err)
		})
	}
}

// countSentinels says how many of the package's sentinels err matches.
func countSentinels(err error) int {
	n := 0
	for _, s := range []error{seal.ErrInvalidKey, seal.ErrMalformed, seal.ErrDecrypt, seal.ErrNotSealed} {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}
