package provider

import (
	"crypto/ecdsa"
)

// GenerateConfig configures [Generate], which reads it once.
type GenerateConfig struct {
	// Domain is the company domain, the one given in the Avaya Cloud
	// account. Required; validated with ValidateDomain and lower-cased.
	Domain string
	// Description goes into the authorization JSON (default
	// DefaultDescription).
	Description string
}

// Identity is a system's provider identity: its system id and private key.
// It is safe for concurrent use as long as its fields are not modified.
type Identity struct {
	// SystemID is "<uuid>.<domain>".
	SystemID string
	// Key is the ES256 private key.
	Key *ecdsa.PrivateKey
	// Description is the text exported with the authorization.
	Description string
}

// Generate does what Session Manager's "Generate Keys" button does: a new
// P-256 key pair and a new system id for cfg.Domain. Errors match
// [ErrInvalidDomain] for a bad domain.
func Generate(cfg GenerateConfig) (*Identity, error) {
	systemID, err := NewSystemID(cfg.Domain)
	if err != nil {
		return nil, err
	}
	key, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	if cfg.Description == "" {
		cfg.Description = DefaultDescription
	}
	return &Identity{SystemID: systemID, Key: key, Description: cfg.Description}, nil
}

// Authorization returns the identity's "Key to Export".
func (id *Identity) Authorization() (Authorization, error) {
	if id.Key == nil {
		return Authorization{}, ErrInvalidKey
	}
	return NewAuthorization(id.SystemID, &id.Key.PublicKey, id.Description)
}
