// Package envflag lets the example programs' flags be set from the
// environment: each flag has a variable named after it in upper case, dashes
// as underscores, prefixed with PUSHWIRE_ (-apns-key-id ↔
// PUSHWIRE_APNS_KEY_ID). A flag on the command line wins over its variable.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Prefix is the prefix of the environment variables that stand for flags.
const Prefix = "PUSHWIRE_"

// Name returns the environment variable of a flag.
func Name(flagName string) string {
	return Prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Apply sets every flag of fs whose variable getenv returns non-empty. Call
// it before fs.Parse, so that the command line wins. The error names the
// variable and the flag's complaint.
func Apply(fs *flag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil {
			return
		}
		if v := getenv(Name(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("invalid value %q for %s: %v", v, Name(f.Name), e)
			}
		}
	})
	return err
}

// PrintDefaults writes the usage of every flag of fs to w, as
// flag.PrintDefaults does, with each flag's variable in brackets.
func PrintDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  -" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s  [%s]\n    \t%s", line, Name(f.Name), usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// UsageError is a bad flag, a bad variable or an unreadable file: the
// programs exit with status 2 for it.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}

// Parse sets fs from the environment (Apply), then from args, so that the
// command line wins. For -h it prints the usage to stderr and returns
// flag.ErrHelp; a bad flag, a bad variable or a positional argument is a
// *UsageError on one line.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string, stderr io.Writer) error {
	if err := Apply(fs, getenv); err != nil {
		return Usagef("%v", err)
	}
	fs.SetOutput(io.Discard) // report a bad flag on one line ourselves
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return err
		}
		return Usagef("%v (see -h)", err)
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q (see -h)", fs.Arg(0))
	}
	return nil
}
