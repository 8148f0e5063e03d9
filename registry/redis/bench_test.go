package redis_test

import (
	"testing"

	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/redis"
	"github.com/pushwire/pushwire/registry/registrytest"
)

const benchPopulation = 3000

func benchRegistry(b *testing.B) *redis.Registry {
	c := shared(b)
	prefix := uniquePrefix(b)
	b.Cleanup(func() { dropPrefix(b, c, prefix) })
	r := open(b, registry.Config{}, prefix)
	registrytest.Populate(b, r, benchPopulation)
	return r
}

// BenchmarkLookup: a session with three devices, one EVALSHA each.
func BenchmarkLookup(b *testing.B) {
	r := benchRegistry(b)
	registrytest.BenchLookup(b, r, benchPopulation)
}

// BenchmarkRegister: re-registration of known tokens, one EVALSHA each.
func BenchmarkRegister(b *testing.B) {
	r := benchRegistry(b)
	registrytest.BenchRegister(b, r, benchPopulation)
}
