package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/internal/faultproxy"
	"github.com/pushwire/pushwire/internal/testenv"
)

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestStartupWaitsForRegistry starts the program while its Redis registry
// hangs (through a fault proxy): it listens at once with /healthz 200,
// /readyz 503 and the API 503 with Retry-After, and serves once Redis
// answers, without a restart.
func TestStartupWaitsForRegistry(t *testing.T) {
	u := testenv.URL(t, testenv.RedisURL)
	target := strings.SplitN(strings.TrimPrefix(u, "redis://"), "/", 2)[0]
	p, err := faultproxy.New(target)
	require.NoError(t, err)
	defer p.Close()
	p.SetMode(faultproxy.Hang)

	var out, errb testenv.SyncBuffer
	keyFile := filepath.Join(t.TempDir(), "state.key")
	require.Equal(t, 0, run(context.Background(), []string{"-generate-state-key", keyFile}, &out, &errb))
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-registry", "redis://" + p.Addr() + "/0", "-state-key-file", keyFile,
			"-addr", addr, "-registry-wait", "30s"}, &out, &errb)
	}()
	get := func(path string) (int, http.Header, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	require.Eventually(t, func() bool { s, _, _ := get("/healthz"); return s == http.StatusOK }, 10*time.Second, 10*time.Millisecond)
	status, _, body := get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, status, body)
	status, h, body := get(connector.BasePath + "/device-registrations/abcdefghijklmnopqrstuvwxyz")
	assert.Equal(t, http.StatusServiceUnavailable, status, body)
	assert.NotEmpty(t, h.Get("Retry-After"))
	assert.NotContains(t, out.String(), "listening on")

	p.SetMode(faultproxy.Pass)
	require.Eventually(t, func() bool { s, _, _ := get("/readyz"); return s == http.StatusOK }, 20*time.Second, 20*time.Millisecond,
		"stderr: %s", errb.String())
	// The line follows the switch to the ready handler by an instant.
	assert.Eventually(t, func() bool { return strings.Contains(out.String(), "listening on") }, 5*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, "stderr: %s", errb.String())
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// TestStartupStopsWhileWaiting: cancelling the program while it waits for
// its registry ends it cleanly; meanwhile the Redis client's own lines are
// records of the program's log format.
func TestStartupStopsWhileWaiting(t *testing.T) {
	var out, errb testenv.SyncBuffer
	keyFile := filepath.Join(t.TempDir(), "state.key")
	require.Equal(t, 0, run(context.Background(), []string{"-generate-state-key", keyFile}, &out, &errb))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	code := run(ctx, []string{"-registry", "redis://127.0.0.1:1/0", "-state-key-file", keyFile, "-addr", "127.0.0.1:0",
		"-log-format", "json"}, &out, &errb)
	assert.Equal(t, 0, code, "stderr: %s", errb.String())
	assert.Contains(t, errb.String(), "registry unavailable; retrying")
	// The Redis client's own lines go through the program's logger.
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		assert.True(t, strings.HasPrefix(line, `{"time":`), "not a json record: %q", line)
	}
	assert.Contains(t, errb.String(), `"msg":"redis client"`)
}

// TestSecretFilesRefused: secret files open to group or others, and secrets
// or tokens under connector.MinSecretLen bytes (just under; at the minimum
// they pass), are usage errors.
func TestSecretFilesRefused(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode uint32) string {
		p := filepath.Join(dir, name)
		require.NoError(t, writeFileMode(p, content, mode))
		return p
	}
	long := strings.Repeat("k", connector.MinSecretLen)
	short := strings.Repeat("k", connector.MinSecretLen-1)
	tests := []struct {
		name string
		args []string
		want string // "" = accepted
	}{
		{"secret file 0640", []string{"-secret-file", write("s640", long, 0o640)}, "chmod 600"},
		{"secret file 0604", []string{"-secret-file", write("s604", long, 0o604)}, "chmod 600"},
		{"admin token 0644", []string{"-admin-token-file", write("a644", long, 0o644)}, "chmod 600"},
		{"registration token 0660", []string{"-registration-token-file", write("r660", long, 0o660)}, "chmod 600"},
		{"fcm credentials 0644", []string{"-fcm-credentials", write("sa644", "{}", 0o644)}, "chmod 600"},
		{"short secret", []string{"-secret-file", write("short", long+"\n"+short, 0o600)}, "line 2"},
		{"short admin token", []string{"-admin-token-file", write("ashort", short, 0o600)}, "at least 16"},
		{"short registration token", []string{"-registration-token-file", write("rshort", short, 0o600)}, "at least 16"},
		{"minimum lengths", []string{"-secret-file", write("sok", long, 0o400), "-admin-token-file", write("aok", long, 0o600),
			"-registration-token-file", write("rok", long, 0o600)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse(tt.args, func(string) string { return "" }, io.Discard)
			require.NoError(t, err)
			_, err = readFiles(o)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "kkkk", "the secret is not echoed")
		})
	}
}

func writeFileMode(path, content string, mode uint32) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Chmod(path, os.FileMode(mode))
}
