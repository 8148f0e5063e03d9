package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
)

// scopeHashes returns the SHA-256 of every file in scope, by file name: a
// rerun is only sound on the source the earlier run mutated.
func scopeHashes(scope []scopeEntry) (map[string]string, error) {
	h := map[string]string{}
	for _, s := range scope {
		b, err := os.ReadFile(filepath.Join(s.pkg, s.file))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		h[s.file] = hex.EncodeToString(sum[:])
	}
	return h, nil
}

// survivors reads an earlier run's -out file for a rerun: its gremlins and
// custom mutants with their statuses, the custom ones matched to the mutants
// generated now (gen) so they carry their edits, the gremlins ones given the
// edit of their operator. Killed, timed out and not viable mutants keep
// their status: tests were only added, so what killed them still does.
// The files in scope must be those of the earlier run (hashes; for a file
// written before hashes were recorded, the same mutants must be generated).
func survivors(path, pkg string, gen []*mutant, hashes map[string]string) (grem, custom []*mutant, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var r struct {
		Hashes   map[string]string
		Custom   []*mutant
		Gremlins []*mutant
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	byID := map[string]*mutant{}
	for _, m := range gen {
		byID[m.id(pkg)+" "+m.Detail] = m
	}
	if r.Hashes != nil {
		for f, h := range hashes {
			if r.Hashes[f] != h {
				return nil, nil, fmt.Errorf("%s changed since %s was written: run the package whole", f, path)
			}
		}
	} else if len(r.Custom) != len(gen) {
		return nil, nil, fmt.Errorf("%s has %d custom mutants, the source now gives %d: run the package whole", path, len(r.Custom), len(gen))
	}
	for _, old := range r.Custom {
		m, ok := byID[old.id(pkg)+" "+old.Detail]
		if !ok {
			return nil, nil, fmt.Errorf("%s: mutant %s %s is not generated from the source now: run the package whole", path, old.id(pkg), old.Detail)
		}
		m.Status = old.Status
		custom = append(custom, m)
	}
	srcs := map[string][]byte{}
	for _, m := range r.Gremlins {
		if m.Status == lived || m.Status == notCovered {
			src, ok := srcs[m.File]
			if !ok {
				if src, err = os.ReadFile(filepath.Join(pkg, m.File)); err != nil {
					return nil, nil, err
				}
				srcs[m.File] = src
			}
			e, err := gremlinsEdit(src, m.Line, m.Col, m.Operator)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", m.id(pkg), err)
			}
			m.edits = []edit{e}
			m.anchor = token.Position{Filename: m.File, Line: m.Line, Column: m.Col}
		}
		grem = append(grem, m)
	}
	return grem, custom, nil
}

// gremlinsOps are the token replacements of gremlins' default operators.
var gremlinsOps = map[string]map[token.Token]token.Token{
	"CONDITIONALS_BOUNDARY": boundary,
	"CONDITIONALS_NEGATION": negation,
	"ARITHMETIC_BASE": {
		token.ADD: token.SUB, token.SUB: token.ADD, token.MUL: token.QUO,
		token.QUO: token.MUL, token.REM: token.MUL,
	},
	"INCREMENT_DECREMENT": {token.INC: token.DEC, token.DEC: token.INC},
	"INVERT_NEGATIVES":    {token.SUB: token.ADD},
}

// gremlinsEdit rebuilds the edit of a gremlins mutant: the operator token
// at line:col (1-based, in bytes) replaced as gremlins replaces it.
func gremlinsEdit(src []byte, line, col int, op string) (edit, error) {
	repl, ok := gremlinsOps[op]
	if !ok {
		return edit{}, fmt.Errorf("operator %s cannot be rebuilt", op)
	}
	fset := token.NewFileSet()
	f := fset.AddFile("", fset.Base(), len(src))
	var s scanner.Scanner
	s.Init(f, src, nil, 0)
	for {
		pos, tok, _ := s.Scan()
		if tok == token.EOF {
			return edit{}, fmt.Errorf("no operator at %d:%d", line, col)
		}
		p := f.Position(pos)
		if p.Line != line || p.Column != col {
			continue
		}
		to, ok := repl[tok]
		if !ok {
			return edit{}, fmt.Errorf("%s at %d:%d is not an operand of %s", tok, line, col, op)
		}
		return edit{start: p.Offset, end: p.Offset + len(tok.String()), text: to.String()}, nil
	}
}
