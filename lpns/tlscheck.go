package lpns

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net"
	"time"
)

// Problem is one reason iOS would refuse a server certificate. It is a plain
// value, safe to copy and share.
type Problem struct {
	// Code is a stable machine-readable name (for example "no-san").
	Code string
	// Message explains it.
	Message string
}

// String returns "code: message".
func (p Problem) String() string { return p.Code + ": " + p.Message }

// Apple's limits for TLS server certificates (iOS 13 and later).
const (
	maxValidity       = 825 * 24 * time.Hour
	maxPublicValidity = 398 * 24 * time.Hour // certificates issued after 2020-09-01: 398 days
)

// CheckCertificate reports what iOS (13 and later) would refuse in a server
// certificate for host: host not in the subject alternative names (the
// common name is ignored), an RSA key under 2048 bits, a SHA-1 signature, no
// serverAuth extended key usage, a validity period over 825 days, or over
// 398 days when publiclyTrusted (chains to a public root), and a certificate
// outside its validity period at now. An empty result means no known problem.
func CheckCertificate(cert *x509.Certificate, host string, publiclyTrusted bool, now time.Time) []Problem {
	var out []Problem
	add := func(code, format string, args ...any) {
		out = append(out, Problem{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	if cert == nil {
		return []Problem{{Code: "missing", Message: "no certificate"}}
	}
	if host != "" {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if len(cert.DNSNames) == 0 && len(cert.IPAddresses) == 0 {
			add("no-san", "certificate has no subject alternative names; iOS ignores the common name %q", cert.Subject.CommonName)
		} else if err := cert.VerifyHostname(host); err != nil {
			add("host-mismatch", "subject alternative names do not cover %q", host)
		}
	}
	if k, ok := cert.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		add("weak-rsa", "RSA key of %d bits; iOS requires at least 2048", k.N.BitLen())
	}
	switch cert.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		add("weak-signature", "signed with %v; iOS requires SHA-2", cert.SignatureAlgorithm)
	}
	if len(cert.ExtKeyUsage) > 0 || len(cert.UnknownExtKeyUsage) > 0 {
		ok := false
		for _, u := range cert.ExtKeyUsage {
			if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
				ok = true
			}
		}
		if !ok {
			add("no-server-auth", "extended key usage lacks serverAuth")
		}
	} else {
		add("no-server-auth", "no extended key usage; iOS requires serverAuth")
	}
	validity := cert.NotAfter.Sub(cert.NotBefore)
	days := int(validity.Hours() / 24)
	if validity > maxValidity {
		add("validity-too-long", "valid for %d days; iOS refuses more than 825", days)
	} else if publiclyTrusted && validity > maxPublicValidity {
		add("validity-too-long", "publicly trusted and valid for %d days; iOS refuses more than 398", days)
	}
	if !now.IsZero() {
		if now.Before(cert.NotBefore) {
			add("not-yet-valid", "valid from %s", cert.NotBefore.UTC().Format(time.RFC3339))
		}
		if now.After(cert.NotAfter) {
			add("expired", "expired on %s", cert.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return out
}

// CheckChain checks a server chain (leaf first, as in tls.Certificate):
// the leaf with CheckCertificate, deciding public trust by verifying the
// chain against the system roots, and every intermediate for a SHA-1
// signature or weak RSA key.
func CheckChain(chain []*x509.Certificate, host string, now time.Time) []Problem {
	if len(chain) == 0 {
		return []Problem{{Code: "missing", Message: "no certificate"}}
	}
	leaf := chain[0]
	public := false
	if roots, err := x509.SystemCertPool(); err == nil {
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if !now.IsZero() {
			opts.CurrentTime = now
		}
		_, err := leaf.Verify(opts)
		public = err == nil
	}
	out := CheckCertificate(leaf, host, public, now)
	for i, c := range chain[1:] {
		for _, p := range CheckCertificate(c, "", false, time.Time{}) {
			if p.Code == "weak-signature" || p.Code == "weak-rsa" {
				p.Message = fmt.Sprintf("intermediate %d: %s", i+1, p.Message)
				out = append(out, p)
			}
		}
	}
	return out
}
