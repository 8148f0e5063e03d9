package fcmtest

import (
	"bytes"
	"encoding/json"
	"io"
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
		`{"validateOnly":true,"message":{"topic":"news","fcmOptions":{"analyticsLabel":"x"},"android":{"collapseKey":"c","directBootOk":true,"notification":{"channelId":"ch","notificationCount":3,"lightSettings":{"color":{"red":1},"lightOnDuration":"1s"}}}}}`,
		`{"message":{"token":"t","apns":{"fcmOptions":{"image":"i"},"liveActivityToken":"l","payload":{"aps":{"content-available":1}}},"webpush":{"fcmOptions":{"link":"l"}}}}`,
		`{"message":{"token":"t","android":{"collapse_key":"a","collapseKey":"b"}}}`,
		`{"message":{"to\u006ben":"t","data":{"a":"b","a":"c"}}}`,
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
		// from its compact form, which has the proto names already.
		re := []byte(`{"validate_only":` + jsonBool(req.ValidateOnly) + `,"message":` + string(compact) + `}`)
		_, msg2, compact2, aerr2 := decodeSend(re)
		if aerr2 != nil {
			t.Fatalf("re-decoding an accepted message failed: %s", aerr2.message)
		}
		if msg2.Token != msg.Token || msg2.Topic != msg.Topic || len(msg2.Data) != len(msg.Data) {
			t.Fatal("re-decoded message differs")
		}
		if !bytes.Equal(compact2, compact) {
			t.Fatalf("the canonical form changed when decoded again:\n%s\n%s", compact, compact2)
		}
		// Under the JSON names instead of the proto names, the message
		// is accepted and recorded alike.
		msgFields := requestFields["message"].sub
		snake := []byte(`{"validate_only":` + jsonBool(req.ValidateOnly) + `,"message":` + string(respell(t, compact, msgFields, false)) + `}`)
		camel := []byte(`{"validateOnly":` + jsonBool(req.ValidateOnly) + `,"message":` + string(respell(t, compact, msgFields, true)) + `}`)
		_, _, compactSnake, aerr3 := decodeSend(snake)
		_, msg4, compactCamel, aerr4 := decodeSend(camel)
		if aerr3 != nil || aerr4 != nil {
			t.Fatalf("a respelled message was refused: %v, %v\n%s", aerr3, aerr4, camel)
		}
		if !bytes.Equal(compactSnake, compactCamel) || msg4.Token != msg.Token || msg4.Topic != msg.Topic {
			t.Fatalf("recorded differently under the JSON names:\n%s\n%s", compactSnake, compactCamel)
		}
	})
}

func jsonBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// respell writes the accepted message raw anew with its fields under their
// proto names, or their JSON names when camel is set.
func respell(t *testing.T, raw []byte, fs fields, camel bool) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	var value func(fs fields)
	value = func(fs fields) {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		switch tok := tok.(type) {
		case json.Delim:
			out.WriteString(tok.String())
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				var sub fields
				if tok == '{' {
					k, err := dec.Token()
					if err != nil {
						t.Fatal(err)
					}
					name := k.(string)
					if fs != nil {
						f := fs[name]
						if f == nil {
							t.Fatalf("accepted an unknown name %q", name)
						}
						name, sub = f.name, f.sub
						if camel {
							name = f.json
						}
					}
					b, _ := json.Marshal(name)
					out.Write(b)
					out.WriteByte(':')
				}
				value(sub)
			}
			end, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			out.WriteString(end.(json.Delim).String())
		case json.Number:
			out.WriteString(tok.String())
		case nil:
			out.WriteString("null")
		default:
			b, err := json.Marshal(tok)
			if err != nil {
				t.Fatal(err)
			}
			out.Write(b)
		}
	}
	value(fs)
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("trailing data after %s", raw)
	}
	return out.Bytes()
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
