package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestDemo(t *testing.T) {
	var out, errb testenv.SyncBuffer
	code := run(context.Background(), []string{"-demo", "-demo-exit", "-addr", "127.0.0.1:0"}, &out, &errb)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	o := out.String()
	assert.Contains(t, o, `"delivered":4`)
	assert.Contains(t, o, "fake FCM received")
	assert.Contains(t, o, "fake APNs received")
	checkSealedDemo(t, o)
	assert.Contains(t, o, "X-hmac: ")
	assert.Contains(t, o, "curl -i -X PUT ")

	// The printed callback's X-hmac is right for its body and the printed secret.
	secret := regexp.MustCompile(`AXP secret of configuration \S+: (\S+)`).FindStringSubmatch(o)
	require.Len(t, secret, 2)
	m := regexp.MustCompile(`-H 'X-hmac: ([0-9a-f]+)' -d '(\{[^']+\})'`).FindStringSubmatch(o)
	require.Len(t, m, 3)
	var ev map[string]string
	require.NoError(t, json.Unmarshal([]byte(m[2]), &ev))
	assert.NoError(t, hmacverify.Verify([]byte(secret[1]), ev["eventId"], ev["sessionId"], m[1]))
	assert.Contains(t, errb.String(), "outcome=delivered")
}

// checkSealedDemo checks the demo's sealed push: what the fake FCM
// received is ciphertext without the event's content, and the plaintext the
// device opened holds the event.
func checkSealedDemo(t *testing.T, o string) {
	t.Helper()
	conv := regexp.MustCompile(`"conversationId":"([^"]+)"`).FindStringSubmatch(o)
	require.Len(t, conv, 2, o)
	line := regexp.MustCompile(`fake FCM received for token \S+: sealed data-only, encoding aes128gcm, trackingId (\S+), ciphertext ([A-Za-z0-9_-]{48})… \((\d+) characters\)\n`).FindStringSubmatch(o)
	require.Len(t, line, 4, o)
	assert.NotContains(t, line[0], conv[1], "the ciphertext line shows no content")
	opened := regexp.MustCompile(`the sealed device opened its push with its private key: (\{.*\})\n`).FindStringSubmatch(o)
	require.Len(t, opened, 2, o)
	var c struct {
		Kind       string            `json:"kind"`
		Data       map[string]string `json:"data"`
		TrackingID string            `json:"trackingId"`
	}
	require.NoError(t, json.Unmarshal([]byte(opened[1]), &c))
	assert.Equal(t, "data", c.Kind)
	assert.Equal(t, conv[1], c.Data["conversationId"])
	assert.Equal(t, line[1], c.TrackingID)
}

