package redis_test

import (
	"testing"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/redis"
)

var (
	fuzzProviders = []pushwire.Provider{pushwire.ProviderFCM, pushwire.ProviderAPNs, pushwire.ProviderLPNS}
	fuzzEnvs      = []string{"", registry.EnvironmentProduction, registry.EnvironmentSandbox}
)

// FuzzBindingID checks that distinct valid keys never share a Redis id,
// whatever separators the app id and token contain.
func FuzzBindingID(f *testing.F) {
	f.Add(uint8(0), uint8(0), "a|b", "c", uint8(0), uint8(0), "a", "b|c")
	f.Add(uint8(1), uint8(2), "3:x", "y", uint8(1), uint8(2), "", "1:3:x|y")
	f.Add(uint8(2), uint8(1), "", "tok", uint8(2), uint8(0), "", "production|0:|tok")
	f.Fuzz(func(t *testing.T, p1, e1 uint8, app1, tok1 string, p2, e2 uint8, app2, tok2 string) {
		k1 := registry.Key{Provider: fuzzProviders[int(p1)%3], Environment: fuzzEnvs[int(e1)%3], AppID: app1, Token: tok1}
		k2 := registry.Key{Provider: fuzzProviders[int(p2)%3], Environment: fuzzEnvs[int(e2)%3], AppID: app2, Token: tok2}
		if registry.ValidateKey(k1) != nil || registry.ValidateKey(k2) != nil {
			return
		}
		if (k1 == k2) != (redis.BindingID(k1) == redis.BindingID(k2)) {
			t.Fatalf("keys %+v and %+v: ids %q and %q", k1, k2, redis.BindingID(k1), redis.BindingID(k2))
		}
	})
}
