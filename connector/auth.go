package connector

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// Authorizer decides whether a request may use a protected route. A nil error
// admits it; any error is answered with 401 and logged (never echoed).
// Implementations must be safe for concurrent use.
type Authorizer interface {
	Authorize(r *http.Request) error
}

// AuthorizerFunc adapts a function to [Authorizer]. It is safe for concurrent
// use when the function is.
type AuthorizerFunc func(r *http.Request) error

// Authorize calls f(r).
func (f AuthorizerFunc) Authorize(r *http.Request) error { return f(r) }

// Errors of [BearerToken].
var (
	ErrNoCredentials  = errors.New("connector: missing bearer token")
	ErrBadCredentials = errors.New("connector: wrong bearer token")
)

// BearerToken returns an [Authorizer] admitting requests with the header
// "Authorization: Bearer <token>". The comparison takes constant time.
func BearerToken(token string) Authorizer {
	want := sha256.Sum256([]byte(token))
	return AuthorizerFunc(func(r *http.Request) error {
		got, ok := bearer(r)
		if !ok {
			return ErrNoCredentials
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			return ErrBadCredentials
		}
		return nil
	})
}

// bearer extracts the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

func (c *Connector) authorize(a Authorizer, realm string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.Authorize(r); err != nil {
			c.log.Info("request refused", "realm", realm, "path", truncate(r.URL.Path, 64), "client", c.cfg.ClientAddr(r), "err", err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
			writeMessage(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		h(w, r)
	}
}

func (c *Connector) adminAuth(h http.HandlerFunc) http.HandlerFunc {
	return c.authorize(BearerToken(c.cfg.AdminToken), "admin", h)
}

func (c *Connector) registrationAuth(h http.HandlerFunc) http.HandlerFunc {
	if c.regAuth == nil {
		return h
	}
	return c.authorize(c.regAuth, "registration", h)
}
