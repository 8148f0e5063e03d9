package hmacverify

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Event is an AXP push notification event, the body of a callback request.
// It is a plain value, safe to copy and to share read-only between goroutines.
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
// eventDate is an RFC 3339 time string (or null). Member names match exactly
// (after unescaping); other members are ignored. eventId and sessionId must be
// non-empty. A repeated known member is rejected rather than resolved, so
// that every reader of the body agrees on the signed values. Strings decode
// as encoding/json decodes them.
//
// Errors match [ErrMalformed].
func ParseEvent(body []byte) (Event, error) {
	var ev Event
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		if err == nil { // unreachable: Valid and Unmarshal agree
			err = errors.New("invalid JSON")
		}
		return Event{}, malformed("%v", err)
	}
	// From here on the body is known to be valid JSON, which keeps the
	// scanner small.
	s := scanner{data: body}
	s.space()
	if s.peek() != '{' {
		return Event{}, malformed("body is not a JSON object")
	}
	s.pos++
	var seen [5]bool
	var date string
	for {
		s.space()
		if s.peek() == '}' {
			break
		}
		name := s.str()
		s.space()
		s.pos++ // ':'
		s.space()
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
		switch {
		case idx < 0:
			s.skip()
		case seen[idx]:
			return Event{}, malformed("repeated member %q", name)
		case s.peek() == '"':
			*dst = s.str()
		case s.peek() == 'n': // null
			s.skip()
		default:
			return Event{}, malformed("member %q is not a string", name)
		}
		if idx >= 0 {
			seen[idx] = true
		}
		s.space()
		if s.peek() == ',' {
			s.pos++
		}
	}
	if ev.EventID == "" {
		return Event{}, malformed("missing eventId")
	}
	if ev.SessionID == "" {
		return Event{}, malformed("missing sessionId")
	}
	if date != "" {
		t, err := time.Parse(time.RFC3339Nano, date)
		if err != nil {
			return Event{}, malformed("eventDate is not an RFC 3339 time")
		}
		ev.EventDate = t
	}
	return ev, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// scanner walks JSON that json.Valid accepted.
type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// str reads the string at s.pos. Plain ASCII strings are taken as they are;
// others are decoded by encoding/json, so escapes and invalid UTF-8 are
// handled exactly as there.
func (s *scanner) str() string {
	start := s.pos
	plain := true
	s.pos++
	for {
		c := s.data[s.pos]
		if c == '"' {
			break
		}
		if c == '\\' {
			plain = false
			s.pos++
		} else if c >= utf8.RuneSelf {
			plain = false
		}
		s.pos++
	}
	s.pos++
	if plain {
		return string(s.data[start+1 : s.pos-1])
	}
	var out string
	_ = json.Unmarshal(s.data[start:s.pos], &out) // a valid JSON string
	return out
}

// skip moves past the value at s.pos.
func (s *scanner) skip() {
	depth := 0
	for {
		switch c := s.peek(); c {
		case '"':
			s.skipString()
		case '{', '[':
			depth++
			s.pos++
		case '}', ']':
			depth--
			s.pos++
		case ',', ' ', '\t', '\n', '\r', 0:
			if depth == 0 {
				return
			}
			s.pos++
		default:
			s.pos++
		}
		if depth == 0 {
			switch s.peek() {
			case ',', '}', ' ', '\t', '\n', '\r', 0:
				return
			}
		}
	}
}

func (s *scanner) skipString() {
	s.pos++
	for s.data[s.pos] != '"' {
		if s.data[s.pos] == '\\' {
			s.pos++
		}
		s.pos++
	}
	s.pos++
}
