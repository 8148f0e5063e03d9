package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire/provider"
)

func TestMain(m *testing.M) {
	if os.Getenv("KEYGEN_TEST_RUN_MAIN") == "1" {
		main() // the test binary stands in for the keygen binary
		return
	}
	goleak.VerifyTestMain(m)
}

type result struct {
	code           int
	stdout, stderr string
}

func keygen(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func assertOneLineError(t *testing.T, r result, want string) {
	t.Helper()
	assert.Empty(t, r.stdout)
	assert.True(t, strings.HasPrefix(r.stderr, "keygen: "), "stderr %q", r.stderr)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
	assert.Contains(t, r.stderr, want)
}

// genIdentity runs the key generation and returns the key path and the parsed
// authorization.
func genIdentity(t *testing.T, dir string, extra ...string) (string, provider.Authorization, string) {
	t.Helper()
	keyFile := filepath.Join(dir, "provider.pem")
	r := keygen(t, "", append([]string{"-domain", "MyCompany.com", "-key", keyFile}, extra...)...)
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr)
	auth, err := provider.ParseAuthorization([]byte(r.stdout))
	require.NoError(t, err, "stdout is a strictly valid authorization JSON")
	authFile := filepath.Join(dir, "auth.json")
	require.NoError(t, os.WriteFile(authFile, []byte(r.stdout), 0o644))
	return keyFile, auth, authFile
}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	keyFile, auth, _ := genIdentity(t, dir)
	assert.True(t, strings.HasSuffix(auth.SystemID, ".mycompany.com"))
	assert.Equal(t, provider.DefaultDescription, auth.Description)
	key, err := provider.LoadKey(keyFile)
	require.NoError(t, err)
	pub, err := auth.Key()
	require.NoError(t, err)
	assert.True(t, key.PublicKey.Equal(pub), "the JSON carries the saved key's public half")
	if runtime.GOOS != "windows" {
		info, err := os.Stat(keyFile)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm())
	}

	// An existing key file is refused and left alone.
	before, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	r := keygen(t, "", "-domain", "mycompany.com", "-key", keyFile)
	assert.Equal(t, 1, r.code)
	assertOneLineError(t, r, "use -force")
	after, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	// -force replaces it; -description is used.
	r = keygen(t, "", "-domain", "mycompany.com", "-key", keyFile, "-force", "-description", "SM cluster 2")
	require.Equal(t, 0, r.code, r.stderr)
	auth2, err := provider.ParseAuthorization([]byte(r.stdout))
	require.NoError(t, err)
	assert.Equal(t, "SM cluster 2", auth2.Description)
	assert.NotEqual(t, auth.SystemID, auth2.SystemID)
	key2, err := provider.LoadKey(keyFile)
	require.NoError(t, err)
	assert.False(t, key.Equal(key2))
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.pem")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad domain", []string{"-domain", "my company.com", "-key", key}, 1, "invalid domain"},
		{"domain with empty label", []string{"-domain", "mycompany..com", "-key", key}, 1, "empty label"},
		{"domain too long", []string{"-domain", strings.Repeat("a.", 127) + "com", "-key", key}, 1, "longer than 253"},
		{"no domain", []string{"-key", key}, 2, "-domain is required"},
		{"no key", []string{"-domain", "mycompany.com"}, 2, "-key is required"},
		{"no arguments", nil, 2, "-domain is required"},
		{"unknown flag", []string{"-domain", "mycompany.com", "-key", key, "-x"}, 2, "not defined: -x"},
		{"extra argument", []string{"-domain", "mycompany.com", "-key", key, "extra"}, 2, `unexpected argument "extra"`},
		{"key in a missing directory", []string{"-domain", "mycompany.com", "-key", filepath.Join(dir, "no", "k.pem")}, 1, "no such file"},
		{"sign without system id", []string{"sign", "-key", key}, 2, "-system-id is required"},
		{"sign with missing key file", []string{"sign", "-key", key, "-system-id", "9bf8f4ab-99b1-452b-9b7f-e75aacf31d19.mycompany.com"}, 1, "loading key"},
		{"sign with bad ttl", []string{"sign", "-key", key, "-system-id", "x", "-ttl", "soon"}, 2, "invalid value"},
		{"sign with negative ttl", []string{"sign", "-key", key, "-system-id", "x", "-ttl", "-1m"}, 2, "-ttl must be positive"},
		{"verify without token", []string{"verify", "-auth", "a.json"}, 2, "-token is required"},
		{"verify with missing auth file", []string{"verify", "-auth", filepath.Join(dir, "a.json"), "-token", "x"}, 1, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := keygen(t, "", tt.args...)
			assert.Equal(t, tt.code, r.code)
			assertOneLineError(t, r, tt.want)
		})
	}
	_, err := os.Stat(key)
	assert.True(t, errors.Is(err, fs.ErrNotExist), "no key written by failed runs")

	for _, args := range [][]string{{"-h"}, {"help"}, {"sign", "-h"}, {"verify", "--help"}} {
		r := keygen(t, "", args...)
		assert.Equal(t, 0, r.code, args)
		assert.Contains(t, r.stdout, "keygen sign -key FILE", args)
	}
}