// With -seal-strict only the device with payload keys is pushed; with
// -seal=false it gets its push in the clear.
func TestDemoSealModes(t *testing.T) {
	var out, errb testenv.SyncBuffer
	code := run(context.Background(), []string{"-demo", "-demo-exit", "-addr", "127.0.0.1:0", "-seal-strict"}, &out, &errb)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	o := out.String()
	assert.Contains(t, o, `"delivered":1,"failed":3`)
	assert.NotContains(t, o, "fake APNs received")
	checkSealedDemo(t, o)
	assert.Contains(t, errb.String(), "permanent delivery failure (Unsealed)")

	var plainOut, plainErr testenv.SyncBuffer
	code = run(context.Background(), []string{"-demo", "-demo-exit", "-addr", "127.0.0.1:0", "-seal=false"}, &plainOut, &plainErr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", plainOut.String(), plainErr.String())
	assert.Contains(t, plainOut.String(), `"delivered":4`)
	assert.Contains(t, plainOut.String(), "-seal=false: the device with payload keys got its push in the clear")
	assert.NotContains(t, plainOut.String(), "sealed data-only")
}

// TestDemoRegistries runs the demo round on the registry backends a
// program can be given by DSN.
func TestDemoRegistries(t *testing.T) {
	dsns := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "demo.db")}
	if u := os.Getenv("PUSHWIRE_REDIS_URL"); u != "" {
		dsns["redis"] = u
	} else if os.Getenv("CI") != "" {
		t.Fatal("PUSHWIRE_REDIS_URL is not set under CI")
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			var out, errb testenv.SyncBuffer
			code := run(context.Background(), []string{"-demo", "-demo-exit", "-addr", "127.0.0.1:0", "-registry", dsn}, &out, &errb)
			require.Equal(t, 0, code, "stderr:\n%s", errb.String())
			assert.Contains(t, out.String(), `"delivered":4`)
			checkSealedDemo(t, out.String())
		})
	}
	var out, errb testenv.SyncBuffer
	keyFile := filepath.Join(t.TempDir(), "state.key")
	require.Equal(t, 0, run(context.Background(), []string{"-generate-state-key", keyFile}, &out, &errb))
	code := run(context.Background(), []string{"-registry", "redis://127.0.0.1:1/0", "-state-key-file", keyFile,
		"-addr", "127.0.0.1:0", "-registry-wait", "1s"}, &out, &errb)
	assert.Equal(t, 1, code, "an unreachable registry is not a usage error")
	assert.Contains(t, errb.String(), "registry")
	assert.Contains(t, errb.String(), "gave up after")
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	notSA := filepath.Join(dir, "not-sa.json")
	require.NoError(t, os.WriteFile(notSA, []byte(`{"type":"authorized_user"}`), 0o600))
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"-nope"}, nil, "flag provided but not defined"},
		{"extra argument", []string{"serve"}, nil, "unexpected argument"},
		{"unreadable secret file", []string{"-secret-file", filepath.Join(dir, "missing")}, nil, "-secret-file: cannot read"},
		{"empty secret file", []string{"-secret-file", empty}, nil, "holds no secret"},
		{"unreadable admin token", []string{"-admin-token-file", filepath.Join(dir, "missing")}, nil, "-admin-token-file"},
		{"unreadable fcm credentials", []string{"-fcm-credentials", filepath.Join(dir, "missing")}, nil, "-fcm-credentials"},
		{"bad log format", []string{"-log-format", "xml"}, nil, "-log-format"},
		{"bad log format from env", nil, map[string]string{"PUSHWIRE_LOG_FORMAT": "xml"}, "-log-format"},
		{"bad duration from env", nil, map[string]string{"PUSHWIRE_DELIVERY_TIMEOUT": "soon"}, "PUSHWIRE_DELIVERY_TIMEOUT"},
		{"tls cert without key", []string{"-tls-cert", empty}, nil, "-tls-cert and -tls-key"},
		{"bad registry", []string{"-registry", "mysql://u:pw@h/db"}, nil, "-registry must be"},
		{"bad config id", []string{"-config-id", "a b"}, nil, "-config-id"},
		{"apns key alone", []string{"-apns-key", empty}, nil, "-apns-key needs"},
		{"demo-exit alone", []string{"-demo-exit"}, nil, "-demo-exit needs -demo"},
		{"seal-strict without seal", []string{"-seal=false", "-seal-strict"}, nil, "-seal-strict needs -seal"},
		{"zero ttl", []string{"-registration-ttl", "0s"}, nil, "-registration-ttl"},
		{"zero dedupe ttl", []string{"-dedupe-ttl", "0s"}, nil, "-dedupe-ttl"},
		{"negative dedupe ttl from env", nil, map[string]string{"PUSHWIRE_DEDUPE_TTL": "-1h"}, "-dedupe-ttl"},
		{"empty fcm credentials", []string{"-fcm-credentials", empty}, nil, "is empty"},
		{"bad trusted proxies", []string{"-trusted-proxies", "10.0.0.0/8,proxy.example"}, nil, "-trusted-proxies"},
		{"bad trusted proxies from env", nil, map[string]string{"PUSHWIRE_TRUSTED_PROXIES": "10.0.0.0/40"}, "-trusted-proxies"},
		{"bad proxy header", []string{"-proxy-header", "X-Real-IP"}, nil, "-proxy-header"},
		{"bad fcm credentials", []string{"-fcm-credentials", notSA, "-addr", "127.0.0.1:0"}, nil, "start-up configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errb testenv.SyncBuffer
			// A usage error returns at once; the deadline only stops a
			// program that wrongly started serving.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			code := run(ctx, tt.args, &out, &errb)
			assert.Equal(t, 2, code)
			msg := errb.String()
			assert.Contains(t, msg, tt.want)
			assert.Equal(t, 1, strings.Count(msg, "\n"), "one line: %q", msg)
			assert.NotContains(t, msg, "pw@", "no password in messages")
		})
	}
}

