package apns

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/bench/internal/benchproc"
)

// fakeProc is examples/apnsfake running as a child process.
type fakeProc struct {
	cmd    *exec.Cmd
	URL    string
	Pool   *x509.CertPool
	Key    *ecdsa.PrivateKey
	KeyID  string
	TeamID string
	done   chan struct{}
}

// fakeExample is examples/apnsfake, built once per test binary (or taken
// from $APNSFAKE_BIN).
var fakeExample = &benchproc.Example{Name: "apnsfake", Env: "APNSFAKE_BIN"}

var (
	procsMu sync.Mutex
	procs   = map[time.Duration]*fakeProc{}
)

var urlRE = regexp.MustCompile(`url=(https://127\.0\.0\.1:\d+)`)

// fake returns the shared fake process with the given latency, starting it
// on first use. stopFakes ends them all.
func fake(tb testing.TB, latency time.Duration) *fakeProc {
	tb.Helper()
	procsMu.Lock()
	defer procsMu.Unlock()
	if f := procs[latency]; f != nil {
		return f
	}
	bin, err := fakeExample.Path()
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "apnsfake-")
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-dir", dir, "-quiet", "-latency", latency.String())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	f := &fakeProc{cmd: cmd, done: make(chan struct{})}
	urlc := make(chan string, 1)
	go func() {
		defer close(f.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case f.URL = <-urlc:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		tb.Fatal("apnsfake did not start")
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	f.Pool = x509.NewCertPool()
	f.Pool.AppendCertsFromPEM(ca)
	p8, err := os.ReadFile(filepath.Join(dir, "AuthKey.p8"))
	if err != nil {
		tb.Fatal(err)
	}
	if f.Key, err = apns.ParseP8(p8); err != nil {
		tb.Fatal(err)
	}
	var ids struct {
		KeyID  string `json:"keyId"`
		TeamID string `json:"teamId"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "key.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ids); err != nil {
		tb.Fatal(err)
	}
	f.KeyID, f.TeamID = ids.KeyID, ids.TeamID
	procs[latency] = f
	return f
}

// stopFakes ends every fake process.
func stopFakes() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for k, f := range procs {
		_ = f.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-f.done:
		case <-time.After(5 * time.Second):
			_ = f.cmd.Process.Kill()
		}
		_ = f.cmd.Wait()
		delete(procs, k)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopFakes()
	fakeExample.Remove()
	os.Exit(code)
}
