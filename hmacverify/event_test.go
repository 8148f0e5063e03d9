package hmacverify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/hmacverify"
)

func TestParseEvent(t *testing.T) {
	tests := []struct {
		name string
		body string
		want hmacverify.Event
		err  string // "" when the body is accepted
	}{
		{"manual example", `{ "eventId": "778af6a9-41f8-4153-a3a1-d913b2911b3b", "conversationId": "1570b603-502e-3dcc-888f-09dda5bd0ea6", "customerId": "customer-id-12345", "sessionId": "bf813a5d-2e06-4047-bae2-e01da2f69f7c", "eventDate": "2024-03-18T11:00:24.481Z" }`,
			hmacverify.Event{EventID: "778af6a9-41f8-4153-a3a1-d913b2911b3b", ConversationID: "1570b603-502e-3dcc-888f-09dda5bd0ea6",
				CustomerID: "customer-id-12345", SessionID: "bf813a5d-2e06-4047-bae2-e01da2f69f7c",
				EventDate: "2024-03-18T11:00:24.481Z"}, ""},
		{"unknown members of every kind: strings to Extra, others skipped", "{\"a\":{\"eventId\":\"x\",\"b\":[1,\"]\\\"}\",{}]},\"eventId\":\"e\",\"n\":-1.5e3,\"t\":true,\"f\":false,\"z\":null,\"s\":\"q\\\"\",\r\n\"sessionId\":\"s\"}",
			hmacverify.Event{EventID: "e", SessionID: "s", Extra: map[string]string{"s": "q\""}}, ""},
		{"escapes decoded", `{"eventId":"a\u00e9\"b","sessionId":"\ud83d\ude00"}`, hmacverify.Event{EventID: "aé\"b", SessionID: "😀"}, ""},
		{"escaped member name", `{"event\u0049d":"e","sessionId":"s"}`, hmacverify.Event{EventID: "e", SessionID: "s"}, ""},
		// 0x80, the lowest byte that is not ASCII, alone is invalid UTF-8:
		// decoded as encoding/json decodes it, not copied.
		{"invalid UTF-8 as encoding/json reads it", "{\"eventId\":\"a\x80b\",\"sessionId\":\"\x7f\"}", hmacverify.Event{EventID: "a\uFFFDb", SessionID: "\x7f"}, ""},
		{"non-ASCII kept", `{"eventId":"é","sessionId":"s"}`, hmacverify.Event{EventID: "é", SessionID: "s"}, ""},
		{"white space everywhere JSON allows it", " \t\r\n{ \"eventId\" : \"e\" , \"sessionId\"\n:\n\"s\"\t}\n", hmacverify.Event{EventID: "e", SessionID: "s"}, ""},
		{"extras all overwritten by non-strings: none", `{"eventId":"e","sessionId":"s","x":"1","x":2}`, hmacverify.Event{EventID: "e", SessionID: "s"}, ""},
		{"nulls are absent", `{"eventId":"e","sessionId":"s","customerId":null,"eventDate":null}`, hmacverify.Event{EventID: "e", SessionID: "s"}, ""},
		{"offset time", `{"eventId":"e","sessionId":"s","eventDate":"2024-03-18T12:00:24+01:00"}`,
			hmacverify.Event{EventID: "e", SessionID: "s", EventDate: "2024-03-18T12:00:24+01:00"}, ""},
		{"eventDate kept as received", `{"eventId":"e","sessionId":"s","eventDate":"2024-3-13T20:25:39.734Z"}`,
			hmacverify.Event{EventID: "e", SessionID: "s", EventDate: "2024-3-13T20:25:39.734Z"}, ""},
		{"eventDate in any form", `{"eventId":"e","sessionId":"s","eventDate":"18/03/2024"}`,
			hmacverify.Event{EventID: "e", SessionID: "s", EventDate: "18/03/2024"}, ""},
		{"extra string members", `{"eventId":"e","channel":"Messaging","sessionId":"s","engagementId":"g\u00e9","dialogId":"d","n":1,"o":{"x":"y"},"z":null}`,
			hmacverify.Event{EventID: "e", SessionID: "s", Extra: map[string]string{"channel": "Messaging", "engagementId": "gé", "dialogId": "d"}}, ""},
		{"repeated extra: the last wins", `{"eventId":"e","sessionId":"s","x":"1","y":"1","x":"2","y":3}`,
			hmacverify.Event{EventID: "e", SessionID: "s", Extra: map[string]string{"x": "2"}}, ""},
		{"number eventDate", `{"eventId":"e","sessionId":"s","eventDate":1710361539734}`, hmacverify.Event{}, `member "eventDate" is not a string`},
		{"member name case matters", `{"EventId":"e","sessionId":"s"}`, hmacverify.Event{}, "missing eventId"},
		{"repeated member", `{"eventId":"e","sessionId":"s","eventId":"f"}`, hmacverify.Event{}, `repeated member "eventId"`},
		{"repeated via escape", `{"eventId":"e","sessionId":"s","event\u0049d":"f"}`, hmacverify.Event{}, `repeated member "eventId"`},
		{"number id", `{"eventId":1,"sessionId":"s"}`, hmacverify.Event{}, `member "eventId" is not a string`},
		{"object id", `{"eventId":{},"sessionId":"s"}`, hmacverify.Event{}, `member "eventId" is not a string`},
		{"empty ids", `{"eventId":"","sessionId":""}`, hmacverify.Event{}, "missing eventId"},
		{"missing session", `{"eventId":"e"}`, hmacverify.Event{}, "missing sessionId"},
		{"array", `[{"eventId":"e","sessionId":"s"}]`, hmacverify.Event{}, "not a JSON object"},
		{"string", `"x"`, hmacverify.Event{}, "not a JSON object"},
		{"trailing data", `{"eventId":"e","sessionId":"s"} x`, hmacverify.Event{}, "invalid character"},
		{"two objects", `{"eventId":"e","sessionId":"s"}{}`, hmacverify.Event{}, "invalid character"},
		{"trailing comma", `{"eventId":"e","sessionId":"s",}`, hmacverify.Event{}, "invalid character"},
		{"truncated", `{"eventId":"e","sessionId":"s"`, hmacverify.Event{}, "unexpected end"},
		{"empty", ``, hmacverify.Event{}, "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := hmacverify.ParseEvent([]byte(tt.body))
			if tt.err == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.want, ev)
				return
			}
			assert.ErrorIs(t, err, hmacverify.ErrMalformed)
			assert.ErrorContains(t, err, tt.err)
			assert.Zero(t, ev)
		})
	}
}

