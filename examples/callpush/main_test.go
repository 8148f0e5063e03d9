package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/internal/testenv"
	"github.com/pushwire/pushwire/lpns"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func noEnv(string) string { return "" }

// deliveryRE matches a delivery line and captures call, device, provider,
// path and outcome.
var deliveryRE = regexp.MustCompile(`^call=(\S+) device=(\S+) provider=(\S+) path=(\S+) outcome=(\S+) latency=\S+`)

// deliveries returns the delivery lines of out as
// "call device provider path outcome".
func deliveries(out string) []string {
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if m := deliveryRE.FindStringSubmatch(line); m != nil {
			got = append(got, strings.Join(m[1:], " "))
		}
	}
	return got
}

func TestDemo(t *testing.T) {
	var out, errb testenv.SyncBuffer
	var env *demoEnv
	code := run(context.Background(), []string{"-demo"}, noEnv, &out, &errb, &observer{demo: func(e *demoEnv) { env = e }})
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errb.String(), out.String())
	require.NotNil(t, env)

	assert.ElementsMatch(t, []string{
		"1 iphone-1 lpns local delivered",
		"1 android-1 fcm fcm delivered",
		"2 iphone-1 apns apns delivered",
		"2 android-1 fcm fcm delivered",
	}, deliveries(out.String()), out.String())
	assert.Contains(t, out.String(), `local="lpns: `, "the second call says why the iPhone was not reached locally")

	// Exactly one push per phone per call, counted where it arrived.
	local := map[string]int{}
	for _, n := range env.localNotifications() {
		local[payloadCallID(n.Payload, true)]++
	}
	assert.Equal(t, map[string]int{"1": 1}, local, "local push: the first call only")
	byCall := map[string]int{}
	for _, n := range env.apns.Notifications() {
		byCall[payloadCallID(n.Payload, false)]++
		assert.Equal(t, "voip", n.PushType)
		assert.Equal(t, demoBundle+".voip", n.Topic)
		assert.Equal(t, 10, n.Priority)
	}
	assert.Equal(t, map[string]int{"2": 1}, byCall, "APNs: the second call only")
	fcmByCall := map[string]int{}
	for _, m := range env.fcm.Messages() {
		fcmByCall[m.Message.Data["callId"]]++
		require.NotNil(t, m.Message.Android)
		assert.Equal(t, "high", m.Message.Android.Priority)
		assert.Nil(t, m.Message.Notification, "a call to Android is a data message")
		assert.Equal(t, "Bob", m.Message.Data["callerName"])
	}
	assert.Equal(t, map[string]int{"1": 1, "2": 1}, fcmByCall, "FCM: one message per call")

	// What the fakes received is shown.
	assert.Contains(t, out.String(), "fake APNs received: ")
	assert.Contains(t, out.String(), "push-type=voip topic="+demoBundle+".voip")
	assert.Contains(t, out.String(), "fake FCM received: ")
	assert.Contains(t, out.String(), "android.priority=high data only")
	assert.Contains(t, out.String(), "iphone-1 received over local push: ")
}

func TestHelp(t *testing.T) {
	var out, errb testenv.SyncBuffer
	assert.Equal(t, 0, run(context.Background(), []string{"-h"}, noEnv, &out, &errb, nil))
	for _, name := range []string{"PUSHWIRE_APNS_KEY", "PUSHWIRE_APNS_KEY_ID", "PUSHWIRE_APNS_TEAM_ID", "PUSHWIRE_APNS_TOPIC",
		"PUSHWIRE_APNS_BASE_URL", "PUSHWIRE_APNS_CA", "PUSHWIRE_FCM_CREDENTIALS", "PUSHWIRE_FCM_BASE_URL", "PUSHWIRE_REGISTRY",
		"PUSHWIRE_ADDR", "PUSHWIRE_API_ADDR", "PUSHWIRE_JWT_KEY", "PUSHWIRE_API_TOKEN_FILE"} {
		assert.Contains(t, errb.String(), "["+name+"]")
	}
}

