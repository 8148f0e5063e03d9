// Package statekey seals the connector's state at rest: AXP secrets,
// service-account private keys and APNs keys are stored sealed with
// AES-256-GCM under a key-encryption key read from a key file.
//
// A key file holds one key per line: 32 random bytes written as 64
// hexadecimal characters. Empty lines and lines starting with '#' are
// ignored. The last key seals; every key opens, so a key is rotated by
// appending a new line and re-sealing the stored state under it (then the
// old line may be removed). [Load] refuses a file that group or others may
// read, as ssh does for private keys.
//
// A sealed value is
//
//	version (1 byte, 1) | key id (4 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// where the key id is the first 4 bytes of SHA-256("pushwire statekey" ||
// key), so [Keyring.Open] finds the key that sealed a value and
// [Keyring.Current] tells whether it needs re-sealing. The caller's
// additional data binds a sealed value to its place (for example the
// configuration id), so a value copied elsewhere does not open.
package statekey

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pushwire/pushwire"
)

// Sizes of keys and of a sealed value's parts.
const (
	// KeySize is the size of a key in bytes (AES-256).
	KeySize = 32
	// MaxKeys is the number of keys a key file may hold.
	MaxKeys = 64
	// MaxFileSize is the size a key file may have.
	MaxFileSize = 64 << 10

	version   = 1
	idSize    = 4
	nonceSize = 12
	header    = 1 + idSize + nonceSize
	// Overhead is how many bytes sealing adds to a plaintext.
	Overhead = header + 16
)

// Errors of [Keyring.Open]. Errors about a key file match
// [pushwire.ErrConfiguration].
var (
	// ErrUnknownKey is returned for a value sealed under a key the keyring
	// does not hold (a key removed from the file too early).
	ErrUnknownKey = errors.New("statekey: sealed under a key not in the key file")
	// ErrMalformed is returned for a value that is not a sealed value or
	// whose authentication failed (altered, or sealed for another place).
	ErrMalformed = errors.New("statekey: not a valid sealed value")
)

type key struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// Keyring holds the keys of a key file. It is safe for concurrent use.
type Keyring struct {
	keys []key // the last one seals
	rand io.Reader
}

func keyID(k []byte) [idSize]byte {
	h := sha256.New()
	h.Write([]byte("pushwire statekey"))
	h.Write(k)
	var id [idSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

func configErr(format string, args ...any) error {
	return fmt.Errorf("statekey: %w: "+format, append([]any{pushwire.ErrConfiguration}, args...)...)
}

// Parse parses the contents of a key file. Errors name the line but never
// show its content.
func Parse(data []byte) (*Keyring, error) {
	if len(data) > MaxFileSize {
		return nil, configErr("key file larger than %d bytes", MaxFileSize)
	}
	kr := &Keyring{rand: rand.Reader}
	seen := make(map[[idSize]byte]bool)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), MaxFileSize+1)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if len(line) != 2*KeySize {
			return nil, configErr("line %d: a key is %d hexadecimal characters, got %d characters", n, 2*KeySize, len(line))
		}
		k := make([]byte, KeySize)
		if _, err := hex.Decode(k, line); err != nil {
			return nil, configErr("line %d: not hexadecimal", n)
		}
		if len(kr.keys) == MaxKeys {
			return nil, configErr("more than %d keys", MaxKeys)
		}
		id := keyID(k)
		if seen[id] {
			return nil, configErr("line %d: the same key appears twice", n)
		}
		seen[id] = true
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, configErr("line %d: %v", n, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, configErr("line %d: %v", n, err)
		}
		kr.keys = append(kr.keys, key{id: id, aead: aead})
	}
	if err := sc.Err(); err != nil {
		return nil, configErr("%v", err)
	}
	if len(kr.keys) == 0 {
		return nil, configErr("the key file holds no key")
	}
	return kr, nil
}

// Load reads and parses the key file at path. A file that group or others
// may access (mode & 0o077) is refused with an error that says to run
// chmod 600.
func Load(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("statekey: %w: %w", pushwire.ErrConfiguration, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("statekey: %w: %w", pushwire.ErrConfiguration, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, configErr("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, configErr("%s is accessible by group or others (mode %04o); run chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("statekey: %w: %w", pushwire.ErrConfiguration, err)
	}
	kr, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return kr, nil
}

// NewKeyLine returns a new random key as a key-file line (64 hexadecimal
// characters and a newline).
func NewKeyLine() (string, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("statekey: %w", err)
	}
	return hex.EncodeToString(k) + "\n", nil
}

// Generate creates a key file at path holding one new key, with mode 0600,
// and returns its keyring. It fails if the file exists. The directory is
// created (mode 0700) if missing.
func Generate(path string) (*Keyring, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("statekey: %w", err)
	}
	line, err := NewKeyLine()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("statekey: %w", err)
	}
	_, err = f.WriteString("# pushwire state key file: one key per line; the last seals, every line opens.\n" + line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("statekey: %w", err)
	}
	return Parse([]byte(line))
}

// Len returns the number of keys.
func (kr *Keyring) Len() int { return len(kr.keys) }

// Seal encrypts plaintext under the sealing key (the file's last), binding
// it to additionalData, which Open must be given again.
func (kr *Keyring) Seal(plaintext, additionalData []byte) ([]byte, error) {
	k := kr.keys[len(kr.keys)-1]
	out := make([]byte, header, header+len(plaintext)+k.aead.Overhead())
	out[0] = version
	copy(out[1:], k.id[:])
	if _, err := io.ReadFull(kr.rand, out[1+idSize:header]); err != nil {
		return nil, fmt.Errorf("statekey: %w", err)
	}
	return k.aead.Seal(out, out[1+idSize:header], plaintext, additionalData), nil
}

// Open decrypts a value sealed by Seal under any key of the keyring. It
// returns [ErrUnknownKey] when the key is not held and [ErrMalformed] when
// the value was altered or sealed with other additional data.
func (kr *Keyring) Open(sealed, additionalData []byte) ([]byte, error) {
	if len(sealed) < Overhead || sealed[0] != version {
		return nil, ErrMalformed
	}
	for _, k := range kr.keys {
		if bytes.Equal(k.id[:], sealed[1:1+idSize]) {
			out, err := k.aead.Open(nil, sealed[1+idSize:header], sealed[header:], additionalData)
			if err != nil {
				return nil, ErrMalformed
			}
			return out, nil
		}
	}
	return nil, ErrUnknownKey
}

// Current reports whether sealed was sealed under the sealing key; a value
// for which it is false should be re-sealed.
func (kr *Keyring) Current(sealed []byte) bool {
	id := kr.keys[len(kr.keys)-1].id
	return len(sealed) >= Overhead && sealed[0] == version && bytes.Equal(sealed[1:1+idSize], id[:])
}
