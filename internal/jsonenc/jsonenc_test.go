package jsonenc_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/internal/jsonenc"
)

func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"":           `""`,
		"plain":      `"plain"`,
		"q\"b\\":     `"q\"b\\"`,
		"\n\r\t\x01": `"\n\r\t\u0001"`,
		"\xff":       `"\ufffd"`,
		"\u2028":     `"\u2028"`,
		"é☃":         `"é☃"`,
	} {
		assert.Equal(t, want, string(jsonenc.AppendString(nil, in)), "%q", in)
	}
	assert.Equal(t, `x"y"`, string(jsonenc.AppendString([]byte("x"), "y")))
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		var buf [64]byte
		_ = jsonenc.AppendString(buf[:0], "no \"allocation\" here")
	}))
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x1f\x7f", "\xff", "é☃😀", "\u2028", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := jsonenc.AppendString(nil, s)
		var back string
		require.NoError(t, json.Unmarshal(out, &back), "%q", out)
		want := s
		if !utf8.ValidString(s) {
			want = strings.ToValidUTF8(s, "\ufffd")
			// encoding/json replaces each invalid byte separately.
			ref, _ := json.Marshal(s)
			require.NoError(t, json.Unmarshal(ref, &want))
		}
		assert.Equal(t, want, back)
	})
}

// AppendKey separates members with commas; AppendStrings writes arrays that
// encoding/json reads back.
func TestAppendKeyAndStrings(t *testing.T) {
	first := true
	b := []byte{'{'}
	b = jsonenc.AppendKey(b, &first, "a")
	b = jsonenc.AppendStrings(b, []string{"x", "y\"z"})
	b = jsonenc.AppendKey(b, &first, "b")
	b = jsonenc.AppendStrings(b, []string{})
	b = jsonenc.AppendKey(b, &first, "c")
	b = jsonenc.AppendStrings(b, nil)
	b = append(b, '}')
	assert.Equal(t, `{"a":["x","y\"z"],"b":[],"c":[]}`, string(b))
	var got map[string][]string
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, []string{"x", `y"z`}, got["a"])
	assert.False(t, first)
}
