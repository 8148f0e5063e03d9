package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/lpns"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, args ...string) (ws, admin string, stderr *testenv.SyncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	code := make(chan int, 1)
	stderr = &testenv.SyncBuffer{}
	go func() { code <- run(ctx, args, io.Discard, stderr, ready) }()
	select {
	case urls := <-ready:
		return urls[0], urls[1], stderr, func() int { cancel(); return <-code }
	case c := <-code:
		cancel()
		t.Fatalf("exited with %d: %s", c, stderr.String())
	}
	return
}

func TestDemoEndToEnd(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	ws, admin, _, stop := start(t, "-demo", "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-demo-every", "0")
	defer stop()

	tok, err := os.ReadFile(demoPath("device.token"))
	require.NoError(t, err)
	got := make(chan lpns.Notification, 4)
	c, err := lpns.Dial(context.Background(), lpns.ClientConfig{URLs: []string{ws},
		Token:   func(context.Context) (string, error) { return strings.TrimSpace(string(tok)), nil },
		Handler: func(_ context.Context, n lpns.Notification) error { got <- n; return nil }})
	require.NoError(t, err)
	defer c.Close()

	adminTok, err := os.ReadFile(demoPath("admin.token"))
	require.NoError(t, err)
	do := func(method, path, body, bearer string) (int, map[string]any) {
		req, err := http.NewRequest(method, admin+path, strings.NewReader(body))
		require.NoError(t, err)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	bearer := strings.TrimSpace(string(adminTok))
	status, out := do("POST", "/send", `{"deviceId":"demo-phone","payload":{"caller":"1001"}}`, bearer)
	require.Equal(t, 200, status, out)
	assert.Equal(t, "local", out["path"])
	n := <-got
	assert.JSONEq(t, `{"caller":"1001"}`, string(n.Payload))
	assert.Equal(t, out["id"], n.ID)

	status, out = do("GET", "/sessions", "", bearer)
	require.Equal(t, 200, status)
	assert.EqualValues(t, 1, out["count"])
	status, _ = do("POST", "/send", `{"deviceId":"nobody","payload":{}}`, bearer)
	assert.Equal(t, 404, status)
	// The error answers PROTOCOL.md lists for the send API.
	for _, tt := range []struct {
		body   string
		status int
	}{
		{`{"payload":{}}`, 400},
		{`not json`, 400},
		{`{"deviceId":"demo-phone","id":"` + strings.Repeat("i", 129) + `","payload":{}}`, 400},
		{`{"deviceId":"demo-phone","payload":{"pad":"` + strings.Repeat("x", 5200) + `"}}`, 413},
	} {
		status, out := do("POST", "/send", tt.body, bearer)
		assert.Equal(t, tt.status, status, "%.40s", tt.body)
		assert.NotEmpty(t, out["error"])
	}
	status, _ = do("GET", "/sessions", "", "wrong")
	assert.Equal(t, 401, status)
	status, _ = do("GET", "/metrics", "", bearer)
	assert.Equal(t, 200, status)
	status, out = do("POST", "/disconnect", `{"deviceId":"demo-phone","reason":"logged-out"}`, bearer)
	assert.Equal(t, 200, status)
	assert.Equal(t, true, out["found"])
	<-c.Done()
}

func TestCertificateWarnings(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lpns.example.internal"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(1000 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600))
		return p
	}
	cert, keyFile := write("cert.pem", "CERTIFICATE", der), write("key.pem", "PRIVATE KEY", kder)
	jwtKey := write("jwt.pem", "PUBLIC KEY", pubDER)
	adminFile := filepath.Join(dir, "admin")
	require.NoError(t, os.WriteFile(adminFile, []byte("0123456789abcdef0123"), 0o600))

	_, _, stderr, stop := start(t, "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-tls-cert", cert, "-tls-key", keyFile,
		"-host", "lpns.example.internal", "-jwt-key", jwtKey, "-admin-token-file", adminFile)
	assert.Equal(t, 0, stop())
	assert.Contains(t, stderr.String(), "problem=no-san")
	assert.Contains(t, stderr.String(), "problem=validity-too-long")
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no tls", []string{"-jwt-key", "x", "-admin-token-file", "y"}, "-tls-cert"},
		{"insecure on a public address", []string{"-insecure-ws", "-addr", "0.0.0.0:9560"}, "loopback"},
		{"no admin token", []string{"-insecure-ws", "-addr", "127.0.0.1:0"}, "-admin-token-file"},
		{"bad flag", []string{"-nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), tt.args, io.Discard, &stderr, nil)
			assert.NotEqual(t, 0, code)
			assert.Contains(t, stderr.String(), tt.want)
		})
	}
}

