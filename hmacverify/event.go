package hmacverify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// EventDateLayout is the layout of the eventDate AXP sends: UTC with
// milliseconds, as JavaScript's Date.toISOString writes it. Simulators can
// format dates with it; [Event.Time] accepts it and other forms.
const EventDateLayout = "2006-01-02T15:04:05.000Z07:00"

// Event is an AXP push notification event, the body of a callback request.
// It is a plain value, safe to copy and to share read-only between goroutines
// (Extra is a map: do not modify one shared with others).
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
	// EventDate is eventDate exactly as received (after JSON unescaping),
	// whatever its form; empty when absent. [Event.Time] parses it. Not
	// signed.
	EventDate string
	// Extra holds the body's other members whose (last) value is a string,
	// by name, such as channel, engagementId or dialogId; nil when there are
	// none. Members of other types are left out. Not signed.
	Extra map[string]string
}

// eventDateLayouts are the forms [Event.Time] accepts besides epoch
// milliseconds. Month, day and hour may have one digit, fractional seconds
// any number of digits, and the offset is Z, ±hh:mm or ±hhmm; without an
// offset the time is UTC.
var eventDateLayouts = [...]string{
	"2006-1-2T15:04:05Z07:00",
	"2006-1-2T15:04:05Z0700",
	"2006-1-2T15:04:05",
}

// Time parses EventDate: an RFC 3339 time ("2024-03-18T11:00:24.481Z"),
// the same with one-digit fields ("2024-3-13T20:25:39.734Z") or an offset
// without a colon ("+0000"), or a decimal number of milliseconds since the
// Unix epoch ("1710361539734"). It reports false when EventDate is empty or
// none of these.
func (ev Event) Time() (time.Time, bool) {
	s := ev.EventDate
	if s == "" || len(s) > 64 {
		return time.Time{}, false
	}
	if digits(s) {
		if len(s) > 16 { // beyond year 318857: not a date
			return time.Time{}, false
		}
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.UnixMilli(ms).UTC(), true
	}
	for _, layout := range eventDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseEvent parses a callback body: a JSON object whose members eventId,
// conversationId, customerId, sessionId and eventDate are strings (or null,
// which counts as absent). Member names match exactly (after unescaping).
// eventId and sessionId must be non-empty. A repeated one of these five is
// rejected rather than resolved, so that every reader of the body agrees on
// the signed values. eventDate is kept as received, in any form (see
// [Event.Time]). Other members whose value is a string go to Extra (the last
// one wins when a name repeats, as in JavaScript); other members are
// ignored. Strings decode as encoding/json decodes them.
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
			idx, dst = 4, &ev.EventDate
		}
		switch {
		case idx < 0 && s.peek() == '"':
			if ev.Extra == nil {
				ev.Extra = make(map[string]string)
			}
			ev.Extra[name] = s.str()
		case idx < 0:
			delete(ev.Extra, name) // the last value decides
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
	if len(ev.Extra) == 0 {
		ev.Extra = nil
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
