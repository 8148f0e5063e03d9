package lpns_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/lpns"
)

func makeCert(t *testing.T, mod func(*x509.Certificate), key crypto.Signer) *x509.Certificate {
	t.Helper()
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		key = k
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "lpns.example.internal"},
		DNSNames:     []string{"lpns.example.internal"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if mod != nil {
		mod(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

func codes(ps []lpns.Problem) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Code)
	}
	return out
}

func TestCheckCertificate(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	now := time.Now()
	tests := []struct {
		name   string
		cert   *x509.Certificate
		host   string
		public bool
		want   []string
	}{
		{"good", makeCert(t, nil, nil), "lpns.example.internal:9560", false, []string{}},
		{"good by ip", makeCert(t, nil, nil), "127.0.0.1", false, []string{}},
		{"cn only", makeCert(t, func(c *x509.Certificate) { c.DNSNames = nil; c.IPAddresses = nil }, nil), "lpns.example.internal", false, []string{"no-san"}},
		{"other host", makeCert(t, nil, nil), "cucm.example.internal", false, []string{"host-mismatch"}},
		{"rsa 1024", makeCert(t, nil, rsa1024), "lpns.example.internal", false, []string{"weak-rsa"}},
		{"no eku", makeCert(t, func(c *x509.Certificate) { c.ExtKeyUsage = nil }, nil), "", false, []string{"no-server-auth"}},
		{"client eku", makeCert(t, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} }, nil), "", false, []string{"no-server-auth"}},
		{"826 days", makeCert(t, func(c *x509.Certificate) { c.NotAfter = c.NotBefore.Add(826 * 24 * time.Hour) }, nil), "", false, []string{"validity-too-long"}},
		{"825 days private", makeCert(t, func(c *x509.Certificate) { c.NotAfter = c.NotBefore.Add(825 * 24 * time.Hour) }, nil), "", false, []string{}},
		{"400 days public", makeCert(t, func(c *x509.Certificate) { c.NotAfter = c.NotBefore.Add(400 * 24 * time.Hour) }, nil), "", true, []string{"validity-too-long"}},
		{"398 days public", makeCert(t, func(c *x509.Certificate) { c.NotAfter = c.NotBefore.Add(398 * 24 * time.Hour) }, nil), "", true, []string{}},
		{"expired", makeCert(t, func(c *x509.Certificate) { c.NotBefore = now.Add(-48 * time.Hour); c.NotAfter = now.Add(-time.Hour) }, nil), "", false, []string{"expired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lpns.CheckCertificate(tt.cert, tt.host, tt.public, now)
			assert.Equal(t, tt.want, codes(got), "%v", got)
		})
	}
	assert.Equal(t, []string{"missing"}, codes(lpns.CheckCertificate(nil, "", false, now)))
}

func TestCheckChainSHA1(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	// Go refuses to create SHA-1 signatures; flip the parsed algorithm to
	// check the rule itself.
	c := makeCert(t, nil, key)
	c.SignatureAlgorithm = x509.SHA1WithRSA
	assert.Equal(t, []string{"weak-signature"}, codes(lpns.CheckChain([]*x509.Certificate{c}, "lpns.example.internal", time.Now())))
	inter := makeCert(t, nil, key)
	inter.SignatureAlgorithm = x509.SHA1WithRSA
	got := lpns.CheckChain([]*x509.Certificate{makeCert(t, nil, nil), inter}, "lpns.example.internal", time.Now())
	require.Equal(t, []string{"weak-signature"}, codes(got))
	assert.Contains(t, got[0].Message, "intermediate 1")
}
