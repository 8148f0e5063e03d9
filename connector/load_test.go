package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
)

// loadRig is a connector (memory registry, fcmtest behind the real fcm
// client) with sessions devices registered, and a counter of what the fake
// received per eventId.
type loadRig struct {
	srv      *httptest.Server
	client   *http.Client
	sessions []string
	secret   []byte
	mu       sync.Mutex
	received map[string]int // eventId → messages the fake accepted
	total    atomic.Int64
}

func newLoadRig(b *testing.B, sessions int) *loadRig {
	b.Helper()
	rig := &loadRig{secret: []byte("load-secret-0123456789"), received: make(map[string]int)}
	// PUSHWIRE_LOAD_FCM_TLS=1 serves the fake over TLS with HTTP/2, as FCM
	// does; the default is plain HTTP/1.1 keep-alive.
	useTLS := os.Getenv("PUSHWIRE_LOAD_FCM_TLS") == "1"
	fake := fcmtest.NewServer(fcmtest.Config{TLS: useTLS, OnMessage: func(r fcmtest.Received) {
		rig.total.Add(1)
		rig.mu.Lock()
		rig.received[r.Message.Data["eventId"]]++
		rig.mu.Unlock()
	}})
	b.Cleanup(fake.Close)
	reg, err := registry.NewMemory(registry.Config{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = reg.Close() })
	c, err := connector.New(connector.Config{
		Registry: reg,
		NewFCMSender: func(ctx context.Context, sa []byte) (pushwire.Sender, error) {
			cfg := fcm.Config{CredentialsJSON: sa, BaseURL: fake.URL, MaxConcurrency: 512, Retry: fcm.RetryPolicy{MaxAttempts: 1}}
			if useTLS {
				cfg.HTTPClient = fake.Client()
			}
			return fcm.New(ctx, cfg)
		},
		Dedupe: mustDeduper(b),
	})
	require.NoError(b, err)
	configID := uuid.NewString()
	require.NoError(b, c.AddConfig(context.Background(), connector.PushConfig{
		ID: configID, Secrets: [][]byte{rig.secret}, FCMServiceAccount: fake.ServiceAccountJSON(),
	}))
	rig.srv = httptest.NewServer(c)
	b.Cleanup(func() {
		rig.srv.Close()
		_ = c.Close()
	})
	rig.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}}
	b.Cleanup(rig.client.CloseIdleConnections)
	for range sessions {
		s := uuid.NewString()
		rig.sessions = append(rig.sessions, s)
		_, err := reg.Register(context.Background(), registry.Device{Session: s, Provider: pushwire.ProviderFCM,
			Token: fcmToken(), Labels: map[string]string{connector.LabelConfigID: configID}})
		require.NoError(b, err)
	}
	return rig
}

func mustDeduper(b *testing.B) connector.Deduper {
	d, err := connector.NewMemoryDeduper(connector.MemoryDeduperConfig{Capacity: 1 << 20})
	require.NoError(b, err)
	return d
}

// request is a pre-signed callback.
type request struct {
	eventID string
	body    []byte
	sig     string
}

func (rig *loadRig) requests(n int) []request {
	out := make([]request, n)
	for i := range out {
		session := rig.sessions[i%len(rig.sessions)]
		ev := event(session)
		body, _ := json.Marshal(ev)
		out[i] = request{eventID: ev["eventId"], body: body, sig: hmacverify.Sign(rig.secret, ev["eventId"], session)}
	}
	return out
}

