package sqlite_test

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/registrytest"
	"github.com/pushwire/pushwire/registry/sqlite"
)

const benchPopulation = 3000

func benchRegistry(b *testing.B) *sqlite.Registry {
	r := open(b, registry.Config{SweepInterval: -1}, filepath.Join(b.TempDir(), "bench.db"))
	registrytest.Populate(b, r, benchPopulation)
	return r
}

// BenchmarkLookup: a session with three devices, on disk with WAL.
func BenchmarkLookup(b *testing.B) {
	r := benchRegistry(b)
	for _, c := range []int{1, 32} {
		b.Run("conc="+strconv.Itoa(c), func(b *testing.B) { registrytest.BenchLookup(b, r, benchPopulation, c) })
	}
}

// BenchmarkRegister: re-registration of known tokens (upsert + cap check in
// one transaction), on disk with WAL.
func BenchmarkRegister(b *testing.B) {
	r := benchRegistry(b)
	for _, c := range []int{1, 32} {
		b.Run("conc="+strconv.Itoa(c), func(b *testing.B) { registrytest.BenchRegister(b, r, benchPopulation, c) })
	}
}
