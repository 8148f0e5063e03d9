package seal_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/seal"
)

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func dec(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

type decryptCase struct {
	Name      string `json:"name"`
	Body      string `json:"body"`
	UAPrivate string `json:"uaPrivate"`
	Auth      string `json:"auth"`
}

type encryptCase struct {
	Name      string `json:"name"`
	Plaintext string `json:"plaintext"`
	UAPublic  string `json:"uaPublic"`
	Auth      string `json:"auth"`
	Pad       int    `json:"pad,omitempty"`
	RS        int    `json:"rs,omitempty"`
}

type result struct {
	Name      string `json:"name"`
	Plaintext string `json:"plaintext"`
	Body      string `json:"body"`
	Error     string `json:"error"`
}

// httpECE runs interop.js with req and returns its answer. It skips the
// test when node or the installed http_ece is missing, unless CI is set.
func httpECE(t *testing.T, req any) (decrypted, encrypted []result) {
	t.Helper()
	dir := filepath.Join("..", "seal-interop")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "http_ece", "ece.js"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node and http_ece are needed in CI (cd bench/seal-interop && npm ci): %v", err)
		}
		t.Skipf("node or http_ece missing (cd bench/seal-interop && npm ci): %v", err)
	}
	in, err := json.Marshal(req)
	require.NoError(t, err)
	cmd := exec.Command(node, "interop.js")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s", stderr.String())
	var resp struct {
		Decrypted []result `json:"decrypted"`
		Encrypted []result `json:"encrypted"`
	}
	require.NoError(t, json.Unmarshal(out, &resp), "%s", out)
	return resp.Decrypted, resp.Encrypted
}

// plaintexts are the contents both directions carry: empty, short, a
// sealed push's JSON, binary, and one near the largest a push can hold.
func plaintexts() map[string][]byte {
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}
	return map[string][]byte{
		"empty":  {},
		"short":  []byte("When I grow up, I want to be a watermelon"),
		"json":   []byte(`{"kind":"alert","title":"Alice","body":"Are you free at 3? ✓","data":{"conversationId":"c-42"},"trackingId":"e-1"}`),
		"binary": bin,
		"zeros":  make([]byte, 100), // trailing zeros look like padding
		"large":  []byte(strings.Repeat("0123456789abcdef", 180)),
	}
}

// Go seals, http_ece decrypts: with every padding setting, the plaintext
// comes back; a tampered body is refused by http_ece too.
func TestGoSealsNodeDecrypts(t *testing.T) {
	device, err := seal.GenerateKeys()
	require.NoError(t, err)
	priv, auth := enc(device.Private.Bytes()), enc(device.Auth)
	want := map[string][]byte{}
	var cases []decryptCase
	for name, plain := range plaintexts() {
		for _, s := range []struct {
			label  string
			sealer seal.Sealer
		}{{"default", seal.Sealer{}}, {"unpadded", seal.Sealer{Bucket: 1}}, {"bucket1000", seal.Sealer{Bucket: 1000}}} {
			body, err := s.sealer.Seal(device.Public(), plain)
			require.NoError(t, err)
			n := name + "/" + s.label
			want[n] = plain
			cases = append(cases, decryptCase{Name: n, Body: enc(body), UAPrivate: priv, Auth: auth})
		}
	}
	body, err := seal.Seal(device.Public(), []byte("tampered"))
	require.NoError(t, err)
	body[len(body)-1] ^= 1
	cases = append(cases, decryptCase{Name: "tampered", Body: enc(body), UAPrivate: priv, Auth: auth})

	decrypted, _ := httpECE(t, map[string]any{"decrypt": cases})
	require.Len(t, decrypted, len(cases))
	for _, r := range decrypted {
		if r.Name == "tampered" {
			assert.NotEmpty(t, r.Error, "http_ece refuses a tampered body")
			continue
		}
		require.Empty(t, r.Error, r.Name)
		assert.Equal(t, want[r.Name], dec(t, r.Plaintext), r.Name)
	}
}

