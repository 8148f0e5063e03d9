// Command keygen does the Avaya Aura Session Manager "Generate Keys" job end
// to end, and signs and verifies the tokens of the resulting identity.
//
//	keygen -domain mycompany.com -key FILE [-description TEXT] [-force]
//	keygen sign -key FILE -system-id ID [-ttl DURATION] [-aud AUD]
//	keygen verify -auth AUTH.json -token JWT
//
// The first form writes a new P-256 private key to FILE (PKCS#8 PEM, mode
// 0600; an existing FILE is refused unless -force) and prints the
// authorization JSON ("Key to Export") on standard output. sign prints a
// compact ES256 JWT whose iss is ID. verify checks a JWT against an
// authorization JSON, printing its claims; -token - reads the token from
// standard input. An authorization JSON with the mistakes of the manual's
// example is accepted with a warning.
//
// Exit status: 0 on success, 1 when the operation fails (bad domain, key file
// exists, invalid token, unreadable file), 2 on a usage error. Errors are one
// line on standard error.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pushwire/pushwire/provider"
)

const usage = `usage:
  keygen -domain DOMAIN -key FILE [-description TEXT] [-force]
  keygen sign -key FILE -system-id ID [-ttl DURATION] [-aud AUD]
  keygen verify -auth AUTH.json -token JWT
`

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usageError is a command-line mistake (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run executes keygen with args (without the program name) and returns the
// exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := generate
	if len(args) > 0 {
		switch args[0] {
		case "sign":
			cmd, args = sign, args[1:]
		case "verify":
			cmd, args = verify, args[1:]
		case "help":
			fmt.Fprint(stdout, usage)
			return exitOK
		}
	}
	err := cmd(args, stdin, stdout, stderr)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintln(stderr, "keygen: "+oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFail
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// newFlags returns a flag set that reports errors instead of printing them.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

func parse(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error() + " (see keygen -h)"}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q (see keygen -h)", fs.Arg(0))}
	}
	for _, name := range required {
		if fs.Lookup(name).Value.String() == "" {
			return usageError{fmt.Sprintf("-%s is required (see keygen -h)", name)}
		}
	}
	return nil
}

func generate(args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("keygen")
	domain := fs.String("domain", "", "company domain, as in the Avaya Cloud account")
	keyFile := fs.String("key", "", "file to write the private key to (PKCS#8 PEM, mode 0600)")
	description := fs.String("description", provider.DefaultDescription, "description in the authorization JSON")
	force := fs.Bool("force", false, "overwrite an existing key file")
	if err := parse(fs, args, "domain", "key"); err != nil {
		return err
	}
	id, err := provider.Generate(provider.GenerateConfig{Domain: *domain, Description: *description})
	if err != nil {
		return err
	}
	auth, err := id.Authorization()
	if err != nil {
		return err
	}
	if err := provider.SaveKey(*keyFile, id.Key, *force); err != nil {
		if errors.Is(err, provider.ErrKeyExists) {
			return fmt.Errorf("%s exists; use -force to replace it", *keyFile)
		}
		return err
	}
	_, err = stdout.Write(auth.JSON())
	return err
}

func sign(args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("keygen sign")
	keyFile := fs.String("key", "", "private key file")
	systemID := fs.String("system-id", "", "system id, the token issuer")
	ttl := fs.Duration("ttl", provider.DefaultTokenTTL, "token lifetime")
	aud := fs.String("aud", "", "audience (aud claim)")
	if err := parse(fs, args, "key", "system-id"); err != nil {
		return err
	}
	if *ttl <= 0 {
		return usageError{"-ttl must be positive"}
	}
	key, err := provider.LoadKey(*keyFile)
	if err != nil {
		return err
	}
	cfg := provider.SignerConfig{Key: key, SystemID: *systemID, TTL: *ttl}
	if *aud != "" {
		cfg.Audience = []string{*aud}
	}
	signer, err := provider.NewSigner(cfg)
	if err != nil {
		return err
	}
	token, err := signer.Sign(nil)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

func verify(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("keygen verify")
	authFile := fs.String("auth", "", "authorization JSON file")
	token := fs.String("token", "", "the JWT, or - to read it from standard input")
	if err := parse(fs, args, "auth", "token"); err != nil {
		return err
	}
	data, err := os.ReadFile(*authFile)
	if err != nil {
		return err
	}
	auth, err := provider.ParseAuthorization(data)
	if err != nil {
		lenient, lerr := provider.ParseAuthorizationLenient(data)
		if lerr != nil {
			return fmt.Errorf("%s: %w", *authFile, err)
		}
		fmt.Fprintf(stderr, "keygen: warning: %s: %s; accepted in lenient mode\n", *authFile, oneLine(err.Error()))
		auth = lenient
	}
	tok := *token
	if tok == "-" {
		line, err := bufio.NewReader(io.LimitReader(stdin, 64<<10)).ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		tok = line
	}
	v, err := provider.NewVerifier(provider.VerifierConfig{Authorization: auth, Now: time.Now})
	if err != nil {
		return err
	}
	claims, err := v.Verify(strings.TrimSpace(tok))
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(claims, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}
