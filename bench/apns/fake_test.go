package apns

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushwire/pushwire/apns"
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

var (
	buildOnce sync.Once
	fakeBin   string
	buildErr  error

	procsMu sync.Mutex
	procs   = map[time.Duration]*fakeProc{}
)

// fakeBinary builds examples/apnsfake from the main module once (or uses
// $APNSFAKE_BIN).
func fakeBinary() (string, error) {
	buildOnce.Do(func() {
		if p := os.Getenv("APNSFAKE_BIN"); p != "" {
			fakeBin = p
			return
		}
		dir, err := os.MkdirTemp("", "apnsfake-bin-")
		if err != nil {
			buildErr = err
			return
		}
		fakeBin = filepath.Join(dir, "apnsfake")
		cmd := exec.Command("go", "build", "-o", fakeBin, "./examples/apnsfake")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build apnsfake: %v\n%s", err, out)
		}
	})
	return fakeBin, buildErr
}

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
	bin, err := fakeBinary()
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
	os.Exit(code)
}
