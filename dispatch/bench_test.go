package dispatch_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/registry"
)

const (
	benchSessions = 10000
	benchDevices  = 3 // per session: an iPhone (APNs), an Android phone and an Android tablet (FCM)
)

// benchEnv is the fakes, the clients and the registry the benchmarks share.
type benchEnv struct {
	apns *apns.Client
	fcm  *fcm.Client
	reg  *registry.Memory
	devs [][]registry.Device // per session, as the registry returns them
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	apnsFake := apnstest.NewServer(apnstest.Config{DisableRecording: true})
	b.Cleanup(apnsFake.Close)
	fcmFake := fcmtest.NewServer(fcmtest.Config{DisableRecording: true})
	b.Cleanup(fcmFake.Close)
	ac, err := apns.New(apns.Config{BaseURL: apnsFake.URL, Token: apnsFake.TokenAuth(), RootCAs: apnsFake.CertPool(),
		Topic: bundle, Retry: apns.RetryPolicy{MaxAttempts: 1}})
	require.NoError(b, err)
	b.Cleanup(func() { _ = ac.Close() })
	fc, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: fcmFake.ServiceAccountJSON(), BaseURL: fcmFake.URL,
		Retry: fcm.RetryPolicy{MaxAttempts: 1}})
	require.NoError(b, err)
	b.Cleanup(func() { _ = fc.Close() })
	reg, err := registry.NewMemory(registry.Config{SweepInterval: -1})
	require.NoError(b, err)
	b.Cleanup(func() { _ = reg.Close() })
	env := &benchEnv{apns: ac, fcm: fc, reg: reg, devs: make([][]registry.Device, benchSessions)}
	ctx := context.Background()
	for i := range benchSessions {
		s := fmt.Sprintf("user-%05d", i)
		for _, d := range []registry.Device{
			{Session: s, Provider: pushwire.ProviderAPNs, Token: fmt.Sprintf("%064x", i), AppID: bundle,
				Labels: map[string]string{dispatch.LabelDevice: s + "-iphone"}},
			{Session: s, Provider: pushwire.ProviderFCM, Token: fmt.Sprintf("android-phone-%05d", i)},
			{Session: s, Provider: pushwire.ProviderFCM, Token: fmt.Sprintf("android-tablet-%05d", i)},
		} {
			_, err := reg.Register(ctx, d)
			require.NoError(b, err)
		}
		env.devs[i], err = reg.Lookup(ctx, s)
		require.NoError(b, err)
	}
	// Warm the connections and the FCM access token.
	for i := range 50 {
		env.bare(ctx, i)
	}
	return env
}

var benchCall = pushwire.Message{Kind: pushwire.KindVoIP, Data: map[string]string{"callId": "c-1", dispatch.DataCallerName: "Bob"}}

// bare sends session i's messages with the senders directly, one after the
// other: the least a backend does without dispatch.
func (e *benchEnv) bare(ctx context.Context, i int) {
	for _, d := range e.devs[i] {
		m := benchCall
		m.Token = d.Token
		var err error
		if d.Provider == pushwire.ProviderAPNs {
			m.Topic = d.AppID
			err = e.apns.Send(ctx, m)
		} else {
			m.Kind = pushwire.KindData
			m.Priority = pushwire.PriorityHigh
			err = e.fcm.Send(ctx, m)
		}
		if err != nil {
			panic(err)
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDelivery notifies the 10,000 sessions (use -benchtime=10000x to
// notify each once) with dispatch and, for comparison, with the bare
// senders. Besides ns/op (one session of 3 devices) it reports
// notifications per second, the p99 latency of one session's notification,
// and the process CPU time (fakes included) and allocations per device
// delivery.
func BenchmarkDelivery(b *testing.B) {
	env := newBenchEnv(b)
	d, err := dispatch.New(dispatch.Config{Registry: env.reg, APNs: env.apns, FCM: env.fcm})
	require.NoError(b, err)
	// The clients are closed by the environment's cleanup; d.Close would
	// close them for the other sub-benchmark too.
	_ = d
	for _, mode := range []string{"bare", "dispatch"} {
		b.Run("path="+mode, func(b *testing.B) {
			ctx := context.Background()
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var failed atomic.Int64
			runtime.GC()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			cpu0 := cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			// The same sends in flight both ways: dispatch sends a
			// session's devices in parallel, the bare loop one by one.
			if mode == "bare" {
				b.SetParallelism(16 * benchDevices)
			} else {
				b.SetParallelism(16)
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := int(next.Add(1) - 1)
					i := n % benchSessions
					t0 := time.Now()
					if mode == "bare" {
						env.bare(ctx, i)
					} else {
						res, err := d.Notify(ctx, env.devs[i][0].Session, benchCall)
						if err != nil || res.Counts().Delivered != benchDevices {
							failed.Add(1)
						}
					}
					lat[n] = time.Since(t0)
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&ms1)
			if failed.Load() > 0 {
				b.Fatalf("%d notifications not fully delivered", failed.Load())
			}
			deliveries := float64(b.N * benchDevices)
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "notify/s")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/delivery")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/deliveries, "allocs/delivery")
		})
	}
}
