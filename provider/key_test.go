package provider_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/provider"
)

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := provider.GenerateKey()
	require.NoError(t, err)
	return k
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestPrivateKeyRoundTrip(t *testing.T) {
	key := newKey(t)
	assert.Equal(t, elliptic.P256(), key.Curve)
	data, err := provider.MarshalPrivateKey(key)
	require.NoError(t, err)
	block, rest := pem.Decode(data)
	require.NotNil(t, block)
	assert.Equal(t, "PRIVATE KEY", block.Type, "PKCS#8")
	assert.Empty(t, rest)
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	assert.True(t, key.Equal(parsed))

	back, err := provider.ParsePrivateKey(data)
	require.NoError(t, err)
	assert.True(t, key.Equal(back))

	sec1, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	back, err = provider.ParsePrivateKey(pemOf("EC PRIVATE KEY", sec1))
	require.NoError(t, err)
	assert.True(t, key.Equal(back), "SEC 1 keys from other tools are accepted")
}

func TestParsePrivateKeyRejects(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	p384der, err := x509.MarshalPKCS8PrivateKey(p384)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&newKey(t).PublicKey)
	require.NoError(t, err)
	tests := map[string][]byte{
		"empty":          nil,
		"not PEM":        []byte("hello"),
		"P-384":          pemOf("PRIVATE KEY", p384der),
		"Ed25519":        pemOf("PRIVATE KEY", edDER),
		"public key":     pemOf("PUBLIC KEY", pub),
		"garbage PKCS#8": pemOf("PRIVATE KEY", []byte("garbage")),
		"garbage SEC 1":  pemOf("EC PRIVATE KEY", []byte("garbage")),
	}
	for name, data := range tests {
		_, err := provider.ParsePrivateKey(data)
		assert.ErrorIs(t, err, provider.ErrInvalidKey, name)
	}
	_, err = provider.MarshalPrivateKey(nil)
	assert.ErrorIs(t, err, provider.ErrInvalidKey)
	_, err = provider.MarshalPrivateKey(p384)
	assert.ErrorIs(t, err, provider.ErrInvalidKey)
}

func TestSaveKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "provider.pem")
	key := newKey(t)
	require.NoError(t, provider.SaveKey(path, key, false))
	if runtime.GOOS != "windows" {
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm())
	}
	loaded, err := provider.LoadKey(path)
	require.NoError(t, err)
	assert.True(t, key.Equal(loaded))

	// Never overwritten silently.
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	other := newKey(t)
	saveErr := provider.SaveKey(path, other, false)
	require.ErrorIs(t, saveErr, provider.ErrKeyExists)
	assert.ErrorIs(t, saveErr, fs.ErrExist)
	assert.NotContains(t, saveErr.Error(), "PRIVATE", "no key material in errors")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "existing key untouched")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind by the refusal")

	// Overwrite on request, with mode 0600 even over a laxer file.
	require.NoError(t, os.Chmod(path, 0o644))
	require.NoError(t, provider.SaveKey(path, other, true))
	loaded, err = provider.LoadKey(path)
	require.NoError(t, err)
	assert.True(t, other.Equal(loaded))
	if runtime.GOOS != "windows" {
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm())
	}
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")

	// An existing directory is refused as well.
	require.Error(t, provider.SaveKey(dir, key, false))
	assert.ErrorIs(t, provider.SaveKey(filepath.Join(dir, "missing", "k.pem"), key, false), fs.ErrNotExist)
	assert.ErrorIs(t, provider.SaveKey(filepath.Join(dir, "missing", "k.pem"), key, true), fs.ErrNotExist)
	assert.ErrorIs(t, provider.SaveKey(filepath.Join(dir, "k.pem"), nil, false), provider.ErrInvalidKey)
	_, err = os.Stat(filepath.Join(dir, "k.pem"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "nothing written for an invalid key")
}

func TestLoadKeyErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := provider.LoadKey(filepath.Join(dir, "absent.pem"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
	bad := filepath.Join(dir, "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not a key"), 0o600))
	_, err = provider.LoadKey(bad)
	assert.ErrorIs(t, err, provider.ErrInvalidKey)
}

func TestPublicKey(t *testing.T) {
	key := newKey(t)
	p, err := provider.MarshalPublicKey(&key.PublicKey)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(p, "-----BEGIN PUBLIC KEY-----\n"))
	assert.True(t, strings.HasSuffix(p, "\n-----END PUBLIC KEY-----"), "no trailing newline, as in the manual")
	back, err := provider.ParsePublicKey(p)
	require.NoError(t, err)
	assert.True(t, key.PublicKey.Equal(back))
	back, err = provider.ParsePublicKey("\n" + p + "\r\n")
	require.NoError(t, err, "surrounding whitespace is fine")
	assert.True(t, key.PublicKey.Equal(back))

	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	rsaDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	p384DER, err := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	withHeader := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"A": "b"}, Bytes: der}))
	tests := map[string]string{
		"empty":          "",
		"RSA":            string(pemOf("PUBLIC KEY", rsaDER)),
		"P-384":          string(pemOf("PUBLIC KEY", p384DER)),
		"wrong type":     string(pemOf("EC PUBLIC KEY", der)),
		"text before":    "key: " + p,
		"text after":     p + "\ntrailer",
		"two blocks":     p + "\n" + p,
		"headers":        withHeader,
		"garbage":        string(pemOf("PUBLIC KEY", []byte("garbage"))),
		"escaped as \\n": strings.ReplaceAll(p, "\n", `\n`),
	}
	for name, s := range tests {
		_, err := provider.ParsePublicKey(s)
		assert.ErrorIs(t, err, provider.ErrInvalidKey, name)
	}
	_, err = provider.MarshalPublicKey(&p384.PublicKey)
	assert.ErrorIs(t, err, provider.ErrInvalidKey)
	_, err = provider.MarshalPublicKey(nil)
	assert.ErrorIs(t, err, provider.ErrInvalidKey)
}

// A reader never finds a partial key at the path, even while a new key is
// being saved without overwrite (a crash then could leave one behind, which
// the next run would refuse as existing).
func TestSaveKeyNeverPartial(t *testing.T) {
	key := newKey(t)
	path := filepath.Join(t.TempDir(), "k.pem")
	partial := 0
	for range 300 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 100_000 {
				data, err := os.ReadFile(path)
				if err != nil {
					continue // not there yet
				}
				if _, err := provider.ParsePrivateKey(data); err != nil {
					partial++
				}
				return
			}
		}()
		require.NoError(t, provider.SaveKey(path, key, false))
		<-done
		require.NoError(t, os.Remove(path))
	}
	assert.Zero(t, partial, "times a reader saw an empty or partial key")
}

// openssl ecparam -name prime256v1 -genkey writes the curve's parameters
// before the key; they are skipped.
func TestParsePrivateKeyAfterECParameters(t *testing.T) {
	key := newKey(t)
	der, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	oid := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07} // prime256v1
	data := append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: oid}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})...)
	got, err := provider.ParsePrivateKey(data)
	require.NoError(t, err)
	assert.True(t, key.Equal(got))

	_, err = provider.ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: oid}))
	assert.ErrorIs(t, err, provider.ErrInvalidKey, "parameters alone are no key")
}
