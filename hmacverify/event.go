package hmacverify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Event is an AXP push notification event, the body of a callback request.
type Event struct {
	// EventID identifies the event. Required; covered by the signature.
	EventID string
	// ConversationID is the conversation the event belongs to. Not signed.
	ConversationID string
	// CustomerID identifies the customer. Not signed.
	CustomerID string
	// SessionID is the Omni SDK session to notify. Required; covered by the
	// signature.
	SessionID string
	// EventDate is when AXP created the event; zero when absent. Not signed.
	EventDate time.Time
}

// ParseEvent parses a callback body: a JSON object whose members eventId,
// conversationId, customerId and sessionId are strings (or null) and whose
// eventDate is an RFC 3339 time string (or null). Member names match exactly;
// other members are ignored. eventId and sessionId must be non-empty. A
// repeated known member is rejected rather than resolved, so that every
// reader of the body agrees on the signed values.
//
// Errors match [ErrMalformed].
func ParseEvent(body []byte) (Event, error) {
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return ev, malformed("%v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return ev, malformed("body is not a JSON object")
	}
	var seen [5]bool
	var date string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ev, malformed("%v", err)
		}
		name, _ := tok.(string) // object keys are always strings
		var dst *string
		idx := -1
		switch name {
		case "eventId":
			idx, dst = 0, &ev.EventID
		case "conversationId":
			idx, dst = 1, &ev.ConversationID
		case "customerId":
			idx, dst = 2, &ev.CustomerID
		case "sessionId":
			idx, dst = 3, &ev.SessionID
		case "eventDate":
			idx, dst = 4, &date
		}
		if idx < 0 {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return ev, malformed("%v", err)
			}
			continue
		}
		if seen[idx] {
			return ev, malformed("repeated member %q", name)
		}
		seen[idx] = true
		var v *string
		if err := dec.Decode(&v); err != nil {
			return ev, malformed("member %q: %v", name, err)
		}
		if v != nil {
			*dst = *v
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return ev, malformed("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ev, malformed("data after the JSON object")
	}
	if ev.EventID == "" {
		return ev, malformed("missing eventId")
	}
	if ev.SessionID == "" {
		return ev, malformed("missing sessionId")
	}
	if date != "" {
		t, err := time.Parse(time.RFC3339Nano, date)
		if err != nil {
			return ev, malformed("eventDate is not an RFC 3339 time")
		}
		ev.EventDate = t
	}
	return ev, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
