package lpns_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/lpns"
)

func TestJWTAuthenticator(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	a, err := lpns.NewJWTAuthenticator(lpns.JWTConfig{
		KeyFunc:  func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		Methods:  []string{"ES256"},
		Issuer:   "cucm.example",
		Audience: "lpns",
	})
	require.NoError(t, err)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "cucm.example", "aud": "lpns", "sub": "alice", "device_id": "phone-1", "exp": exp.Unix()}
	}
	sign := func(c jwt.MapClaims, k *ecdsa.PrivateKey) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(k)
		require.NoError(t, err)
		return s
	}
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, base()).SignedString([]byte("secret"))
	require.NoError(t, err)
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"valid", sign(base(), key), nil},
		{"empty", "", lpns.ErrTokenMissing},
		{"garbage", "a.b.c", lpns.ErrTokenInvalid},
		{"wrong key", sign(base(), other), lpns.ErrTokenInvalid},
		{"wrong alg", hs, lpns.ErrTokenInvalid},
		{"expired", sign(func() jwt.MapClaims { c := base(); c["exp"] = time.Now().Add(-time.Minute).Unix(); return c }(), key), lpns.ErrTokenExpired},
		{"no exp", sign(func() jwt.MapClaims { c := base(); delete(c, "exp"); return c }(), key), lpns.ErrTokenInvalid},
		{"wrong issuer", sign(func() jwt.MapClaims { c := base(); c["iss"] = "evil"; return c }(), key), lpns.ErrTokenInvalid},
		{"wrong audience", sign(func() jwt.MapClaims { c := base(); c["aud"] = "other"; return c }(), key), lpns.ErrTokenInvalid},
		{"no device", sign(func() jwt.MapClaims { c := base(); delete(c, "device_id"); return c }(), key), lpns.ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := a.Authenticate(context.Background(), nil, tt.token)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
				if tt.token != "" {
					assert.NotContains(t, err.Error(), tt.token)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, lpns.Identity{DeviceID: "phone-1", UserID: "alice", ExpiresAt: exp}, lpns.Identity{DeviceID: id.DeviceID, UserID: id.UserID, ExpiresAt: id.ExpiresAt.Local()})
		})
	}
	_, err = lpns.NewJWTAuthenticator(lpns.JWTConfig{})
	assert.ErrorIs(t, err, pushwire.ErrConfiguration)
}

// "none" is never an accepted algorithm, alone or among others, in any
// letter case; unknown names are refused too.
func TestJWTAuthenticatorRefusesNone(t *testing.T) {
	keyFunc := func(*jwt.Token) (any, error) { return jwt.UnsafeAllowNoneSignatureType, nil }
	tests := []struct {
		name    string
		methods []string
		want    string
	}{
		{"none", []string{"none"}, `"none" is refused`},
		{"none among others", []string{"ES256", "HS256", "none"}, `"none" is refused`},
		{"upper case", []string{"NONE"}, `"NONE" is refused`},
		{"mixed case", []string{"ES256", "None"}, `"None" is refused`},
		{"unknown", []string{"ES265"}, `unknown jwt method "ES265"`},
		{"empty name", []string{"ES256", ""}, `unknown jwt method ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lpns.NewJWTAuthenticator(lpns.JWTConfig{KeyFunc: keyFunc, Methods: tt.methods})
			require.Error(t, err)
			assert.ErrorIs(t, err, pushwire.ErrConfiguration)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	a, err := lpns.NewJWTAuthenticator(lpns.JWTConfig{KeyFunc: keyFunc, Methods: []string{"ES256", "HS256"}})
	require.NoError(t, err)
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"device_id": "phone-1",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	_, err = a.Authenticate(context.Background(), nil, unsigned)
	assert.ErrorIs(t, err, lpns.ErrTokenInvalid, "an unsigned token is refused")
}

func TestJWTAuthenticatorOnServer(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	a, err := lpns.NewJWTAuthenticator(lpns.JWTConfig{KeyFunc: func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		Methods: []string{"ES256"}, DeviceClaim: "dev", UserClaim: "user"})
	require.NoError(t, err)
	srv := newTestServer(t, lpns.Config{Authenticator: a})
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"dev": "phone-9", "user": "bob",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString(key)
	require.NoError(t, err)
	_, hello := rawDial(t, srv.url, tok)
	assert.Equal(t, "phone-9", hello.DeviceID)
	assert.Equal(t, "bob", srv.Sessions()[0].UserID)
}
