package provider

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// MaxDomainLength is the longest accepted domain name, in bytes.
const MaxDomainLength = 253

// ValidateDomain checks that domain is a DNS host name and returns it in
// lower case. The rules: at most 253 characters; dot-separated labels, none
// empty (so no leading, trailing or double dot) and none longer than 63
// characters; labels of ASCII letters, digits and hyphens (no spaces, no
// underscores; internationalized names must be given in their xn-- form) that
// neither start nor end with a hyphen; and a last label that is not all
// digits, so an IPv4 address is not a domain. Errors match
// [ErrInvalidDomain].
func ValidateDomain(domain string) (string, error) {
	if domain == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidDomain)
	}
	if len(domain) > MaxDomainLength {
		return "", fmt.Errorf("%w: longer than %d characters", ErrInvalidDomain, MaxDomainLength)
	}
	labels := strings.Split(domain, ".")
	for i, label := range labels {
		switch {
		case label == "":
			return "", fmt.Errorf("%w: %q has an empty label", ErrInvalidDomain, domain)
		case len(label) > 63:
			return "", fmt.Errorf("%w: label %d is longer than 63 characters", ErrInvalidDomain, i+1)
		case label[0] == '-' || label[len(label)-1] == '-':
			return "", fmt.Errorf("%w: label %q starts or ends with '-'", ErrInvalidDomain, label)
		}
		for j := 0; j < len(label); j++ {
			c := label[j]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return "", fmt.Errorf("%w: %q contains %q; use letters, digits, '-' and '.'", ErrInvalidDomain, domain, rune(c))
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", fmt.Errorf("%w: %q ends with an all-numeric label", ErrInvalidDomain, domain)
	}
	return strings.ToLower(domain), nil
}

// NewSystemID returns a new system id: a random (version 4) UUID, a dot and
// the validated, lower-cased domain, as in
// "9bf8f4ab-99b1-452b-9b7f-e75aacf31d19.mycompany.com".
func NewSystemID(domain string) (string, error) {
	d, err := ValidateDomain(domain)
	if err != nil {
		return "", err
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("provider: generating uuid: %w", err)
	}
	return id.String() + "." + d, nil
}

// ParseSystemID splits a system id into its UUID and its domain, both as
// written. The UUID must be in the 36-character hyphenated form (any version,
// either case) and the domain must pass [ValidateDomain]. Errors match
// [ErrInvalidSystemID].
func ParseSystemID(systemID string) (id, domain string, err error) {
	const uuidLen = 36
	if len(systemID) < uuidLen+2 || systemID[uuidLen] != '.' {
		return "", "", fmt.Errorf("%w: want <uuid>.<domain>", ErrInvalidSystemID)
	}
	id, domain = systemID[:uuidLen], systemID[uuidLen+1:]
	if _, err := uuid.Parse(id); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrInvalidSystemID, err)
	}
	if _, err := ValidateDomain(domain); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrInvalidSystemID, err)
	}
	return id, domain, nil
}
