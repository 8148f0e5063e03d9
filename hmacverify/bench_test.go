package hmacverify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pushwire/pushwire/hmacverify"
)

var (
	benchSig  = hmacverify.Sign(testSecret, testEventID, testSessionID)
	benchSink []byte
	benchErr  error
)

// BenchmarkVerify checks one signature of the AXP example event (two UUIDs).
func BenchmarkVerify(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		benchErr = hmacverify.Verify(testSecret, testEventID, testSessionID, benchSig)
	}
	if benchErr != nil {
		b.Fatal(benchErr)
	}
}

// BenchmarkHMACFloor is the bare crypto/hmac computation of the same input
// (New, Write, Sum), without decoding or comparing: the floor for Verify.
func BenchmarkHMACFloor(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m := hmac.New(sha256.New, testSecret)
		m.Write([]byte(testEventID))
		m.Write([]byte(testSessionID))
		benchSink = m.Sum(benchSink[:0])
	}
}

// BenchmarkHMACFloorReused reuses one crypto/hmac instance (Reset, Write,
// Sum), which skips the key setup that Verify must do per call.
func BenchmarkHMACFloorReused(b *testing.B) {
	b.ReportAllocs()
	m := hmac.New(sha256.New, testSecret)
	for i := 0; i < b.N; i++ {
		m.Reset()
		m.Write([]byte(testEventID))
		m.Write([]byte(testSessionID))
		benchSink = m.Sum(benchSink[:0])
	}
}

func BenchmarkSign(b *testing.B) {
	b.ReportAllocs()
	var s string
	for i := 0; i < b.N; i++ {
		s = hmacverify.Sign(testSecret, testEventID, testSessionID)
	}
	benchSink = []byte(s)
}

// BenchmarkMiddleware measures a whole accepted request through the
// middleware (body read, parse, verify), with replay protection off.
func BenchmarkMiddleware(b *testing.B) {
	v, err := hmacverify.NewVerifier(hmacverify.Config{Secrets: hmacverify.StaticSecrets{testSecret}})
	if err != nil {
		b.Fatal(err)
	}
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	body := eventBody(testEventID, testSessionID, testNow)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Hmac", benchSig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkParseEvent parses the AXP example body.
func BenchmarkParseEvent(b *testing.B) {
	body := []byte(eventBody(testEventID, testSessionID, testNow))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := hmacverify.ParseEvent(body); err != nil {
			b.Fatal(err)
		}
	}
}
