package provider_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/provider"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestValidateDomain(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	long253 := strings.Repeat(label63+".", 3) + strings.Repeat("b", 61) // 4*63+1 = 253
	require.Len(t, long253, 253)
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"mycompany.com", "mycompany.com", true},
		{"MyCompany.COM", "mycompany.com", true},
		{"sub-1.my-company.co.uk", "sub-1.my-company.co.uk", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"localhost", "localhost", true},
		{"a.b2", "a.b2", true},
		{label63 + ".com", label63 + ".com", true},
		{long253, long253, true},
		{"", "", false},
		{long253 + "c", "", false},
		{strings.Repeat("a", 64) + ".com", "", false},
		{"my company.com", "", false},
		{" mycompany.com", "", false},
		{"mycompany.com ", "", false},
		{"mycompany..com", "", false},
		{".mycompany.com", "", false},
		{"mycompany.com.", "", false},
		{".", "", false},
		{"-mycompany.com", "", false},
		{"mycompany-.com", "", false},
		{"my_company.com", "", false},
		{"mycompany.com/path", "", false},
		{"user@mycompany.com", "", false},
		{"bücher.example", "", false},
		{"\u212aelvin.com", "", false}, // KELVIN SIGN lower-cases to an ASCII k: still refused
		{"10.0.0.1", "", false},
		{"mycompany.123", "", false},
		{"mycompany.com\n", "", false},
	}
	for _, tt := range tests {
		got, err := provider.ValidateDomain(tt.in)
		if !tt.ok {
			assert.ErrorIs(t, err, provider.ErrInvalidDomain, "%q", tt.in)
			assert.Empty(t, got)
			continue
		}
		require.NoError(t, err, "%q", tt.in)
		assert.Equal(t, tt.want, got)
	}
}

var systemIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.mycompany\.com$`)

func TestNewSystemID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		id, err := provider.NewSystemID("MyCompany.com")
		require.NoError(t, err)
		assert.Regexp(t, systemIDPattern, id, "version 4 UUID, lower-cased domain")
		assert.False(t, seen[id], "ids are random")
		seen[id] = true
		u, d, err := provider.ParseSystemID(id)
		require.NoError(t, err)
		assert.Equal(t, id, u+"."+d)
	}
	_, err := provider.NewSystemID("bad domain")
	assert.ErrorIs(t, err, provider.ErrInvalidDomain)
}

func TestParseSystemID(t *testing.T) {
	tests := []struct {
		in         string
		uuid, host string
		ok         bool
	}{
		{"9bf8f4ab-99b1-452b-9b7f-e75aacf31d19.mycompany.com", "9bf8f4ab-99b1-452b-9b7f-e75aacf31d19", "mycompany.com", true},
		{"9BF8F4AB-99B1-452B-9B7F-E75AACF31D19.MyCompany.com", "9BF8F4AB-99B1-452B-9B7F-E75AACF31D19", "MyCompany.com", true},
		{"9bf8f4ab-99b1-452b-9b7f-e75aacf31d19", "", "", false},
		{"9bf8f4ab-99b1-452b-9b7f-e75aacf31d19.", "", "", false},
		{"9bf8f4ab99b1452b9b7fe75aacf31d19.mycompany.com", "", "", false},
		{"9bf8f4ab-99b1-452b-9b7f-e75aacf31d1z.mycompany.com", "", "", false},
		{"9bf8f4ab-99b1-452b-9b7f-e75aacf31d19.my company.com", "", "", false},
		{"{9bf8f4ab-99b1-452b-9b7f-e75aacf31d}.mycompany.com", "", "", false},
		{"mycompany.com", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		u, h, err := provider.ParseSystemID(tt.in)
		if !tt.ok {
			assert.ErrorIs(t, err, provider.ErrInvalidSystemID, "%q", tt.in)
			continue
		}
		require.NoError(t, err, "%q", tt.in)
		assert.Equal(t, tt.uuid, u)
		assert.Equal(t, tt.host, h)
	}
}
