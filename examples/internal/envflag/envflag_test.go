package envflag_test

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/examples/internal/envflag"
)

func TestName(t *testing.T) {
	assert.Equal(t, "PUSHWIRE_APNS_KEY_ID", envflag.Name("apns-key-id"))
	assert.Equal(t, "PUSHWIRE_ADDR", envflag.Name("addr"))
}

func newFlags() (*flag.FlagSet, *string, *int) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := fs.String("apns-topic", "", "APNs `topic`")
	n := fs.Int("max", 3, "a number")
	return fs, s, n
}

func TestApplyThenCommandLineWins(t *testing.T) {
	env := map[string]string{"PUSHWIRE_APNS_TOPIC": "from.env", "PUSHWIRE_MAX": "7"}
	fs, s, n := newFlags()
	require.NoError(t, envflag.Apply(fs, func(k string) string { return env[k] }))
	require.NoError(t, fs.Parse([]string{"-max", "9"}))
	assert.Equal(t, "from.env", *s)
	assert.Equal(t, 9, *n)
}

func TestApplyBadValue(t *testing.T) {
	fs, _, _ := newFlags()
	err := envflag.Apply(fs, func(k string) string {
		if k == "PUSHWIRE_MAX" {
			return "many"
		}
		return ""
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PUSHWIRE_MAX")
}

func TestPrintDefaults(t *testing.T) {
	fs, _, _ := newFlags()
	var b strings.Builder
	envflag.PrintDefaults(&b, fs)
	assert.Contains(t, b.String(), "-apns-topic topic  [PUSHWIRE_APNS_TOPIC]")
	assert.Contains(t, b.String(), `(default "3")`)
}

func TestParse(t *testing.T) {
	env := map[string]string{"PUSHWIRE_APNS_TOPIC": "from.env"}
	getenv := func(k string) string { return env[k] }
	var stderr bytes.Buffer

	fs, name, n := newFlags()
	require.NoError(t, envflag.Parse(fs, []string{"-max", "9"}, getenv, &stderr))
	assert.Equal(t, "from.env", *name)
	assert.Equal(t, 9, *n)

	fs, _, _ = newFlags()
	err := envflag.Parse(fs, []string{"-max", "1", "extra"}, getenv, &stderr)
	var ue *envflag.UsageError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, `unexpected argument "extra" (see -h)`, ue.Error())

	fs, _, _ = newFlags()
	err = envflag.Parse(fs, []string{"-nope"}, getenv, &stderr)
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, ue.Error(), "-nope")
	assert.Contains(t, ue.Error(), "(see -h)")
	assert.Empty(t, stderr.String(), "a bad flag is reported once, by the caller")

	fs, _, _ = newFlags()
	err = envflag.Parse(fs, nil, func(string) string { return "not-a-number" }, &stderr)
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, ue.Error(), "PUSHWIRE_MAX")

	fs, _, _ = newFlags()
	assert.ErrorIs(t, envflag.Parse(fs, []string{"-h"}, getenv, &stderr), flag.ErrHelp)
	assert.NotEmpty(t, stderr.String(), "-h prints the usage")
}