func TestSignAndVerify(t *testing.T) {
	dir := t.TempDir()
	keyFile, auth, authFile := genIdentity(t, dir)

	r := keygen(t, "", "sign", "-key", keyFile, "-system-id", auth.SystemID, "-ttl", "90s", "-aud", "push.example")
	require.Equal(t, 0, r.code, r.stderr)
	token := strings.TrimSpace(r.stdout)
	assert.Equal(t, 2, strings.Count(token, "."), "compact JWS")

	v, err := provider.NewVerifier(provider.VerifierConfig{Authorization: auth, Audience: "push.example"})
	require.NoError(t, err)
	claims, err := v.Verify(token)
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, claims.ExpiresAt.Sub(claims.IssuedAt))

	r = keygen(t, "", "verify", "-auth", authFile, "-token", token)
	require.Equal(t, 0, r.code, r.stderr)
	var printed map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &printed), "claims are printed as JSON")
	assert.Equal(t, auth.SystemID, printed["iss"])
	assert.Equal(t, "push.example", printed["aud"])

	r = keygen(t, token+"\n", "verify", "-auth", authFile, "-token", "-")
	assert.Equal(t, 0, r.code, r.stderr)

	// Failures: another system's authorization, an expired token, garbage.
	otherDir := t.TempDir()
	_, _, otherAuth := genIdentity(t, otherDir)
	r = keygen(t, "", "verify", "-auth", otherAuth, "-token", token)
	assert.Equal(t, 1, r.code)
	assertOneLineError(t, r, "bad signature")

	key, err := provider.LoadKey(keyFile)
	require.NoError(t, err)
	old, err := provider.NewSigner(provider.SignerConfig{Key: key, SystemID: auth.SystemID,
		Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	require.NoError(t, err)
	expired, err := old.Sign(nil)
	require.NoError(t, err)
	r = keygen(t, "", "verify", "-auth", authFile, "-token", expired)
	assert.Equal(t, 1, r.code)
	assertOneLineError(t, r, "expired")

	r = keygen(t, "", "verify", "-auth", authFile, "-token", "not.a.jwt")
	assert.Equal(t, 1, r.code)
	assertOneLineError(t, r, "malformed")

	r = keygen(t, "", "sign", "-key", keyFile, "-system-id", "mycompany.com")
	assert.Equal(t, 1, r.code)
	assertOneLineError(t, r, "invalid system id")
}

func TestVerifyPastedManualStyleJSON(t *testing.T) {
	dir := t.TempDir()
	keyFile, auth, authFile := genIdentity(t, dir)
	data, err := os.ReadFile(authFile)
	require.NoError(t, err)
	// Make the mistakes of the manual's example: drop the comma after alg,
	// add one after description.
	pasted := strings.Replace(string(data), `"ES256",`, `"ES256"`, 1)
	pasted = strings.Replace(pasted, "\"\n}", "\",\n}", 1)
	require.False(t, json.Valid([]byte(pasted)))
	pastedFile := filepath.Join(dir, "pasted.json")
	require.NoError(t, os.WriteFile(pastedFile, []byte(pasted), 0o644))

	r := keygen(t, "", "sign", "-key", keyFile, "-system-id", auth.SystemID)
	require.Equal(t, 0, r.code)
	token := strings.TrimSpace(r.stdout)
	r = keygen(t, "", "verify", "-auth", pastedFile, "-token", token)
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "warning")
	assert.Contains(t, r.stderr, "line 5 column 2")
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"))

	broken := filepath.Join(dir, "broken.json")
	require.NoError(t, os.WriteFile(broken, []byte(strings.Replace(string(data), `"alg"`, `"algorithm"`, 1)), 0o644))
	r = keygen(t, "", "verify", "-auth", broken, "-token", token)
	assert.Equal(t, 1, r.code)
	assertOneLineError(t, r, `unknown member "algorithm"`)
}

