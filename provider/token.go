package provider

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultTokenTTL is the lifetime of a token when SignerConfig.TTL is zero.
const DefaultTokenTTL = 5 * time.Minute

// SignerConfig configures a [Signer]; NewSigner reads it once.
type SignerConfig struct {
	// Key is the system's P-256 private key. Required.
	Key *ecdsa.PrivateKey
	// SystemID is the token issuer (iss). Required; must be a valid system id.
	SystemID string
	// TTL is the token lifetime, exp - iat (default DefaultTokenTTL).
	TTL time.Duration
	// Audience, when not empty, is the aud claim.
	Audience []string
	// KeyID, when not empty, is the kid header.
	KeyID string
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Signer issues ES256 JWTs for a system. It is safe for concurrent use.
type Signer struct {
	key      *ecdsa.PrivateKey
	issuer   string
	ttl      time.Duration
	audience []string
	keyID    string
	now      func() time.Time
}

// NewSigner validates cfg and returns a Signer. Errors match
// [ErrInvalidConfig], and [ErrInvalidKey] or [ErrInvalidSystemID] where they
// apply.
func NewSigner(cfg SignerConfig) (*Signer, error) {
	if cfg.Key == nil {
		return nil, fmt.Errorf("%w: %w: no key", ErrInvalidConfig, ErrInvalidKey)
	}
	if err := checkP256(&cfg.Key.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if _, _, err := ParseSystemID(cfg.SystemID); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.TTL < 0 {
		return nil, fmt.Errorf("%w: negative ttl", ErrInvalidConfig)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTokenTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Signer{key: cfg.Key, issuer: cfg.SystemID, ttl: cfg.TTL,
		audience: append([]string(nil), cfg.Audience...), keyID: cfg.KeyID, now: cfg.Now}, nil
}

// Signer returns a [Signer] for the identity with the given options; cfg.Key
// and cfg.SystemID are taken from the identity.
func (id *Identity) Signer(cfg SignerConfig) (*Signer, error) {
	cfg.Key, cfg.SystemID = id.Key, id.SystemID
	return NewSigner(cfg)
}

// reserved are the claims a Signer sets itself.
var reserved = [...]string{"iss", "iat", "exp", "aud"}

// Sign returns a compact ES256 JWT with iss, iat, exp, the configured aud and
// the extra claims, which must be JSON-encodable and must not set iss, iat,
// exp or aud ([ErrReservedClaim]).
func (s *Signer) Sign(extra map[string]any) (string, error) {
	claims := jwt.MapClaims{}
	for k, v := range extra {
		claims[k] = v
	}
	for _, k := range reserved {
		if _, ok := extra[k]; ok {
			return "", fmt.Errorf("%w: %q", ErrReservedClaim, k)
		}
	}
	now := s.now()
	claims["iss"] = s.issuer
	claims["iat"] = jwt.NewNumericDate(now)
	claims["exp"] = jwt.NewNumericDate(now.Add(s.ttl))
	switch len(s.audience) {
	case 0:
	case 1:
		claims["aud"] = s.audience[0]
	default:
		claims["aud"] = s.audience
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	if s.keyID != "" {
		t.Header["kid"] = s.keyID
	}
	out, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("provider: signing token: %w", err)
	}
	return out, nil
}

// VerifierConfig configures a [Verifier]; NewVerifier reads it once.
type VerifierConfig struct {
	// Authorization is the system's exported authorization. Required and
	// validated.
	Authorization Authorization
	// Audience, when not empty, must be one of the token's aud values.
	Audience string
	// Leeway tolerates clock skew when checking exp, iat and nbf.
	Leeway time.Duration
	// MaxLifetime, when positive, rejects tokens whose exp - iat exceeds it.
	MaxLifetime time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Verifier checks tokens issued by one system, on the provider side. It is
// safe for concurrent use.
type Verifier struct {
	key         *ecdsa.PublicKey
	issuer      string
	audience    string
	maxLifetime time.Duration
	parser      *jwt.Parser
}

// NewVerifier validates cfg and returns a Verifier. Errors match
// [ErrInvalidConfig].
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	key, err := cfg.Authorization.validate()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.Leeway < 0 || cfg.MaxLifetime < 0 {
		return nil, fmt.Errorf("%w: negative duration", ErrInvalidConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithIssuer(cfg.Authorization.SystemID),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithJSONNumber(),
		jwt.WithStrictDecoding(),
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Verifier{key: key, issuer: cfg.Authorization.SystemID, audience: cfg.Audience, maxLifetime: cfg.MaxLifetime, parser: jwt.NewParser(opts...)}, nil
}

// Claims are the verified contents of a token. A Claims value is not
// modified after Verify returns it; share it read-only.
type Claims struct {
	// Issuer is iss, the system id.
	Issuer string
	// Audience is aud (empty when absent).
	Audience []string
	// IssuedAt and ExpiresAt are iat and exp.
	IssuedAt, ExpiresAt time.Time
	// KeyID is the kid header, if any.
	KeyID string
	// All holds every claim as decoded; numbers are json.Number values.
	All map[string]any
}

// Verify checks token: alg ES256 (none, HS256 and others are refused before
// any key is used), the signature under the authorization's key, iss equal
// to the system id, exp present and not passed, iat present and not in the
// future, nbf if present, aud if configured, and the maximum lifetime.
// Errors match [ErrInvalidToken] and one of the ErrToken* reasons (and the
// underlying golang-jwt error).
func (v *Verifier) Verify(token string) (*Claims, error) {
	mc := jwt.MapClaims{}
	t, err := v.parser.ParseWithClaims(token, mc, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return nil, v.classify(t, mc, err)
	}
	iat, err := mc.GetIssuedAt()
	if err != nil || iat == nil {
		return nil, fmt.Errorf("%w: iat missing", ErrTokenClaims)
	}
	exp, _ := mc.GetExpirationTime() // required and checked by the parser
	if v.maxLifetime > 0 && exp.Sub(iat.Time) > v.maxLifetime {
		return nil, fmt.Errorf("%w: lifetime %s exceeds %s", ErrTokenClaims, exp.Sub(iat.Time), v.maxLifetime)
	}
	aud, _ := mc.GetAudience()
	c := &Claims{Issuer: v.issuer, Audience: aud, IssuedAt: iat.Time, ExpiresAt: exp.Time, All: map[string]any(mc)}
	if kid, ok := t.Header["kid"].(string); ok {
		c.KeyID = kid
	}
	return c, nil
}

// classify maps a golang-jwt error to the package's reasons.
func (v *Verifier) classify(t *jwt.Token, mc jwt.MapClaims, err error) error {
	if t != nil && t.Header != nil {
		if alg, _ := t.Header["alg"].(string); alg != Algorithm {
			return fmt.Errorf("%w: got %q: %w", ErrTokenAlgorithm, alg, err)
		}
	}
	var reason error
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason = ErrTokenMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		reason = ErrTokenSignature
	case errors.Is(err, jwt.ErrTokenInvalidIssuer) || errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && mc["iss"] == nil:
		reason = ErrTokenIssuer
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		reason = ErrTokenNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidAudience) || errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && v.audience != "" && mc["aud"] == nil:
		reason = ErrTokenAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing), errors.Is(err, jwt.ErrInvalidType), errors.Is(err, jwt.ErrTokenInvalidClaims):
		reason = ErrTokenClaims
	default:
		reason = ErrInvalidToken
	}
	return fmt.Errorf("%w: %w", reason, err)
}

// MarshalJSON encodes the claims as the token carried them.
func (c *Claims) MarshalJSON() ([]byte, error) { return json.Marshal(c.All) }
