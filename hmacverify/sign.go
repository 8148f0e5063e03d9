package hmacverify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// SignatureHeader is the header AXP puts the signature in. Header names are
// case-insensitive; [Verifier] accepts any spelling.
const SignatureHeader = "X-Hmac"

// Sign returns the lower-case hex HMAC-SHA256 of eventID followed by
// sessionID, keyed with secret: the X-hmac value AXP sends.
//
// An empty secret is not a key: Sign then returns the empty string, which
// [Verify] reports as a missing signature. Simulators that need a signature
// must be given a secret.
func Sign(secret []byte, eventID, sessionID string) string {
	if len(secret) == 0 {
		return ""
	}
	sum := compute(secret, eventID, sessionID)
	return hex.EncodeToString(sum[:])
}

// Verify checks that signature is the hex HMAC-SHA256 of eventID followed by
// sessionID under secret. Upper- and lower-case hex are accepted; the
// comparison takes constant time; Verify does not allocate.
//
// As in AXP's scheme, the ids are concatenated without a separator, so
// ("ab", "c") and ("a", "bc") share a signature.
//
// It returns nil on success, an error matching [ErrMissingSignature] for an
// empty signature, [ErrInvalidSignature] for a wrong one or one that is not 64
// hex digits, and [ErrNoSecret] (a [ErrInvalidConfig]) for an empty secret.
func Verify(secret []byte, eventID, sessionID, signature string) error {
	if len(secret) == 0 {
		return ErrNoSecret
	}
	if signature == "" {
		return ErrMissingSignature
	}
	var got [sha256.Size]byte
	if !decodeHex(&got, signature) {
		return ErrInvalidSignature
	}
	want := compute(secret, eventID, sessionID)
	if !hmac.Equal(got[:], want[:]) {
		return ErrInvalidSignature
	}
	return nil
}

// compute returns HMAC-SHA256(secret, eventID||sessionID) (RFC 2104) without
// heap allocation: the digest stays on the stack (sha256.New is inlined and
// its methods devirtualized) and the strings are fed through a stack buffer
// instead of being converted to byte slices.
func compute(secret []byte, eventID, sessionID string) [sha256.Size]byte {
	const blockSize = sha256.BlockSize
	var pad [blockSize]byte
	if len(secret) > blockSize {
		k := sha256.Sum256(secret)
		copy(pad[:], k[:])
	} else {
		copy(pad[:], secret)
	}
	for i := range pad {
		pad[i] ^= 0x36
	}
	h := sha256.New()
	h.Write(pad[:])
	var chunk [blockSize]byte
	for _, s := range [2]string{eventID, sessionID} {
		for len(s) > 0 {
			n := copy(chunk[:], s)
			h.Write(chunk[:n])
			s = s[n:]
		}
	}
	var inner [sha256.Size]byte
	h.Sum(inner[:0])
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	h.Reset()
	h.Write(pad[:])
	h.Write(inner[:])
	var out [sha256.Size]byte
	h.Sum(out[:0])
	clear(pad[:])
	return out
}

// decodeHex decodes exactly 2*len(dst) hex digits of either case from s.
func decodeHex(dst *[sha256.Size]byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
