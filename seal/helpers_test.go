package seal_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// b64 decodes base64url without padding, failing the test on error.
func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// refBody builds a body the long way, written from RFC 8291 section 3.4
// and RFC 8188 section 2 with HMAC alone (HKDF with one output block), not
// with the package's code: record is the record's whole plaintext
// (content, delimiter, padding), so tests can build bodies with any
// delimiter, padding and record size.
func refBody(t testing.TB, uaPub, auth []byte, as *ecdh.PrivateKey, salt []byte, rs uint32, record []byte) []byte {
	t.Helper()
	ua, err := ecdh.P256().NewPublicKey(uaPub)
	require.NoError(t, err)
	secret, err := as.ECDH(ua)
	require.NoError(t, err)
	asPub := as.PublicKey().Bytes()

	prkKey := hmacSHA256(auth, secret)
	ikm := hmacSHA256(prkKey, []byte("WebPush: info\x00"), uaPub, asPub, []byte{1})
	prk := hmacSHA256(salt, ikm)
	cek := hmacSHA256(prk, []byte("Content-Encoding: aes128gcm\x00\x01"))[:16]
	nonce := hmacSHA256(prk, []byte("Content-Encoding: nonce\x00\x01"))[:12]

	block, err := aes.NewCipher(cek)
	require.NoError(t, err)
	aead, err := cipher.NewGCM(block)
	require.NoError(t, err)

	body := append([]byte(nil), salt...)
	body = binary.BigEndian.AppendUint32(body, rs)
	body = append(body, byte(len(asPub)))
	body = append(body, asPub...)
	return aead.Seal(body, nonce, record, nil)
}
