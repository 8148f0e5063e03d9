package fcmtest

import (
	"encoding/json"
	"testing"
)

func FuzzDecodeSend(f *testing.F) {
	for _, s := range []string{
		`{"message":{"token":"t","data":{"a":"b"}}}`,
		`{"validate_only":true,"message":{"topic":"news","android":{"ttl":"3.5s","priority":"high","notification":{"color":"#aabbcc","notification_count":3}}}}`,
		`{"message":{"condition":"'a' in topics","apns":{"headers":{"apns-priority":"10"},"payload":{"aps":{}}},"webpush":{"notification":{"title":"x"}}}}`,
		`{"message":{"token":"t","android":{"ttl":"2419200.000000001s"}}}`,
		`{"message":null}`,
		`[]`,
		`{"message":{"token":"t"}}{}`,
		"\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, msg, compact, aerr := decodeSend(body)
		if aerr != nil {
			if aerr.httpStatus != 400 || aerr.status != "INVALID_ARGUMENT" {
				t.Fatalf("unexpected refusal %d %s", aerr.httpStatus, aerr.status)
			}
			return
		}
		if !json.Valid(compact) {
			t.Fatalf("accepted message is not valid JSON: %q", compact)
		}
		// The accepted message satisfies the rules when checked again
		// from its compact form.
		re, err := json.Marshal(sendRequest{ValidateOnly: req.ValidateOnly, Message: compact})
		if err != nil {
			t.Fatal(err)
		}
		_, msg2, _, aerr2 := decodeSend(re)
		if aerr2 != nil {
			t.Fatalf("re-decoding an accepted message failed: %s", aerr2.message)
		}
		if msg2.Token != msg.Token || msg2.Topic != msg.Topic || len(msg2.Data) != len(msg.Data) {
			t.Fatal("re-decoded message differs")
		}
	})
}

func FuzzValidTTL(f *testing.F) {
	for _, s := range []string{"0s", "1.5s", "2419200s", "2419200.1s", "s", "1e3s", "-1s", "01s", "1.0000000001s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = validTTL(s)
	})
}

// FuzzVerifyJWT feeds hostile bearer tokens and assertions to the JWT
// checks of both endpoints.
func FuzzVerifyJWT(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ4In0.c2ln")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("..")
	s := NewServer(Config{})
	f.Cleanup(s.Close)
	f.Fuzz(func(t *testing.T, tok string) {
		if s.verifyAssertion(tok) == nil || s.verifySelfSignedJWT(tok) == nil {
			t.Fatalf("accepted a token not signed by the fake: %q", tok)
		}
	})
}