// creds are real-mode credential files made from the fakes, and the key that
// signs phone tokens.
type creds struct {
	apns     *apnstest.Server
	fcm      *fcmtest.Server
	phoneKey *ecdsa.PrivateKey
	files    map[string]string // flag → path
}

func newCreds(t *testing.T) *creds {
	t.Helper()
	as := apnstest.NewServer(apnstest.Config{Topics: []string{"com.example.phone"}})
	t.Cleanup(as.Close)
	fs := fcmtest.NewServer(fcmtest.Config{})
	t.Cleanup(fs.Close)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	return &creds{apns: as, fcm: fs, phoneKey: key, files: map[string]string{
		"apns-key":        write("AuthKey.p8", as.AuthKeyPEM()),
		"apns-ca":         write("ca.pem", as.CAPEM()),
		"fcm-credentials": write("sa.json", fs.ServiceAccountJSON()),
		"jwt-key":         write("phones.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		"api-token-file":  write("api.token", []byte("0123456789abcdef-api\n")),
	}}
}

// args are the flags of a complete real-mode run on loopback.
func (c *creds) args() []string {
	a := []string{"-addr", "127.0.0.1:0", "-api-addr", "127.0.0.1:0", "-insecure-ws",
		"-apns-key-id", c.apns.KeyID, "-apns-team-id", c.apns.TeamID, "-apns-topic", "com.example.phone",
		"-apns-base-url", c.apns.URL, "-fcm-base-url", c.fcm.URL}
	for _, f := range []string{"apns-key", "apns-ca", "fcm-credentials", "jwt-key", "api-token-file"} {
		a = append(a, "-"+f, c.files[f])
	}
	return a
}

// without returns args without flag (and its value).
func without(args []string, flag string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
			}
			continue
		}
		out = append(out, args[i])
	}
	return out
}

func TestUsageErrors(t *testing.T) {
	c := newCreds(t)
	full := c.args()
	with := func(extra ...string) []string { return append(append([]string(nil), full...), extra...) }
	missing := filepath.Join(t.TempDir(), "nope.p8")
	short := filepath.Join(t.TempDir(), "short.token")
	require.NoError(t, os.WriteFile(short, []byte("abc\n"), 0o600))
	notKey := filepath.Join(t.TempDir(), "not.pem")
	require.NoError(t, os.WriteFile(notKey, []byte("hello\n"), 0o600))
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no credentials", []string{"-jwt-key", c.files["jwt-key"]}, nil, "no push credentials"},
		{"apns key without key id", without(full, "-apns-key-id"), nil, "-apns-key needs"},
		{"apns key without topic", without(full, "-apns-topic"), nil, "-apns-key needs"},
		{"no jwt key", without(full, "-jwt-key"), nil, "-jwt-key is required"},
		{"no api token", without(full, "-api-token-file"), nil, "-api-token-file is required"},
		{"no tls", without(full, "-insecure-ws"), nil, "-tls-cert and -tls-key are required"},
		{"tls cert without key", with("-tls-cert", "c.pem"), nil, "-tls-cert and -tls-key go together"},
		{"insecure ws not on loopback", with("-addr", "0.0.0.0:9560"), nil, "loopback"},
		{"bad log level", with("-log-level", "loud"), nil, "-log-level must be"},
		{"zero call timeout", with("-call-timeout", "0s"), nil, "must be positive"},
		{"negative local timeout", with("-local-timeout", "-1s"), nil, "must be positive"},
		{"bad duration", with("-call-timeout", "soon"), nil, "invalid value"},
		{"unknown flag", with("-apns-host", "x"), nil, "flag provided but not defined"},
		{"extra argument", with("call"), nil, "unexpected argument"},
		{"bad environment value", full, map[string]string{"PUSHWIRE_LOCAL_TIMEOUT": "soon"}, "PUSHWIRE_LOCAL_TIMEOUT"},
		{"unreadable apns key", with("-apns-key", missing), nil, "-apns-key: cannot read"},
		{"apns key not a key", with("-apns-key", notKey), nil, "-apns-key"},
		{"jwt key not a key", with("-jwt-key", notKey), nil, "-jwt-key"},
		{"short api token", with("-api-token-file", short), nil, "at least 16 characters"},
		{"bad registry", with("-registry", "mysql://u:secret@h/db"), nil, "-registry must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb testenv.SyncBuffer
			getenv := func(k string) string { return tc.env[k] }
			code := run(context.Background(), tc.args, getenv, &out, &errb, nil)
			assert.Equal(t, 2, code, "stderr: %s", errb.String())
			assert.Contains(t, errb.String(), tc.want)
			assert.NotContains(t, errb.String(), "secret")
		})
	}
}

