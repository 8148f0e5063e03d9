package provider

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Algorithm is the only signature algorithm of the authorization: ECDSA
// P-256 with SHA-256.
const Algorithm = "ES256"

// DefaultDescription is the description Session Manager exports.
const DefaultDescription = "Avaya Aura Session Manager"

// Authorization is the "Key to Export" of Session Manager: what the
// provider's cloud side needs to authenticate a system. Its JSON form has
// exactly the members systemId, publicKey, alg and description. It is a plain
// value, safe to copy and to share read-only between goroutines.
type Authorization struct {
	// SystemID is "<uuid>.<company domain>".
	SystemID string `json:"systemId"`
	// PublicKey is the PEM "PUBLIC KEY" (SubjectPublicKeyInfo) block of the
	// system's P-256 key; in JSON its newlines are written \n.
	PublicKey string `json:"publicKey"`
	// Alg is always "ES256".
	Alg string `json:"alg"`
	// Description is free text.
	Description string `json:"description"`
}

// NewAuthorization returns the authorization of a system.
func NewAuthorization(systemID string, pub *ecdsa.PublicKey, description string) (Authorization, error) {
	if _, _, err := ParseSystemID(systemID); err != nil {
		return Authorization{}, err
	}
	p, err := MarshalPublicKey(pub)
	if err != nil {
		return Authorization{}, err
	}
	return Authorization{SystemID: systemID, PublicKey: p, Alg: Algorithm, Description: description}, nil
}

// JSON returns a as indented, valid JSON with the members in the manual's
// order, followed by a newline. Characters such as < and & are not escaped.
func (a Authorization) JSON() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	_ = enc.Encode(a) // four strings cannot fail to encode
	return buf.Bytes()
}

// Validate checks that a could have been produced by this package: a valid
// system id, alg ES256 and a P-256 public key.
func (a Authorization) Validate() error {
	_, err := a.validate()
	return err
}

func (a Authorization) validate() (*ecdsa.PublicKey, error) {
	if _, _, err := ParseSystemID(a.SystemID); err != nil {
		return nil, err
	}
	if a.Alg != Algorithm {
		return nil, fmt.Errorf("%w: alg %q, want %q", ErrInvalidAuthorization, a.Alg, Algorithm)
	}
	return ParsePublicKey(a.PublicKey)
}

// Key returns the public key of a.
func (a Authorization) Key() (*ecdsa.PublicKey, error) { return ParsePublicKey(a.PublicKey) }

// UnmarshalJSON parses a strictly, as [ParseAuthorization] does, so that an
// Authorization embedded in a configuration file is checked as well. JSON
// null leaves a unchanged, as encoding/json does for other types.
func (a *Authorization) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	v, err := parseAuthorization(data, false)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseError reports a malformed or invalid authorization JSON. It matches
// [ErrInvalidAuthorization]. It is not modified after it is returned.
type ParseError struct {
	// Line and Column locate the problem, both counted from 1; columns count
	// characters, a tab being one.
	Line, Column int
	// Offset is the byte offset of the problem.
	Offset int
	// Msg describes the problem.
	Msg string
	// Err is the underlying error, if any (for example an ErrInvalidKey).
	Err error
}

// Error returns "provider: invalid authorization: line L column C: msg".
func (e *ParseError) Error() string {
	return fmt.Sprintf("%v: line %d column %d: %s", ErrInvalidAuthorization, e.Line, e.Column, e.Msg)
}

// Unwrap lets errors.Is match ErrInvalidAuthorization and the cause.
func (e *ParseError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidAuthorization, e.Err}
	}
	return []error{ErrInvalidAuthorization}
}

// ParseAuthorization parses an authorization JSON strictly: one JSON object
// with exactly the string members systemId, publicKey, alg and description,
// each once, alg "ES256", a valid system id and a P-256 public key. Errors
// are *ParseError values that name the line and column.
func ParseAuthorization(data []byte) (Authorization, error) {
	return parseAuthorization(data, false)
}

// ParseAuthorizationLenient is [ParseAuthorization] that also accepts the
// two mistakes of the example in Avaya's manual, which administrators paste:
// members not separated by a comma, and a comma after the last member.
// Everything else is as strict.
func ParseAuthorizationLenient(data []byte) (Authorization, error) {
	return parseAuthorization(data, true)
}

// members lists the authorization's members in their canonical order.
var members = [...]string{"systemId", "publicKey", "alg", "description"}

