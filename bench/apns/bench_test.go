package apns

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/bench/internal/benchproc"
)

var benchPayload = []byte(`{"aps":{"content-available":1},"eventId":"8c1f0e52-4b8e-4f0a-9d55-3f0e5f6b2a10","sessionId":"s-1234567890"}`)

// pusher sends one push; closer releases the client.
type pusher struct {
	push  func(ctx context.Context) error
	close func()
}

// newClient returns a pushwire/apns client with token auth for the fake.
func newClient(tb testing.TB, f *fakeProc) *apns.Client {
	c, err := apns.New(apns.Config{
		BaseURL: f.URL,
		RootCAs: f.Pool,
		Token:   &apns.TokenAuth{Key: f.Key, KeyID: f.KeyID, TeamID: f.TeamID},
		Topic:   bundle,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func newPusher(tb testing.TB, lib string, f *fakeProc) pusher {
	switch lib {
	case "apns":
		c := newClient(tb, f)
		n := &apns.Notification{DeviceToken: devToken, PushType: apns.PushTypeBackground, Payload: benchPayload}
		return pusher{
			push: func(ctx context.Context) error {
				_, err := c.Push(ctx, n)
				return err
			},
			close: func() { _ = c.Close() },
		}
	case "apns-send":
		c := newClient(tb, f)
		m := pushwire.Message{Token: devToken, Data: map[string]string{"eventId": "8c1f0e52-4b8e-4f0a-9d55-3f0e5f6b2a10", "sessionId": "s-1234567890"}}
		return pusher{
			push:  func(ctx context.Context) error { return c.Send(ctx, m) },
			close: func() { _ = c.Close() },
		}
	case "nethttp-floor":
		// The least any net/http-based client can do: the standard
		// transport with HTTP/2, a fixed provider token and fixed
		// headers, one RoundTrip per push, the answer drained. Not a
		// usable client (no token renewal, no error handling); the
		// reference point for what the standard transport costs.
		tok := &token.Token{AuthKey: f.Key, KeyID: f.KeyID, TeamID: f.TeamID}
		bearer := tok.GenerateIfExpired()
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.Pool}, ForceAttemptHTTP2: true}
		url := f.URL + "/3/device/" + devToken
		hdr := http.Header{
			"Authorization":  {"bearer " + bearer},
			"Apns-Topic":     {bundle},
			"Apns-Push-Type": {"background"},
			"Apns-Priority":  {"5"},
		}
		return pusher{
			push: func(ctx context.Context) error {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(benchPayload))
				if err != nil {
					return err
				}
				req.Header = hdr
				res, err := tr.RoundTrip(req)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode != http.StatusOK {
					return fmt.Errorf("floor: status %d", res.StatusCode)
				}
				return nil
			},
			close: tr.CloseIdleConnections,
		}
	case "apns2":
		c := apns2.NewTokenClient(&token.Token{AuthKey: f.Key, KeyID: f.KeyID, TeamID: f.TeamID})
		c.Host = f.URL
		c.HTTPClient.Transport.(*http2.Transport).TLSClientConfig = &tls.Config{RootCAs: f.Pool}
		return pusher{
			push: func(ctx context.Context) error {
				// A fresh Notification per push, as apns2 users write it.
				res, err := c.PushWithContext(ctx, &apns2.Notification{
					DeviceToken: devToken,
					Topic:       bundle,
					PushType:    apns2.PushTypeBackground,
					Priority:    apns2.PriorityLow,
					Payload:     benchPayload,
				})
				if err != nil {
					return err
				}
				if !res.Sent() {
					return fmt.Errorf("apns2: %d %s", res.StatusCode, res.Reason)
				}
				return nil
			},
			close: c.CloseIdleConnections,
		}
	}
	tb.Fatalf("unknown library %q", lib)
	return pusher{}
}

// runPushes pushes b.N notifications with inflight concurrent pushers and
// reports pushes/s, client CPU per push and the client's write system calls
// per push (Linux); -benchmem adds allocations per push (one op = one push).
func runPushes(b *testing.B, p pusher, inflight int) {
	ctx := context.Background()
	// Warm up: connections and token in place before timing.
	var wg sync.WaitGroup
	for range min(inflight, 100) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.push(ctx); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	var next, failed atomic.Int64
	b.ReportAllocs()
	cpu0, w0 := benchproc.CPUTime(), benchproc.WriteSyscalls()
	b.ResetTimer()
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := p.push(ctx); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	cpu, w1 := benchproc.CPUTime()-cpu0, benchproc.WriteSyscalls()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d pushes failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/push")
	if w0 >= 0 && w1 >= 0 {
		b.ReportMetric(float64(w1-w0)/float64(b.N), "writes/push")
	}
}

// BenchmarkPush compares pushwire/apns (Push with a raw payload, and Send
// with a pushwire.Message) with sideshow/apns2 against apnsfake running as a
// separate process; nethttp-floor is a bare request on the standard
// transport, for reference.
func BenchmarkPush(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		f := fake(b, latency)
		for _, inflight := range []int{1, 100, 1000} {
			for _, lib := range []string{"apns", "apns-send", "nethttp-floor", "apns2"} {
				name := fmt.Sprintf("latency=%s/inflight=%d/lib=%s", latency, inflight, lib)
				b.Run(name, func(b *testing.B) {
					p := newPusher(b, lib, f)
					defer p.close()
					runPushes(b, p, inflight)
				})
			}
		}
	}
}
