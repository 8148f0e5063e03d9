package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var urlRE = regexp.MustCompile(`url=(https://127\.0\.0\.1:\d+)`)

func TestFakeProcess(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-dir", dir}, &stdout, &stderr) }()
	var url string
	require.Eventually(t, func() bool {
		m := urlRE.FindStringSubmatch(stderr.String())
		if m == nil {
			return false
		}
		url = m[1]
		return true
	}, 10*time.Second, 5*time.Millisecond)

	// A client set up only from the files the fake wrote.
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	p8, err := os.ReadFile(filepath.Join(dir, "AuthKey.p8"))
	require.NoError(t, err)
	key, err := apns.ParseP8(p8)
	require.NoError(t, err)
	var ids struct{ KeyID, TeamID string }
	raw, err := os.ReadFile(filepath.Join(dir, "key.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &ids))
	require.Len(t, ids.KeyID, 10)
	require.Len(t, ids.TeamID, 10)

	c, err := apns.New(apns.Config{BaseURL: url, RootCAs: pool, Topic: "com.example.app",
		Token: &apns.TokenAuth{Key: key, KeyID: ids.KeyID, TeamID: ids.TeamID}})
	require.NoError(t, err)
	token := strings.Repeat("fe", 32)
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: token, Kind: pushwire.KindAlert, Title: "hello", Data: map[string]string{"k": "v"}}))

	// The certificate in client.pem works as well.
	clientPEM, err := os.ReadFile(filepath.Join(dir, "client.pem"))
	require.NoError(t, err)
	cert, err := apns.LoadCertificatePEM(clientPEM, clientPEM)
	require.NoError(t, err)
	cc, err := apns.New(apns.Config{BaseURL: url, RootCAs: pool, Topic: "com.example.app", Certificate: &cert})
	require.NoError(t, err)
	require.NoError(t, cc.Send(context.Background(), pushwire.Message{Token: token, Kind: pushwire.KindVoIP}))
	require.NoError(t, c.Close())
	require.NoError(t, cc.Close())

	cancel()
	require.NoError(t, <-done)

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 2)
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		got = append(got, m)
	}
	assert.Equal(t, token, got[0]["token"])
	assert.Equal(t, "com.example.app", got[0]["topic"])
	assert.Equal(t, "alert", got[0]["pushType"])
	assert.EqualValues(t, 10, got[0]["priority"])
	assert.True(t, apns.ValidUUID(got[0]["apnsId"].(string)))
	assert.Equal(t, map[string]any{"aps": map[string]any{"alert": map[string]any{"title": "hello"}}, "k": "v"}, got[0]["payload"])
	assert.Len(t, got[0], 6, "exactly the documented fields")
	assert.Equal(t, "com.example.app.voip", got[1]["topic"])
	assert.Equal(t, "voip", got[1]["pushType"])
}

func TestFlags(t *testing.T) {
	var out, errb testenv.SyncBuffer
	err := run(context.Background(), []string{}, &out, &errb)
	assert.Error(t, err, "-dir is required")
	err = run(context.Background(), []string{"-latency", "soon", "-dir", t.TempDir()}, &out, &errb)
	assert.Error(t, err)
}
