package provider_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/provider"
)

var tokenNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

type system struct {
	id   *provider.Identity
	auth provider.Authorization
}

func newSystem(t *testing.T, domain string) system {
	t.Helper()
	id, err := provider.Generate(provider.GenerateConfig{Domain: domain})
	require.NoError(t, err)
	a, err := id.Authorization()
	require.NoError(t, err)
	// The cloud side gets the authorization as JSON.
	parsed, err := provider.ParseAuthorization(a.JSON())
	require.NoError(t, err)
	return system{id, parsed}
}

func (s system) sign(t *testing.T, cfg provider.SignerConfig, extra map[string]any) string {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = fixedClock(tokenNow)
	}
	signer, err := s.id.Signer(cfg)
	require.NoError(t, err)
	tok, err := signer.Sign(extra)
	require.NoError(t, err)
	return tok
}

func (s system) verifier(t *testing.T, cfg provider.VerifierConfig) *provider.Verifier {
	t.Helper()
	cfg.Authorization = s.auth
	if cfg.Now == nil {
		cfg.Now = fixedClock(tokenNow.Add(time.Minute))
	}
	v, err := provider.NewVerifier(cfg)
	require.NoError(t, err)
	return v
}

func segment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

func TestSignAndVerify(t *testing.T) {
	sys := newSystem(t, "mycompany.com")
	tok := sys.sign(t, provider.SignerConfig{TTL: 10 * time.Minute, Audience: []string{"push.example"}, KeyID: "k1"},
		map[string]any{"sub": "sm1", "region": "emea"})

	header := segment(t, tok, 0)
	assert.Equal(t, "ES256", header["alg"])
	assert.Equal(t, "k1", header["kid"])
	payload := segment(t, tok, 1)
	assert.Equal(t, sys.id.SystemID, payload["iss"])
	assert.EqualValues(t, tokenNow.Unix(), payload["iat"])
	assert.EqualValues(t, tokenNow.Add(10*time.Minute).Unix(), payload["exp"])
	assert.Equal(t, "push.example", payload["aud"])
	assert.Equal(t, "emea", payload["region"])
	sig, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[2])
	require.NoError(t, err)
	assert.Len(t, sig, 64, "JOSE ES256 signature is r||s, 64 bytes")

	claims, err := sys.verifier(t, provider.VerifierConfig{Audience: "push.example"}).Verify(tok)
	require.NoError(t, err)
	assert.Equal(t, sys.id.SystemID, claims.Issuer)
	assert.Equal(t, []string{"push.example"}, claims.Audience)
	assert.True(t, claims.IssuedAt.Equal(tokenNow))
	assert.True(t, claims.ExpiresAt.Equal(tokenNow.Add(10*time.Minute)))
	assert.Equal(t, "k1", claims.KeyID)
	assert.Equal(t, "sm1", claims.All["sub"])
	// Numbers are json.Number, as documented: a large integer claim keeps
	// every digit.
	assert.Equal(t, json.Number(strconv.FormatInt(tokenNow.Unix(), 10)), claims.All["iat"])
	js, err := json.Marshal(claims)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"region":"emea"`)

	// Without audience requirements, any aud is fine; several audiences work.
	tok = sys.sign(t, provider.SignerConfig{Audience: []string{"a", "b"}}, nil)
	assert.Equal(t, []any{"a", "b"}, segment(t, tok, 1)["aud"])
	assert.EqualValues(t, tokenNow.Add(provider.DefaultTokenTTL).Unix(), segment(t, tok, 1)["exp"])
	_, err = sys.verifier(t, provider.VerifierConfig{}).Verify(tok)
	assert.NoError(t, err)
	_, err = sys.verifier(t, provider.VerifierConfig{Audience: "b"}).Verify(tok)
	assert.NoError(t, err)
	_, hasKid := segment(t, tok, 0)["kid"]
	assert.False(t, hasKid)
}

// forge signs arbitrary claims and header with golang-jwt directly.
func forge(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func TestVerifyRejects(t *testing.T) {
	sys := newSystem(t, "mycompany.com")
	other := newSystem(t, "other.example")
	iss := sys.id.SystemID
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": iss, "iat": tokenNow.Unix(), "exp": tokenNow.Add(5 * time.Minute).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	noneTok := forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good(), nil)
	// Key confusion: HS256 keyed with the public key the verifier knows.
	hsTok := forge(t, jwt.SigningMethodHS256, []byte(sys.auth.PublicKey), good(), nil)
	goodTok := forge(t, jwt.SigningMethodES256, sys.id.Key, good(), nil)
	parts := strings.Split(goodTok, ".")
	// Header claims ES256 but says nothing else: a none-style token with the alg rewritten.
	strippedSig := parts[0] + "." + parts[1] + "."
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+iss+`","iat":1,"exp":99999999999}`)) + "." + parts[2]

	tests := []struct {
		name   string
		tok    string
		cfg    provider.VerifierConfig
		reason error
		jwtErr error
	}{
		{"alg none", noneTok, provider.VerifierConfig{}, provider.ErrTokenAlgorithm, nil},
		{"HS256 key confusion", hsTok, provider.VerifierConfig{}, provider.ErrTokenAlgorithm, nil},
		{"ES384", forge(t, jwt.SigningMethodES384, p384, good(), nil), provider.VerifierConfig{}, provider.ErrTokenAlgorithm, nil},
		{"RS256", forge(t, jwt.SigningMethodRS256, rsaKey, good(), nil), provider.VerifierConfig{}, provider.ErrTokenAlgorithm, nil},
		{"signed by another system's key", forge(t, jwt.SigningMethodES256, other.id.Key, good(), nil), provider.VerifierConfig{}, provider.ErrTokenSignature, jwt.ErrTokenSignatureInvalid},
		{"signature removed", strippedSig, provider.VerifierConfig{}, provider.ErrTokenSignature, nil},
		{"payload tampered", tampered, provider.VerifierConfig{}, provider.ErrTokenSignature, nil},
		{"wrong issuer", other.sign(t, provider.SignerConfig{Key: nil}, nil), provider.VerifierConfig{}, provider.ErrTokenSignature, nil},
		{"wrong issuer, right key", forge(t, jwt.SigningMethodES256, sys.id.Key, with("iss", other.id.SystemID), nil), provider.VerifierConfig{}, provider.ErrTokenIssuer, jwt.ErrTokenInvalidIssuer},
		{"no issuer", forge(t, jwt.SigningMethodES256, sys.id.Key, with("iss", nil), nil), provider.VerifierConfig{}, provider.ErrTokenIssuer, nil},
		{"expired", goodTok, provider.VerifierConfig{Now: fixedClock(tokenNow.Add(6 * time.Minute))}, provider.ErrTokenExpired, jwt.ErrTokenExpired},
		{"issued in the future", goodTok, provider.VerifierConfig{Now: fixedClock(tokenNow.Add(-time.Minute))}, provider.ErrTokenNotYetValid, nil},
		{"not before", forge(t, jwt.SigningMethodES256, sys.id.Key, with("nbf", tokenNow.Add(2*time.Minute).Unix()), nil), provider.VerifierConfig{}, provider.ErrTokenNotYetValid, nil},
		{"no exp", forge(t, jwt.SigningMethodES256, sys.id.Key, with("exp", nil), nil), provider.VerifierConfig{}, provider.ErrTokenClaims, nil},
		{"exp not a number", forge(t, jwt.SigningMethodES256, sys.id.Key, with("exp", "tomorrow"), nil), provider.VerifierConfig{}, provider.ErrTokenClaims, nil},
		{"no iat", forge(t, jwt.SigningMethodES256, sys.id.Key, with("iat", nil), nil), provider.VerifierConfig{}, provider.ErrTokenClaims, nil},
		{"lives too long", goodTok, provider.VerifierConfig{MaxLifetime: 4 * time.Minute}, provider.ErrTokenClaims, nil},
		{"audience missing", goodTok, provider.VerifierConfig{Audience: "push.example"}, provider.ErrTokenAudience, nil},
		{"audience wrong", forge(t, jwt.SigningMethodES256, sys.id.Key, with("aud", "elsewhere"), nil), provider.VerifierConfig{Audience: "push.example"}, provider.ErrTokenAudience, jwt.ErrTokenInvalidAudience},
		// The system's own key, but a header that names ES384: golang-jwt's
		// ES384 check would accept this signature (it does not compare
		// curves); the algorithm must be refused first.
		{"ES384 signed with the system's key", es384WithP256(t, sys.id.Key, good()), provider.VerifierConfig{}, provider.ErrTokenAlgorithm, nil},
		// The same signature bytes in a second spelling (unused bits of
		// the last base64 character set): signatures are not malleable.
		{"signature re-encoded", parts[0] + "." + parts[1] + "." + flipUnusedBits(t, parts[2]), provider.VerifierConfig{}, provider.ErrTokenMalformed, nil},
		{"not a JWT", "hello", provider.VerifierConfig{}, provider.ErrTokenMalformed, jwt.ErrTokenMalformed},
		{"empty", "", provider.VerifierConfig{}, provider.ErrTokenMalformed, nil},
		{"bad base64", "a.b.c", provider.VerifierConfig{}, provider.ErrTokenMalformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := sys.verifier(t, tt.cfg).Verify(tt.tok)
			assert.Nil(t, claims)
			require.Error(t, err)
			assert.ErrorIs(t, err, provider.ErrInvalidToken)
			assert.ErrorIs(t, err, tt.reason, "%v", err)
			if tt.jwtErr != nil {
				assert.ErrorIs(t, err, tt.jwtErr)
			}
			assert.NotContains(t, err.Error(), "\n")
		})
	}

	// Leeway tolerates clock skew both ways.
	lenient := sys.verifier(t, provider.VerifierConfig{Leeway: 2 * time.Minute, Now: fixedClock(tokenNow.Add(6 * time.Minute))})
	_, err = lenient.Verify(goodTok)
	assert.NoError(t, err)
	lenient = sys.verifier(t, provider.VerifierConfig{Leeway: 2 * time.Minute, Now: fixedClock(tokenNow.Add(-time.Minute))})
	_, err = lenient.Verify(goodTok)
	assert.NoError(t, err)

	// MaxLifetime around goodTok's lifetime of 5 minutes: a token that lives
	// exactly the maximum is accepted, one second too long is not.
	for _, tt := range []struct {
		max time.Duration
		ok  bool
	}{
		{5*time.Minute + time.Second, true},
		{5 * time.Minute, true},
		{5*time.Minute - time.Second, false},
	} {
		_, err := sys.verifier(t, provider.VerifierConfig{MaxLifetime: tt.max}).Verify(goodTok)
		if tt.ok {
			assert.NoError(t, err, "MaxLifetime %s", tt.max)
		} else {
			assert.ErrorIs(t, err, provider.ErrTokenClaims, "MaxLifetime %s", tt.max)
		}
	}
}

