package seal

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
)

// Key sizes.
const (
	// PublicKeySize is the length of an uncompressed P-256 point (0x04 || X || Y).
	PublicKeySize = 65
	// PrivateKeySize is the length of a P-256 private scalar.
	PrivateKeySize = 32
	// AuthSize is the length of the authentication secret.
	AuthSize = 16
)

// Keys is what a device registers for payload encryption, the "keys" of a
// Web Push subscription: its P-256 public key (p256dh, an uncompressed
// point: 65 bytes, 0x04 || X || Y) and its 16-byte authentication secret
// (auth). The server keeps only these; the private key stays on the device.
//
// A Keys value is made by [ParseKeys] or [NewKeys], which validate, so a
// non-zero Keys is always usable and [Seal] does not parse the point
// again. The zero Keys holds no keys and is refused by Seal. Keys is an
// immutable value, safe to copy and to use concurrently; compare with
// [Keys.Equal].
type Keys struct {
	pub    *ecdh.PublicKey
	p256dh [PublicKeySize]byte
	auth   [AuthSize]byte
}

// ParseKeys decodes the two strings of a subscription's keys, base64url
// without padding as Web Push writes them, and validates them as [NewKeys]
// does. As a convenience for apps that encode with a general-purpose base64
// library, it also accepts '=' padding and the standard alphabet ('+' and
// '/'); [Keys.Encode] always writes the canonical form.
func ParseKeys(p256dh, auth string) (Keys, error) {
	pub, err := decodeKey("p256dh", p256dh)
	if err != nil {
		return Keys{}, err
	}
	a, err := decodeKey("auth", auth)
	if err != nil {
		return Keys{}, err
	}
	return NewKeys(pub, a)
}

// NewKeys validates a device's keys, p256dh a point on P-256 in
// uncompressed form and auth exactly 16 bytes, and returns them; the error
// matches [ErrInvalidKey] and says what is wrong. The bytes are copied.
func NewKeys(p256dh, auth []byte) (Keys, error) {
	if err := checkAuth(auth); err != nil {
		return Keys{}, err
	}
	pub, err := parsePoint("p256dh", p256dh, ErrInvalidKey)
	if err != nil {
		return Keys{}, err
	}
	k := Keys{pub: pub}
	copy(k.p256dh[:], p256dh)
	copy(k.auth[:], auth)
	return k, nil
}

// IsZero reports whether k holds no keys (the zero Keys).
func (k Keys) IsZero() bool { return k.pub == nil }

// P256DH returns a copy of the device's public key, uncompressed (65
// bytes); nil for the zero Keys.
func (k Keys) P256DH() []byte {
	if k.IsZero() {
		return nil
	}
	return append([]byte(nil), k.p256dh[:]...)
}

// Auth returns a copy of the 16-byte authentication secret; nil for the
// zero Keys.
func (k Keys) Auth() []byte {
	if k.IsZero() {
		return nil
	}
	return append([]byte(nil), k.auth[:]...)
}

// Equal reports whether k and o are the same keys.
func (k Keys) Equal(o Keys) bool {
	return k.IsZero() == o.IsZero() && k.p256dh == o.p256dh && k.auth == o.auth
}

// Encode returns k in its wire form, base64url without padding (empty
// strings for the zero Keys).
func (k Keys) Encode() (p256dh, auth string) {
	if k.IsZero() {
		return "", ""
	}
	return base64.RawURLEncoding.EncodeToString(k.p256dh[:]), base64.RawURLEncoding.EncodeToString(k.auth[:])
}

// String describes k for logs without the authentication secret.
func (k Keys) String() string {
	if k.IsZero() {
		return "seal.Keys{}"
	}
	p, _ := k.Encode()
	return "seal.Keys{p256dh: …" + p[len(p)-6:] + ", auth: withheld}"
}

// GoString is String for the %#v verb.
func (k Keys) GoString() string { return k.String() }

// PrivateKeys is the device's side: its P-256 private key and the same
// authentication secret. [Open] needs them; Go clients and tests make them
// with [GenerateKeys] and register [PrivateKeys.Public].
type PrivateKeys struct {
	// Private is the device's P-256 private key (ecdh.P256()).
	Private *ecdh.PrivateKey
	// Auth is the 16-byte authentication secret.
	Auth []byte
}

