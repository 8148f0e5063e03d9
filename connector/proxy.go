package connector

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/pushwire/pushwire"
)

// Headers a reverse proxy puts the client's address in; see
// [Config.ProxyHeader].
const (
	// HeaderXForwardedFor is the de facto standard: a comma-separated list
	// of addresses, each proxy appending its peer's.
	HeaderXForwardedFor = "X-Forwarded-For"
	// HeaderForwarded is RFC 7239's: comma-separated elements whose for=
	// parameter holds an address (IPv6 in brackets and quotes, a port
	// allowed).
	HeaderForwarded = "Forwarded"
)

// ParsePrefixes parses a comma-separated list of CIDR prefixes or single
// addresses ("10.0.0.0/8, 192.0.2.7, ::1"), as the example program's
// -trusted-proxies flag gives them. Errors match [pushwire.ErrConfiguration].
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("connector: %w: %q is neither a CIDR prefix nor an address", pushwire.ErrConfiguration, f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ProxiedClientAddr returns a [Config.ClientAddr] for a connector behind
// reverse proxies at the trusted addresses. When a request's peer is not
// trusted, the peer is the client, whatever the headers say. When it is
// trusted, the addresses in header ([HeaderXForwardedFor], the default when
// empty, or [HeaderForwarded]; every line of it, in order) are read from the
// last to the first, skipping trusted ones: the first untrusted address is
// the client (an address to its left may have been written by the client
// itself). When every address is trusted the leftmost is the client, and an
// entry that is not an address ("unknown", an obfuscated name, garbage)
// stops the walk at the trusted hop that wrote it. Addresses are returned in
// netip's canonical form (IPv4-mapped IPv6 unmapped), so one client has one
// rate-limit bucket however it is spelled.
//
// Errors (an unknown header name) match [pushwire.ErrConfiguration]. The function
// returned is safe for concurrent use.
func ProxiedClientAddr(trusted []netip.Prefix, header string) (func(r *http.Request) string, error) {
	switch http.CanonicalHeaderKey(header) {
	case "", HeaderXForwardedFor:
		header = HeaderXForwardedFor
	case HeaderForwarded:
		header = HeaderForwarded
	default:
		return nil, fmt.Errorf("connector: %w: proxy header must be %s or %s, not %q", pushwire.ErrConfiguration,
			HeaderXForwardedFor, HeaderForwarded, header)
	}
	prefixes := make([]netip.Prefix, 0, len(trusted))
	for _, p := range trusted {
		if !p.IsValid() {
			return nil, fmt.Errorf("connector: %w: invalid trusted proxy prefix", pushwire.ErrConfiguration)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 { // ::ffff:10.0.0.0/104 is 10.0.0.0/8
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		prefixes = append(prefixes, p.Masked())
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	forwarded := header == HeaderForwarded
	return func(r *http.Request) string {
		peer, ok := parseAddr(r.RemoteAddr)
		if !ok {
			return RemoteHost(r)
		}
		if !isTrusted(peer) {
			return peer.String()
		}
		hops := r.Header.Values(header)
		client := peer
		for i := len(hops) - 1; i >= 0; i-- {
			var entries []string
			if forwarded {
				entries = forwardedFor(hops[i])
			} else {
				entries = strings.Split(hops[i], ",")
			}
			for j := len(entries) - 1; j >= 0; j-- {
				a, ok := parseAddr(entries[j])
				if !ok {
					return client.String()
				}
				if !isTrusted(a) {
					return a.String()
				}
				client = a
			}
		}
		return client.String()
	}, nil
}

// parseAddr parses an address as proxies write it: "192.0.2.1",
// "192.0.2.1:8080", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:8080",
// with spaces around. The zone is dropped and IPv4-mapped addresses unmapped.
func parseAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		if host, _, serr := net.SplitHostPort(s); serr == nil {
			a, err = netip.ParseAddr(host)
		} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
		}
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// forwardedFor returns the for= value of each element of one Forwarded
// header line (RFC 7239: elements separated by commas, pairs by semicolons,
// values tokens or quoted strings); an element without for= yields "".
func forwardedFor(line string) []string {
	var out []string
	var cur string
	hasFor := false
	inValue, quoted := false, false
	var name, val strings.Builder
	endPair := func() {
		if inValue && !hasFor && strings.EqualFold(strings.TrimSpace(name.String()), "for") {
			cur, hasFor = val.String(), true
		}
		inValue = false
		name.Reset()
		val.Reset()
	}
	endElement := func() {
		endPair()
		out = append(out, cur)
		cur, hasFor = "", false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted:
			switch c {
			case '\\':
				if i+1 < len(line) {
					i++
					val.WriteByte(line[i])
				}
			case '"':
				quoted = false
			default:
				val.WriteByte(c)
			}
		case c == '"' && inValue:
			quoted = true
		case c == ',':
			endElement()
		case c == ';':
			endPair()
		case c == '=' && !inValue:
			inValue = true
		case inValue:
			if c != ' ' && c != '\t' {
				val.WriteByte(c)
			}
		default:
			name.WriteByte(c)
		}
	}
	endElement()
	return out
}
