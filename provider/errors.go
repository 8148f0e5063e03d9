package provider

import (
	"errors"
	"fmt"
	"io/fs"
)

// Errors. Test them with errors.Is; the token errors all match
// ErrInvalidToken.
var (
	// ErrInvalidDomain means a company domain is not a valid DNS name.
	ErrInvalidDomain = errors.New("provider: invalid domain")
	// ErrInvalidSystemID means a system id is not "<uuid>.<domain>".
	ErrInvalidSystemID = errors.New("provider: invalid system id")
	// ErrInvalidKey means a key is not an ECDSA P-256 key in the expected
	// PEM encoding. Key material never appears in error strings.
	ErrInvalidKey = errors.New("provider: invalid key")
	// ErrKeyExists means a key file already exists and overwriting was not
	// asked for. It also matches fs.ErrExist.
	ErrKeyExists = fmt.Errorf("provider: key file exists: %w", fs.ErrExist)
	// ErrInvalidAuthorization means an authorization JSON is malformed or
	// invalid; the error is a *ParseError naming the line and column.
	ErrInvalidAuthorization = errors.New("provider: invalid authorization")
	// ErrInvalidConfig means a Signer, Verifier or Generate configuration is
	// invalid.
	ErrInvalidConfig = errors.New("provider: invalid configuration")
	// ErrReservedClaim means extra claims tried to set iss, iat, exp or aud.
	ErrReservedClaim = errors.New("provider: reserved claim")

	// ErrInvalidToken is the class of every token verification failure.
	ErrInvalidToken = errors.New("provider: invalid token")
	// ErrTokenMalformed means the token is not a well-formed JWT.
	ErrTokenMalformed = fmt.Errorf("%w: malformed", ErrInvalidToken)
	// ErrTokenAlgorithm means the token's alg is not ES256 (none, HS256 and
	// every other algorithm are refused).
	ErrTokenAlgorithm = fmt.Errorf("%w: algorithm is not ES256", ErrInvalidToken)
	// ErrTokenSignature means the signature does not verify with the
	// authorization's public key.
	ErrTokenSignature = fmt.Errorf("%w: bad signature", ErrInvalidToken)
	// ErrTokenExpired means exp has passed (beyond the leeway).
	ErrTokenExpired = fmt.Errorf("%w: expired", ErrInvalidToken)
	// ErrTokenNotYetValid means iat or nbf lies in the future (beyond the
	// leeway).
	ErrTokenNotYetValid = fmt.Errorf("%w: not valid yet", ErrInvalidToken)
	// ErrTokenIssuer means iss is not the authorization's system id.
	ErrTokenIssuer = fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	// ErrTokenAudience means the required audience is not in aud.
	ErrTokenAudience = fmt.Errorf("%w: wrong audience", ErrInvalidToken)
	// ErrTokenClaims means a required claim (exp, iat) is missing or has the
	// wrong type, or the token lives longer than allowed.
	ErrTokenClaims = fmt.Errorf("%w: missing or invalid claim", ErrInvalidToken)
)
