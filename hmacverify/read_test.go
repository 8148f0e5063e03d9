package hmacverify_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/hmacverify"
)

// TestReadBodyLimit checks bodies just under, at and just over the limit, of
// declared and of unknown length, with and without a response writer.
func TestReadBodyLimit(t *testing.T) {
	const limit = 100
	lim := hmacverify.ReadLimits{MaxBodyBytes: limit}
	for _, n := range []int{limit - 1, limit, limit + 1} {
		for _, declared := range []bool{true, false} {
			for _, withWriter := range []bool{true, false} {
				body := bytes.Repeat([]byte{' '}, n)
				req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
				if !declared {
					req.ContentLength = -1
				}
				var w http.ResponseWriter
				rec := httptest.NewRecorder()
				if withWriter {
					w = rec
				}
				got, err := hmacverify.ReadBody(w, req, lim)
				if n > limit {
					assert.ErrorIs(t, err, hmacverify.ErrTooLarge, "n=%d declared=%v", n, declared)
					if withWriter {
						assert.Equal(t, "close", rec.Header().Get("Connection"))
					}
					continue
				}
				require.NoError(t, err, "n=%d declared=%v", n, declared)
				assert.Len(t, got, n)
				assert.EqualValues(t, n, req.ContentLength)
				assert.Empty(t, rec.Header().Get("Connection"))
			}
		}
	}
}

// TestReadBodyRefusesDeclaredLength checks that a declared length over the
// limit is refused before a byte is read, and that a request without a body
// (nil or http.NoBody) is malformed.
func TestReadBodyRefusesDeclaredLength(t *testing.T) {
	const limit = 100
	for _, withWriter := range []bool{true, false} {
		req := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(iotest.ErrReader(errors.New("body read"))))
		req.ContentLength = limit + 1
		var w http.ResponseWriter
		if withWriter {
			w = httptest.NewRecorder()
		}
		_, err := hmacverify.ReadBody(w, req, hmacverify.ReadLimits{MaxBodyBytes: limit})
		assert.ErrorIs(t, err, hmacverify.ErrTooLarge)

		for _, body := range []io.ReadCloser{nil, http.NoBody} {
			req := httptest.NewRequest(http.MethodPost, "/", nil)
			req.Body = body
			_, err := hmacverify.ReadBody(w, req, hmacverify.ReadLimits{})
			assert.ErrorIs(t, err, hmacverify.ErrMalformed)
			assert.ErrorContains(t, err, "empty body")
		}
	}
}

func TestReadBodyDefaults(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(make([]byte, hmacverify.DefaultMaxBodyBytes)))
	_, err := hmacverify.ReadBody(nil, req, hmacverify.ReadLimits{})
	assert.NoError(t, err, "the zero value is the default limit")
	req = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(make([]byte, hmacverify.DefaultMaxBodyBytes+1)))
	_, err = hmacverify.ReadBody(nil, req, hmacverify.ReadLimits{})
	assert.ErrorIs(t, err, hmacverify.ErrTooLarge)
	_, err = hmacverify.ReadBody(nil, httptest.NewRequest(http.MethodPost, "/", nil), hmacverify.ReadLimits{})
	assert.ErrorIs(t, err, hmacverify.ErrMalformed)
}

func TestReadEvent(t *testing.T) {
	body := `{"eventId":"e","sessionId":"s","channel":"Messaging"}`
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	ev, raw, err := hmacverify.ReadEvent(httptest.NewRecorder(), req, hmacverify.ReadLimits{})
	require.NoError(t, err)
	assert.Equal(t, hmacverify.Event{EventID: "e", SessionID: "s", Extra: map[string]string{"channel": "Messaging"}}, ev)
	assert.Equal(t, body, string(raw))

	req = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"eventId":"e"}`))
	ev, raw, err = hmacverify.ReadEvent(nil, req, hmacverify.ReadLimits{})
	assert.ErrorIs(t, err, hmacverify.ErrMalformed)
	assert.Zero(t, ev)
	assert.Equal(t, `{"eventId":"e"}`, string(raw), "the body comes with a parse error")
}

func TestSignatureHeader(t *testing.T) {
	for _, name := range []string{"X-hmac", "X-Hmac", "x-hmac", "X-HMAC"} {
		h := http.Header{}
		h[name] = []string{"sig"} // not canonicalized
		assert.Equal(t, "sig", hmacverify.Signature(h), name)
	}
	assert.Empty(t, hmacverify.Signature(http.Header{}))
	assert.Equal(t, "X-Hmac", http.CanonicalHeaderKey(hmacverify.SignatureHeader))
}

func TestVerifyAny(t *testing.T) {
	a, b := []byte("secret-a"), []byte("secret-b")
	sig := hmacverify.Sign(b, "e", "s")
	tests := []struct {
		name    string
		secrets [][]byte
		sig     string
		want    error
		msg     string // in the error, when set
	}{
		{"second matches", [][]byte{a, b}, sig, nil, ""},
		{"first matches", [][]byte{b, a}, sig, nil, ""},
		{"none matches", [][]byte{a}, sig, hmacverify.ErrInvalidSignature, ""},
		{"no secrets", nil, sig, hmacverify.ErrInvalidSignature, "no secret for this event"},
		{"no signature", [][]byte{a, b}, "", hmacverify.ErrMissingSignature, ""},
		{"no signature, no secrets", nil, "", hmacverify.ErrMissingSignature, ""},
		{"an empty secret", [][]byte{b, {}}, sig, hmacverify.ErrNoSecret, ""},
	}
	for _, tt := range tests {
		err := hmacverify.VerifyAny(tt.secrets, "e", "s", tt.sig)
		if tt.want == nil {
			assert.NoError(t, err, tt.name)
		} else {
			assert.ErrorIs(t, err, tt.want, tt.name)
			assert.ErrorContains(t, err, tt.msg, tt.name)
		}
	}
}

// TestReplayWindowDateForms checks that replay protection reads every date
// form Event.Time accepts, and refuses a date it cannot read as stale.
func TestReplayWindowDateForms(t *testing.T) {
	v := newVerifier(t, hmacverify.Config{ReplayWindow: time.Minute})
	for i, tt := range []struct {
		date string
		ok   bool
	}{
		{testNow.Format(hmacverify.EventDateLayout), true},
		{"2024-3-18T11:00:30.000Z", true},
		{"2024-03-18T11:00:30.000+0000", true},
		{"1710759630000", true}, // testNow in epoch milliseconds
		{"yesterday", false},
	} {
		id := "event-" + string(rune('a'+i))
		body := `{"eventId":"` + id + `","sessionId":"` + testSessionID + `","eventDate":"` + tt.date + `"}`
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-hmac", hmacverify.Sign(testSecret, id, testSessionID))
		ev, _, err := v.VerifyRequest(req)
		if tt.ok {
			assert.NoError(t, err, tt.date)
		} else {
			assert.ErrorIs(t, err, hmacverify.ErrStale, tt.date)
			assert.ErrorContains(t, err, "eventDate is not a time", tt.date)
		}
		assert.Equal(t, tt.date, ev.EventDate, "kept as received")
	}
}
