// Command loadgen offers signed AXP callbacks at a fixed rate to a connector
// running as its own process, and plays FCM for it with an in-process fake.
// It measures what an operator would see: the connector process has its own
// CPU share and garbage collector, the load generator and the fake another.
//
//	go build -o /tmp/connector ./examples/connector
//	go run ./examples/connector/internal/loadgen -connector /tmp/connector -rate 5000 -n 20000
//
// It starts the connector with -fcm-base-url and -fcm-credentials pointing
// at the fake, registers -sessions devices over HTTP as the sample Android
// app does, warms up for a second at the rate, then sends -n callbacks open
// loop (each due at start + i/rate; latency counts from when it was due) and
// prints callbacks/s, p50, p99 and max, and whether the fake received every
// push exactly once. Only loopback addresses are used.
//
// With -overload it measures the connector's capacity (the goodput, 2xx
// answers with the push delivered per second, under a saturating closed
// loop; or takes -capacity), then offers 1×, 2× and 4× of it, -phase each,
// open loop, in one run, and prints per phase the goodput, the callbacks
// refused (503), the p50/p99/max of the accepted ones and whether every
// accepted callback's push reached the fake exactly once:
//
//	/tmp/loadgen -connector /tmp/connector -overload -phase 5s
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/hmacverify"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type callback struct {
	eventID string
	body    []byte
	sig     string
}

