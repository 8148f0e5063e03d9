package seal

import "crypto/ecdh"

// WithFixed returns s sealing with the given ephemeral key and salt instead
// of fresh random ones, to reproduce test vectors.
func WithFixed(s Sealer, ephemeral *ecdh.PrivateKey, salt []byte) Sealer {
	s.ephemeral = ephemeral
	s.salt = salt
	return s
}
