package seal_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/seal"
)

// FuzzOpen feeds Open arbitrary bodies for the RFC example's keys: it must
// return an error matching exactly one sentinel, or a plaintext that fits
// in the body, and never panic.
func FuzzOpen(f *testing.F) {
	keys := rfcKeys(f)
	body := b64(f, rfcBody)
	f.Add(body)
	f.Add(body[:seal.HeaderSize])
	f.Add(body[:seal.HeaderSize+17])
	f.Add([]byte{})
	rs := append([]byte(nil), body...)
	binary.BigEndian.PutUint32(rs[16:], 18)
	f.Add(rs)
	long := append([]byte(nil), body[:seal.HeaderSize]...)
	f.Add(append(long, bytes.Repeat([]byte{0xa5}, 5000)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := seal.Open(keys, b)
		if err != nil {
			require.Nil(t, plain)
			require.Equal(t, 1, countSentinels(err), "%v", err)
			return
		}
		require.LessOrEqual(t, len(plain), len(b)-seal.Overhead)
	})
}

// FuzzSealOpen seals arbitrary content with arbitrary padding settings:
// Open gives the content back and the body has the promised length.
func FuzzSealOpen(f *testing.F) {
	keys := rfcKeys(f)
	pub := keys.Public()
	f.Add([]byte("When I grow up, I want to be a watermelon"), 0, 0)
	f.Add([]byte{}, 1, 0)
	f.Add(bytes.Repeat([]byte{0}, 300), 128, 200)
	f.Add([]byte("x"), -5, 4000)
	f.Fuzz(func(t *testing.T, plain []byte, bucket, limit int) {
		if bucket > 1<<16 || limit > 1<<16 || len(plain) > 1<<16 {
			t.Skip()
		}
		s := seal.Sealer{Bucket: bucket, Limit: limit}
		body, err := s.Seal(pub, plain)
		require.NoError(t, err)
		least := len(plain) + seal.Overhead
		require.GreaterOrEqual(t, len(body), least)
		if limit > 0 {
			require.LessOrEqual(t, len(body), max(limit, least))
		}
		if bucket > 0 && (limit <= 0 || len(body) < limit) {
			require.Zero(t, (len(body)-seal.HeaderSize-seal.TagSize)%bucket, "padded to the bucket")
		}
		got, err := seal.Open(keys, body)
		require.NoError(t, err)
		require.True(t, bytes.Equal(plain, got))
	})
}

// FuzzParseKeys: any pair of strings is parsed or refused with
// ErrInvalidKey; parsed keys are valid and encode back to what parses to
// the same keys.
func FuzzParseKeys(f *testing.F) {
	f.Add(rfcUAPublic, rfcAuth)
	f.Add(rfcUAPublic+"=", rfcAuth+"==")
	f.Add("BA", "")
	f.Add("+/+/", "AAAA")
	f.Fuzz(func(t *testing.T, p256dh, auth string) {
		k, err := seal.ParseKeys(p256dh, auth)
		if err != nil {
			require.ErrorIs(t, err, seal.ErrInvalidKey)
			return
		}
		require.False(t, k.IsZero())
		p, a := k.Encode()
		again, err := seal.ParseKeys(p, a)
		require.NoError(t, err)
		assert.True(t, k.Equal(again))
	})
}

// FuzzOpenData: arbitrary data members are refused with a sentinel or
// opened; the RFC body's plaintext is not JSON, so it is refused too.
func FuzzOpenData(f *testing.F) {
	keys := rfcKeys(f)
	f.Add("aes128gcm", rfcBody, "t-1")
	f.Add("aes128gcm", "", "")
	f.Add("aesgcm", "AAAA", "x")
	f.Fuzz(func(t *testing.T, encoding, ciphertext, tracking string) {
		_, err := seal.OpenData(keys, map[string]string{"encoding": encoding, "ciphertext": ciphertext, "trackingId": tracking})
		require.Error(t, err)
		require.Equal(t, 1, countSentinels(err), "%v", err)
	})
}