func run() error {
	bin := flag.String("connector", "", "path of the built connector program (go build ./examples/connector)")
	rate := flag.Float64("rate", 5000, "offered callbacks per second")
	n := flag.Int("n", 20000, "callbacks to measure")
	sessions := flag.Int("sessions", 1000, "sessions, one Android device each")
	workers := flag.Int("workers", 256, "concurrent senders")
	logLevel := flag.String("log-level", "warn", "the connector's -log-level (info logs every delivery)")
	overload := flag.Bool("overload", false, "measure the capacity, then offer 1×, 2× and 4× of it")
	capacity := flag.Float64("capacity", 0, "with -overload: the capacity to offer multiples of (0: measure it)")
	phase := flag.Duration("phase", 5*time.Second, "with -overload: the length of each phase")
	fcmLatency := flag.Duration("fcm-latency", 0, "the fake FCM answers every push after this long (real FCM: tens of ms)")
	extra := flag.String("connector-flags", "", "more flags for the connector, space-separated (e.g. -max-concurrency 64)")
	flag.Parse()
	if *bin == "" || *rate <= 0 || *n <= 0 || *sessions <= 0 || *workers <= 0 {
		return errors.New("need -connector and positive -rate, -n, -sessions, -workers")
	}

	var mu sync.Mutex
	received := map[string]int{}
	fake := fcmtest.NewServer(fcmtest.Config{OnMessage: func(r fcmtest.Received) {
		mu.Lock()
		received[r.Message.Data["eventId"]]++
		mu.Unlock()
	}})
	defer fake.Close()
	if *fcmLatency > 0 {
		fake.FailAll(fcmtest.Slow(*fcmLatency))
	}

	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	secret := uuid.NewString()
	saFile, secretFile := filepath.Join(dir, "sa.json"), filepath.Join(dir, "secret")
	if err := os.WriteFile(saFile, fake.ServiceAccountJSON(), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		return err
	}
	configID := uuid.NewString()
	args := []string{"-addr", "127.0.0.1:0", "-config-id", configID, "-secret-file", secretFile,
		"-fcm-credentials", saFile, "-fcm-base-url", fake.URL, "-rate-limit", "-1", "-log-level", *logLevel}
	cmd := exec.Command(*bin, append(args, strings.Fields(*extra)...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	base, err := waitListening(stdout)
	if err != nil {
		return err
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: *workers, MaxIdleConnsPerHost: *workers}, Timeout: 30 * time.Second}
	ids := make([]string, *sessions)
	for i := range ids {
		ids[i] = uuid.NewString()
		token := fmt.Sprintf("load%06d:APA91b%s", i, strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", ""))
		body := fmt.Sprintf(`{"configId":%q,"sessionId":%q}`, configID, ids[i])
		req, _ := http.NewRequest(http.MethodPut, base+connector.BasePath+"/device-registrations/"+token, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		if status, b, err := do(client, req); err != nil || status != http.StatusOK {
			return fmt.Errorf("register: %d %s %v", status, b, err)
		}
	}
	newCallbacks := func(count int) []callback {
		out := make([]callback, count)
		for i := range out {
			ev := map[string]string{"eventId": uuid.NewString(), "conversationId": uuid.NewString(), "customerId": "load",
				"sessionId": ids[i%len(ids)], "eventDate": time.Now().UTC().Format(hmacverify.EventDateLayout)}
			body, _ := json.Marshal(ev)
			out[i] = callback{ev["eventId"], body, hmacverify.Sign([]byte(secret), ev["eventId"], ev["sessionId"])}
		}
		return out
	}
	if *overload {
		o := &overloadRun{client: client, base: base, workers: *workers, newCallbacks: newCallbacks,
			received: func(id string) int { mu.Lock(); defer mu.Unlock(); return received[id] }}
		return o.run(*capacity, *phase)
	}
	warm := newCallbacks(int(*rate))
	if _, _, failed := offer(client, base, warm, *rate, *workers); failed > 0 {
		return fmt.Errorf("%d warm-up callbacks failed", failed)
	}
	cbs := newCallbacks(*n)
	lat, elapsed, failed := offer(client, base, cbs, *rate, *workers)
	time.Sleep(100 * time.Millisecond)

	mu.Lock()
	lost, dup := 0, 0
	for _, cb := range cbs {
		switch received[cb.eventID] {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	fmt.Printf("offered %.0f/s, %d callbacks in %.2fs: %.0f callbacks/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms; failed %d, fake: %d lost, %d duplicated\n",
		*rate, len(cbs), elapsed.Seconds(), float64(len(cbs))/elapsed.Seconds(), pct(0.5), pct(0.99),
		float64(lat[len(lat)-1].Microseconds())/1000, failed, lost, dup)
	if failed > 0 || lost > 0 || dup > 0 {
		return errors.New("not every callback was delivered exactly once")
	}
	return nil
}

func waitListening(r io.Reader) (string, error) {
	re := regexp.MustCompile(`listening on (\S+)`)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return m[1], nil
		}
	}
	return "", errors.New("the connector exited before listening")
}

func do(c *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// offer sends cbs open loop at rate per second and returns each latency,
// counted from when the callback was due.
func offer(c *http.Client, base string, cbs []callback, rate float64, workers int) ([]time.Duration, time.Duration, int64) {
	lat := make([]time.Duration, len(cbs))
	var failed atomic.Int64
	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, len(cbs))
	var wg sync.WaitGroup
	url := base + connector.BasePath + "/axp-callback/notifications"
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(cbs[j.i].body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-hmac", cbs[j.i].sig)
				status, b, err := do(c, req)
				if err != nil || status != http.StatusOK || !bytes.Contains(b, []byte(`"delivered":1`)) {
					if failed.Add(1) <= 3 {
						// The first few failures say why, on stderr.
						fmt.Fprintf(os.Stderr, "loadgen: callback failed: %d %s %v\n", status, bytes.TrimSpace(b), err)
					}
				}
				lat[j.i] = time.Since(j.due)
			}
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < len(cbs); {
		now := time.Now()
		for ; i < len(cbs); i++ {
			due := start.Add(time.Duration(i) * interval)
			if due.After(now) {
				break
			}
			jobs <- job{i, due}
		}
		if i < len(cbs) {
			time.Sleep(min(time.Millisecond, time.Until(start.Add(time.Duration(i)*interval))))
		}
	}
	close(jobs)
	wg.Wait()
	return lat, time.Since(start), failed.Load()
}