// http_ece encrypts, Go opens: unpadded and padded, with its default
// record size and others.
func TestNodeEncryptsGoOpens(t *testing.T) {
	device, err := seal.GenerateKeys()
	require.NoError(t, err)
	pub, auth := device.Public().Encode()
	want := map[string][]byte{}
	var cases []encryptCase
	for name, plain := range plaintexts() {
		for _, p := range []struct {
			label   string
			pad, rs int
		}{{"plain", 0, 0}, {"pad100", 100, 0}, {"rs-exact", 0, len(plain) + 17}, {"rs8192-pad500", 500, 8192}} {
			n := name + "/" + p.label
			want[n] = plain
			rs := p.rs
			if rs > 0 {
				rs = max(rs, 18) // http_ece's and RFC 8188's minimum
			}
			cases = append(cases, encryptCase{Name: n, Plaintext: enc(plain), UAPublic: pub, Auth: auth, Pad: p.pad, RS: rs})
		}
	}
	_, encrypted := httpECE(t, map[string]any{"encrypt": cases})
	require.Len(t, encrypted, len(cases))
	for _, r := range encrypted {
		require.Empty(t, r.Error, r.Name)
		got, err := seal.Open(device, dec(t, r.Body))
		require.NoError(t, err, r.Name)
		assert.Equal(t, want[r.Name], got, r.Name)

		other, err := seal.GenerateKeys()
		require.NoError(t, err)
		_, err = seal.Open(other, dec(t, r.Body))
		assert.ErrorIs(t, err, seal.ErrDecrypt, r.Name)
	}
}

// The RFC 8291 example decrypts in Node as it does in Go, so both sides
// are checked against the same published vector.
func TestRFC8291ExampleInNode(t *testing.T) {
	decrypted, _ := httpECE(t, map[string]any{"decrypt": []decryptCase{{
		Name:      "rfc8291",
		Body:      "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
		UAPrivate: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
		Auth:      "BTBZMqHH6r4Tts7J_aSIgg",
	}}})
	require.Len(t, decrypted, 1)
	require.Empty(t, decrypted[0].Error)
	assert.Equal(t, "When I grow up, I want to be a watermelon", string(dec(t, decrypted[0].Plaintext)))
}

// Every vector in seal/testdata decrypts in Node to its plaintext, and
// every body listed there as invalid is refused by Node as well: the file
// app developers test against agrees with an independent implementation.
func TestVectorsInNode(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "seal", "testdata", "vectors.json"))
	require.NoError(t, err)
	var f struct {
		Valid []struct {
			Name, Plaintext, UAPrivate, Auth, Body string
		} `json:"valid"`
		Invalid []struct {
			Name, UAPrivate, Auth, Body string
		} `json:"invalid"`
	}
	require.NoError(t, json.Unmarshal(raw, &f))
	require.NotEmpty(t, f.Valid)
	want := map[string]string{}
	var cases []decryptCase
	for _, v := range f.Valid {
		want["valid/"+v.Name] = v.Plaintext
		cases = append(cases, decryptCase{Name: "valid/" + v.Name, Body: v.Body, UAPrivate: v.UAPrivate, Auth: v.Auth})
	}
	for _, v := range f.Invalid {
		cases = append(cases, decryptCase{Name: "invalid/" + v.Name, Body: v.Body, UAPrivate: v.UAPrivate, Auth: v.Auth})
	}
	decrypted, _ := httpECE(t, map[string]any{"decrypt": cases})
	require.Len(t, decrypted, len(cases))
	for _, r := range decrypted {
		if p, ok := want[r.Name]; ok {
			require.Empty(t, r.Error, r.Name)
			assert.Equal(t, p, r.Plaintext, r.Name)
			continue
		}
		assert.NotEmpty(t, r.Error, "%s: Node accepted it: %q", r.Name, r.Plaintext)
	}
}
