package seal_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/pushwire/pushwire/seal"
)

// reportCPU reports the process CPU time per operation as "cpu-ns/op",
// beside the wall time: on a shared machine wall time also counts the
// time spent waiting for a core, CPU time does not. Call it as
// defer reportCPU(b)() before the loop.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		end, _ := processCPU()
		if ok && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkSeal1KiB seals 1 KiB for one device with the default padding,
// as a sealing sender does for every message.
func BenchmarkSeal1KiB(b *testing.B) {
	keys := rfcKeys(b).Public()
	plain := make([]byte, 1024)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := seal.Seal(keys, plain); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloor1KiB is what RFC 8291 cannot avoid per message, done
// directly with the standard library and nothing else: one ephemeral P-256
// key, one ECDH, a salt, the HKDF steps (IKM, PRK, CEK, nonce) and one
// AES-128-GCM seal of the 1 KiB record into a reused buffer. The device's
// public key is parsed once, outside the loop. Seal's cost is judged
// against this.
func BenchmarkFloor1KiB(b *testing.B) {
	keys := rfcKeys(b).Public()
	ua, err := ecdh.P256().NewPublicKey(keys.P256DH())
	if err != nil {
		b.Fatal(err)
	}
	uaBytes, auth := keys.P256DH(), keys.Auth()
	record := make([]byte, 1024+1)
	record[1024] = 2
	out := make([]byte, 0, len(record)+16)
	var salt [16]byte
	b.SetBytes(1024)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		eph, err := ecdh.P256().GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		secret, err := eph.ECDH(ua)
		if err != nil {
			b.Fatal(err)
		}
		rand.Read(salt[:])
		info := "WebPush: info\x00" + string(uaBytes) + string(eph.PublicKey().Bytes())
		ikm, _ := hkdf.Key(sha256.New, secret, auth, info, 32)
		prk, _ := hkdf.Extract(sha256.New, ikm, salt[:])
		cek, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
		nonce, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
		block, err := aes.NewCipher(cek)
		if err != nil {
			b.Fatal(err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			b.Fatal(err)
		}
		out = aead.Seal(out[:0], nonce, record, nil)
	}
}

// BenchmarkOpen1KiB opens what BenchmarkSeal1KiB seals.
func BenchmarkOpen1KiB(b *testing.B) {
	keys := rfcKeys(b)
	body, err := seal.Seal(keys.Public(), make([]byte, 1024))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seal.Open(keys, body); err != nil {
			b.Fatal(err)
		}
	}
}
