package fcmtest

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode"
)

// FCM's v1 API reads proto3 JSON: a field may be named by its proto name
// (snake_case, "collapse_key") or by its JSON name (lowerCamelCase,
// "collapseKey", what Google's REST reference shows), exactly (names are
// case-sensitive), but not by both, nor twice. The fake's structs carry the
// proto names; canonicalNames rewrites a request to them before it is
// decoded.

// field is a field of a message of the FCM v1 schema.
type field struct {
	name string // proto name: the JSON tag of the fake's struct field
	json string // lowerCamelCase JSON name
	bit  uint64 // the field's bit among its message's fields
	sub  fields // the fields of a message-typed field, nil otherwise
	// conv, when set, returns the canonical form of a value of the field
	// other than null, or false for an invalid one.
	conv func(v []byte) ([]byte, bool)
	typ  string // the field's proto type, for errors about its value
}

// fields maps both names of each field of a message to the field.
type fields map[string]*field

// requestFields are the fields of a send request. Built once, never
// modified.
var requestFields = func() fields {
	msg := structFields(reflect.TypeFor[Message]())
	// Kept as raw JSON by the fake, but messages of the schema: their
	// fields have two names too.
	msg["android"].sub["notification"].sub["light_settings"].sub = newFields(
		&field{name: "color"}, // google.type.Color: red, green, blue, alpha
		&field{name: "light_on_duration"},
		&field{name: "light_off_duration"},
	)
	// proto3 JSON reads an enum from its name or its number and an int32
	// from a number or a decimal string; the fake records the name and the
	// number.
	android := msg["android"].sub
	android["priority"].conv = enumConv("NORMAL", "HIGH")
	android["priority"].typ = "type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority"
	an := android["notification"].sub
	an["notification_priority"].conv = enumConv("PRIORITY_UNSPECIFIED", "PRIORITY_MIN", "PRIORITY_LOW",
		"PRIORITY_DEFAULT", "PRIORITY_HIGH", "PRIORITY_MAX")
	an["notification_priority"].typ = "type.googleapis.com/google.firebase.fcm.v1.AndroidNotification.NotificationPriority"
	an["visibility"].conv = enumConv("VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET")
	an["visibility"].typ = "type.googleapis.com/google.firebase.fcm.v1.AndroidNotification.Visibility"
	an["notification_count"].conv = int32Conv
	an["notification_count"].typ = "TYPE_INT32"
	return newFields(
		&field{name: "validate_only"},
		&field{name: "message", sub: msg},
	)
}()

// enumConv converts an enum's number to its name; names are left as they
// are.
func enumConv(names ...string) func([]byte) ([]byte, bool) {
	return func(v []byte) ([]byte, bool) {
		if v[0] == '"' {
			return v, true
		}
		n, ok := int32Value(v)
		if !ok || n < 0 || int(n) >= len(names) {
			return nil, false
		}
		return []byte(`"` + names[n] + `"`), true
	}
}

// int32Conv converts an int32 given as a number or a decimal string to a
// number.
func int32Conv(v []byte) ([]byte, bool) {
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, false
		}
		v = []byte(s)
	}
	n, ok := int32Value(v)
	if !ok {
		return nil, false
	}
	return strconv.AppendInt(nil, int64(n), 10), true
}

// int32Value parses an integral JSON number within int32's range.
func int32Value(v []byte) (int32, bool) {
	n, err := strconv.ParseInt(string(v), 10, 32)
	return int32(n), err == nil
}

// newFields indexes fs by both of their names and numbers them.
func newFields(fs ...*field) fields {
	if len(fs) > 64 {
		panic("fcmtest: more than 64 fields in a message")
	}
	m := make(fields, 2*len(fs))
	for i, f := range fs {
		f.json = jsonName(f.name)
		f.bit = 1 << i
		m[f.name] = f
		m[f.json] = f
	}
	return m
}

// structFields returns the fields of the message the struct type t
// decodes: one per JSON-tagged struct field, with the fields of nested
// structs. Maps and raw JSON (google.protobuf.Struct) have free-form keys.
func structFields(t reflect.Type) fields {
	var fs []*field
	for _, sf := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		f := &field{name: name}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			f.sub = structFields(ft)
		}
		fs = append(fs, f)
	}
	return newFields(fs...)
}

