// Command lpnsclient is a simulated phone for a local push server: it
// connects with a bearer token to the first reachable server of its list,
// keeps the connection alive, prints each notification and acknowledges it,
// and moves to the next server when its server fails.
//
//	go run ./examples/lpnsclient -url ws://127.0.0.1:9560/ -token-file /tmp/lpns-demo/device.token
//
// For wss:// with a private CA, pass -ca with the CA certificate (PEM).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pushwire/pushwire/lpns"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lpnsclient", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("url", "", "server `URLs`, comma-separated, in priority order (ws:// or wss://)")
	token := fs.String("token", "", "bearer `TOKEN` (visible in the process list: prefer -token-file)")
	tokenFile := fs.String("token-file", "", "`FILE` with the bearer token; read again before each connection and refresh")
	caFile := fs.String("ca", "", "extra CA certificate `FILE` (PEM) to trust for wss://")
	keepalive := fs.Duration("keepalive", 0, "keepalive interval (0: half the server's window)")
	noAck := fs.Bool("no-ack", false, "print notifications without acknowledging them (to watch the fallback)")
	verbose := fs.Bool("v", false, "log connection details")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *urls == "" || (*token == "") == (*tokenFile == "") {
		fmt.Fprintln(stderr, "lpnsclient: -url and one of -token or -token-file are required")
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	tok := func(context.Context) (string, error) {
		if *token != "" {
			return *token, nil
		}
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	hc := http.DefaultClient
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(stderr, "lpnsclient: -ca:", err)
			return 2
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintln(stderr, "lpnsclient: -ca: no PEM certificate found")
			return 2
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	c, err := lpns.NewClient(lpns.ClientConfig{
		URLs:              strings.Split(*urls, ","),
		Token:             tok,
		KeepaliveInterval: *keepalive,
		HTTPClient:        hc,
		Logger:            log,
		Handler: func(_ context.Context, n lpns.Notification) error {
			fmt.Fprintf(stdout, "%s notification %s from %s: %s\n", time.Now().Format("15:04:05.000"), n.ID, n.Node, n.Payload)
			if *noAck {
				return errors.New("not acknowledging")
			}
			return nil
		},
		OnConnect: func(url, node string) {
			fmt.Fprintf(stdout, "%s connected to %s (node %s)\n", time.Now().Format("15:04:05.000"), url, node)
		},
		OnDisconnect: func(url string, code int, reason string) {
			fmt.Fprintf(stdout, "%s disconnected from %s: %d %s\n", time.Now().Format("15:04:05.000"), url, code, reason)
		},
	})
	if err != nil {
		fmt.Fprintln(stderr, "lpnsclient:", err)
		return 2
	}
	select {
	case <-ctx.Done():
		_ = c.Close()
		return 0
	case <-c.Done():
		fmt.Fprintln(stderr, "lpnsclient:", c.Err())
		_ = c.Close()
		return 1
	}
}