func parseAuthorization(data []byte, lenient bool) (Authorization, error) {
	p := &parser{data: data, lenient: lenient}
	var values [len(members)]string
	var at [len(members)]int // offset of each member's value
	for i := range at {
		at[i] = -1
	}
	end, err := p.object(func(name string, nameAt int, value string, valueAt int) error {
		for i, m := range members {
			if m == name {
				if at[i] >= 0 {
					return p.errorf(nameAt, nil, "member %q repeated", name)
				}
				values[i], at[i] = value, valueAt
				return nil
			}
		}
		return p.errorf(nameAt, nil, "unknown member %q (want systemId, publicKey, alg, description)", name)
	})
	if err != nil {
		return Authorization{}, err
	}
	for i, m := range members {
		if at[i] < 0 {
			return Authorization{}, p.errorf(end, nil, "missing member %q", m)
		}
	}
	a := Authorization{SystemID: values[0], PublicKey: values[1], Alg: values[2], Description: values[3]}
	if _, _, err := ParseSystemID(a.SystemID); err != nil {
		return Authorization{}, p.errorf(at[0], err, "systemId: %v", err)
	}
	if _, err := ParsePublicKey(a.PublicKey); err != nil {
		return Authorization{}, p.errorf(at[1], err, "publicKey: %v", err)
	}
	if a.Alg != Algorithm {
		return Authorization{}, p.errorf(at[2], nil, "alg is %q, want %q", a.Alg, Algorithm)
	}
	return a, nil
}

// parser reads one JSON object of string members.
type parser struct {
	data    []byte
	pos     int
	lenient bool
}

func (p *parser) errorf(offset int, cause error, format string, args ...any) *ParseError {
	if offset > len(p.data) {
		offset = len(p.data)
	}
	line, col := 1, 1
	for _, r := range string(p.data[:offset]) {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &ParseError{Line: line, Column: col, Offset: offset, Msg: fmt.Sprintf(format, args...), Err: cause}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end of the input.
func (p *parser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *parser) found() string {
	if p.pos >= len(p.data) {
		return "end of input"
	}
	r, _ := utf8.DecodeRune(p.data[p.pos:])
	return fmt.Sprintf("%q", r)
}

// object parses the whole input as one object, calling member for each
// member, and returns the offset of the closing brace.
func (p *parser) object(member func(name string, nameAt int, value string, valueAt int) error) (int, error) {
	p.skipSpace()
	if p.peek() != '{' {
		return 0, p.errorf(p.pos, nil, "expected '{' to begin the object, found %s", p.found())
	}
	p.pos++
	p.skipSpace()
	end := -1
	if p.peek() == '}' {
		end = p.pos
		p.pos++
	}
	for end < 0 {
		p.skipSpace()
		nameAt := p.pos
		if p.peek() != '"' {
			return 0, p.errorf(p.pos, nil, "expected a member name in double quotes, found %s", p.found())
		}
		name, err := p.str()
		if err != nil {
			return 0, err
		}
		p.skipSpace()
		if p.peek() != ':' {
			return 0, p.errorf(p.pos, nil, "expected ':' after member name %q, found %s", name, p.found())
		}
		p.pos++
		p.skipSpace()
		valueAt := p.pos
		if p.peek() != '"' {
			return 0, p.errorf(p.pos, nil, "member %q: expected a string value, found %s", name, p.found())
		}
		value, err := p.str()
		if err != nil {
			return 0, err
		}
		if err := member(name, nameAt, value, valueAt); err != nil {
			return 0, err
		}
		p.skipSpace()
		switch p.peek() {
		case '}':
			end = p.pos
			p.pos++
		case ',':
			comma := p.pos
			p.pos++
			p.skipSpace()
			if p.peek() == '}' {
				if !p.lenient {
					return 0, p.errorf(comma, nil, "trailing comma after the last member")
				}
				end = p.pos
				p.pos++
			}
		case '"':
			if !p.lenient {
				return 0, p.errorf(p.pos, nil, "expected ',' or '}' after member %q, found '\"' (missing comma?)", name)
			}
		default:
			return 0, p.errorf(p.pos, nil, "expected ',' or '}' after member %q, found %s", name, p.found())
		}
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return 0, p.errorf(p.pos, nil, "unexpected %s after the object", p.found())
	}
	return end, nil
}

// str reads a JSON string starting at the opening quote.
func (p *parser) str() (string, error) {
	start := p.pos
	p.pos++
	for {
		if p.pos >= len(p.data) {
			return "", p.errorf(start, nil, "unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			raw := p.data[start:p.pos]
			if !utf8.Valid(raw) {
				return "", p.errorf(start, nil, "string is not valid UTF-8")
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", p.errorf(start, nil, "invalid string: %v", err)
			}
			return s, nil
		case c == '\\':
			p.pos += 2
		case c == '\n':
			return "", p.errorf(p.pos, nil, "line break inside a string (write \\n)")
		case c < 0x20:
			return "", p.errorf(p.pos, nil, "control character %q inside a string", rune(c))
		default:
			p.pos++
		}
	}
}
