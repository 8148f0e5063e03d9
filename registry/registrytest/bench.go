package registrytest

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
)

// BenchToken returns a token shaped like an FCM registration token (152
// bytes) that is unique for i.
func BenchToken(i int) string {
	const filler = "APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx" +
		"_uOBkBmAOpm2wvTQX0Hch3yAqTZlTYZDuTkXHybKsSJWGnd3q8ZR-1EbDRwFfIhPaE7f1S9qCEOOYSRLGYk5Pf1OnBOuv8mKjC3B5t6n3p-xBzr" // 116
	return fmt.Sprintf("%s%036d", filler, i)
}

// BenchSession returns the session of binding i when sessions hold three
// devices each.
func BenchSession(i int) string { return fmt.Sprintf("session-%012d", i/3) }

// BenchDevice returns binding i of a benchmark population: three FCM devices
// per session.
func BenchDevice(i int) registry.Device {
	return registry.Device{Session: BenchSession(i), Provider: pushwire.ProviderFCM, AppID: "project-1", Token: BenchToken(i)}
}

// Populate registers bindings 0..n-1 (three per session).
func Populate(tb testing.TB, r registry.Registry, n int) {
	tb.Helper()
	ctx := context.Background()
	for i := range n {
		if _, err := r.Register(ctx, BenchDevice(i)); err != nil {
			tb.Fatal(err)
		}
	}
}

// parallel runs body b.N times over exactly concurrency goroutines (rounded
// up to a multiple of GOMAXPROCS) and reports ops/s.
func parallel(b *testing.B, concurrency int, body func(i int) error) {
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	if concurrency <= 1 {
		for i := range b.N {
			if err := body(i); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		procs := runtime.GOMAXPROCS(0)
		b.SetParallelism((concurrency + procs - 1) / procs)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := body(int(next.Add(1))); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// concurrencies runs body as the sub-benchmarks conc=1 and conc=32.
func concurrencies(b *testing.B, body func(b *testing.B, concurrency int)) {
	for _, c := range []int{1, 32} {
		b.Run("conc="+strconv.Itoa(c), func(b *testing.B) { body(b, c) })
	}
}

// BenchLookup measures Lookup of a three-device session picked from a
// population of sessions that Populate created with n bindings, in the
// sub-benchmarks conc=1 and conc=32 (goroutines).
func BenchLookup(b *testing.B, r registry.Registry, n int) {
	ctx := context.Background()
	sessions := make([]string, n/3)
	for i := range sessions {
		sessions[i] = BenchSession(i * 3)
	}
	concurrencies(b, func(b *testing.B, concurrency int) {
		b.ReportAllocs()
		parallel(b, concurrency, func(i int) error {
			list, err := r.Lookup(ctx, sessions[i%len(sessions)])
			if err == nil && len(list) != 3 {
				err = fmt.Errorf("lookup returned %d devices, want 3", len(list))
			}
			return err
		})
	})
}

// BenchRegister measures Register: re-registrations (upserts) cycling over n
// bindings that Populate created, three per session, in the sub-benchmarks
// conc=1 and conc=32.
func BenchRegister(b *testing.B, r registry.Registry, n int) {
	ctx := context.Background()
	devs := make([]registry.Device, n)
	for i := range devs {
		devs[i] = BenchDevice(i)
	}
	concurrencies(b, func(b *testing.B, concurrency int) {
		b.ReportAllocs()
		parallel(b, concurrency, func(i int) error {
			_, err := r.Register(ctx, devs[i%n])
			return err
		})
	})
}
