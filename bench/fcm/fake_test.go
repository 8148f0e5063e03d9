package fcm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire/bench/internal/benchproc"
)

// fakeProc is examples/fcmfake running as a child process.
type fakeProc struct {
	cmd   *exec.Cmd
	URL   string
	Creds []byte
	// Lines receives the message lines the fake prints (unless quiet).
	Lines chan map[string]any
	done  chan struct{}
}

// fakeExample is examples/fcmfake, built once per test binary (or taken
// from $FCMFAKE_BIN).
var fakeExample = &benchproc.Example{Name: "fcmfake", Env: "FCMFAKE_BIN"}

// startFake starts a fake process for one test; quiet suppresses the
// message lines.
func startFake(tb testing.TB, quiet bool) *fakeProc {
	tb.Helper()
	f, err := startFakeProc(tb.TempDir(), quiet)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.stop)
	return f
}

// startFakeProc starts a fake process on a free loopback port, writing its
// credentials into dir; extra adds flags.
func startFakeProc(dir string, quiet bool, extra ...string) (*fakeProc, error) {
	bin, err := fakeExample.Path()
	if err != nil {
		return nil, err
	}
	credPath := filepath.Join(dir, "sa.json")
	args := []string{"-addr", "127.0.0.1:0", "-credentials", credPath}
	if quiet {
		args = append(args, "-quiet")
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	f := &fakeProc{cmd: cmd, Lines: make(chan map[string]any, 1024), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				select {
				case f.Lines <- line:
				default: // nobody listening
				}
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(credPath)
		if err == nil && len(b) > 0 {
			f.Creds = b
			break
		}
		if time.Now().After(deadline) {
			f.stop()
			return nil, fmt.Errorf("fcmfake did not write its credentials")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var sa struct {
		TokenURI string `json:"token_uri"`
	}
	if err := json.Unmarshal(f.Creds, &sa); err != nil {
		f.stop()
		return nil, err
	}
	f.URL = strings.TrimSuffix(sa.TokenURI, "/token")
	return f, nil
}

func (f *fakeProc) stop() {
	_ = f.cmd.Process.Signal(os.Interrupt)
	waited := make(chan struct{})
	go func() { _ = f.cmd.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		_ = f.cmd.Process.Kill()
		<-waited
	}
	<-f.done
}

// sharedFake is one quiet fake process for all benchmarks, started on
// first use and stopped by TestMain.
var (
	sharedOnce sync.Once
	shared     *fakeProc
	sharedErr  error
	sharedDir  string
)

func sharedFake(tb testing.TB) *fakeProc {
	tb.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "fcmfake-shared-")
		if sharedErr == nil {
			shared, sharedErr = startFakeProc(sharedDir, true)
		}
	})
	if sharedErr != nil {
		tb.Fatal(sharedErr)
	}
	return shared
}

// sharedTLSFake is a quiet fake serving HTTPS with HTTP/2. Its certificate
// is written to the file SSL_CERT_FILE names (set by TestMain before any
// TLS use), so that both clients trust it in their default configuration.
var (
	tlsOnce   sync.Once
	tlsShared *fakeProc
	tlsErr    error
	caFile    string
)

func sharedTLSFake(tb testing.TB) *fakeProc {
	tb.Helper()
	tlsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fcmfake-tls-")
		if err != nil {
			tlsErr = err
			return
		}
		tlsShared, tlsErr = startFakeProc(dir, true, "-tls", "-cacert", caFile)
	})
	if tlsErr != nil {
		tb.Fatal(tlsErr)
	}
	return tlsShared
}

func TestMain(m *testing.M) {
	caDir, err := os.MkdirTemp("", "fcmfake-ca-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caFile = filepath.Join(caDir, "ca.pem")
	os.Setenv("SSL_CERT_FILE", caFile)
	code := m.Run()
	os.RemoveAll(caDir)
	if tlsShared != nil {
		tlsShared.stop()
	}
	if shared != nil {
		shared.stop()
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	fakeExample.Remove()
	os.Exit(code)
}