// TestBinaryExitCodes runs main itself in a child process.
func TestBinaryExitCodes(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	require.NoError(t, err)
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"-domain", "mycompany.com", "-key", filepath.Join(dir, "k.pem")}, 0},
		{[]string{"-domain", "mycompany.com", "-key", filepath.Join(dir, "k.pem")}, 1},
		{[]string{"-domain", "bad domain", "-key", filepath.Join(dir, "k2.pem")}, 1},
		{[]string{"-nope"}, 2},
	}
	for _, tt := range tests {
		cmd := exec.Command(exe, tt.args...)
		cmd.Env = append(os.Environ(), "KEYGEN_TEST_RUN_MAIN=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		} else {
			require.NoError(t, err)
		}
		assert.Equal(t, tt.code, code, "%v: %s", tt.args, stderr.String())
		if tt.code == 0 {
			assert.True(t, json.Valid(stdout.Bytes()))
		} else {
			assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), stderr.String())
		}
	}
}

// joseVerify is run by node: it verifies a JWT with the jose library against
// an authorization JSON, independently of Go.
const joseVerify = `
const { createRequire } = require('node:module');
const jose = createRequire(process.env.PUSHWIRE_JOSE_DIR + '/')('jose');
const fs = require('node:fs');
(async () => {
  const auth = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
  const key = await jose.importSPKI(auth.publicKey, auth.alg);
  const { payload } = await jose.jwtVerify(process.argv[2], key,
    { issuer: auth.systemId, audience: 'push.example', algorithms: ['ES256'], requiredClaims: ['iat', 'exp'] });
  process.stdout.write(JSON.stringify(payload));
})().catch((e) => { console.error(String(e)); process.exit(1); });
`

// TestJOSEInterop verifies keygen's JWT with Node's jose library. It runs
// when node is installed and PUSHWIRE_JOSE_DIR names a directory where
// "npm install jose" was run.
func TestJOSEInterop(t *testing.T) {
	joseDir := os.Getenv("PUSHWIRE_JOSE_DIR")
	node, err := exec.LookPath("node")
	if joseDir == "" || err != nil {
		t.Skip("set PUSHWIRE_JOSE_DIR to a directory with jose installed (npm install jose) and install node")
	}
	dir := t.TempDir()
	keyFile, auth, authFile := genIdentity(t, dir)
	r := keygen(t, "", "sign", "-key", keyFile, "-system-id", auth.SystemID, "-aud", "push.example")
	require.Equal(t, 0, r.code)
	token := strings.TrimSpace(r.stdout)

	cmd := exec.Command(node, "-e", joseVerify, authFile, token)
	cmd.Env = append(os.Environ(), "PUSHWIRE_JOSE_DIR="+joseDir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "jose rejected the token: %s", out)
	var payload map[string]any
	require.NoError(t, json.Unmarshal(out, &payload))
	assert.Equal(t, auth.SystemID, payload["iss"])

	// And jose refuses a token for another system.
	_, _, otherAuth := genIdentity(t, t.TempDir())
	cmd = exec.Command(node, "-e", joseVerify, otherAuth, token)
	cmd.Env = append(os.Environ(), "PUSHWIRE_JOSE_DIR="+joseDir)
	out, err = cmd.CombinedOutput()
	assert.Error(t, err, "jose accepted a token under the wrong key: %s", out)
}