func TestEventTime(t *testing.T) {
	want := time.Date(2024, 3, 13, 20, 25, 39, 734e6, time.UTC)
	tests := []struct {
		date string
		want time.Time // zero: not a time
	}{
		{"2024-03-13T20:25:39.734Z", want},
		{"2024-3-13T20:25:39.734Z", want}, // the sample connector's README
		{"2024-03-13T20:25:39.734+0000", want},
		{"2024-03-13T21:25:39.734+01:00", want},
		{"2024-03-13T21:25:39.734+0100", want},
		{"2024-03-13T20:25:39.734", want},
		{"2024-03-13T20:25:39.734123456Z", want.Add(123456)},
		{"1710361539734", want},
		{"0", time.UnixMilli(0).UTC()},
		{"", time.Time{}},
		{"yesterday", time.Time{}},
		{"18/03/2024", time.Time{}},
		{"-1710361539734", time.Time{}},
		{"1234567890123456", time.UnixMilli(1234567890123456).UTC()}, // 16 digits: the longest epoch form
		{"12345678901234567", time.Time{}},                           // 17 digits
		// 64 characters, the longest date read (fractional seconds may
		// have any number of digits), and one more.
		{"2024-03-13T20:25:39.734" + strings.Repeat("0", 40) + "Z", want},
		{"2024-03-13T20:25:39.734" + strings.Repeat("0", 41) + "Z", time.Time{}},
		{"2024-13-13T20:25:39Z", time.Time{}},
	}
	for _, tt := range tests {
		got, ok := hmacverify.Event{EventDate: tt.date}.Time()
		assert.Equal(t, !tt.want.IsZero(), ok, tt.date)
		assert.True(t, tt.want.Equal(got), "%s: %v", tt.date, got)
	}
}