func TestAPNsFallbackFlags(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	fake := apnstest.NewServer(apnstest.Config{})
	defer fake.Close()
	dir := t.TempDir()
	keyFile, caFile := filepath.Join(dir, "key.p8"), filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(keyFile, fake.AuthKeyPEM(), 0o600))
	require.NoError(t, os.WriteFile(caFile, fake.CAPEM(), 0o600))
	_, admin, _, stop := start(t, "-demo", "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-demo-every", "0",
		"-apns-key", keyFile, "-apns-key-id", fake.KeyID, "-apns-team-id", fake.TeamID, "-apns-topic", "com.example.phone",
		"-apns-base-url", fake.URL, "-apns-ca", caFile)
	defer stop()
	adminTok, err := os.ReadFile(demoPath("admin.token"))
	require.NoError(t, err)

	const voip = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
	req, err := http.NewRequest("POST", admin+"/send", strings.NewReader(`{"deviceId":"away-phone","apnsToken":"`+voip+`","payload":{"caller":"1001"}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(adminTok)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, http.StatusOK, resp.StatusCode, out)
	assert.Equal(t, "remote", out["path"])

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	notes, err := fake.WaitForNotifications(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, "voip", notes[0].PushType)
	assert.Equal(t, "com.example.phone.voip", notes[0].Topic)
	assert.Equal(t, voip, notes[0].Token)
	assert.Equal(t, out["id"], notes[0].APNsID)
	var payload map[string]any
	require.NoError(t, json.Unmarshal(notes[0].Payload, &payload))
	assert.Equal(t, "1001", payload["caller"], "payload members travel as data")
}

// The demo's folder has a predictable name in a shared temporary directory.
// Files someone left there with a lax mode get mode 0600 again (and a
// symbolic link planted at a token's path is replaced, not followed); a
// folder this user does not own is refused.
func TestDemoTokenFilesArePrivate(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dir := filepath.Dir(demoPath("x"))
	require.NoError(t, os.Mkdir(dir, 0o777))
	require.NoError(t, os.Chmod(dir, 0o777)) // whatever the umask
	require.NoError(t, os.WriteFile(demoPath("device.token"), []byte("old"), 0o644))
	target := filepath.Join(t.TempDir(), "elsewhere")
	require.NoError(t, os.WriteFile(target, []byte("untouched"), 0o644))
	require.NoError(t, os.Symlink(target, demoPath("admin.token")))

	_, _, _, stop := start(t, "-demo", "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-demo-every", "0")
	defer stop()
	for _, p := range []string{dir, demoPath("device.token"), demoPath("admin.token")} {
		info, err := os.Lstat(p)
		require.NoError(t, err)
		assert.Zero(t, info.Mode().Perm()&0o077, "%s: mode %v", p, info.Mode())
		assert.Zero(t, info.Mode()&os.ModeSymlink, "%s is a regular file", p)
	}
	b, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "untouched", string(b), "the link's target was not written")

	// A path that is not a directory is refused.
	assert.Error(t, privateDir(demoPath("device.token")))
}

// -jwt-alg never accepts "none", alone or in a list.
func TestJWTAlgNoneRefused(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	jwtKey := filepath.Join(dir, "jwt.pem")
	require.NoError(t, os.WriteFile(jwtKey, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600))
	adminFile := filepath.Join(dir, "admin")
	require.NoError(t, os.WriteFile(adminFile, []byte("0123456789abcdef0123"), 0o600))
	tests := []struct{ alg, want string }{
		{"ES256,HS256,none", `"none" is refused`},
		{"none", `"none" is refused`},
		{"ES256, NONE", `"NONE" is refused`},
		{"ES265", `unknown jwt method "ES265"`},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			var stderr bytes.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // a server that starts stops at once (and exits 0)
			code := run(ctx, []string{"-insecure-ws", "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0",
				"-admin-token-file", adminFile, "-jwt-key", jwtKey, "-jwt-alg", tt.alg}, io.Discard, &stderr, nil)
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr.String(), tt.want)
		})
	}
}

// Weak settings are refused at start-up: an algorithm the public key cannot
// verify (HMAC, another key type) and a secret file its group or others may read.
func TestWeakSettingsRefused(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	jwtKey := filepath.Join(dir, "jwt.pem")
	require.NoError(t, os.WriteFile(jwtKey, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644))
	admin := filepath.Join(dir, "admin")
	require.NoError(t, os.WriteFile(admin, []byte("0123456789abcdef0123"), 0o600))
	open := filepath.Join(dir, "admin-open")
	require.NoError(t, os.WriteFile(open, []byte("0123456789abcdef0123"), 0o640))
	base := []string{"-insecure-ws", "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-jwt-key", jwtKey}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"hmac with a public key", []string{"-jwt-alg", "ES256,HS256", "-admin-token-file", admin}, `"HS256" cannot be verified`},
		{"rsa with an ecdsa key", []string{"-jwt-alg", "RS256", "-admin-token-file", admin}, `"RS256" cannot be verified`},
		{"admin token readable by the group", []string{"-admin-token-file", open}, "chmod 600 " + open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), append(append([]string{}, base...), tt.args...), io.Discard, &stderr, nil)
			assert.NotEqual(t, 0, code)
			assert.Contains(t, stderr.String(), tt.want)
		})
	}
}
