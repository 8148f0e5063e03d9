package hmacverify_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/hmacverify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testEventID   = "778af6a9-41f8-4153-a3a1-d913b2911b3b"
	testSessionID = "bf813a5d-2e06-4047-bae2-e01da2f69f7c"
)

var testSecret = []byte("axp-shared-secret")

// reference computes the signature with crypto/hmac, independently of the
// package's allocation-free implementation.
func reference(secret []byte, eventID, sessionID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(eventID + sessionID))
	return hex.EncodeToString(m.Sum(nil))
}

// TestSignRFC4231 checks Sign against the HMAC-SHA256 test vectors of
// RFC 4231 (cases 2, 6 and 7), splitting the data between the two ids.
func TestSignRFC4231(t *testing.T) {
	key131 := bytes.Repeat([]byte{0xaa}, 131)
	tests := []struct {
		name      string
		key       []byte
		data      string
		split     int
		wantHexed string
	}{
		{"case 2", []byte("Jefe"), "what do ya want for nothing?", 10,
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"case 6 long key", key131, "Test Using Larger Than Block-Size Key - Hash Key First", 0,
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
		{"case 7 long key and data", key131, "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.", 70,
			"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hmacverify.Sign(tt.key, tt.data[:tt.split], tt.data[tt.split:])
			assert.Equal(t, tt.wantHexed, got)
			assert.NoError(t, hmacverify.Verify(tt.key, tt.data[:tt.split], tt.data[tt.split:], got))
		})
	}
}

// TestSignMatchesCryptoHMAC compares Sign with crypto/hmac over secret and
// id lengths around the SHA-256 block size.
func TestSignMatchesCryptoHMAC(t *testing.T) {
	lengths := []int{0, 1, 31, 32, 55, 56, 63, 64, 65, 127, 128, 129, 300}
	for _, kl := range lengths {
		if kl == 0 {
			continue
		}
		secret := bytes.Repeat([]byte{byte(kl)}, kl)
		for _, el := range lengths {
			for _, sl := range []int{0, 36, 64, 200} {
				e, s := strings.Repeat("e", el), strings.Repeat("s", sl)
				require.Equal(t, reference(secret, e, s), hmacverify.Sign(secret, e, s), "key %d event %d session %d", kl, el, sl)
			}
		}
	}
}

func TestSignEmptySecret(t *testing.T) {
	assert.Empty(t, hmacverify.Sign(nil, testEventID, testSessionID))
	assert.Empty(t, hmacverify.Sign([]byte{}, testEventID, testSessionID))
}

func TestVerify(t *testing.T) {
	good := hmacverify.Sign(testSecret, testEventID, testSessionID)
	require.Len(t, good, 64)
	require.Equal(t, strings.ToLower(good), good)
	mixed := []byte(good)
	for i := 0; i < len(mixed); i += 2 {
		mixed[i] = strings.ToUpper(string(mixed[i]))[0]
	}
	flipped := []byte(good)
	if flipped[10] == '0' {
		flipped[10] = '1'
	} else {
		flipped[10] = '0'
	}
	tests := []struct {
		name      string
		secret    []byte
		eventID   string
		sessionID string
		sig       string
		want      error
	}{
		{"lower-case hex", testSecret, testEventID, testSessionID, good, nil},
		{"upper-case hex", testSecret, testEventID, testSessionID, strings.ToUpper(good), nil},
		{"mixed-case hex", testSecret, testEventID, testSessionID, string(mixed), nil},
		{"empty signature", testSecret, testEventID, testSessionID, "", hmacverify.ErrMissingSignature},
		{"one digit changed", testSecret, testEventID, testSessionID, string(flipped), hmacverify.ErrInvalidSignature},
		{"wrong secret", []byte("other"), testEventID, testSessionID, good, hmacverify.ErrInvalidSignature},
		{"ids swapped", testSecret, testSessionID, testEventID, good, hmacverify.ErrInvalidSignature},
		// AXP concatenates the ids without a separator: moving the boundary
		// keeps the signature. This case documents that property of the scheme.
		{"boundary moved", testSecret, testEventID + testSessionID[:1], testSessionID[1:], good, nil},
		{"truncated", testSecret, testEventID, testSessionID, good[:63], hmacverify.ErrInvalidSignature},
		{"too long", testSecret, testEventID, testSessionID, good + "0", hmacverify.ErrInvalidSignature},
		{"non-hex digit", testSecret, testEventID, testSessionID, "g" + good[1:], hmacverify.ErrInvalidSignature},
		{"prefixed", testSecret, testEventID, testSessionID, "sha256=" + good[:57], hmacverify.ErrInvalidSignature},
		{"base64 instead of hex", testSecret, testEventID, testSessionID, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=", hmacverify.ErrInvalidSignature},
		{"empty secret", nil, testEventID, testSessionID, good, hmacverify.ErrNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := hmacverify.Verify(tt.secret, tt.eventID, tt.sessionID, tt.sig)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
		})
	}
	assert.ErrorIs(t, hmacverify.Verify(nil, "", "", ""), hmacverify.ErrInvalidConfig, "an empty secret is a configuration error")
}

// TestVerifyDoesNotAllocate checks the allocation-free promise on accepted
// and rejected signatures and on inputs longer than a SHA-256 block.
func TestVerifyDoesNotAllocate(t *testing.T) {
	longSecret := bytes.Repeat([]byte("k"), 100)
	longID := strings.Repeat("x", 1000)
	tests := []struct {
		name             string
		secret           []byte
		eventID, session string
		sig              string
		wantErr          bool
	}{
		{"valid", testSecret, testEventID, testSessionID, hmacverify.Sign(testSecret, testEventID, testSessionID), false},
		{"valid upper-case", testSecret, testEventID, testSessionID, strings.ToUpper(hmacverify.Sign(testSecret, testEventID, testSessionID)), false},
		{"long secret and ids", longSecret, longID, longID, hmacverify.Sign(longSecret, longID, longID), false},
		{"wrong", testSecret, testEventID, testSessionID, strings.Repeat("0", 64), true},
		{"not hex", testSecret, testEventID, testSessionID, strings.Repeat("z", 64), true},
		{"missing", testSecret, testEventID, testSessionID, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			allocs := testing.AllocsPerRun(100, func() {
				err = hmacverify.Verify(tt.secret, tt.eventID, tt.session, tt.sig)
			})
			assert.Equal(t, tt.wantErr, err != nil)
			assert.Zero(t, allocs, "Verify allocated")
		})
	}
}
