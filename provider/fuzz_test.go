package provider_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pushwire/pushwire/provider"
)

func FuzzParseAuthorization(f *testing.F) {
	if data, err := os.ReadFile("testdata/manual-example.json"); err == nil {
		f.Add(data)
		f.Add([]byte(strings.Replace(string(data), `"ES256"`, `"ES256",`, 1)))
		if a, err := provider.ParseAuthorizationLenient(data); err == nil {
			f.Add(a.JSON())
		}
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"systemId": "a\u0041\"", "x": 1}`))
	f.Add([]byte("{\"systemId\"\n\"x\",,}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		strict, serr := provider.ParseAuthorization(data)
		lenient, lerr := provider.ParseAuthorizationLenient(data)
		for _, err := range []error{serr, lerr} {
			if err == nil {
				continue
			}
			var pe *provider.ParseError
			if !errors.As(err, &pe) || !errors.Is(err, provider.ErrInvalidAuthorization) {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			if pe.Line < 1 || pe.Column < 1 || pe.Offset < 0 || pe.Offset > len(data) {
				t.Fatalf("bad position %d:%d (offset %d of %d)", pe.Line, pe.Column, pe.Offset, len(data))
			}
			if pe.Line > strings.Count(string(data), "\n")+1 || pe.Column > utf8.RuneCount(data)+1 {
				t.Fatalf("position %d:%d outside the input", pe.Line, pe.Column)
			}
		}
		if serr != nil {
			return
		}
		// Strict mode accepts JSON only, and lenient mode all that strict mode accepts.
		if !json.Valid(data) {
			t.Fatalf("strict parser accepted invalid JSON %q", data)
		}
		if lerr != nil || lenient != strict {
			t.Fatalf("lenient mode disagrees: %v", lerr)
		}
		var viaStd map[string]string
		if err := json.Unmarshal(data, &viaStd); err != nil || len(viaStd) != 4 ||
			viaStd["systemId"] != strict.SystemID || viaStd["publicKey"] != strict.PublicKey ||
			viaStd["alg"] != strict.Alg || viaStd["description"] != strict.Description {
			t.Fatalf("encoding/json reads %q differently: %v %v", data, viaStd, err)
		}
		if err := strict.Validate(); err != nil {
			t.Fatalf("accepted an invalid authorization: %v", err)
		}
		again, err := provider.ParseAuthorization(strict.JSON())
		if err != nil || again != strict {
			t.Fatalf("re-encoded authorization does not round-trip: %v", err)
		}
	})
}