// es384WithP256 signs claims under the header alg ES384 with a P-256 key:
// SHA-384 of the signing input, r and s as 48 bytes each.
func es384WithP256(t *testing.T, key *ecdsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	hb, err := json.Marshal(map[string]string{"alg": "ES384", "typ": "JWT"})
	require.NoError(t, err)
	cb, err := json.Marshal(claims)
	require.NoError(t, err)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha512.Sum384([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	require.NoError(t, err)
	sig := make([]byte, 96)
	r.FillBytes(sig[:48])
	s.FillBytes(sig[48:])
	// Sanity: the signature is valid for the key over that digest.
	require.True(t, ecdsa.Verify(&key.PublicKey, sum[:], new(big.Int).SetBytes(sig[:48]), new(big.Int).SetBytes(sig[48:])))
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// flipUnusedBits re-spells a raw base64url segment whose length leaves
// unused bits in its last character: same bytes with a lenient decoder.
func flipUnusedBits(t *testing.T, seg string) string {
	t.Helper()
	require.NotZero(t, len(seg)%4, "no unused bits")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	require.GreaterOrEqual(t, last, 0)
	out := seg[:len(seg)-1] + string(alphabet[last^1])
	want, err := base64.RawURLEncoding.DecodeString(seg)
	require.NoError(t, err)
	got, err := base64.RawURLEncoding.DecodeString(out)
	require.NoError(t, err, "a lenient decoder accepts the re-spelling")
	require.Equal(t, want, got)
	return out
}

func TestSignerConfig(t *testing.T) {
	sys := newSystem(t, "mycompany.com")
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	tests := []struct {
		name  string
		cfg   provider.SignerConfig
		cause error
	}{
		{"no key", provider.SignerConfig{SystemID: sys.id.SystemID}, provider.ErrInvalidKey},
		{"P-384 key", provider.SignerConfig{Key: p384, SystemID: sys.id.SystemID}, provider.ErrInvalidKey},
		{"bad system id", provider.SignerConfig{Key: sys.id.Key, SystemID: "mycompany.com"}, provider.ErrInvalidSystemID},
		{"negative ttl", provider.SignerConfig{Key: sys.id.Key, SystemID: sys.id.SystemID, TTL: -time.Second}, nil},
	}
	for _, tt := range tests {
		_, err := provider.NewSigner(tt.cfg)
		assert.ErrorIs(t, err, provider.ErrInvalidConfig, tt.name)
		if tt.cause != nil {
			assert.ErrorIs(t, err, tt.cause, tt.name)
		}
	}
	signer, err := provider.NewSigner(provider.SignerConfig{Key: sys.id.Key, SystemID: sys.id.SystemID})
	require.NoError(t, err)
	for _, k := range []string{"iss", "iat", "exp", "aud"} {
		_, err := signer.Sign(map[string]any{k: "x"})
		assert.ErrorIs(t, err, provider.ErrReservedClaim, k)
	}
	_, err = signer.Sign(map[string]any{"bad": func() {}})
	assert.Error(t, err, "claims must be JSON-encodable")
	tok, err := signer.Sign(nil)
	require.NoError(t, err)
	_, err = sys.verifier(t, provider.VerifierConfig{Now: time.Now}).Verify(tok)
	assert.NoError(t, err, "default clock")
}

func TestVerifierConfig(t *testing.T) {
	sys := newSystem(t, "mycompany.com")
	bad := sys.auth
	bad.Alg = "HS256"
	for name, cfg := range map[string]provider.VerifierConfig{
		"empty":            {},
		"alg":              {Authorization: bad},
		"negative leeway":  {Authorization: sys.auth, Leeway: -1},
		"negative max age": {Authorization: sys.auth, MaxLifetime: -1},
	} {
		_, err := provider.NewVerifier(cfg)
		assert.ErrorIs(t, err, provider.ErrInvalidConfig, name)
	}
}