func TestHelpListsEnvironment(t *testing.T) {
	var out, errb testenv.SyncBuffer
	assert.Equal(t, 0, run(context.Background(), []string{"-h"}, &out, &errb))
	for _, name := range []string{"PUSHWIRE_ADDR", "PUSHWIRE_SECRET_FILE", "PUSHWIRE_REGISTRY", "PUSHWIRE_FCM_BASE_URL",
		"PUSHWIRE_APNS_CA", "PUSHWIRE_ADMIN_TOKEN_FILE", "PUSHWIRE_REGISTRATION_TOKEN_FILE", "PUSHWIRE_LOG_FORMAT"} {
		assert.Contains(t, errb.String(), "["+name+"]")
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{
		"PUSHWIRE_ADDR":             "127.0.0.1:9999",
		"PUSHWIRE_REGISTRY":         "redis://127.0.0.1:1/0",
		"PUSHWIRE_CONFIG_ID":        "from-env",
		"PUSHWIRE_RATE_LIMIT":       "3.5",
		"PUSHWIRE_DEMO":             "true",
		"PUSHWIRE_APNS_TOPIC":       "com.example.env",
		"PUSHWIRE_LOG_FORMAT":       "json",
		"PUSHWIRE_REGISTRATION_TTL": "48h",
		"PUSHWIRE_TRUSTED_PROXIES":  "10.0.0.0/8, 192.0.2.7",
		"PUSHWIRE_UNRELATED_X":      "ignored",
	}
	o, err := parse([]string{"-config-id", "from-flag"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9999", o.addr)
	assert.Equal(t, "redis://127.0.0.1:1/0", o.registryDSN)
	assert.Equal(t, "from-flag", o.configID, "the command line wins")
	assert.InDelta(t, 3.5, o.rateLimit, 1e-9)
	assert.True(t, o.demo)
	assert.Equal(t, "com.example.env", o.apnsTopic)
	assert.Equal(t, "json", o.logFormat)
	assert.Equal(t, 48*time.Hour, o.registrationTTL)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}, o.trusted)
	assert.Equal(t, "X-Forwarded-For", o.proxyHeader)
	assert.Equal(t, "PUSHWIRE_REGISTRATION_TOKEN_FILE", envName("registration-token-file"))
}

// TestRealMode runs the program against a fake FCM given by flags, as an
// operator would, then stops it with the context (SIGINT).
func TestRealMode(t *testing.T) {
	fake := fcmtest.NewServer(fcmtest.Config{})
	defer fake.Close()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	configID := uuid.NewString()
	args := []string{
		"-addr", "127.0.0.1:0",
		"-config-id", configID,
		"-secret-file", write("secret", "old-secret-0123456789\nnew-secret-0123456789\n"),
		"-fcm-credentials", write("sa.json", string(fake.ServiceAccountJSON())),
		"-fcm-base-url", fake.URL,
		"-admin-token-file", write("admin", "admin-token-0123456789\n"),
		"-registration-token-file", write("reg", "reg-token-0123456789ab\n"),
		"-log-format", "json",
		"-metrics-addr", "127.0.0.1:0",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testenv.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &out, &errb) }()

	var base string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	}, 10*time.Second, 10*time.Millisecond, "stderr: %s", errb.String())
	assert.Contains(t, out.String(), "push configuration id: "+configID)

	do := func(method, path, body string, h map[string]string) (int, string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	session, token := uuid.NewString(), "tok:APA91b"+strings.Repeat("x", 40)
	reg := `{"configId":"` + configID + `","sessionId":"` + session + `"}`
	status, _ := do(http.MethodPut, connector.BasePath+"/device-registrations/"+token, reg, nil)
	assert.Equal(t, http.StatusUnauthorized, status, "registration needs the token")
	status, body := do(http.MethodPut, connector.BasePath+"/device-registrations/"+token, reg, map[string]string{"Authorization": "Bearer reg-token-0123456789ab"})
	require.Equal(t, http.StatusOK, status, body)

	eventID := uuid.NewString()
	ev := `{"eventId":"` + eventID + `","sessionId":"` + session + `","conversationId":"c","customerId":"x","eventDate":"2024-03-18T11:00:24.481Z"}`
	status, body = do(http.MethodPost, connector.BasePath+"/axp-callback/notifications", ev,
		map[string]string{"X-hmac": hmacverify.Sign([]byte("new-secret-0123456789"), eventID, session)})
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"delivered":1`)
	assert.Len(t, fake.Messages(), 1)

	status, body = do(http.MethodGet, connector.BasePath+"/configs/"+configID, "", map[string]string{"Authorization": "Bearer admin-token-0123456789"})
	require.Equal(t, http.StatusOK, status)
	assert.NotContains(t, body, "PRIVATE KEY")
	assert.Contains(t, body, `"secretCount":2`)

	status, _ = do(http.MethodGet, "/metrics", "", nil)
	assert.Equal(t, http.StatusNotFound, status, "no metrics on the API listener")
	m := regexp.MustCompile(`metrics on (\S+)`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	resp, err := http.Get(m[1])
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body = string(b)
	assert.Contains(t, body, `pushwire_connector_deliveries_total{outcome="delivered",provider="fcm"} 1`)
	assert.Contains(t, body, `pushwire_connector_requests_total{route="callback",status="200"} 1`)
	assert.Contains(t, body, "pushwire_connector_delivery_duration_seconds_bucket")
	status, _ = do(http.MethodGet, "/readyz", "", nil)
	assert.Equal(t, http.StatusOK, status)

	// A non-canonical path gets the connector's 404, not a redirect.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(base + connector.BasePath + "//device-registrations/" + token)
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, string(b), `"message"`)

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, "stderr: %s", errb.String())
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	assert.Contains(t, errb.String(), `"msg":"delivery"`)
	assert.NotContains(t, errb.String(), token, "logs carry token suffixes only")
}

// TestTLS serves HTTPS with -tls-cert/-tls-key.
func TestTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testenv.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-tls-cert", certFile, "-tls-key", keyFile}, &out, &errb)
	}()
	var base string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`listening on (https://\S+)`).FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	}, 10*time.Second, 10*time.Millisecond, "stderr: %s", errb.String())
	pool := x509.NewCertPool()
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	assert.Equal(t, 0, <-done)
}

// TestGracefulShutdown cancels the program (SIGINT) while a callback waits on
// a slow FCM: the callback still gets its answer, then run returns 0.
func TestGracefulShutdown(t *testing.T) {
	fake := fcmtest.NewServer(fcmtest.Config{})
	defer fake.Close()
	dir := t.TempDir()
	sa, secret := filepath.Join(dir, "sa.json"), filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(sa, fake.ServiceAccountJSON(), 0o600))
	require.NoError(t, os.WriteFile(secret, []byte("secret-s-0123456789\n"), 0o600))
	configID := uuid.NewString()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testenv.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-config-id", configID, "-secret-file", secret,
			"-fcm-credentials", sa, "-fcm-base-url", fake.URL}, &out, &errb)
	}()
	var base string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	}, 10*time.Second, 10*time.Millisecond)
	session, token := uuid.NewString(), "slow:APA91b"+strings.Repeat("y", 40)
	req, _ := http.NewRequest(http.MethodPut, base+connector.BasePath+"/device-registrations/"+token,
		strings.NewReader(`{"configId":"`+configID+`","sessionId":"`+session+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	fake.FailToken(token, fcmtest.Slow(500*time.Millisecond))
	eventID := uuid.NewString()
	type answer struct {
		status int
		body   string
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+connector.BasePath+"/axp-callback/notifications",
			strings.NewReader(`{"eventId":"`+eventID+`","sessionId":"`+session+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-hmac", hmacverify.Sign([]byte("secret-s-0123456789"), eventID, session))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, string(b)}
	}()
	// Shut down while the push is in flight at the fake.
	require.Eventually(t, func() bool { return fake.SendRequests() > 0 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	a := <-answered
	assert.Equal(t, http.StatusOK, a.status, a.body)
	assert.Contains(t, a.body, `"delivered":1`)
	assert.Equal(t, 0, <-done)
}

// TestTrustedProxies runs the program behind a "proxy" on loopback: with
// -trusted-proxies each client named by X-Forwarded-For has its own
// rate-limit bucket; without it they all share the proxy's.
func TestTrustedProxies(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		args := []string{"-addr", "127.0.0.1:0", "-rate-limit", "0.001", "-rate-burst", "1"}
		if trusted {
			args = append(args, "-trusted-proxies", "127.0.0.0/8,::1")
		}
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb testenv.SyncBuffer
		done := make(chan int, 1)
		go func() { done <- run(ctx, args, &out, &errb) }()
		var base string
		require.Eventually(t, func() bool {
			m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(out.String())
			if m != nil {
				base = m[1]
			}
			return m != nil
		}, 10*time.Second, 10*time.Millisecond, "stderr: %s", errb.String())
		get := func(client string) int {
			req, err := http.NewRequest(http.MethodGet, base+connector.BasePath+"/device-registrations/"+strings.Repeat("a", 20), nil)
			require.NoError(t, err)
			req.Header.Set("X-Forwarded-For", client)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			return resp.StatusCode
		}
		assert.Equal(t, http.StatusNotFound, get("203.0.113.1"))
		assert.Equal(t, http.StatusTooManyRequests, get("203.0.113.1"), "trusted=%v", trusted)
		if trusted {
			assert.Equal(t, http.StatusNotFound, get("203.0.113.2"), "another client behind the proxy")
		} else {
			assert.Equal(t, http.StatusTooManyRequests, get("203.0.113.2"), "the header of an untrusted peer is ignored")
		}
		cancel()
		assert.Equal(t, 0, <-done)
	}
}
