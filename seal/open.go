package seal

import (
	"encoding/binary"
	"fmt"
)

// Open decrypts a body sealed for keys (by [Seal] or any RFC 8291
// implementation) and returns the plaintext without its padding. It checks
// everything the format fixes and returns an error, never panics, for any
// input:
//
//   - keys unusable: [ErrInvalidKey];
//   - a body shorter than the header and a minimal record, a key id that
//     is not a 65-byte uncompressed P-256 point, a record size below 18 or
//     smaller than the record (that would be several records, which RFC
//     8291 does not allow), or padding without the 0x02 delimiter:
//     [ErrMalformed];
//   - a record that does not authenticate (other keys, altered bytes):
//     [ErrDecrypt].
func Open(keys PrivateKeys, body []byte) ([]byte, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	if len(body) < saltSize+5 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformed, len(body), HeaderSize)
	}
	salt := body[:saltSize]
	rs := binary.BigEndian.Uint32(body[saltSize:])
	idlen := int(body[saltSize+4])
	if idlen != PublicKeySize {
		return nil, fmt.Errorf("%w: key id is %d bytes, want the %d-byte sender public key", ErrMalformed, idlen, PublicKeySize)
	}
	if len(body) < HeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformed, len(body), HeaderSize)
	}
	asPub := body[saltSize+5 : HeaderSize]
	record := body[HeaderSize:]
	switch {
	case rs < minRecord:
		return nil, fmt.Errorf("%w: record size %d is below the minimum of %d", ErrMalformed, rs, minRecord)
	case len(record) < TagSize+1:
		return nil, fmt.Errorf("%w: record of %d bytes is truncated (at least %d: delimiter and tag)", ErrMalformed, len(record), TagSize+1)
	case uint64(len(record)) > uint64(rs):
		return nil, fmt.Errorf("%w: record of %d bytes is longer than the record size %d (several records are not allowed)", ErrMalformed, len(record), rs)
	}
	as, err := parsePoint("key id", asPub, ErrMalformed)
	if err != nil {
		return nil, err
	}
	secret, err := keys.Private.ECDH(as)
	if err != nil {
		return nil, fmt.Errorf("%w: key id: %v", ErrMalformed, err)
	}
	aead, nonce, err := derive(secret, keys.Auth, keys.Private.PublicKey().Bytes(), asPub, salt)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	switch {
	case i < 0:
		return nil, fmt.Errorf("%w: padding has no delimiter", ErrMalformed)
	case plain[i] == 1:
		return nil, fmt.Errorf("%w: padding delimiter 0x01 marks a record that is not the last, but the message has only one", ErrMalformed)
	case plain[i] != 2:
		return nil, fmt.Errorf("%w: padding delimiter is 0x%02x, want 0x02", ErrMalformed, plain[i])
	}
	return plain[:i], nil
}