// TestEnvironment sets the credentials through the connector's variables.
func TestEnvironment(t *testing.T) {
	env := map[string]string{
		"PUSHWIRE_APNS_KEY": "k.p8", "PUSHWIRE_APNS_KEY_ID": "ABCDEFGHIJ", "PUSHWIRE_APNS_TEAM_ID": "TEAM123456",
		"PUSHWIRE_APNS_TOPIC": "com.example.phone", "PUSHWIRE_FCM_CREDENTIALS": "sa.json",
		"PUSHWIRE_JWT_KEY": "phones.pub", "PUSHWIRE_API_TOKEN_FILE": "api.token", "PUSHWIRE_INSECURE_WS": "true",
		"PUSHWIRE_ADDR": "127.0.0.1:9560", "PUSHWIRE_REGISTRY": "sqlite:/tmp/x.db",
	}
	o, err := parse([]string{"-apns-topic", "com.example.other"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "k.p8", o.apnsKey)
	assert.Equal(t, "ABCDEFGHIJ", o.apnsKeyID)
	assert.Equal(t, "com.example.other", o.apnsTopic, "the command line wins")
	assert.Equal(t, "sa.json", o.fcmCredentials)
	assert.True(t, o.insecureWS)
	assert.Equal(t, "sqlite:/tmp/x.db", o.registryDSN)
}

// TestRuntimeFailures exit with 1.
func TestRuntimeFailures(t *testing.T) {
	c := newCreds(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	for name, extra := range map[string][]string{
		"unreachable registry": {"-registry", "redis://127.0.0.1:1/0"},
		"api address in use":   {"-api-addr", busy.Addr().String()},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errb testenv.SyncBuffer
			code := run(context.Background(), append(c.args(), extra...), noEnv, &out, &errb, nil)
			assert.Equal(t, 1, code, "stderr: %s", errb.String())
		})
	}
}

