package fcm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"firebase.google.com/go/v4/messaging"
	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/bench/internal/benchproc"
	"github.com/pushwire/pushwire/fcm"
	"golang.org/x/oauth2/google"
)

// The benchmarks send the AXP connector's message (data-only, Android
// priority high) to the fake running as a separate process, with conc
// goroutines sending at once. Reported per send: allocations (allocs/op,
// this process only), client CPU (user+system time of this process from
// getrusage, cpu-ns/send) and throughput (sends/s).

var concurrencies = []int{1, 16, 64}

func data(i int) map[string]string {
	return map[string]string{
		"eventId":        fmt.Sprintf("evt-%d", i),
		"conversationId": "conv-1",
		"sessionId":      "session-1",
	}
}

const benchToken = "fcm-bench-token:APA91bHPRgkFLJu6zN0mZqJYRtNz3L1p7xQ8n6Y2VvTSD1cKt9rRWZnV0L1Wq3kL"

func BenchmarkSend(b *testing.B) { benchSend(b, sharedFake(b)) }

// BenchmarkSendTLS is BenchmarkSend over HTTPS with HTTP/2, the way FCM is
// reached in production, with both clients in their default configuration.
func BenchmarkSendTLS(b *testing.B) { benchSend(b, sharedTLSFake(b)) }

// benchSend runs every client against the fake f at each concurrency.
func benchSend(b *testing.B, f *fakeProc) {
	b.Run("lib=pushwire", func(b *testing.B) {
		c, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: f.Creds, BaseURL: f.URL})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		msgs := prepared(func(i int) pushwire.Message {
			return pushwire.Message{Token: benchToken, Data: data(i)}
		})
		for _, conc := range concurrencies {
			b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
				run(b, conc, func(ctx context.Context, i int) error {
					return c.Send(ctx, msgs[i%len(msgs)])
				})
			})
		}
	})
	b.Run("lib=pushwire-name", func(b *testing.B) {
		// fcm's SendMessage, which returns the message name FCM assigned
		// as Firebase's Send does (Send, above, only needs the status).
		c, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: f.Creds, BaseURL: f.URL})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		msgs := prepared(func(i int) *fcm.Message {
			return &fcm.Message{Token: benchToken, Data: data(i),
				Android: &fcm.AndroidConfig{Priority: fcm.AndroidPriorityHigh}}
		})
		for _, conc := range concurrencies {
			b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
				run(b, conc, func(ctx context.Context, i int) error {
					name, err := c.SendMessage(ctx, msgs[i%len(msgs)])
					if err == nil && name == "" {
						err = errors.New("no message name")
					}
					return err
				})
			})
		}
	})
	b.Run("lib=nethttp-floor", func(b *testing.B) {
		// The least any net/http-based client can do: a pre-encoded
		// body, a cached token and fixed headers, one RoundTrip, the
		// answer drained. Not a usable client; the reference point.
		floor := newFloor(b, f)
		for _, conc := range concurrencies {
			b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
				run(b, conc, floor.send)
			})
		}
	})
	b.Run("lib=firebase", func(b *testing.B) {
		c := newFirebase(b, f)
		msgs := prepared(func(i int) *messaging.Message {
			return &messaging.Message{Token: benchToken, Data: data(i),
				Android: &messaging.AndroidConfig{Priority: "high"}}
		})
		for _, conc := range concurrencies {
			b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
				run(b, conc, func(ctx context.Context, i int) error {
					_, err := c.Send(ctx, msgs[i%len(msgs)])
					return err
				})
			})
		}
	})
}

// prepared builds a small ring of messages up front so that building them
// is not measured.
func prepared[T any](mk func(int) T) []T {
	out := make([]T, 256)
	for i := range out {
		out[i] = mk(i)
	}
	return out
}

// run calls send b.N times from conc goroutines.
func run(b *testing.B, conc int, send func(ctx context.Context, i int) error) {
	ctx := context.Background()
	// Warm up: token fetched, conc connections open.
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 {
				if err := send(ctx, i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		return
	}

	var next atomic.Int64
	var failures atomic.Int64
	var firstErr atomic.Value
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := benchproc.CPUTime()
	w0 := benchproc.WriteSyscalls()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := send(ctx, int(i)); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := benchproc.CPUTime() - cpu0
	writes := benchproc.WriteSyscalls() - w0
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d sends failed, first: %v", n, firstErr.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sends/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/send")
	if w0 >= 0 && writes >= 0 {
		b.ReportMetric(float64(writes)/float64(b.N), "writes/send")
	}
}

type floorClient struct {
	rt     http.RoundTripper
	url    *url.URL
	header http.Header
	bodies [][]byte
}

func newFloor(tb testing.TB, f *fakeProc) *floorClient {
	tb.Helper()
	creds, err := google.CredentialsFromJSONWithType(context.Background(), f.Creds, google.ServiceAccount, fcm.Scope)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := creds.TokenSource.Token()
	if err != nil {
		tb.Fatal(err)
	}
	u, err := url.Parse(f.URL + "/v1/projects/" + creds.ProjectID + "/messages:send")
	if err != nil {
		tb.Fatal(err)
	}
	fc := &floorClient{
		rt:  &http.Transport{MaxIdleConnsPerHost: 100, ForceAttemptHTTP2: true},
		url: u,
		header: http.Header{
			"Authorization":   {"Bearer " + tok.AccessToken},
			"Content-Type":    {"application/json"},
			"Accept-Encoding": {"identity"},
		},
	}
	for i := range 256 {
		b, err := json.Marshal(map[string]any{"message": map[string]any{
			"token": benchToken, "data": data(i), "android": map[string]string{"priority": "high"}}})
		if err != nil {
			tb.Fatal(err)
		}
		fc.bodies = append(fc.bodies, b)
	}
	tb.Cleanup(fc.rt.(*http.Transport).CloseIdleConnections)
	return fc
}

func (fc *floorClient) send(ctx context.Context, i int) error {
	body := fc.bodies[i%len(fc.bodies)]
	req := &http.Request{Method: http.MethodPost, URL: fc.url, Header: fc.header,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Host: fc.url.Host}
	resp, err := fc.rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
