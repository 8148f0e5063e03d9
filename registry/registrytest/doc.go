// Package registrytest is the conformance suite for registry.Registry
// implementations. Every backend in this repository runs [Run]; third-party
// backends can run it too:
//
//	func TestConformance(t *testing.T) {
//		registrytest.Run(t, func(t *testing.T, cfg registry.Config) registry.Registry {
//			r, err := mybackend.New(context.Background(), mybackend.Config{Config: cfg, URL: dsn(t)})
//			require.NoError(t, err)
//			t.Cleanup(func() { r.Close() })
//			return r
//		})
//	}
//
// The factory must return a new, empty registry that shares nothing with the
// registries of other calls (tests run in parallel), honour every field of the
// given Config (in particular its Now clock), and release it with t.Cleanup.
// Registries that can list their bindings ([Lister]) or verify their indexes
// ([Checker]) get stricter consistency checks.
package registrytest
