package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushwire/pushwire/connector"
)

// overloadRun offers multiples of the connector's capacity.
type overloadRun struct {
	client       *http.Client
	base         string
	workers      int
	newCallbacks func(n int) []callback
	received     func(eventID string) int
}

// phaseResult is what one phase measured.
type phaseResult struct {
	offered, seconds        float64
	accepted, refused, fail int
	lat                     []time.Duration // of the accepted callbacks, sorted
	lost, dup               int
}

func (r phaseResult) goodput() float64 { return float64(r.accepted) / r.seconds }

func (r phaseResult) pct(p float64) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	return float64(r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))].Microseconds()) / 1000
}

func (o *overloadRun) run(capacity float64, phase time.Duration) error {
	if capacity <= 0 {
		c, err := o.measureCapacity(phase)
		if err != nil {
			return err
		}
		capacity = c
		fmt.Printf("measured capacity: %.0f callbacks/s (goodput of a saturating closed loop of %d senders for %s)\n", c, o.workers, phase)
	}
	// One second of warm-up at 1×, not counted.
	o.phase(capacity, time.Second)
	fmt.Println("| offered | × capacity | goodput (2xx/s) | goodput / 1× | refused 503 | other | p50 accepted | p99 accepted | max accepted | lost | duplicated |")
	fmt.Println("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	var one float64
	var problems []string
	for _, mult := range []float64{1, 2, 4} {
		r := o.phase(mult*capacity, phase)
		if mult == 1 {
			one = r.goodput()
		}
		fmt.Printf("| %.0f/s | %.0f× | %.0f/s | %.0f %% | %d | %d | %.2f ms | %.2f ms | %.2f ms | %d | %d |\n",
			r.offered, mult, r.goodput(), 100*r.goodput()/one, r.refused, r.fail, r.pct(0.5), r.pct(0.99), r.pct(1), r.lost, r.dup)
		if r.lost > 0 || r.dup > 0 {
			problems = append(problems, fmt.Sprintf("%.0f×: %d lost, %d duplicated", mult, r.lost, r.dup))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("accepted callbacks not delivered exactly once: %v", problems)
	}
	return nil
}

// measureCapacity runs a closed loop of o.workers senders for d and returns
// the goodput. A sender refused pauses a millisecond.
func (o *overloadRun) measureCapacity(d time.Duration) (float64, error) {
	cbs := o.newCallbacks(200_000)
	var next, ok atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := int(next.Add(1)) - 1
				if i >= len(cbs) {
					return
				}
				if status, delivered := o.send(cbs[i]); status == http.StatusOK && delivered {
					ok.Add(1)
				} else {
					// Refused (at the connector's limit): pause rather
					// than spin, which would take the CPU the connector
					// is measured with.
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() == 0 {
		return 0, errors.New("no callback accepted while measuring the capacity")
	}
	return float64(ok.Load()) / time.Since(start).Seconds(), nil
}

// send posts one callback and reports its status and whether it says the
// push was delivered.
func (o *overloadRun) send(cb callback) (int, bool) {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
		o.base+connector.BasePath+"/axp-callback/notifications", bytes.NewReader(cb.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-hmac", cb.sig)
	resp, err := o.client.Do(req)
	if err != nil {
		return 0, false
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, bytes.Contains(b, []byte(`"delivered":1`))
}

// phase offers rate callbacks per second for d, open loop (callback i is
// due at start + i/rate; its latency counts from then), and measures.
func (o *overloadRun) phase(rate float64, d time.Duration) phaseResult {
	n := int(rate * d.Seconds())
	cbs := o.newCallbacks(n)
	type outcome struct {
		status    int
		delivered bool
		lat       time.Duration
	}
	outs := make([]outcome, n)
	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, n)
	var wg sync.WaitGroup
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				status, delivered := o.send(cbs[j.i])
				outs[j.i] = outcome{status, delivered, time.Since(j.due)}
			}
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < n; {
		now := time.Now()
		for ; i < n; i++ {
			due := start.Add(time.Duration(i) * interval)
			if due.After(now) {
				break
			}
			jobs <- job{i, due}
		}
		if i < n {
			time.Sleep(min(time.Millisecond, time.Until(start.Add(time.Duration(i)*interval))))
		}
	}
	close(jobs)
	wg.Wait()
	// Goodput over the time the phase really took: a generator or a
	// connector falling behind stretches it.
	r := phaseResult{offered: rate, seconds: max(d, time.Since(start)).Seconds()}
	time.Sleep(100 * time.Millisecond) // the last pushes reach the fake
	for i, out := range outs {
		switch {
		case out.status == http.StatusOK && out.delivered:
			r.accepted++
			r.lat = append(r.lat, out.lat)
			switch o.received(cbs[i].eventID) {
			case 0:
				r.lost++
			case 1:
			default:
				r.dup++
			}
		case out.status == http.StatusServiceUnavailable:
			r.refused++
		default:
			r.fail++
		}
	}
	slices.Sort(r.lat)
	return r
}