func (rig *loadRig) send(r request) error {
	req, err := http.NewRequest(http.MethodPost, rig.srv.URL+connector.BasePath+"/axp-callback/notifications", bytes.NewReader(r.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-hmac", r.sig)
	resp, err := rig.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"delivered":1`)) {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return nil
}

// check verifies that the fake received every event exactly once.
func (rig *loadRig) check(b *testing.B, reqs []request) {
	b.Helper()
	rig.mu.Lock()
	defer rig.mu.Unlock()
	lost, dup := 0, 0
	for _, r := range reqs {
		switch n := rig.received[r.eventID]; {
		case n == 0:
			lost++
		case n > 1:
			dup++
		}
	}
	if lost > 0 || dup > 0 || rig.total.Load() != int64(len(reqs)) {
		b.Fatalf("fake received %d messages for %d callbacks: %d lost, %d duplicated", rig.total.Load(), len(reqs), lost, dup)
	}
	for k := range rig.received {
		delete(rig.received, k)
	}
	rig.total.Store(0)
}

// BenchmarkCallback measures signed callbacks through verify → lookup →
// send to fcmtest → answer, closed loop (as fast as the machine goes).
func BenchmarkCallback(b *testing.B) {
	rig := newLoadRig(b, 1000)
	reqs := rig.requests(b.N)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := rig.send(reqs[next.Add(1)-1]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	rig.check(b, reqs)
}

// BenchmarkCallbackLoad offers signed callbacks at a fixed rate
// (PUSHWIRE_LOAD_RATE per second, default 5000), open loop: each request is
// due at start + i/rate and its latency counts from when it was due, so a
// server that falls behind is charged for the queueing. It reports the
// achieved callbacks/s and the p50/p99/max latency, and fails if the fake did
// not receive every push exactly once. Run it with a fixed count, e.g.
// -benchtime=20000x (4 s at 5000/s).
func BenchmarkCallbackLoad(b *testing.B) {
	rate := 5000.0
	if v := os.Getenv("PUSHWIRE_LOAD_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		require.NoError(b, err)
		rate = r
	}
	rig := newLoadRig(b, 1000)
	// Warm up at the same rate for a second (connections, access token,
	// heap), then measure.
	warm := rig.requests(int(rate))
	if _, _, failed := offer(rig, warm, rate); failed > 0 {
		b.Fatalf("%d warm-up callbacks failed", failed)
	}
	rig.check(b, warm)

	reqs := rig.requests(b.N)
	b.ResetTimer()
	lat, elapsed, failed := offer(rig, reqs, rate)
	b.StopTimer()
	if failed > 0 {
		b.Fatalf("%d of %d callbacks failed", failed, b.N)
	}
	rig.check(b, reqs)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "callbacks/s")
	b.ReportMetric(rate, "offered/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(0, "ns/op")
}

// offer sends reqs open loop at rate per second from a pool of workers and
// returns each request's latency, counted from when it was due.
func offer(rig *loadRig, reqs []request, rate float64) (lat []time.Duration, elapsed time.Duration, failed int64) {
	lat = make([]time.Duration, len(reqs))
	var nfailed atomic.Int64
	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, len(reqs))
	var wg sync.WaitGroup
	const workers = 256
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := rig.send(reqs[j.i]); err != nil {
					nfailed.Add(1)
				}
				lat[j.i] = time.Since(j.due)
			}
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < len(reqs); {
		now := time.Now()
		for ; i < len(reqs); i++ {
			due := start.Add(time.Duration(i) * interval)
			if due.After(now) {
				break
			}
			jobs <- job{i: i, due: due}
		}
		if i < len(reqs) {
			time.Sleep(min(time.Millisecond, time.Until(start.Add(time.Duration(i)*interval))))
		}
	}
	close(jobs)
	wg.Wait()
	return lat, time.Since(start), nfailed.Load()
}

// BenchmarkHandlerOverhead measures the connector's own cost per callback
// (parse, verify, lookup, dedupe, build, answer) without any network: the
// sender only counts. Compare with BenchmarkCallback for the share of HTTP
// and the fake.
func BenchmarkHandlerOverhead(b *testing.B) {
	reg, err := registry.NewMemory(registry.Config{})
	require.NoError(b, err)
	defer reg.Close()
	var sent atomic.Int64
	c, err := connector.New(connector.Config{
		Registry: reg,
		NewFCMSender: func(context.Context, []byte) (pushwire.Sender, error) {
			return pushwire.SenderFunc(func(context.Context, pushwire.Message) error { sent.Add(1); return nil }), nil
		},
		Dedupe: mustDeduper(b),
	})
	require.NoError(b, err)
	defer c.Close()
	fake := fcmtest.NewServer(fcmtest.Config{})
	defer fake.Close()
	rig := &loadRig{secret: []byte("load-secret-0123456789")}
	require.NoError(b, c.AddConfig(context.Background(), connector.PushConfig{ID: "cfg", Secrets: [][]byte{rig.secret}, FCMServiceAccount: fake.ServiceAccountJSON()}))
	for range 1000 {
		s := uuid.NewString()
		rig.sessions = append(rig.sessions, s)
		_, err := reg.Register(context.Background(), registry.Device{Session: s, Provider: pushwire.ProviderFCM,
			Token: fcmToken(), Labels: map[string]string{connector.LabelConfigID: "cfg"}})
		require.NoError(b, err)
	}
	reqs := rig.requests(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest(http.MethodPost, connector.BasePath+"/axp-callback/notifications", bytes.NewReader(reqs[i].body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-hmac", reqs[i].sig)
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	if sent.Load() != int64(b.N) {
		b.Fatalf("sent %d of %d", sent.Load(), b.N)
	}
}
