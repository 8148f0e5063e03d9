// Command loadtest is a bounded load test of the lpns server on loopback.
//
// It starts the server in a child process (so that its memory and CPU are
// measured apart from the clients), opens many authenticated client
// connections from several loopback source addresses (127.0.0.2, ...), and
// reports:
//
//   - idle: server heap+stack memory per idle connection, the server's CPU
//     while the connections are idle and while keepalives flow;
//   - latency: Send-to-ack latency percentiles at a fixed notification rate,
//     on one node or routed through a second node (cluster mode on Redis).
//
// Examples:
//
//	go run ./lpns/lpnsredis/internal/loadtest -mode idle -conns 19000
//	go run ./lpns/lpnsredis/internal/loadtest -mode idle -conns 19000 -tls
//	go run ./lpns/lpnsredis/internal/loadtest -mode idle -conns 19000 -tls -lean   # Server.Serve instead of http.Server
//	go run ./lpns/lpnsredis/internal/loadtest -mode latency -conns 10000 -rate 2000 -duration 10s
//	go run ./lpns/lpnsredis/internal/loadtest -mode latency -conns 10000 -rate 2000 -duration 10s -routed -redis redis://127.0.0.1:6399/0
//
// Every process raises its file-descriptor limit to the hard limit; the
// number of connections one process can hold is bounded by it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/lpns/lpnsredis"
)

var secret = []byte("loadtest-only-hmac-secret-000000")

