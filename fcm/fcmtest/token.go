package fcmtest

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// Scopes that authorize FCM sends.
	scopeMessaging     = "https://www.googleapis.com/auth/firebase.messaging"
	scopeCloudPlatform = "https://www.googleapis.com/auth/cloud-platform"
	maxTokenBody       = 16 << 10
	maxAssertionLife   = time.Hour
	clockSkew          = 5 * time.Minute
)

// tokenError answers like Google's OAuth2 token endpoint.
func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

type assertionClaims struct {
	Scope string `json:"scope"`
	jwt.RegisteredClaims
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokenReqs++
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "POST required")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "cannot parse the form body")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != jwtBearerGrant {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+truncate(gt, 64))
		return
	}
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		tokenError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: assertion")
		return
	}
	if err := s.verifyAssertion(assertion); err != nil {
		s.cfg.Logger.Debug("fcmtest: refused token request", "error", err)
		tokenError(w, http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}
	tok := "ya29.fcmtest." + randomToken()
	now := s.cfg.Now()
	s.mu.Lock()
	s.tokens[tok] = tokenInfo{expiry: now.Add(s.cfg.TokenLifetime)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_in":   int(s.cfg.TokenLifetime / time.Second),
		"token_type":   "Bearer",
	})
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// publicKey is the jwt.Keyfunc of both JWT checks: the service account's
// public key, provided the token names no other key id.
func (s *Server) publicKey(t *jwt.Token) (any, error) {
	if kid, ok := t.Header["kid"]; ok {
		if k, _ := kid.(string); k != s.keyID {
			return nil, errors.New("unknown key id")
		}
	}
	return &s.key.PublicKey, nil
}

// verifyAssertion checks the RS256 JWT a service account signs: signature
// by the fake's key, iss = client_email, aud = token_uri, a scope that
// covers FCM, and sane iat/exp.
func (s *Server) verifyAssertion(assertion string) error {
	var claims assertionClaims
	_, err := jwt.ParseWithClaims(assertion, &claims, s.publicKey,
		jwt.WithValidMethods([]string{"RS256"}),
		// Older Google auth libraries (google-auth for Python 1.x) pad
		// their base64url segments; Google accepts that.
		jwt.WithPaddingAllowed(),
		jwt.WithIssuer(s.cfg.ClientEmail),
		jwt.WithAudience(s.TokenURL()),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(s.cfg.Now),
	)
	if err != nil {
		return errors.New("invalid jwt: " + truncate(err.Error(), 200))
	}
	if claims.IssuedAt == nil {
		return errors.New("invalid jwt: iat is required")
	}
	if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life <= 0 || life > maxAssertionLife {
		return errors.New("invalid jwt: exp must be after iat and at most one hour later")
	}
	scopes := strings.Fields(claims.Scope)
	if !slices.Contains(scopes, scopeMessaging) && !slices.Contains(scopes, scopeCloudPlatform) {
		return errors.New("invalid jwt: the scope does not authorize Firebase Cloud Messaging")
	}
	return nil
}

// verifySelfSignedJWT accepts a JWT signed by the service account used
// directly as the bearer token, as Google APIs do ("self-signed JWT"; the
// Node.js and other auth libraries use it): RS256 by the fake's key, iss and
// sub = client_email, and either a scope covering FCM or an audience naming
// the FCM service (https://fcm.googleapis.com/ or the fake's URL).
func (s *Server) verifySelfSignedJWT(tok string) error {
	var claims assertionClaims
	_, err := jwt.ParseWithClaims(tok, &claims, s.publicKey,
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithPaddingAllowed(),
		jwt.WithIssuer(s.cfg.ClientEmail),
		jwt.WithSubject(s.cfg.ClientEmail),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(s.cfg.Now),
	)
	if err != nil {
		return err
	}
	if claims.IssuedAt == nil {
		return errors.New("iat is required")
	}
	if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life <= 0 || life > maxAssertionLife {
		return errors.New("exp must be after iat and at most one hour later")
	}
	scopes := strings.Fields(claims.Scope)
	if slices.Contains(scopes, scopeMessaging) || slices.Contains(scopes, scopeCloudPlatform) {
		return nil
	}
	for _, aud := range claims.Audience {
		switch strings.TrimSuffix(aud, "/") {
		case "https://fcm.googleapis.com", s.URL:
			return nil
		}
	}
	return errors.New("neither scope nor audience authorizes FCM")
}