// GenerateKeys makes a new key pair and authentication secret from
// crypto/rand, as an app does at sign-in.
func GenerateKeys() (PrivateKeys, error) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return PrivateKeys{}, fmt.Errorf("seal: generating a key: %w", err)
	}
	auth := make([]byte, AuthSize)
	if _, err := rand.Read(auth); err != nil {
		return PrivateKeys{}, fmt.Errorf("seal: generating the authentication secret: %w", err)
	}
	return PrivateKeys{Private: priv, Auth: auth}, nil
}

// ParsePrivateKeys decodes a private key (the 32-byte P-256 scalar) and an
// authentication secret, both base64url as [ParseKeys] reads them.
func ParsePrivateKeys(private, auth string) (PrivateKeys, error) {
	d, err := decodeKey("private key", private)
	if err != nil {
		return PrivateKeys{}, err
	}
	a, err := decodeKey("auth", auth)
	if err != nil {
		return PrivateKeys{}, err
	}
	if err := checkAuth(a); err != nil {
		return PrivateKeys{}, err
	}
	if len(d) != PrivateKeySize {
		return PrivateKeys{}, fmt.Errorf("%w: private key is %d bytes, want %d", ErrInvalidKey, len(d), PrivateKeySize)
	}
	priv, err := ecdh.P256().NewPrivateKey(d)
	if err != nil {
		return PrivateKeys{}, fmt.Errorf("%w: private key is not a P-256 scalar", ErrInvalidKey)
	}
	return PrivateKeys{Private: priv, Auth: a}, nil
}

// Public returns the keys the device registers. It returns the zero Keys
// when k is not valid (see [PrivateKeys.Validate]).
func (k PrivateKeys) Public() Keys {
	if k.Validate() != nil {
		return Keys{}
	}
	pub := Keys{pub: k.Private.PublicKey()}
	copy(pub.p256dh[:], pub.pub.Bytes())
	copy(pub.auth[:], k.Auth)
	return pub
}

// Validate reports whether k can open messages: a P-256 private key and a
// 16-byte authentication secret. The error matches [ErrInvalidKey].
func (k PrivateKeys) Validate() error {
	if k.Private == nil {
		return fmt.Errorf("%w: no private key", ErrInvalidKey)
	}
	if k.Private.Curve() != ecdh.P256() {
		return fmt.Errorf("%w: private key is not on P-256", ErrInvalidKey)
	}
	return checkAuth(k.Auth)
}

func checkAuth(auth []byte) error {
	if len(auth) != AuthSize {
		return fmt.Errorf("%w: auth is %d bytes, want %d", ErrInvalidKey, len(auth), AuthSize)
	}
	return nil
}

// parsePoint checks an uncompressed P-256 point. class is the sentinel the
// error matches: ErrInvalidKey for a registered key, ErrMalformed for the
// key id of a received message.
func parsePoint(field string, b []byte, class error) (*ecdh.PublicKey, error) {
	switch {
	case len(b) == 33 && (b[0] == 2 || b[0] == 3):
		return nil, fmt.Errorf("%w: %s is a compressed point, want the 65-byte uncompressed form", class, field)
	case len(b) != PublicKeySize:
		return nil, fmt.Errorf("%w: %s is %d bytes, want a %d-byte uncompressed P-256 point", class, field, len(b), PublicKeySize)
	case b[0] != 4:
		return nil, fmt.Errorf("%w: %s does not start with 0x04 (uncompressed point)", class, field)
	}
	pub, err := ecdh.P256().NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a point on P-256", class, field)
	}
	return pub, nil
}

// decodeKey decodes base64url, tolerating padding and the standard
// alphabet.
func decodeKey(field, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: %s is empty", ErrInvalidKey, field)
	}
	t := strings.TrimRight(s, "=")
	if strings.ContainsAny(t, "+/") {
		t = strings.NewReplacer("+", "-", "/", "_").Replace(t)
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(s)-len(t) > 2 {
		return nil, fmt.Errorf("%w: %s is not base64url", ErrInvalidKey, field)
	}
	return b, nil
}
