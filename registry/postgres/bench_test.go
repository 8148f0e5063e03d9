package postgres_test

import (
	"testing"

	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/postgres"
	"github.com/pushwire/pushwire/registry/registrytest"
)

const benchPopulation = 3000

func benchRegistry(b *testing.B) *postgres.Registry {
	r := open(b, registry.Config{SweepInterval: -1}, uniqueSchema(b))
	registrytest.Populate(b, r, benchPopulation)
	return r
}

// BenchmarkLookup: a session with three devices, one SELECT each.
func BenchmarkLookup(b *testing.B) {
	r := benchRegistry(b)
	registrytest.BenchLookup(b, r, benchPopulation)
}

// BenchmarkRegister: re-registration of known tokens, one function call each.
func BenchmarkRegister(b *testing.B) {
	r := benchRegistry(b)
	registrytest.BenchRegister(b, r, benchPopulation)
}
