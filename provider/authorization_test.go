package provider_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/provider"
)

// manualExample is the example "Key to Export" of the Avaya Session Manager
// manual, byte for byte: it lacks the comma after "alg" and has one after
// "description".
func manualExample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/manual-example.json")
	require.NoError(t, err)
	return data
}

const manualKey = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9rtz4fuYhGm2JlvnI6lZmate8eEX\na4wvmklSdHGYZHos7y8xNBNCEj9wc3klayOKHYIVIeL0ryVFgM16Ud5FDQ==\n-----END PUBLIC KEY-----"

func TestManualExample(t *testing.T) {
	data := manualExample(t)
	require.False(t, json.Valid(data), "the manual's example is not JSON")

	_, err := provider.ParseAuthorization(data)
	var pe *provider.ParseError
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, provider.ErrInvalidAuthorization)
	assert.Equal(t, 5, pe.Line, "the member after alg")
	assert.Equal(t, 2, pe.Column)
	assert.Contains(t, err.Error(), "line 5 column 2")
	assert.Contains(t, err.Error(), "missing comma")

	a, err := provider.ParseAuthorizationLenient(data)
	require.NoError(t, err)
	assert.Equal(t, provider.Authorization{
		SystemID:    "9bf8f4ab-99b1-452b-9b7f-e75aacf31d19.mycompany.com",
		PublicKey:   manualKey,
		Alg:         "ES256",
		Description: "Avaya Aura Session Manager",
	}, a)
	_, err = a.Key()
	assert.NoError(t, err)

	// Re-emitted, it is valid JSON that the strict parser accepts.
	out := a.JSON()
	assert.True(t, json.Valid(out))
	again, err := provider.ParseAuthorization(out)
	require.NoError(t, err)
	assert.Equal(t, a, again)

	// Each mistake alone: strict refuses, lenient accepts.
	fixedComma := strings.Replace(string(data), `"ES256"`, `"ES256",`, 1)
	noTrailing := strings.Replace(string(data), `Manager",`, `Manager"`, 1)
	for name, doc := range map[string]string{"trailing comma only": fixedComma, "missing comma only": noTrailing} {
		_, err := provider.ParseAuthorization([]byte(doc))
		assert.ErrorIs(t, err, provider.ErrInvalidAuthorization, name)
		_, err = provider.ParseAuthorizationLenient([]byte(doc))
		assert.NoError(t, err, name)
	}
	both := strings.Replace(fixedComma, `Manager",`, `Manager"`, 1)
	_, err = provider.ParseAuthorization([]byte(both))
	assert.NoError(t, err, "with both mistakes fixed the example is valid")
}

func TestAuthorizationJSON(t *testing.T) {
	id, err := provider.Generate(provider.GenerateConfig{Domain: "Example.COM", Description: `R&D <lab> "east"`})
	require.NoError(t, err)
	a, err := id.Authorization()
	require.NoError(t, err)
	out := a.JSON()
	require.True(t, json.Valid(out))
	assert.True(t, strings.HasSuffix(string(out), "}\n"))
	assert.Contains(t, string(out), `R&D <lab> \"east\"`, "no HTML escaping")
	assert.Contains(t, string(out), `-----BEGIN PUBLIC KEY-----\n`, "PEM newlines written \\n")

	var m map[string]any
	require.NoError(t, json.Unmarshal(out, &m))
	assert.Len(t, m, 4)
	for _, k := range []string{"systemId", "publicKey", "alg", "description"} {
		assert.IsType(t, "", m[k], k)
	}
	assert.Equal(t, "ES256", m["alg"])
	assert.Equal(t, id.SystemID, m["systemId"])
	assert.True(t, strings.HasSuffix(id.SystemID, ".example.com"))
	pub, err := provider.ParsePublicKey(m["publicKey"].(string))
	require.NoError(t, err)
	assert.True(t, id.Key.PublicKey.Equal(pub))

	// Members in the manual's order.
	s := string(out)
	assert.True(t, strings.Index(s, `"systemId"`) < strings.Index(s, `"publicKey"`) &&
		strings.Index(s, `"publicKey"`) < strings.Index(s, `"alg"`) &&
		strings.Index(s, `"alg"`) < strings.Index(s, `"description"`))

	// json.Marshal and json.Unmarshal (strict) agree with the package.
	plain, err := json.Marshal(a)
	require.NoError(t, err)
	var back provider.Authorization
	require.NoError(t, json.Unmarshal(plain, &back))
	assert.Equal(t, a, back)
	assert.NoError(t, back.Validate())
}

