package provider

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileMode is the permission of key files written by [SaveKey].
const KeyFileMode fs.FileMode = 0o600

// GenerateKey returns a new ECDSA P-256 private key from crypto/rand.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("provider: generating key: %w", err)
	}
	return k, nil
}

func checkP256(pub *ecdsa.PublicKey) error {
	if pub == nil || pub.Curve != elliptic.P256() {
		return fmt.Errorf("%w: not a P-256 key", ErrInvalidKey)
	}
	return nil
}

// MarshalPrivateKey encodes key as a PKCS#8 "PRIVATE KEY" PEM block.
func MarshalPrivateKey(key *ecdsa.PrivateKey) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: nil key", ErrInvalidKey)
	}
	if err := checkP256(&key.PublicKey); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes the first PEM block of data: a PKCS#8 "PRIVATE
// KEY" or, for keys made by other tools, a SEC 1 "EC PRIVATE KEY". An "EC
// PARAMETERS" block before it (as openssl ecparam -genkey writes) is
// skipped. The key must be ECDSA P-256. Errors match [ErrInvalidKey].
func ParsePrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, rest := pem.Decode(data)
	for block != nil && block.Type == "EC PARAMETERS" {
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrInvalidKey)
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: PEM block %q, want PRIVATE KEY", ErrInvalidKey, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not an ECDSA key", ErrInvalidKey, key)
	}
	if err := checkP256(&ec.PublicKey); err != nil {
		return nil, err
	}
	return ec, nil
}

// SaveKey writes key to path as PKCS#8 PEM with mode 0600. The key is
// written and synced to a temporary file in the same directory first, then
// put in place at once, so a reader (or a later run after a crash) never
// finds a partial key at path, and the result has mode 0600 whatever an old
// file's mode was. Unless overwrite is true it refuses an existing path with
// an error matching [ErrKeyExists] (and fs.ErrExist), without touching it:
// the temporary file is hard-linked to path, which fails if path exists. On
// a file system without hard links it falls back to creating path
// exclusively and writing into it.
func SaveKey(path string, key *ecdsa.PrivateKey, overwrite bool) error {
	data, err := MarshalPrivateKey(key)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("provider: saving key: %w", err)
	}
	tmp := f.Name()
	if err := finish(f, tmp, data); err != nil {
		return err
	}
	if overwrite {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
		_ = os.Remove(tmp)
		switch {
		case errors.Is(err, fs.ErrExist):
			return fmt.Errorf("%w: %s", ErrKeyExists, path)
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			// No hard links here (or not allowed): create path exclusively.
			return saveExclusive(path, data)
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("provider: saving key: %w", err)
	}
	return nil
}

// saveExclusive creates path, which must not exist, and writes data into it.
func saveExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, KeyFileMode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrKeyExists, path)
		}
		return fmt.Errorf("provider: saving key: %w", err)
	}
	return finish(f, path, data)
}

// finish sets the mode, writes data, syncs and closes f, removing name on
// failure.
func finish(f *os.File, name string, data []byte) error {
	err := f.Chmod(KeyFileMode) // the umask may have cleared bits; never add any
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("provider: saving key: %w", err)
	}
	return nil
}

// LoadKey reads a private key file written by [SaveKey] (or any PKCS#8 or
// SEC 1 PEM P-256 key).
func LoadKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("provider: loading key: %w", err)
	}
	return ParsePrivateKey(data)
}

// MarshalPublicKey encodes pub as a PEM "PUBLIC KEY" block (SubjectPublicKeyInfo)
// without a trailing newline, the form the authorization JSON carries.
func MarshalPublicKey(pub *ecdsa.PublicKey) (string, error) {
	if err := checkP256(pub); err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return strings.TrimSuffix(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), "\n"), nil
}

// ParsePublicKey decodes a PEM "PUBLIC KEY" block holding an ECDSA P-256
// SubjectPublicKeyInfo. Surrounding whitespace is allowed; anything else
// before or after the block is not. Errors match [ErrInvalidKey].
func ParsePublicKey(s string) (*ecdsa.PublicKey, error) {
	data := bytes.TrimSpace([]byte(s))
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, fmt.Errorf("%w: no PEM block", ErrInvalidKey)
	case block.Type != "PUBLIC KEY":
		return nil, fmt.Errorf("%w: PEM block %q, want PUBLIC KEY", ErrInvalidKey, block.Type)
	case len(block.Headers) != 0:
		return nil, fmt.Errorf("%w: PEM headers are not allowed", ErrInvalidKey)
	case len(bytes.TrimSpace(rest)) != 0 || !bytes.HasPrefix(data, []byte("-----BEGIN ")):
		return nil, fmt.Errorf("%w: data around the PEM block", ErrInvalidKey)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	ec, ok := key.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not an ECDSA key", ErrInvalidKey, key)
	}
	if err := checkP256(ec); err != nil {
		return nil, err
	}
	return ec, nil
}
