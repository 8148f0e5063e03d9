package fcm

import "bytes"

// parseName reads the message name from FCM's success answer,
// {"name": "projects/…/messages/…"}, without encoding/json. ok is false
// when the body has any other shape (other members, escapes, non-ASCII);
// the caller then decodes it with encoding/json.
func parseName(b []byte) (name string, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return "", false
	}
	i = skipSpace(b, i+1)
	if !bytes.HasPrefix(b[i:], []byte(`"name"`)) {
		return "", false
	}
	i = skipSpace(b, i+len(`"name"`))
	if i >= len(b) || b[i] != ':' {
		return "", false
	}
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] != '"' {
		return "", false
	}
	i++
	start := i
	for ; i < len(b) && b[i] != '"'; i++ {
		if c := b[i]; c == '\\' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	if i >= len(b) {
		return "", false
	}
	end := i
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] != '}' || skipSpace(b, i+1) != len(b) {
		return "", false
	}
	return string(b[start:end]), true
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
