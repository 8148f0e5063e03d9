package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `package p

import "github.com/pushwire/pushwire"

var ErrA, ErrB = pushwire.ErrPermanent, pushwire.ErrRetryable

var table = map[string]int{"a": 400, "b": 500}

func classify(status int, code string) error {
	switch code {
	case "x", "y":
		return ErrA
	case "z":
		return ErrB
	}
	switch {
	case status >= 500:
		return pushwire.ErrRetryable
	}
	n := 0
	n++
	return pushwire.ErrDeadToken
}

func other() int { return 1 }
`

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.go"), []byte(sample), 0o644))
	muts, ranges, err := generate(scopeEntry{pkg: dir, file: "p.go", names: map[string]bool{"classify": true, "var:table": true}})
	require.NoError(t, err)

	got := map[string]int{}
	for _, m := range muts {
		got[m.Operator]++
		// Every mutant is still Go.
		src := apply([]byte(sample), m.edits)
		_, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
		assert.NoError(t, err, "%s %s:\n%s", m.Operator, m.Detail, src)
	}
	assert.Equal(t, map[string]int{
		"CASE_DROPPED":      3, // "x", "y", case "z"
		"CASE_BOUNDARY":     1, // >= → >
		"CASE_NEGATION":     1, // >= → <
		"ERROR_CLASS":       4, // ErrA, ErrB, ErrRetryable, ErrDeadToken
		"STATEMENT_DROPPED": 4, // the three returns in cases and n++; the last return kept
		"TABLE_ENTRY":       4, // two entries removed, two integers changed
	}, got)
	assert.Len(t, ranges.scope, 2, "classify and table")
	assert.Len(t, ranges.cases, 1, "the tagless switch's case")
}

func TestNotFound(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.go"), []byte(sample), 0o644))
	_, _, err := generate(scopeEntry{pkg: dir, file: "p.go", names: map[string]bool{"missing": true}})
	assert.ErrorContains(t, err, "missing not found")
}

func TestCoverage(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "c.out")
	require.NoError(t, os.WriteFile(profile, []byte("mode: set\nexample.com/p/p.go:10.2,12.3 1 1\nexample.com/p/p.go:20.2,22.3 1 0\n"), 0o644))
	cov, err := readCoverage(profile)
	require.NoError(t, err)
	for _, tt := range []struct {
		line, col int
		want      bool
	}{
		{10, 1, false}, {10, 2, true}, {12, 3, true}, {12, 4, false}, {21, 1, false},
	} {
		assert.Equal(t, tt.want, covered(cov, token.Position{Filename: "/x/p.go", Line: tt.line, Column: tt.col}), "%d.%d", tt.line, tt.col)
	}
}

func TestScore(t *testing.T) {
	assert.InDelta(t, 90.0, tally{killed: 8, timedOut: 1, lived: 1, notCovered: 5, equivalent: 3}.score(), 1e-9)
	assert.InDelta(t, 100.0, tally{}.score(), 1e-9)
}

// TestCaseAnchor checks that a mutant inside a case expression is looked up
// in the coverage profile at its switch, which has a block, and not at
// itself, which has none.
func TestCaseAnchor(t *testing.T) {
	const src = `package p

var ErrA, ErrB error

func status(err error) int {
	switch {
	case err == ErrA:
		return 1
	}
	return 0
}
`
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644))
	muts, _, err := generate(scopeEntry{pkg: dir, file: "p.go"})
	require.NoError(t, err)
	var inCase int
	for _, m := range muts {
		if m.Line == 7 {
			inCase++
			assert.Equal(t, 6, m.anchor.Line, "%s %s", m.Operator, m.Detail)
		}
	}
	assert.Equal(t, 2, inCase, "ErrA swapped, == negated")
}

func TestGremlinsEdit(t *testing.T) {
	src := []byte("package p\n\nfunc f(a, b int) int {\n\tif a <= b && a != -1 {\n\t\ta++\n\t}\n\treturn a * b % 3\n}\n")
	for _, tc := range []struct {
		line, col int
		op, want  string
	}{
		{4, 7, "CONDITIONALS_BOUNDARY", "if a < b && a != -1"},
		{4, 7, "CONDITIONALS_NEGATION", "if a > b && a != -1"},
		{4, 17, "CONDITIONALS_NEGATION", "if a <= b && a == -1"},
		{4, 20, "INVERT_NEGATIVES", "if a <= b && a != +1"},
		{5, 4, "INCREMENT_DECREMENT", "a--"},
		{7, 11, "ARITHMETIC_BASE", "return a / b % 3"},
		{7, 15, "ARITHMETIC_BASE", "return a * b * 3"},
	} {
		e, err := gremlinsEdit(src, tc.line, tc.col, tc.op)
		require.NoError(t, err, "%d:%d %s", tc.line, tc.col, tc.op)
		assert.Contains(t, string(apply(src, []edit{e})), tc.want, "%d:%d %s", tc.line, tc.col, tc.op)
	}
	_, err := gremlinsEdit(src, 4, 5, "CONDITIONALS_BOUNDARY") // "a", not an operator
	assert.Error(t, err)
	_, err = gremlinsEdit(src, 4, 7, "REMOVE_SELF_ASSIGNMENTS")
	assert.Error(t, err)
	_, err = gremlinsEdit(src, 40, 1, "CONDITIONALS_BOUNDARY")
	assert.Error(t, err)
}