func main() {
	role := flag.String("role", "driver", "driver or server (internal)")
	mode := flag.String("mode", "idle", "idle or latency")
	conns := flag.Int("conns", 10000, "client connections")
	useTLS := flag.Bool("tls", false, "wss:// instead of ws://")
	sources := flag.Int("sources", 4, "loopback source addresses 127.0.0.2 ... to spread connections over")
	keepalive := flag.Duration("keepalive", 120*time.Second, "client keepalive interval (server window: 1.25x)")
	measure := flag.Duration("measure", 30*time.Second, "idle mode: CPU measurement window")
	waitKeepalive := flag.Bool("wait-keepalive", true, "idle mode: also measure CPU once keepalives flow (waits one interval)")
	rate := flag.Int("rate", 2000, "latency mode: notifications per second")
	duration := flag.Duration("duration", 10*time.Second, "latency mode: sending time")
	routed := flag.Bool("routed", false, "latency mode: clients on node B, sends on node A (needs -redis)")
	redisURL := flag.String("redis", os.Getenv("PUSHWIRE_REDIS_URL"), "Redis URL for -routed")
	concurrency := flag.Int("dial-concurrency", 32, "parallel dials")
	// server role
	node := flag.String("node", "a", "server: node id")
	certFile := flag.String("cert", "", "server: TLS certificate file")
	keyFile := flag.String("key", "", "server: TLS key file")
	prefix := flag.String("prefix", "", "server: Redis prefix")
	lean := flag.Bool("lean", false, "serve with Server.Serve (own accept loop) instead of behind net/http")
	flag.Parse()

	raiseNoFile()
	var err error
	if *role == "server" {
		err = runServer(*node, *certFile, *keyFile, *redisURL, *prefix, *keepalive, *lean)
	} else {
		err = runDriver(driverConfig{mode: *mode, conns: *conns, tls: *useTLS, sources: *sources, keepalive: *keepalive,
			measure: *measure, waitKeepalive: *waitKeepalive, rate: *rate, duration: *duration, routed: *routed,
			redisURL: *redisURL, concurrency: *concurrency, lean: *lean})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func raiseNoFile() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	r.Cur = r.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	return r.Cur
}

// ---- server role ----

type stats struct {
	Sessions   int     `json:"sessions"`
	HeapInuse  uint64  `json:"heapInuse"`
	HeapAlloc  uint64  `json:"heapAlloc"`
	StackInuse uint64  `json:"stackInuse"`
	Goroutines int     `json:"goroutines"`
	RSS        uint64  `json:"rss"`
	CPU        float64 `json:"cpuSeconds"`
}

func readStats(s *lpns.Server) stats {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return stats{Sessions: s.Count(), HeapInuse: m.HeapInuse, HeapAlloc: m.HeapAlloc, StackInuse: m.StackInuse,
		Goroutines: runtime.NumGoroutine(), RSS: rss(), CPU: cpu}
}

func cpuNow() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

type blastRequest struct {
	Rate     int           `json:"rate"`
	Duration time.Duration `json:"duration"`
	Devices  int           `json:"devices"`
}

type blastResult struct {
	Sent      int                `json:"sent"`
	Acked     int                `json:"acked"`
	Errors    map[string]int     `json:"errors"`
	Latencies map[string]float64 `json:"latencyMs"`
	CPU       float64            `json:"cpuSeconds"`
	Elapsed   float64            `json:"elapsedSeconds"`
}

func runServer(node, certFile, keyFile, redisURL, prefix string, keepalive time.Duration, lean bool) error {
	auth, err := lpns.NewJWTAuthenticator(lpns.JWTConfig{KeyFunc: func(*jwt.Token) (any, error) { return secret, nil },
		Methods: []string{"HS256"}})
	if err != nil {
		return err
	}
	cfg := lpns.Config{Authenticator: auth, NodeID: node, KeepaliveTimeout: keepalive + keepalive/4,
		FrameRate: 50, FrameBurst: 100}
	if redisURL != "" && prefix != "" {
		opt, err := redis.ParseURL(redisURL)
		if err != nil {
			return err
		}
		opt.PoolSize = 64
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		if cfg.Cluster, err = lpnsredis.New(lpnsredis.Config{Client: rdb, Prefix: prefix}); err != nil {
			return err
		}
	}
	srv, err := lpns.NewServer(context.Background(), cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	}
	ctl := http.NewServeMux()
	ctl.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(readStats(srv)) })
	ctl.HandleFunc("GET /cpu", func(w http.ResponseWriter, r *http.Request) {
		// No forced GC: for CPU measurement windows.
		_ = json.NewEncoder(w).Encode(stats{Sessions: srv.Count(), CPU: cpuNow(), Goroutines: runtime.NumGoroutine()})
	})
	ctl.HandleFunc("GET /keepalives", func(w http.ResponseWriter, r *http.Request) {
		// Sessions whose last keepalive is within [from, to] (unix nanoseconds).
		from, _ := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
		to, _ := strconv.ParseInt(r.URL.Query().Get("to"), 10, 64)
		n := 0
		for _, s := range srv.Sessions() {
			if t := s.LastKeepalive.UnixNano(); t >= from && t <= to && s.LastKeepalive.After(s.ConnectedAt) {
				n++
			}
		}
		fmt.Fprint(w, n)
	})
	ctl.HandleFunc("POST /blast", func(w http.ResponseWriter, r *http.Request) {
		var req blastRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		_ = json.NewEncoder(w).Encode(blast(srv, req))
	})
	ctl.HandleFunc("GET /debug/pprof/", pprof.Index)
	ctlLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if lean {
		go func() { _ = srv.Serve(ln) }()
	} else {
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(ln) }()
	}
	go func() { _ = http.Serve(ctlLn, ctl) }()
	fmt.Printf("READY %s %s\n", ln.Addr(), ctlLn.Addr())
	// Run until stdin closes (the driver exits).
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return srv.Close()
}

