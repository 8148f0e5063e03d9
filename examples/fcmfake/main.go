// Command fcmfake runs the fake FCM server of package fcmtest as a process,
// for tools and other languages' clients.
//
//	fcmfake -addr 127.0.0.1:8085 -credentials /tmp/fcm-sa.json
//
// It serves plain HTTP (or, with -tls, HTTPS with HTTP/2) on a loopback
// address, writes a service-account JSON
// (token_uri pointing at itself, project_id set) to the -credentials file,
// logs to stderr, and prints every accepted message on stdout as one JSON
// line: {"project": "...", "message": {...the message as received...}}.
// Point any Google auth library at the credentials file and send to
// http://ADDR/v1/projects/PROJECT/messages:send. The interop folder has
// hand checks: token.sh (openssl and curl: a jwt-bearer grant to token_uri),
// send.py (Google's Python auth library, which honours token_uri) and
// token.js (google-auth-library for Node.js, which ignores token_uri and is
// used in its self-signed JWT mode).
package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/pushwire/pushwire/examples/internal/secretfile"
	"github.com/pushwire/pushwire/fcm/fcmtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "fcmfake:", err)
		os.Exit(1)
	}
}

// run parses args, starts the fake and serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fcmfake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8085", "loopback `HOST:PORT` to listen on (port 0 picks one)")
	credentials := fs.String("credentials", "", "`FILE` to write the service-account JSON to (required)")
	project := fs.String("project", fcmtest.DefaultProjectID, "Firebase project `ID` to serve")
	quiet := fs.Bool("quiet", false, "do not print accepted messages")
	useTLS := fs.Bool("tls", false, "serve HTTPS with HTTP/2 (self-signed; see -cacert)")
	caCert := fs.String("cacert", "", "with -tls, `FILE` to write the server's certificate (PEM) to, for clients to trust")
	verbose := fs.Bool("v", false, "log every refused request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *credentials == "" {
		fs.Usage()
		return errors.New("-credentials is required")
	}
	if *caCert != "" && !*useTLS {
		return errors.New("-cacert needs -tls")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	onMessage := func(r fcmtest.Received) {
		if *quiet {
			return
		}
		line := struct {
			Project string          `json:"project"`
			Message json.RawMessage `json:"message"`
		}{r.Project, r.Raw}
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(line); err != nil {
			log.Warn("cannot write message", "error", err)
		}
	}
	srv, err := fcmtest.Start(fcmtest.Config{
		Addr:             *addr,
		ProjectID:        *project,
		Logger:           log,
		OnMessage:        onMessage,
		DisableRecording: true,
		TLS:              *useTLS,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if *caCert != "" {
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := secretfile.Write(*caCert, certPEM); err != nil {
			return fmt.Errorf("write certificate: %w", err)
		}
	}
	// The credentials are written last: their presence tells scripts the
	// fake is ready.
	if err := secretfile.Write(*credentials, srv.ServiceAccountJSON()); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	log.Info("fake FCM listening", "url", srv.URL, "project", srv.ProjectID(),
		"credentials", *credentials,
		"send", srv.URL+"/v1/projects/"+srv.ProjectID()+"/messages:send")
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}
