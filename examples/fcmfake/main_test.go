package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lockedWriter hands each write (stderr) to the test over a channel.
type lockedWriter struct {
	ch chan []byte
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.ch <- append([]byte(nil), p...)
	return len(p), nil
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	credPath := filepath.Join(dir, "sa.json")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := lockedWriter{ch: make(chan []byte, 100)}
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-credentials", credPath, "-project", "demo-proj"}, pw, stderr)
		pw.Close()
	}()

	var creds []byte
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(credPath)
		creds = b
		return err == nil && len(b) > 0
	}, 20*time.Second, 5*time.Millisecond)
	info, err := os.Stat(credPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	var sa struct {
		ProjectID string `json:"project_id"`
		TokenURI  string `json:"token_uri"`
	}
	require.NoError(t, json.Unmarshal(creds, &sa))
	assert.Equal(t, "demo-proj", sa.ProjectID)
	endpoint := sa.TokenURI[:len(sa.TokenURI)-len("/token")]

	lineCh := make(chan []byte, 10)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lineCh <- append([]byte(nil), sc.Bytes()...)
		}
		close(lineCh)
	}()

	c, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: creds, BaseURL: endpoint})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "device-1", Data: map[string]string{"k": "v"}}))
	_, err = c.SendMessage(context.Background(), &fcm.Message{Topic: "news", Notification: &fcm.Notification{Title: "hi"}})
	require.NoError(t, err)

	var lines []map[string]any
	for len(lines) < 2 {
		raw, ok := <-lineCh
		require.True(t, ok)
		var line map[string]any
		require.NoError(t, json.Unmarshal(raw, &line), "%s", raw)
		lines = append(lines, line)
	}
	require.Len(t, lines, 2)
	assert.Equal(t, "demo-proj", lines[0]["project"])
	msg := lines[0]["message"].(map[string]any)
	assert.Equal(t, "device-1", msg["token"])
	assert.Equal(t, map[string]any{"k": "v"}, msg["data"])
	assert.Equal(t, "news", lines[1]["message"].(map[string]any)["topic"])

	cancel()
	require.NoError(t, <-errc)
	for range lineCh {
	}
	close(stderr.ch)
	var logs []byte
	for b := range stderr.ch {
		logs = append(logs, b...)
	}
	assert.Contains(t, string(logs), "fake FCM listening")
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	tests := [][]string{
		{}, // -credentials missing
		{"-credentials", filepath.Join(dir, "a"), "-addr", "0.0.0.0:0"}, // not loopback
		{"-credentials", filepath.Join(dir, "missing", "a"), "-addr", "127.0.0.1:0"},
		{"-nope"},
		{"-credentials", "x", "extra"},
		{"-credentials", filepath.Join(dir, "b"), "-cacert", filepath.Join(dir, "c")}, // -cacert without -tls
	}
	for _, args := range tests {
		err := run(context.Background(), args, io.Discard, io.Discard)
		assert.Error(t, err, "%q", args)
	}
}

func TestRunTLS(t *testing.T) {
	dir := t.TempDir()
	credPath := filepath.Join(dir, "sa.json")
	caPath := filepath.Join(dir, "ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-credentials", credPath, "-tls", "-cacert", caPath, "-quiet"}, io.Discard, io.Discard)
	}()
	var creds []byte
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(credPath)
		creds = b
		return err == nil && len(b) > 0
	}, 20*time.Second, 5*time.Millisecond)
	caPEM, err := os.ReadFile(caPath)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()

	var sa struct {
		TokenURI string `json:"token_uri"`
	}
	require.NoError(t, json.Unmarshal(creds, &sa))
	require.True(t, strings.HasPrefix(sa.TokenURI, "https://127.0.0.1:"))
	c, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: creds,
		BaseURL: strings.TrimSuffix(sa.TokenURI, "/token"), HTTPClient: &http.Client{Transport: tr}})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Send(context.Background(), pushwire.Message{Token: "device-tls"}))
	cancel()
	require.NoError(t, <-errc)
}