func TestGenerateDefaults(t *testing.T) {
	id, err := provider.Generate(provider.GenerateConfig{Domain: "mycompany.com"})
	require.NoError(t, err)
	assert.Equal(t, provider.DefaultDescription, id.Description)
	assert.Regexp(t, systemIDPattern, id.SystemID)
	_, err = provider.Generate(provider.GenerateConfig{Domain: "my company"})
	assert.ErrorIs(t, err, provider.ErrInvalidDomain)
	_, err = (&provider.Identity{SystemID: id.SystemID}).Authorization()
	assert.ErrorIs(t, err, provider.ErrInvalidKey)
	_, err = provider.NewAuthorization("not-a-system-id", &id.Key.PublicKey, "")
	assert.ErrorIs(t, err, provider.ErrInvalidSystemID)
}

func TestParseAuthorizationErrors(t *testing.T) {
	const sid = `"systemId": "9bf8f4ab-99b1-452b-9b7f-e75aacf31d19.mycompany.com"`
	const key = `"publicKey": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9rtz4fuYhGm2JlvnI6lZmate8eEX\na4wvmklSdHGYZHos7y8xNBNCEj9wc3klayOKHYIVIeL0ryVFgM16Ud5FDQ==\n-----END PUBLIC KEY-----"`
	obj := func(members ...string) string { return "{\n\t" + strings.Join(members, ",\n\t") + "\n}" }
	valid := obj(sid, key, `"alg": "ES256"`, `"description": "x"`)
	_, err := provider.ParseAuthorization([]byte(valid))
	require.NoError(t, err)

	tests := []struct {
		name      string
		doc       string
		line, col int
		msg       string
		lenientOK bool
		cause     error
	}{
		{"empty", "", 1, 1, "expected '{'", false, nil},
		{"array", `["x"]`, 1, 1, "expected '{'", false, nil},
		{"empty object", "{ }", 1, 3, `missing member "systemId"`, false, nil},
		{"unknown member", obj(sid, key, `"alg": "ES256"`, `"description": "x"`, `"extra": "y"`), 6, 2, `unknown member "extra"`, false, nil},
		{"member name case", obj(sid, key, `"ALG": "ES256"`, `"description": "x"`), 4, 2, `unknown member "ALG"`, false, nil},
		{"missing description", obj(sid, key, `"alg": "ES256"`), 5, 1, `missing member "description"`, false, nil},
		{"repeated member", obj(sid, key, `"alg": "ES256"`, `"alg": "ES256"`, `"description": "x"`), 5, 2, `member "alg" repeated`, false, nil},
		{"wrong alg", obj(sid, key, `"alg": "HS256"`, `"description": "x"`), 4, 9, `alg is "HS256"`, false, nil},
		{"alg lower-case", obj(sid, key, `"alg": "es256"`, `"description": "x"`), 4, 9, `alg is "es256"`, false, nil},
		{"number value", obj(sid, key, `"alg": 256`, `"description": "x"`), 4, 9, "expected a string value", false, nil},
		{"null value", obj(sid, key, `"alg": null`, `"description": "x"`), 4, 9, "expected a string value", false, nil},
		{"bad system id", obj(`"systemId": "mycompany.com"`, key, `"alg": "ES256"`, `"description": "x"`), 2, 14, "systemId", false, provider.ErrInvalidSystemID},
		{"bad domain in system id", obj(`"systemId": "9bf8f4ab-99b1-452b-9b7f-e75aacf31d19.my company"`, key, `"alg": "ES256"`, `"description": "x"`), 2, 14, "systemId", false, provider.ErrInvalidDomain},
		{"bad key", obj(sid, `"publicKey": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"`, `"alg": "ES256"`, `"description": "x"`), 3, 15, "publicKey", false, provider.ErrInvalidKey},
		{"raw line break in string", "{\n\t" + sid + ",\n\t\"publicKey\": \"-----BEGIN PUBLIC KEY-----\nMFkw\"}", 3, 42, "line break inside a string", false, nil},
		{"tab in string", "{\"systemId\": \"a\tb\"}", 1, 16, "control character", false, nil},
		{"bad escape", `{"systemId": "a\qb"}`, 1, 14, "invalid string", false, nil},
		{"unterminated", `{"systemId": "abc`, 1, 14, "unterminated string", false, nil},
		{"no colon", `{"systemId" "abc"}`, 1, 13, "expected ':'", false, nil},
		{"unquoted name", `{systemId: "abc"}`, 1, 2, "expected a member name", false, nil},
		{"single quotes", `{'systemId': 'abc'}`, 1, 2, "expected a member name", false, nil},
		{"comment", "{ // comment\n}", 1, 3, "expected a member name", false, nil},
		{"data after", valid + "x", 6, 2, "after the object", false, nil},
		{"two objects", valid + valid, 6, 2, "after the object", false, nil},
		{"end of input", "{\n" + sid, 2, 65, "end of input", false, nil},
		{"two trailing commas", obj(sid, key, `"alg": "ES256"`, `"description": "x",,`), 5, 21, "expected a member name", false, nil},
		{"leading comma", "{," + sid + "}", 1, 2, "expected a member name", false, nil},
		{"semicolon", obj(sid, key, `"alg": "ES256";"description": "x"`), 4, 16, "expected ',' or '}'", false, nil},
		{"invalid UTF-8", "{\"systemId\": \"\xff\"}", 1, 14, "not valid UTF-8", false, nil},
		{"UTF-8 columns", "{\"déscription\" \"x\"}", 1, 16, "expected ':'", false, nil},
		{"trailing comma", obj(sid, key, `"alg": "ES256"`, `"description": "x",`), 5, 20, "trailing comma", true, nil},
		{"missing comma", strings.Replace(valid, `"ES256",`, `"ES256"`, 1), 5, 2, "missing comma", true, nil},
		{"all commas missing", strings.ReplaceAll(valid, "\",\n", "\"\n"), 3, 2, "missing comma", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := provider.ParseAuthorization([]byte(tt.doc))
			var pe *provider.ParseError
			require.ErrorAs(t, err, &pe)
			assert.ErrorIs(t, err, provider.ErrInvalidAuthorization)
			assert.Equal(t, [2]int{tt.line, tt.col}, [2]int{pe.Line, pe.Column}, "line, column of %v", err)
			assert.Contains(t, pe.Msg, tt.msg)
			assert.False(t, strings.Contains(err.Error(), "\n"), "one-line error")
			if tt.cause != nil {
				assert.ErrorIs(t, err, tt.cause)
			}
			_, lerr := provider.ParseAuthorizationLenient([]byte(tt.doc))
			if tt.lenientOK {
				assert.NoError(t, lerr)
			} else {
				assert.ErrorIs(t, lerr, provider.ErrInvalidAuthorization, "lenient mode accepts only the manual's mistakes")
			}
		})
	}
}