// TestRealMode serves with the fakes as the providers, connects a phone with
// a signed token, registers devices and places calls through the API.
func TestRealMode(t *testing.T) {
	c := newCreds(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls := make(chan [2]string, 1)
	done := make(chan int, 1)
	var out, errb testenv.SyncBuffer
	go func() {
		done <- run(ctx, c.args(), noEnv, &out, &errb, &observer{ready: func(ws, api string) { urls <- [2]string{ws, api} }})
	}()
	var ws, api string
	select {
	case u := <-urls:
		ws, api = u[0], u[1]
	case code := <-done:
		t.Fatalf("exited with %d: %s", code, errb.String())
	}

	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "alice", "device_id": "iphone-7",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString(c.phoneKey)
	require.NoError(t, err)
	got := make(chan lpns.Notification, 4)
	phone, err := lpns.Dial(ctx, lpns.ClientConfig{URLs: []string{ws},
		Token:   func(context.Context) (string, error) { return tok, nil },
		Handler: func(_ context.Context, n lpns.Notification) error { got <- n; return nil }})
	require.NoError(t, err)
	defer phone.Close()

	do := func(path, body, token string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, api+path, strings.NewReader(body))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return resp.StatusCode, m
	}
	const token = "0123456789abcdef-api"
	voip := strings.Repeat("ab", 32)
	for _, body := range []string{
		`{"user":"alice","provider":"lpns","token":"iphone-7","device":"iphone-7"}`,
		`{"user":"alice","provider":"apns","token":"` + voip + `","device":"iphone-7"}`,
		`{"user":"alice","provider":"fcm","token":"pixel-token","device":"pixel-7","platform":"android"}`,
	} {
		status, m := do("/devices", body, token)
		require.Equal(t, http.StatusOK, status, "%v", m)
	}

	status, _ := do("/calls", `{"user":"alice"}`, "wrong-token-wrong-token")
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = do("/devices", `{"user":"alice","provider":"carrier-pigeon","token":"x"}`, token)
	assert.Equal(t, http.StatusBadRequest, status)
	status, _ = do("/calls", `{"user":"alice","extra":1}`, token)
	assert.Equal(t, http.StatusBadRequest, status)
	status, _ = do("/calls", `{"user":"bob"}`, token)
	assert.Equal(t, http.StatusNotFound, status)

	status, m := do("/calls", `{"user":"alice","callerName":"Bob","callerNumber":"1001"}`, token)
	require.Equal(t, http.StatusOK, status, "%v", m)
	assert.EqualValues(t, 2, m["delivered"])
	paths := map[string]string{}
	for _, d := range m["deliveries"].([]any) {
		d := d.(map[string]any)
		paths[d["device"].(string)] = d["path"].(string)
	}
	assert.Equal(t, map[string]string{"iphone-7": "local", "pixel-7": "fcm"}, paths)
	select {
	case n := <-got:
		assert.Contains(t, string(n.Payload), `"callerName":"Bob"`)
	case <-time.After(10 * time.Second):
		t.Fatal("the phone got nothing")
	}
	assert.Empty(t, c.apns.Notifications(), "the phone acknowledged locally: no APNs push")
	require.Len(t, c.fcm.Messages(), 1)
	assert.Equal(t, "pixel-token", c.fcm.Messages()[0].Message.Token)

	// The phone leaves: the next call goes through APNs.
	require.NoError(t, phone.Close())
	require.Eventually(t, func() bool {
		status, m = do("/calls", `{"user":"alice","callerName":"Bob"}`, token)
		return status == http.StatusOK && len(c.apns.Notifications()) == 1
	}, 10*time.Second, 20*time.Millisecond, "%v", m)
	n := c.apns.Notifications()[0]
	assert.Equal(t, voip, n.Token)
	assert.Equal(t, "voip", n.PushType)
	assert.Equal(t, "com.example.phone.voip", n.Topic, "an APNs token's app defaults to -apns-topic")

	cancel()
	require.Equal(t, 0, <-done, "stderr: %s", errb.String())
	// Call 1 went to the unknown user; call 2 is the first delivered.
	d := deliveries(out.String())
	assert.Contains(t, d, "2 iphone-7 lpns local delivered")
	assert.Contains(t, d, "2 pixel-7 fcm fcm delivered")
	assert.Contains(t, out.String(), "device=iphone-7 provider=apns path=apns outcome=delivered")
}

func TestAPITokenLength(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		token string
		ok    bool
	}{
		{strings.Repeat("t", 15), false},
		{strings.Repeat("t", 16), true},
		{strings.Repeat("t", 17), true},
		{"0123456789abcdef\nsecond line", false},
	} {
		p := filepath.Join(dir, "api.token")
		require.NoError(t, os.WriteFile(p, []byte(tc.token+"\n"), 0o600))
		f, err := readFiles(&options{apiTokenFile: p})
		if !tc.ok {
			assert.Error(t, err, "%q", tc.token)
			continue
		}
		require.NoError(t, err, "%q", tc.token)
		assert.Equal(t, tc.token, f.apiToken)
	}
}

// TestAPIBodyLimit: a body of 16 KiB is read, one byte more is refused.
func TestAPIBodyLimit(t *testing.T) {
	h := newAPI(&stack{}, io.Discard, slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		size int
		want string
	}{
		{16<<10 - 1, "user is required"},
		{16 << 10, "user is required"},
		{16<<10 + 1, "bad JSON body"},
	} {
		prefix, suffix := `{"user":"","callerName":"`, `"}`
		body := prefix + strings.Repeat("x", tc.size-len(prefix)-len(suffix)) + suffix
		require.Len(t, body, tc.size)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/calls", strings.NewReader(body)))
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Contains(t, rec.Body.String(), tc.want, "size %d", tc.size)
	}
}
