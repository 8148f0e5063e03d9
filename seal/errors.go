package seal

import "errors"

// Errors. Each error this package returns matches one of them with
// errors.Is and says in its text what was wrong; none contains key
// material or plaintext.
var (
	// ErrInvalidKey means a key is unusable: p256dh is not a 65-byte
	// uncompressed point on P-256, auth is not 16 bytes, a private key is
	// missing or not on P-256, or a string is not base64url.
	ErrInvalidKey = errors.New("seal: invalid key")
	// ErrMalformed means a body is not a single-record RFC 8291 aes128gcm
	// message: truncated header or record, a key id that is not a 65-byte
	// point, a record size that disagrees with the record, or padding
	// without the 0x02 delimiter. Also returned by [OpenData] for a data
	// map whose members are not what [Sealer.SealData] writes.
	ErrMalformed = errors.New("seal: malformed message")
	// ErrDecrypt means the record did not authenticate: the message was
	// sealed for other keys, or it was altered on the way.
	ErrDecrypt = errors.New("seal: message does not decrypt with these keys")
	// ErrNotSealed is returned by [OpenData] for a data map that carries no
	// sealed content (no "encoding": "aes128gcm" member).
	ErrNotSealed = errors.New("seal: message is not sealed")
)
