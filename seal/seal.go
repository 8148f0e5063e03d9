package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
)

// Layout of a sealed body (RFC 8188 section 2, with the key id RFC 8291
// section 4 requires).
const (
	// HeaderSize is the length of the header: salt (16), record size (4),
	// key id length (1) and the key id, the sender's ephemeral public key (65).
	HeaderSize = saltSize + 4 + 1 + PublicKeySize
	// TagSize is the length of the AES-GCM authentication tag.
	TagSize = 16
	// Overhead is the smallest difference between a body and its
	// plaintext: header, padding delimiter and tag (103 bytes).
	Overhead = HeaderSize + 1 + TagSize
	// DefaultRecordSize is the record size written in the header when the
	// record fits in it (the value of the RFC 8291 example and of Web Push
	// libraries); a longer record is written with its own length.
	DefaultRecordSize = 4096
	// DefaultBucket is the padding bucket [Seal] uses.
	DefaultBucket = 128

	saltSize  = 16
	minRecord = 18 // RFC 8188: record sizes below 18 are invalid
)

// Labels of the key derivation (RFC 8291 section 3.4, RFC 8188 section 2.2
// and 2.3), each with its terminating zero byte.
const (
	infoWebPush = "WebPush: info\x00"
	infoCEK     = "Content-Encoding: aes128gcm\x00"
	infoNonce   = "Content-Encoding: nonce\x00"
)

// Sealer seals messages with a given padding. The zero value pads to
// [DefaultBucket]; a Sealer is a plain value, safe for concurrent use.
type Sealer struct {
	// Bucket is the padding granularity: the record's plaintext (content,
	// delimiter and padding) is padded with zeros up to the next multiple
	// of Bucket bytes, so that the body's length tells only which bucket the
	// content falls in. Zero or negative means DefaultBucket; 1 adds no
	// padding beyond the delimiter.
	Bucket int
	// Limit, when positive, is the longest body that padding may produce:
	// padding stops short of Limit, never going past it, so that a message
	// near a size limit is not pushed over it by padding alone. A content
	// too long to fit is still sealed (the body is then longer than Limit;
	// the caller checks).
	Limit int

	// Fixed ephemeral key and salt, for test vectors only (set through
	// export_test.go); nil means fresh ones from crypto/rand.
	ephemeral *ecdh.PrivateKey
	salt      []byte
}

// Seal encrypts plaintext for the device that registered keys, with a
// fresh ephemeral key and salt, and returns an RFC 8188 aes128gcm body of
// one record padded to [DefaultBucket]. It is Sealer{}.Seal.
func Seal(keys Keys, plaintext []byte) ([]byte, error) {
	return Sealer{}.Seal(keys, plaintext)
}

// Seal encrypts plaintext for the device that registered keys (RFC 8291):
// a fresh ephemeral P-256 key and a fresh 16-byte salt for every call, one
// record, padded as s says. The body is
//
//	salt (16) | rs (uint32, big-endian) | idlen = 65 (1) | ephemeral public key (65) |
//	AES-128-GCM(plaintext | 0x02 | zeros) with its 16-byte tag
//
// The zero Keys gives an error matching [ErrInvalidKey].
func (s Sealer) Seal(keys Keys, plaintext []byte) ([]byte, error) {
	if keys.IsZero() {
		return nil, fmt.Errorf("%w: no keys", ErrInvalidKey)
	}
	padded := s.paddedLen(len(plaintext))
	if padded > math.MaxUint32-TagSize {
		return nil, fmt.Errorf("seal: plaintext of %d bytes is too long for one record", len(plaintext))
	}
	record := padded + TagSize
	body := make([]byte, HeaderSize+record)

	eph := s.ephemeral
	if eph == nil {
		var err error
		if eph, err = ecdh.P256().GenerateKey(rand.Reader); err != nil {
			return nil, fmt.Errorf("seal: generating the ephemeral key: %w", err)
		}
	}
	salt := body[:saltSize]
	if s.salt != nil {
		copy(salt, s.salt)
	} else {
		rand.Read(salt)
	}
	secret, err := eph.ECDH(keys.pub)
	if err != nil {
		return nil, fmt.Errorf("%w: p256dh: %v", ErrInvalidKey, err)
	}
	rs := uint32(max(record, DefaultRecordSize))
	binary.BigEndian.PutUint32(body[saltSize:], rs)
	body[saltSize+4] = PublicKeySize
	as := body[saltSize+5 : HeaderSize]
	copy(as, eph.PublicKey().Bytes())

	aead, nonce, err := derive(secret, keys.auth[:], keys.p256dh[:], as, salt)
	if err != nil {
		return nil, err
	}
	rec := body[HeaderSize : HeaderSize+padded]
	copy(rec, plaintext)
	rec[len(plaintext)] = 2 // last (and only) record; the rest is zero padding
	aead.Seal(rec[:0], nonce, rec, nil)
	return body, nil
}

// paddedLen is the length of the record's plaintext (content, delimiter,
// padding) for n bytes of content.
func (s Sealer) paddedLen(n int) int {
	bucket := s.Bucket
	if bucket <= 0 {
		bucket = DefaultBucket
	}
	need := n + 1
	padded := need
	if r := need % bucket; r != 0 && need <= math.MaxInt-bucket {
		padded = need + bucket - r
	}
	if s.Limit > 0 {
		if most := s.Limit - HeaderSize - TagSize; padded > most {
			padded = max(need, most)
		}
	}
	return padded
}

// derive computes the AEAD and nonce of a message (RFC 8291 section 3.4,
// RFC 8188 section 2.2 and 2.3): ecdhSecret is the shared secret, uaPub the
// device's public key, asPub the sender's ephemeral public key.
func derive(ecdhSecret, auth, uaPub, asPub, salt []byte) (cipher.AEAD, []byte, error) {
	var info [len(infoWebPush) + 2*PublicKeySize]byte
	n := copy(info[:], infoWebPush)
	n += copy(info[n:], uaPub)
	copy(info[n:], asPub)
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, auth, string(info[:]), 32)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: key derivation: %w", err)
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: key derivation: %w", err)
	}
	cek, err := hkdf.Expand(sha256.New, prk, infoCEK, 16)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: key derivation: %w", err)
	}
	nonce, err := hkdf.Expand(sha256.New, prk, infoNonce, 12)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: key derivation: %w", err)
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: %w", err)
	}
	return aead, nonce, nil
}
