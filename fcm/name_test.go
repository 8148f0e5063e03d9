package fcm

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		body string
		name string
		ok   bool
	}{
		{`{"name":"projects/p/messages/1"}`, "projects/p/messages/1", true},
		{"{\n  \"name\": \"projects/p/messages/0:1500415314455276%31bd1c9631bd1c96\"\n}\n", "projects/p/messages/0:1500415314455276%31bd1c9631bd1c96", true},
		{`{"name":""}`, "", true},
		{`{"name":"a\/b"}`, "", false},          // escape: left to encoding/json
		{`{"name":"é"}`, "", false},             // non-ASCII: left to encoding/json
		{`{"name":"a","x":1}`, "", false},       // other members
		{`{"Name":"a"}`, "", false},             // encoding/json matches keys case-insensitively
		{`{"name":"a"} x`, "", false},           // trailing data
		{`{"name":1}`, "", false},               // not a string
		{`{"name":"a"`, "", false},              // truncated
		{`{"name":"a`, "", false},               // truncated
		{``, "", false},                         // empty
		{`[]`, "", false},                       // not an object
		{`{"name" : "x" }`, "x", true},          // white space
		{"{\"name\":\"a\tb\"}", "", false},      // control character
		{`{"name":"a"}{"name":"b"}`, "", false}, // two values
	}
	for _, tt := range tests {
		name, ok := parseName([]byte(tt.body))
		assert.Equal(t, tt.ok, ok, tt.body)
		assert.Equal(t, tt.name, name, tt.body)
	}
}

// FuzzParseName checks that whatever parseName accepts, encoding/json
// decodes to the same name.
func FuzzParseName(f *testing.F) {
	f.Add([]byte(`{"name":"projects/p/messages/1"}`))
	f.Add([]byte("{\n  \"name\": \"projects/p/messages/0:1%2\"\n}\n"))
	f.Add([]byte(`{"name":"a\"b"}`))
	f.Add([]byte(`{"name":"a","name":"b"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		name, ok := parseName(body)
		if !ok {
			return
		}
		var v struct {
			Name string `json:"name"`
		}
		require.NoError(t, json.Unmarshal(body, &v), "%q", body)
		assert.Equal(t, v.Name, name, "%q", body)
	})
}
