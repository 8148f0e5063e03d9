// Package seal holds the interoperability test of package seal with an
// independent RFC 8291 implementation: Node's http_ece (npm), installed
// in bench/seal-interop by `npm ci`. Messages sealed in Go are decrypted
// by http_ece, and messages http_ece encrypts are opened in Go.
package seal
