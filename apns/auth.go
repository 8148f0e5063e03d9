package apns

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/pushwire/pushwire"
)

// Provider-token renewal bounds. Apple rejects tokens older than an hour and
// answers TooManyProviderTokenUpdates when a token changes more often than
// every 20 minutes.
const (
	DefaultTokenRenew = 50 * time.Minute
	MinTokenRenew     = 20 * time.Minute
	MaxTokenRenew     = 60 * time.Minute
)

// TokenAuth is provider-token authentication: the .p8 signing key Apple
// issued, its key id and the team id. [New] copies it; the key itself is
// only read, so one key may serve several clients concurrently.
type TokenAuth struct {
	// Key is the P-256 private key (see [ParseP8]); [New] rejects a key on
	// any other curve.
	Key *ecdsa.PrivateKey
	// KeyID is the 10-character key id (the JWT kid header).
	KeyID string
	// TeamID is the 10-character team id (the JWT iss claim).
	TeamID string
	// Renew is the token's age at which the client signs a new one: at least
	// 20 and less than 60 minutes; zero means 50 minutes.
	Renew time.Duration
}

// ParseP8 parses a .p8 file: a PEM "PRIVATE KEY" block holding a PKCS#8
// P-256 ECDSA key. Errors never include key material.
func ParseP8(pemBytes []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("apns: no PEM block in .p8 data")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("apns: PEM block %q is not a PKCS#8 private key", block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("apns: malformed PKCS#8 private key")
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("apns: .p8 key is %T, not ECDSA", k)
	}
	if ek.Curve != elliptic.P256() {
		return nil, errors.New("apns: .p8 key is not on curve P-256")
	}
	return ek, nil
}

// bearer is one signed provider token with its pre-built header value.
type bearer struct {
	header []string // {"bearer <jwt>"}
	issued time.Time
}

// tokenSource signs, caches and renews provider tokens. It is safe for
// concurrent use.
type tokenSource struct {
	key           *ecdsa.PrivateKey
	keyID, teamID string
	renew         time.Duration
	now           func() time.Time

	cur atomic.Pointer[bearer]
	mu  sync.Mutex // serialises signing
}

// get returns the current token, signing a new one when it is older than
// the renewal age.
func (ts *tokenSource) get() (*bearer, error) {
	if b := ts.cur.Load(); b != nil && ts.now().Sub(b.issued) < ts.renew {
		return b, nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if b := ts.cur.Load(); b != nil && ts.now().Sub(b.issued) < ts.renew {
		return b, nil
	}
	return ts.signLocked()
}

// renewExpired is called when APNs rejected used with ExpiredProviderToken.
// It returns a token to retry with, or false when none should be tried: a
// token is renewed at most once per MinTokenRenew, so a storm of rejections
// cannot provoke TooManyProviderTokenUpdates.
func (ts *tokenSource) renewExpired(used *bearer) (*bearer, bool, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	cur := ts.cur.Load()
	if cur != nil && cur != used {
		return cur, true, nil // someone renewed since: retry with that one
	}
	if cur != nil && ts.now().Sub(cur.issued) < MinTokenRenew {
		return nil, false, nil
	}
	b, err := ts.signLocked()
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

func (ts *tokenSource) signLocked() (*bearer, error) {
	now := ts.now()
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": ts.teamID,
		"iat": now.Unix(),
	})
	t.Header["kid"] = ts.keyID
	s, err := t.SignedString(ts.key)
	if err != nil {
		// The key cannot sign: no push will succeed until the sender's
		// configuration changes.
		return nil, &pushwire.Error{
			Class:    pushwire.ErrConfiguration,
			Provider: pushwire.ProviderAPNs,
			Err:      fmt.Errorf("%w: %w", ErrSigning, err),
		}
	}
	b := &bearer{header: []string{"bearer " + s}, issued: now}
	ts.cur.Store(b)
	return b, nil
}

// LoadCertificatePEM builds a TLS client certificate from PEM data: the
// certificate (chain) and its private key, given as two blobs or as one blob
// holding both (pass it twice).
func LoadCertificatePEM(certPEM, keyPEM []byte) (tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("apns: load certificate: %w", err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("apns: parse certificate: %w", err)
		}
	}
	return c, nil
}

// LoadPKCS12 builds a TLS client certificate from a .p12 file (as exported
// from Keychain Access) and its password.
func LoadPKCS12(p12 []byte, password string) (tls.Certificate, error) {
	key, leaf, chain, err := pkcs12.DecodeChain(p12, password)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("apns: decode pkcs12: %w", err)
	}
	c := tls.Certificate{PrivateKey: key, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
	for _, ca := range chain {
		c.Certificate = append(c.Certificate, ca.Raw)
	}
	return c, nil
}

// CertificateNotAfter returns when cert's leaf expires.
func CertificateNotAfter(cert *tls.Certificate) (time.Time, error) {
	if cert == nil || len(cert.Certificate) == 0 {
		return time.Time{}, errors.New("apns: no certificate")
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return time.Time{}, fmt.Errorf("apns: parse certificate: %w", err)
		}
	}
	return leaf.NotAfter, nil
}
