// Package envflag lets the example programs' flags be set from the
// environment: each flag has a variable named after it in upper case, dashes
// as underscores, prefixed with PUSHWIRE_ (-apns-key-id ↔
// PUSHWIRE_APNS_KEY_ID). A flag on the command line wins over its variable.
package envflag

import (
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