// blast sends req.Rate notifications per second to random devices for
// req.Duration and records Send-to-ack latency.
func blast(srv *lpns.Server, req blastRequest) blastResult {
	total := int(float64(req.Rate) * req.Duration.Seconds())
	lat := make([]time.Duration, 0, total)
	var mu sync.Mutex
	errs := map[string]int{}
	var wg sync.WaitGroup
	cpu0 := cpuNow()
	start := time.Now()
	payload := []byte(`{"kind":"voip","data":{"caller":"1001","callerName":"Front desk"}}`)
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(float64(i) / float64(req.Rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		dev := fmt.Sprintf("dev-%d", randN(req.Devices))
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			err := srv.SendPayload(context.Background(), dev, payload)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[err.Error()]++
				return
			}
			lat = append(lat, d)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	return blastResult{Sent: total, Acked: len(lat), Errors: errs, CPU: cpuNow() - cpu0, Elapsed: elapsed.Seconds(),
		Latencies: map[string]float64{"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "p999": pct(0.999), "max": pct(1)}}
}

func randN(n int) int {
	var b [8]byte
	_, _ = rand.Read(b[:])
	v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32
	return int(v % uint64(n))
}

// ---- driver role ----

type driverConfig struct {
	mode               string
	conns, sources     int
	tls                bool
	keepalive, measure time.Duration
	waitKeepalive      bool
	rate               int
	duration           time.Duration
	routed             bool
	redisURL           string
	concurrency        int
	lean               bool
}

type child struct {
	cmd     *exec.Cmd
	stdin   interface{ Close() error }
	ws, ctl string
}

func startServer(args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, append([]string{"-role", "server"}, args...)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("server did not start: %w", err)
	}
	var ws, ctl string
	if _, err := fmt.Sscanf(line, "READY %s %s", &ws, &ctl); err != nil {
		return nil, fmt.Errorf("bad server line %q", line)
	}
	return &child{cmd: cmd, stdin: in, ws: ws, ctl: ctl}, nil
}

func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

func (c *child) stats() (stats, error) { return c.get("/stats") }

func (c *child) cpu() (stats, error) { return c.get("/cpu") }

func (c *child) keepalives(from, to time.Time) int {
	resp, err := http.Get(fmt.Sprintf("http://%s/keepalives?from=%d&to=%d", c.ctl, from.UnixNano(), to.UnixNano()))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var n int
	_, _ = fmt.Fscan(resp.Body, &n)
	return n
}

func (c *child) get(path string) (stats, error) {
	var s stats
	resp, err := http.Get("http://" + c.ctl + path)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func runDriver(cfg driverConfig) error {
	limit := raiseNoFile()
	fmt.Printf("# lpns load test: mode=%s conns=%d tls=%v routed=%v lean=%v GOMAXPROCS=%d nofile=%d go=%s\n",
		cfg.mode, cfg.conns, cfg.tls, cfg.routed, cfg.lean, runtime.GOMAXPROCS(0), limit, runtime.Version())
	var serverArgs []string
	var caPool *x509.CertPool
	if cfg.tls {
		dir, err := os.MkdirTemp("", "lpns-load")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		certFile, keyFile, pool, err := selfSigned(dir)
		if err != nil {
			return err
		}
		caPool = pool
		serverArgs = append(serverArgs, "-cert", certFile, "-key", keyFile)
	}
	serverArgs = append(serverArgs, "-keepalive", cfg.keepalive.String())
	if cfg.lean {
		serverArgs = append(serverArgs, "-lean")
	}
	var a, b *child
	var err error
	if cfg.routed {
		if cfg.redisURL == "" {
			return errors.New("-routed needs -redis or PUSHWIRE_REDIS_URL")
		}
		prefix := fmt.Sprintf("lpnsload:%d:", time.Now().UnixNano())
		ra := append([]string{"-node", "a", "-redis", cfg.redisURL, "-prefix", prefix}, serverArgs...)
		rb := append([]string{"-node", "b", "-redis", cfg.redisURL, "-prefix", prefix}, serverArgs...)
		if a, err = startServer(ra...); err != nil {
			return err
		}
		defer a.stop()
		if b, err = startServer(rb...); err != nil {
			return err
		}
		defer b.stop()
	} else {
		if a, err = startServer(serverArgs...); err != nil {
			return err
		}
		defer a.stop()
		b = a
	}
	base, err := b.stats()
	if err != nil {
		return err
	}
	scheme := "ws"
	if cfg.tls {
		scheme = "wss"
	}
	url := scheme + "://" + b.ws + "/"

	// Transports per source address.
	clients := make([]*http.Client, cfg.sources)
	for i := range clients {
		src := net.IPv4(127, 0, 0, byte(2+i))
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
		clients[i] = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"}}}
	}
	var received atomic.Int64
	conns := make([]*lpns.Client, cfg.conns)
	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < cfg.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"device_id": fmt.Sprintf("dev-%d", i),
					"sub": "load", "exp": time.Now().Add(24 * time.Hour).Unix()}).SignedString(secret)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, err := lpns.Dial(ctx, lpns.ClientConfig{URLs: []string{url},
					Token:             func(context.Context) (string, error) { return tok, nil },
					Handler:           func(context.Context, lpns.Notification) error { received.Add(1); return nil },
					KeepaliveInterval: cfg.keepalive, HTTPClient: clients[i%len(clients)],
					MinBackoff: time.Second, MaxBackoff: 30 * time.Second})
				cancel()
				if err != nil {
					if failed.Add(1) <= 3 {
						fmt.Fprintln(os.Stderr, "dial:", err)
					}
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := 0; i < cfg.conns; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	connectTime := time.Since(start)
	defer func() {
		var cw sync.WaitGroup
		sem := make(chan struct{}, 256)
		for _, c := range conns {
			if c != nil {
				cw.Add(1)
				sem <- struct{}{}
				go func() { defer cw.Done(); _ = c.Close(); <-sem }()
			}
		}
		cw.Wait()
	}()
	time.Sleep(2 * time.Second) // let the server settle
	if os.Getenv("LPNS_LOAD_PAUSE") != "" {
		fmt.Println("paused; server control at http://" + b.ctl + "/debug/pprof/ ; press enter")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	}
	after, err := b.stats()
	if err != nil {
		return err
	}
	n := after.Sessions - base.Sessions
	fmt.Printf("connected %d/%d in %s (%.0f/s), %d failed\n", n, cfg.conns, connectTime.Round(time.Millisecond),
		float64(cfg.conns)/connectTime.Seconds(), failed.Load())
	if n <= 0 {
		return errors.New("no connections")
	}
	heap := float64(after.HeapInuse) - float64(base.HeapInuse)
	stack := float64(after.StackInuse) - float64(base.StackInuse)
	live := float64(after.HeapAlloc) - float64(base.HeapAlloc)
	fmt.Printf("server memory per idle connection: heap in use %.1f KiB (live objects %.1f KiB) + stacks %.1f KiB = %.1f KiB (RSS delta %.1f KiB/conn, goroutines %d→%d)\n",
		heap/float64(n)/1024, live/float64(n)/1024, stack/float64(n)/1024, (heap+stack)/float64(n)/1024,
		(float64(after.RSS)-float64(base.RSS))/float64(n)/1024, base.Goroutines, after.Goroutines)
	fmt.Printf("server CPU spent accepting: %.2f s\n", after.CPU-base.CPU)

	switch cfg.mode {
	case "idle":
		// Clients send their first keepalive after a random half to full
		// interval: the connections are truly idle before that.
		if time.Since(start)+cfg.measure < cfg.keepalive/2 {
			s0, _ := b.cpu()
			time.Sleep(cfg.measure)
			s1, _ := b.cpu()
			fmt.Printf("server CPU while idle (no keepalives due): %.2f%% of one core over %s\n",
				100*(s1.CPU-s0.CPU)/cfg.measure.Seconds(), cfg.measure)
		}
		if cfg.waitKeepalive {
			// Steady state: every client has sent its first keepalive.
			wait := time.Until(start.Add(connectTime + cfg.keepalive + 2*time.Second))
			if wait > 0 {
				time.Sleep(wait)
			}
			t0 := time.Now()
			k0, _ := b.cpu()
			time.Sleep(cfg.measure)
			k1, _ := b.cpu()
			t1 := time.Now()
			kas := b.keepalives(t0, t1) // exact when measure < keepalive
			fmt.Printf("server CPU with keepalives flowing (%d keepalives in %s = %.0f/s; %d conns at %s would be %.0f/s): %.2f%% of one core; sessions %d\n",
				kas, cfg.measure, float64(kas)/t1.Sub(t0).Seconds(), n, cfg.keepalive, float64(n)/cfg.keepalive.Seconds(),
				100*(k1.CPU-k0.CPU)/t1.Sub(t0).Seconds(), k1.Sessions)
		}
	case "latency":
		body, _ := json.Marshal(blastRequest{Rate: cfg.rate, Duration: cfg.duration, Devices: cfg.conns})
		resp, err := http.Post("http://"+a.ctl+"/blast", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		var res blastResult
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil {
			return err
		}
		fmt.Printf("latency Send→ack at %d/s for %s over %d clients (routed=%v): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; acked %d/%d in %.1f s; sending node CPU %.0f%%; errors %v\n",
			cfg.rate, cfg.duration, n, cfg.routed, res.Latencies["p50"], res.Latencies["p90"], res.Latencies["p99"], res.Latencies["p999"],
			res.Latencies["max"], res.Acked, res.Sent, res.Elapsed, 100*res.CPU/res.Elapsed, res.Errors)
	}
	return nil
}

func selfSigned(dir string) (string, string, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lpns load test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool, nil
}