func TestAuthorizationValidate(t *testing.T) {
	id, err := provider.Generate(provider.GenerateConfig{Domain: "mycompany.com"})
	require.NoError(t, err)
	a, err := id.Authorization()
	require.NoError(t, err)
	require.NoError(t, a.Validate())
	bad := a
	bad.Alg = "none"
	assert.ErrorIs(t, bad.Validate(), provider.ErrInvalidAuthorization)
	bad = a
	bad.SystemID = "x"
	assert.ErrorIs(t, bad.Validate(), provider.ErrInvalidSystemID)
	bad = a
	bad.PublicKey = ""
	assert.ErrorIs(t, bad.Validate(), provider.ErrInvalidKey)

	var into provider.Authorization
	err = json.Unmarshal([]byte(`{"systemId":"x"}`), &into)
	assert.ErrorIs(t, err, provider.ErrInvalidAuthorization)
	var pe *provider.ParseError
	assert.True(t, errors.As(err, &pe))

	// null leaves the value as it is, as encoding/json does for any type.
	var cfg struct {
		Auth *provider.Authorization `json:"auth"`
		Kept provider.Authorization  `json:"kept"`
	}
	cfg.Kept = a
	require.NoError(t, json.Unmarshal([]byte(`{"auth": null, "kept": null}`), &cfg))
	assert.Nil(t, cfg.Auth)
	assert.Equal(t, a, cfg.Kept)
}