// jsonName is protoc's JSON name of a field: underscores dropped, the
// letter after each one upper-cased.
func jsonName(proto string) string {
	var b strings.Builder
	up := false
	for _, r := range proto {
		if r == '_' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// canonicalNames returns the JSON value v, which must be valid, with the
// fields of its messages (per fs) under their proto names: only those names
// are rewritten, and v itself is returned when none needs to be. It refuses
// a name that is neither of a field's two, and a field given twice. A value
// of the wrong type is left for the decoder to refuse.
func canonicalNames(v []byte, fs fields) ([]byte, *nameError) {
	s := scanner{b: v}
	s.space()
	if s.i == len(s.b) || s.b[s.i] != '{' {
		return v, nil
	}
	if err := s.object(fs); err != nil {
		return nil, err
	}
	if s.out == nil {
		return v, nil
	}
	return append(s.out, v[s.last:]...), nil
}

// nameError is a member name of a message that canonicalNames refuses.
type nameError struct {
	msg  string // dotted path of the message, "" for the request
	name string // the name as given; for a field given twice, its proto name
	dup  bool   // a field given twice, else an unknown name
	typ  string // for an invalid value of field name, the field's type
}

// apiError answers like FCM, whose field violation names the message for
// any problem inside it.
func (e *nameError) apiError() *apiError {
	field := ""
	if e.msg != "" {
		field = "message"
	}
	if e.typ != "" {
		path := e.name
		if e.msg != "" {
			path = e.msg + "." + e.name
		}
		return badRequest(path, "Invalid value at '"+path+"' ("+e.typ+")")
	}
	if e.dup {
		path := e.name
		if e.msg != "" {
			path = e.msg + "." + e.name
		}
		return badRequest(field, "Invalid JSON payload received. Field '"+path+"' is set more than once.")
	}
	at := ""
	if e.msg != "" {
		at = " at '" + e.msg + "'"
	}
	return badRequest(field, "Invalid JSON payload received. Unknown name "+strconv.Quote(truncate(e.name, 100))+at+": Cannot find field.")
}

// within prefixes the path of e's message with the field holding it.
func (e *nameError) within(name string) *nameError {
	if e.msg == "" {
		e.msg = name
	} else {
		e.msg = name + "." + e.msg
	}
	return e
}

// scanner walks valid JSON, splicing renamed member names into a copy.
type scanner struct {
	b    []byte
	i    int
	out  []byte // b up to last with names replaced; nil until one is
	last int
}

// rename replaces the name b[start:end] (quotes included) with name.
func (s *scanner) rename(start, end int, name string) {
	s.replace(start, end, []byte(`"`+name+`"`))
}

// replace replaces b[start:end] with v.
func (s *scanner) replace(start, end int, v []byte) {
	if s.out == nil {
		s.out = make([]byte, 0, len(s.b)+64)
	}
	s.out = append(s.out, s.b[s.last:start]...)
	s.out = append(s.out, v...)
	s.last = end
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str skips the string at s.i and reports whether it has escapes.
func (s *scanner) str() (escaped bool) {
	s.i++ // opening quote
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			escaped = true
			s.i += 2
		case '"':
			s.i++
			return escaped
		default:
			s.i++
		}
	}
	return escaped
}

// value skips the value at s.i.
func (s *scanner) value() {
	switch s.b[s.i] {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return
			}
		}
	default: // number, true, false, null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			s.i++
		}
	}
}

// object walks the object at s.i, a message of fields fs, putting its
// names in canonical form.
func (s *scanner) object(fs fields) *nameError {
	s.i++ // opening brace
	var seen uint64
	for {
		s.space()
		switch s.b[s.i] {
		case '}':
			s.i++
			return nil
		case ',':
			s.i++
			s.space()
		}
		start := s.i
		escaped := s.str()
		key := s.b[start+1 : s.i-1]
		var f *field
		if escaped {
			var k string
			if err := json.Unmarshal(s.b[start:s.i], &k); err != nil {
				return &nameError{name: string(key)}
			}
			if f = fs[k]; f == nil {
				return &nameError{name: k}
			}
		} else if f = fs[string(key)]; f == nil {
			return &nameError{name: string(key)}
		}
		if seen&f.bit != 0 {
			return &nameError{name: f.name, dup: true}
		}
		seen |= f.bit
		if escaped || string(key) != f.name {
			s.rename(start, s.i, f.name)
		}
		s.space()
		s.i++ // colon
		s.space()
		if f.sub != nil && s.b[s.i] == '{' {
			if err := s.object(f.sub); err != nil {
				return err.within(f.name)
			}
			continue
		}
		vstart := s.i
		s.value()
		if v := s.b[vstart:s.i]; f.conv != nil && string(v) != "null" {
			c, ok := f.conv(v)
			if !ok {
				return &nameError{name: f.name, typ: f.typ}
			}
			if string(c) != string(v) {
				s.replace(vstart, s.i, c)
			}
		}
	}
}
