// Command apnsfake runs the apnstest fake APNs as a standalone process, for
// testing APNs clients written in any language.
//
//	apnsfake -addr 127.0.0.1:2197 -dir /tmp/apns
//
// It writes DIR/ca.pem (the CA certificate to trust), DIR/AuthKey.p8 (a
// PKCS#8 P-256 key it accepts for provider tokens), DIR/key.json
// ({"keyId": "…", "teamId": "…"}) and, for certificate authentication,
// DIR/client.pem (a client certificate and key it accepts). It logs to
// stderr and prints every accepted notification on stdout as one JSON line:
//
//	{"token":"…","topic":"…","pushType":"alert","priority":10,"apnsId":"…","payload":{…}}
//
// Any HTTP/2 client that follows Apple's documentation works against it, for
// example curl with a provider token (an ES256 JWT with header kid = keyId and
// claims iss = teamId, iat = now, signed with AuthKey.p8), or with client.pem:
//
//	curl --http2 --cacert /tmp/apns/ca.pem -H "authorization: bearer $JWT" \
//	  -H "apns-topic: com.example.app" -H "apns-push-type: alert" \
//	  -d '{"aps":{"alert":"hi"}}' https://127.0.0.1:2197/3/device/$TOKEN
//	curl --http2 --cacert /tmp/apns/ca.pem --cert /tmp/apns/client.pem \
//	  -H "apns-topic: com.example.app" -d '{"aps":{}}' https://127.0.0.1:2197/3/device/$TOKEN
//
// It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/examples/internal/secretfile"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "apnsfake:", err)
		os.Exit(1)
	}
}

// line is the stdout record of one accepted notification.
type line struct {
	Token    string          `json:"token"`
	Topic    string          `json:"topic"`
	PushType string          `json:"pushType"`
	Priority int             `json:"priority"`
	APNsID   string          `json:"apnsId"`
	Payload  json.RawMessage `json:"payload"`
}

// run starts the fake and serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apnsfake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:2197", "listen address (loopback)")
	dir := fs.String("dir", "", "directory for ca.pem, AuthKey.p8, key.json and client.pem (required)")
	latency := fs.Duration("latency", 0, "delay before every answer, e.g. 20ms")
	streams := fs.Int("max-streams", 1000, "HTTP/2 MAX_CONCURRENT_STREAMS per connection")
	quiet := fs.Bool("quiet", false, "do not print accepted notifications (for benchmarks)")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		fs.Usage()
		return errors.New("-dir is required")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	cfg := apnstest.Config{
		Addr:                 *addr,
		Latency:              *latency,
		MaxConcurrentStreams: *streams,
		DisableRecording:     true,
		Logger:               log,
	}
	if !*quiet {
		cfg.OnNotification = func(n apnstest.Notification) {
			mu.Lock()
			defer mu.Unlock()
			if err := enc.Encode(line{n.Token, n.Topic, n.PushType, n.Priority, n.APNsID, n.Payload}); err != nil {
				log.Warn("cannot write notification", "err", err)
			}
		}
	}
	srv, err := apnstest.Start(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	keyJSON, _ := json.Marshal(map[string]string{"keyId": srv.KeyID, "teamId": srv.TeamID})
	certPEM, keyPEM := srv.ClientCertificatePEM()
	files := []struct {
		name string
		data []byte
	}{
		{"ca.pem", srv.CAPEM()},
		{"AuthKey.p8", srv.AuthKeyPEM()},
		{"key.json", append(keyJSON, '\n')},
		{"client.pem", append(certPEM, keyPEM...)},
	}
	for _, f := range files {
		if err := secretfile.Write(filepath.Join(*dir, f.name), f.data); err != nil {
			return err
		}
	}
	log.Info("apnsfake listening", "url", srv.URL, "dir", *dir, "keyId", srv.KeyID, "teamId", srv.TeamID, "latency", latency.String())
	<-ctx.Done()
	log.Info("apnsfake stopping", "accepted", srv.Accepted())
	return nil
}
