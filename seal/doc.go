// Package seal encrypts push payloads end to end with RFC 8291 (Message
// Encryption for Web Push) over RFC 8188 (the aes128gcm content coding):
// the device makes a P-256 key pair and a 16-byte authentication secret at
// sign-in and registers the public half ([Keys], from [ParseKeys]); [Seal]
// encrypts each message to them with a fresh ephemeral key and salt, into
// one padded record; the device opens it with [Open] (or its platform's
// own implementation). Providers and relays see only ciphertext.
//
// The body is the RFC 8188 aes128gcm format with the sender's ephemeral
// public key as key id:
//
//	salt (16) | rs (4, big-endian) | idlen = 65 (1) | ephemeral public key (65) |
//	AES-128-GCM(content | 0x02 | zero padding) with its 16-byte tag
//
// [Sealer.SealData] and [OpenData] carry it in a push as the data members
// "encoding" ("aes128gcm"), "ciphertext" (base64url of the body) and
// "trackingId", around a JSON [Content]. Package seal/sealsend seals every
// message a pushwire.Sender sends.
//
// README.md beside this file specifies the format step by step for app
// developers (iOS CryptoKit, Android, Tink, Web Push libraries), and
// testdata/vectors.json holds test vectors, the RFC 8291 Appendix A example
// among them.
//
// The package imports only the standard library. Its functions are safe for
// concurrent use; every error matches one of [ErrInvalidKey],
// [ErrMalformed], [ErrDecrypt] and [ErrNotSealed], and never holds key
// material or plaintext.
package seal
