package lpns

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Identity is what an Authenticator learns from a token. It is a plain value.
type Identity struct {
	// DeviceID identifies the device; one live connection per device.
	DeviceID string
	// UserID identifies the signed-in user (may be empty).
	UserID string
	// ExpiresAt is when the token expires; the server closes the connection
	// then unless the client refreshed its token. Zero means no expiry.
	ExpiresAt time.Time
}

// Authenticator validates the bearer token of a connecting device, and of an
// in-band token refresh. r is the upgrade request (nil for a refresh).
// Implementations must be safe for concurrent use and should wrap
// ErrTokenInvalid, ErrTokenExpired or ErrTokenMissing in their errors.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request, token string) (Identity, error)
}

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(ctx context.Context, r *http.Request, token string) (Identity, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, r *http.Request, token string) (Identity, error) {
	return f(ctx, r, token)
}

// JWTConfig configures a JWT authenticator; it is read once by
// NewJWTAuthenticator.
type JWTConfig struct {
	// KeyFunc returns the verification key for a token (required). See
	// jwt.Keyfunc.
	KeyFunc jwt.Keyfunc
	// Methods lists the accepted signing algorithms (required), for example
	// []string{"ES256"}: names golang-jwt knows, as written in the JWT "alg"
	// header. "none" is refused in any letter case: an unsigned token
	// proves nothing.
	Methods []string
	// Issuer, when set, must equal the "iss" claim.
	Issuer string
	// Audience, when set, must be among the "aud" claim values.
	Audience string
	// DeviceClaim names the claim carrying the device id (default "device_id").
	DeviceClaim string
	// UserClaim names the claim carrying the user id (default "sub").
	UserClaim string
	// Leeway tolerates clock skew on exp/nbf/iat (default 0).
	Leeway time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// JWTAuthenticator validates JWT bearer tokens with golang-jwt/jwt/v5. The
// "exp" claim is required; the device id is read from DeviceClaim and the
// user id from UserClaim. It is safe for concurrent use.
type JWTAuthenticator struct {
	cfg    JWTConfig
	parser *jwt.Parser
}

// NewJWTAuthenticator validates cfg and returns an authenticator.
func NewJWTAuthenticator(cfg JWTConfig) (*JWTAuthenticator, error) {
	if cfg.KeyFunc == nil {
		return nil, configError("jwt KeyFunc is required")
	}
	if len(cfg.Methods) == 0 {
		return nil, configError("jwt Methods is required")
	}
	for _, m := range cfg.Methods {
		if strings.EqualFold(m, "none") {
			return nil, configError(fmt.Sprintf("jwt method %q is refused: an unsigned token proves nothing", m))
		}
		if jwt.GetSigningMethod(m) == nil {
			return nil, configError(fmt.Sprintf("unknown jwt method %q", m))
		}
	}
	cfg.Methods = slices.Clone(cfg.Methods)
	if cfg.DeviceClaim == "" {
		cfg.DeviceClaim = "device_id"
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = "sub"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(cfg.Methods),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &JWTAuthenticator{cfg: cfg, parser: jwt.NewParser(opts...)}, nil
}

// Authenticate implements Authenticator.
func (a *JWTAuthenticator) Authenticate(_ context.Context, _ *http.Request, token string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrTokenMissing
	}
	claims := jwt.MapClaims{}
	_, err := a.parser.ParseWithClaims(token, claims, a.cfg.KeyFunc)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Identity{}, fmt.Errorf("%w", ErrTokenExpired)
		}
		return Identity{}, fmt.Errorf("%w: %s", ErrTokenInvalid, jwtReason(err))
	}
	dev, _ := claims[a.cfg.DeviceClaim].(string)
	if dev == "" || len(dev) > maxIDLen {
		return Identity{}, fmt.Errorf("%w: missing or bad %s claim", ErrTokenInvalid, a.cfg.DeviceClaim)
	}
	user, _ := claims[a.cfg.UserClaim].(string)
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return Identity{}, fmt.Errorf("%w: bad exp claim", ErrTokenInvalid)
	}
	return Identity{DeviceID: dev, UserID: user, ExpiresAt: exp.Time}, nil
}

// jwtReason maps a jwt error to a short reason without token content.
func jwtReason(err error) string {
	for _, c := range []struct {
		e error
		s string
	}{
		{jwt.ErrTokenMalformed, "malformed"},
		{jwt.ErrTokenSignatureInvalid, "bad signature"},
		{jwt.ErrTokenUnverifiable, "unverifiable"},
		{jwt.ErrTokenInvalidIssuer, "wrong issuer"},
		{jwt.ErrTokenInvalidAudience, "wrong audience"},
		{jwt.ErrTokenRequiredClaimMissing, "required claim missing"},
		{jwt.ErrTokenNotValidYet, "not valid yet"},
		{jwt.ErrTokenUsedBeforeIssued, "used before issued"},
	} {
		if errors.Is(err, c.e) {
			return c.s
		}
	}
	return "rejected"
}
