package hmacverify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/pushwire/pushwire/hmacverify"
)

func FuzzVerify(f *testing.F) {
	f.Add([]byte("secret"), testEventID, testSessionID, hmacverify.Sign([]byte("secret"), testEventID, testSessionID))
	f.Add([]byte("secret"), "", "", "")
	f.Add([]byte{}, "e", "s", strings.Repeat("A", 64))
	f.Add(bytes.Repeat([]byte{1}, 200), strings.Repeat("e", 130), "s", strings.Repeat("g", 64))
	f.Fuzz(func(t *testing.T, secret []byte, eventID, sessionID, sig string) {
		err := hmacverify.Verify(secret, eventID, sessionID, sig)
		good := hmacverify.Sign(secret, eventID, sessionID)
		if len(secret) == 0 {
			if err != hmacverify.ErrNoSecret || good != "" {
				t.Fatalf("empty secret: Verify = %v, Sign = %q", err, good)
			}
			return
		}
		if (err == nil) != (strings.ToLower(sig) == good) {
			t.Fatalf("Verify(%q) = %v; signature is %s", sig, err, good)
		}
		if err := hmacverify.Verify(secret, eventID, sessionID, good); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
		if err := hmacverify.Verify(secret, eventID, sessionID, strings.ToUpper(good)); err != nil {
			t.Fatalf("upper-case signature rejected: %v", err)
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(eventBody(testEventID, testSessionID, testNow)))
	f.Add([]byte(`{"eventId":"a","sessionId":"b","eventDate":null,"x":[1,{"y":2}]}`))
	f.Add([]byte(`{"eventId":"a","eventId":"b","sessionId":"c"}`))
	f.Add([]byte(`{"eventId":"\u00e9\ud83d\ude00","sessionId":"b"} `))
	f.Add([]byte(`{"EVENTID":"a","sessionId":"b"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"x":{"eventId":"no"},"eventId":"a\u0041","y":[1,"]",{}],"sessionId":"s\"","z":-1.5e3,"t":true}`))
	f.Add([]byte(`{"event\u0049d":"a","sessionId":"b","conversationId":null}`))
	f.Add([]byte("{\"eventId\":\"\xff\xfe\",\"sessionId\":\"b\"}"))
	f.Add([]byte(`{"eventId":"a","sessionId":"b","channel":"Messaging","x":"1","x":2,"eventDate":"2024-3-13T20:25:39.734Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := hmacverify.ParseEvent(body)
		ref, refErr := referenceParse(body)
		if (err == nil) != (refErr == nil) || !reflect.DeepEqual(ev, ref) {
			t.Fatalf("ParseEvent = %+v, %v; reference = %+v, %v", ev, err, ref, refErr)
		}
		if err != nil {
			if !errors.Is(err, hmacverify.ErrMalformed) {
				t.Fatalf("error does not match ErrMalformed: %v", err)
			}
			return
		}
		if ev.EventID == "" || ev.SessionID == "" {
			t.Fatalf("accepted an event without ids: %+v", ev)
		}
		// Re-encoding the parsed event and parsing it again gives it back.
		m := map[string]string{"eventId": ev.EventID, "sessionId": ev.SessionID}
		for k, v := range map[string]string{"conversationId": ev.ConversationID, "customerId": ev.CustomerID, "eventDate": ev.EventDate} {
			if v != "" {
				m[k] = v
			}
		}
		for k, v := range ev.Extra {
			m[k] = v
		}
		again, _ := json.Marshal(m)
		ev2, err := hmacverify.ParseEvent(again)
		if err != nil {
			t.Fatalf("re-encoded event rejected: %v", err)
		}
		if !reflect.DeepEqual(ev2, ev) {
			t.Fatalf("round trip changed the event: %+v != %+v", ev2, ev)
		}
	})
}

func FuzzVerifyRequest(f *testing.F) {
	secret := []byte("fuzz-secret")
	good := eventBody(testEventID, testSessionID, testNow)
	f.Add([]byte(good), hmacverify.Sign(secret, testEventID, testSessionID))
	f.Add([]byte(good), "")
	f.Add([]byte(`{"eventId":"e","sessionId":"s"}`), hmacverify.Sign(secret, "e", "s"))
	f.Add([]byte(`{"eventId":"e","sessionId":"s"`), hmacverify.Sign(secret, "e", "s"))
	f.Add(bytes.Repeat([]byte("x"), 300), strings.Repeat("0", 64))
	v, err := hmacverify.NewVerifier(hmacverify.Config{
		Secrets:      hmacverify.StaticSecrets{secret, []byte("old")},
		MaxBodyBytes: 256,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("X-hmac", sig)
		ev, got, err := v.VerifyRequest(req)
		status := hmacverify.StatusCode(err)
		if status == http.StatusInternalServerError || status == http.StatusServiceUnavailable {
			t.Fatalf("client input caused a server error: %v", err)
		}
		if len(body) > 256 {
			if status != http.StatusRequestEntityTooLarge {
				t.Fatalf("oversized body: %v", err)
			}
			return
		}
		if err != nil {
			return
		}
		if !bytes.Equal(got, body) {
			t.Fatal("returned body differs from the request body")
		}
		rest, _ := io.ReadAll(req.Body)
		if !bytes.Equal(rest, body) {
			t.Fatal("body not restored")
		}
		if hmacverify.Verify(secret, ev.EventID, ev.SessionID, sig) != nil &&
			hmacverify.Verify([]byte("old"), ev.EventID, ev.SessionID, sig) != nil {
			t.Fatalf("accepted a signature that no secret produces: %+v %q", ev, sig)
		}
	})
}

// referenceParse is a slower parser of the same event format built on
// encoding/json's tokenizer, for differential fuzzing.
func referenceParse(body []byte) (hmacverify.Event, error) {
	var ev hmacverify.Event
	fail := errors.New("invalid")
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return ev, fail
	}
	fields := map[string]*string{"eventId": &ev.EventID, "conversationId": &ev.ConversationID,
		"customerId": &ev.CustomerID, "sessionId": &ev.SessionID, "eventDate": &ev.EventDate}
	extra := map[string]string{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return hmacverify.Event{}, fail
		}
		name := tok.(string)
		dst, known := fields[name]
		if !known {
			var raw json.RawMessage
			if dec.Decode(&raw) != nil {
				return hmacverify.Event{}, fail
			}
			var str string
			if raw[0] == '"' && json.Unmarshal(raw, &str) == nil {
				extra[name] = str
			} else {
				delete(extra, name)
			}
			continue
		}
		if seen[name] {
			return hmacverify.Event{}, fail
		}
		seen[name] = true
		var v *string
		if dec.Decode(&v) != nil {
			return hmacverify.Event{}, fail
		}
		if v != nil {
			*dst = *v
		}
	}
	if _, err := dec.Token(); err != nil {
		return hmacverify.Event{}, fail
	}
	if _, err := dec.Token(); err != io.EOF {
		return hmacverify.Event{}, fail
	}
	if ev.EventID == "" || ev.SessionID == "" {
		return hmacverify.Event{}, fail
	}
	if len(extra) > 0 {
		ev.Extra = extra
	}
	return ev, nil
}
