// Command mutants applies the mutation operators the gremlins tool lacks to
// the code that decides what happens to a push, one mutant at a time, runs
// the package's tests against each, and merges the result with a gremlins
// run into one score per package. It is run by scripts/mutate.sh; see
// TESTING.md.
//
// Operators (each applied alone, at one place):
//
//   - CASE_BOUNDARY, CASE_NEGATION: the comparisons inside the case
//     expressions of a switch without a tag (< becomes <=, == becomes !=, …).
//     Gremlins reports these as not covered, because Go's coverage profile
//     has no block for a case expression.
//   - CASE_DROPPED: one value of a tagged switch's case is removed (the whole
//     clause when it has a single value).
//   - ERROR_CLASS: an error class or sentinel is replaced by another of its
//     family (pushwire.ErrRetryable by ErrPermanent, ErrDeadToken by
//     ErrPermanent, …; a package's own Err sentinels by the next one).
//   - STATEMENT_DROPPED: a statement (call, assignment, if, return, break,
//     continue, send) is removed. Defer and go statements are left alone.
//   - TABLE_ENTRY: an entry of a map or slice literal is removed, or an
//     integer in a composite literal is changed by one.
//
// The source is never modified: each mutant is handed to go test through
// -overlay. A mutant that does not compile is not viable and not counted.
// Mutants in code no test runs are reported as not covered and not run.
//
// Usage:
//
//	go run ./scripts/mutants -scope scripts/mutants/scope.txt -pkg ./fcm \
//	    [-gremlins gremlins.json] [-equivalent scripts/mutants/equivalent.txt] \
//	    [-timeout-coefficient 10] [-dry-run] [-out result.json]
//
// With -gremlins, the report counts that run's mutants too, restricted to
// the same scope. Run it from the root of the module that holds the package.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Status of a mutant, in gremlins' vocabulary.
const (
	killed     = "KILLED"
	lived      = "LIVED"
	timedOut   = "TIMED OUT"
	notCovered = "NOT COVERED"
	notViable  = "NOT VIABLE"
)

// edit replaces src[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// mutant is one change to one file.
type mutant struct {
	File     string // relative to the package directory
	Line     int
	Col      int
	Operator string
	Detail   string
	Status   string
	anchor   token.Position // where coverage is looked up
	pkgLevel bool           // in a package-level initializer, which every test runs
	edits    []edit
}

func (m *mutant) id(pkg string) string {
	return fmt.Sprintf("%s/%s:%d:%d %s", strings.TrimPrefix(pkg, "./"), m.File, m.Line, m.Col, m.Operator)
}

// scopeEntry is one line of the scope file: a file of a package, and
// optionally the functions (or package-level variables) of it in scope.
type scopeEntry struct {
	pkg   string
	file  string
	names map[string]bool // empty: the whole file
}

func main() {
	var (
		scopePath = flag.String("scope", "scripts/mutants/scope.txt", "scope file: package, file, optional comma-separated functions")
		pkg       = flag.String("pkg", "", "package directory, e.g. ./fcm")
		gremlins  = flag.String("gremlins", "", "gremlins JSON output (-o) to merge into the report")
		equivPath = flag.String("equivalent", "scripts/mutants/equivalent.txt", "equivalent mutants: one ID a line, then the reason")
		coef      = flag.Int("timeout-coefficient", 10, "a mutant's test run may take this many times the unmutated run")
		dryRun    = flag.Bool("dry-run", false, "list the mutants without running the tests")
		out       = flag.String("out", "", "write every mutant and its status to this JSON file")
		verbose   = flag.Bool("v", false, "print each mutant as it is tested")
		from      = flag.String("from", "", "print the report of an earlier run's -out file (after editing the equivalent list) instead of running")
		rerun     = flag.String("rerun", "", "re-test only the survivors (LIVED, NOT COVERED) of an earlier run's -out file, after tests were added; the files in scope must be unchanged")
	)
	flag.Parse()
	if *pkg == "" {
		fail(errors.New("-pkg is required"))
	}
	if *from != "" {
		equiv, err := readEquivalent(*equivPath)
		if err != nil {
			fail(err)
		}
		b, err := os.ReadFile(*from)
		if err != nil {
			fail(err)
		}
		var r struct{ Custom, Gremlins []*mutant }
		if err := json.Unmarshal(b, &r); err != nil {
			fail(fmt.Errorf("%s: %w", *from, err))
		}
		report(os.Stdout, *pkg, r.Gremlins, r.Custom, equiv, 0)
		return
	}
	scope, err := readScope(*scopePath, *pkg)
	if err != nil {
		fail(err)
	}
	equiv, err := readEquivalent(*equivPath)
	if err != nil {
		fail(err)
	}
	var muts []*mutant
	ranges := map[string]fileRanges{}
	for _, s := range scope {
		ms, rs, err := generate(s)
		if err != nil {
			fail(err)
		}
		muts = append(muts, ms...)
		ranges[s.file] = rs
	}
	if *dryRun {
		for _, m := range muts {
			fmt.Printf("%-60s %s\n", m.id(*pkg), m.Detail)
		}
		fmt.Printf("%d mutants\n", len(muts))
		return
	}
	hashes, err := scopeHashes(scope)
	if err != nil {
		fail(err)
	}
	start := time.Now()
	var grem []*mutant
	if *rerun != "" {
		if grem, muts, err = survivors(*rerun, *pkg, muts, hashes); err != nil {
			fail(err)
		}
		var again []*mutant
		for _, ms := range [][]*mutant{grem, muts} {
			for _, m := range ms {
				if m.Status == lived || m.Status == notCovered {
					again = append(again, m)
				}
			}
		}
		fmt.Fprintf(os.Stderr, "re-testing %d survivors of %s\n", len(again), *rerun)
		if err := run(*pkg, again, *coef, *verbose); err != nil {
			fail(err)
		}
	} else {
		if err := run(*pkg, muts, *coef, *verbose); err != nil {
			fail(err)
		}
		if *gremlins != "" {
			grem, err = readGremlins(*gremlins, *pkg, ranges)
			if err != nil {
				fail(err)
			}
		}
	}
	custom := time.Since(start)
	if *out != "" {
		b, _ := json.MarshalIndent(map[string]any{"package": *pkg, "date": time.Now().UTC().Format(time.DateOnly), "hashes": hashes, "custom": muts, "gremlins": grem}, "", "  ")
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			fail(err)
		}
	}
	report(os.Stdout, *pkg, grem, muts, equiv, custom)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mutants:", err)
	os.Exit(2)
}

func readScope(path, pkg string) ([]scopeEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var entries []scopeEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || filepath.Clean(fields[0]) != filepath.Clean(pkg) {
			continue
		}
		e := scopeEntry{pkg: pkg, file: fields[1], names: map[string]bool{}}
		if len(fields) > 2 {
			for _, n := range strings.Split(fields[2], ",") {
				e.names[n] = true
			}
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no file of %s in %s", pkg, path)
	}
	return entries, sc.Err()
}

// readEquivalent reads "ID reason" lines; the ID is "pkg/file.go:line:col
// OPERATOR" as the report prints it.
func readEquivalent(path string) (map[string]string, error) {
	m := map[string]string{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("%s: want \"ID OPERATOR reason\": %q", path, line)
		}
		m[f[0]+" "+f[1]] = strings.Join(f[2:], " ")
	}
	return m, nil
}

// span is a byte range of a file.
type span struct{ from, to int }

// fileRanges are the ranges of a file in scope, and the case expressions of
// tagless switches in them: gremlins reports these not covered, the CASE_*
// operators test them.
type fileRanges struct{ scope, cases []span }

func in(spans []span, off int) bool {
	for _, s := range spans {
		if off >= s.from && off < s.to {
			return true
		}
	}
	return false
}

func generate(s scopeEntry) ([]*mutant, fileRanges, error) {
	path := filepath.Join(s.pkg, s.file)
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fileRanges{}, err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		return nil, fileRanges{}, err
	}
	sentinels, err := packageSentinels(s.pkg)
	if err != nil {
		return nil, fileRanges{}, err
	}
	g := &gen{fset: fset, src: src, file: s.file, sentinels: sentinels}
	var spans []span
	found := map[string]bool{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			name := d.Name.Name
			if d.Recv != nil && len(d.Recv.List) == 1 {
				name = recvName(d.Recv.List[0].Type) + "." + name
			}
			if len(s.names) > 0 && !s.names[name] && !s.names[d.Name.Name] {
				continue
			}
			found[name], found[d.Name.Name] = true, true
			if d.Body != nil {
				spans = append(spans, span{g.off(d.Pos()), g.off(d.End())})
				// Without its last statement a function with results
				// does not compile: not worth a build.
				if n := len(d.Body.List); n > 0 && d.Type.Results != nil {
					g.last = d.Body.List[n-1]
				}
				g.walk(d.Body)
			}
		case *ast.GenDecl:
			if d.Tok != token.VAR {
				continue
			}
			for _, sp := range d.Specs {
				vs := sp.(*ast.ValueSpec)
				in := len(s.names) == 0
				for _, n := range vs.Names {
					if s.names["var:"+n.Name] {
						in, found["var:"+n.Name] = true, true
					}
				}
				if !in {
					continue
				}
				spans = append(spans, span{g.off(vs.Pos()), g.off(vs.End())})
				g.pkgLevel = true
				for _, v := range vs.Values {
					g.walk(v)
				}
				g.pkgLevel = false
			}
		}
	}
	for n := range s.names {
		if !found[n] {
			return nil, fileRanges{}, fmt.Errorf("%s: %s not found", path, n)
		}
	}
	sort.SliceStable(g.muts, func(i, j int) bool {
		a, b := g.muts[i], g.muts[j]
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	return g.muts, fileRanges{scope: spans, cases: g.cases}, nil
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return ""
}

// packageSentinels returns the package-level Err* variables of the package
// in dir, sorted: the family a sentinel is swapped within.
func packageSentinels(dir string) ([]string, error) {
	fset := token.NewFileSet()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, sp := range gd.Specs {
				for _, n := range sp.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Err") {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

// classSwap is the family of the pushwire error classes.
var classSwap = map[string]string{
	"ErrRetryable":     "ErrPermanent",
	"ErrPermanent":     "ErrRetryable",
	"ErrDeadToken":     "ErrPermanent",
	"ErrConfiguration": "ErrPermanent",
}

type gen struct {
	fset      *token.FileSet
	src       []byte
	file      string
	sentinels []string
	muts      []*mutant
	pkgLevel  bool        // walking a package-level initializer
	last      ast.Stmt    // the last statement of the function walked
	cases     []span      // case expressions of tagless switches
	caseAt    []token.Pos // the switch of each of cases
}

func (g *gen) off(p token.Pos) int { return g.fset.Position(p).Offset }

func (g *gen) add(op, detail string, at, anchor token.Pos, edits ...edit) {
	p := g.fset.Position(at)
	// A case expression has no coverage block of its own: it ran when its
	// switch did.
	for i, c := range g.cases {
		if p.Offset >= c.from && p.Offset < c.to {
			anchor = g.caseAt[i]
		}
	}
	g.muts = append(g.muts, &mutant{
		File: g.file, Line: p.Line, Col: p.Column, Operator: op, Detail: detail,
		anchor: g.fset.Position(anchor), edits: edits, pkgLevel: g.pkgLevel,
	})
}

func (g *gen) text(n ast.Node) string { return string(g.src[g.off(n.Pos()):g.off(n.End())]) }

var boundary = map[token.Token]token.Token{token.LSS: token.LEQ, token.LEQ: token.LSS, token.GTR: token.GEQ, token.GEQ: token.GTR}
var negation = map[token.Token]token.Token{
	token.EQL: token.NEQ, token.NEQ: token.EQL, token.LSS: token.GEQ,
	token.GEQ: token.LSS, token.GTR: token.LEQ, token.LEQ: token.GTR,
}

// walk generates the mutants of the subtree n.
func (g *gen) walk(n ast.Node) {
	ast.Inspect(n, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SwitchStmt:
			g.switchStmt(n)
		case *ast.BlockStmt:
			g.dropStatements(n.List)
		case *ast.CaseClause:
			g.dropStatements(n.Body)
		case *ast.CommClause:
			g.dropStatements(n.Body)
		case *ast.CompositeLit:
			g.table(n)
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && x.Name == "pushwire" {
				if to, ok := classSwap[n.Sel.Name]; ok {
					g.add("ERROR_CLASS", n.Sel.Name+" -> "+to, n.Pos(), n.Pos(),
						edit{g.off(n.Sel.Pos()), g.off(n.Sel.End()), to})
				}
			}
			return true
		case *ast.Ident:
			if to := g.nextSentinel(n.Name); to != "" {
				g.add("ERROR_CLASS", n.Name+" -> "+to, n.Pos(), n.Pos(),
					edit{g.off(n.Pos()), g.off(n.End()), to})
			}
		}
		return true
	})
}

func (g *gen) nextSentinel(name string) string {
	i := sort.SearchStrings(g.sentinels, name)
	if i == len(g.sentinels) || g.sentinels[i] != name || len(g.sentinels) < 2 {
		return ""
	}
	return g.sentinels[(i+1)%len(g.sentinels)]
}

func (g *gen) switchStmt(s *ast.SwitchStmt) {
	for _, c := range s.Body.List {
		cc := c.(*ast.CaseClause)
		if s.Tag == nil {
			for _, e := range cc.List {
				g.cases = append(g.cases, span{g.off(e.Pos()), g.off(e.End())})
				g.caseAt = append(g.caseAt, s.Pos())
				ast.Inspect(e, func(n ast.Node) bool {
					if _, ok := n.(*ast.FuncLit); ok {
						return false
					}
					b, ok := n.(*ast.BinaryExpr)
					if !ok {
						return true
					}
					opEdit := func(to token.Token) edit {
						p := g.off(b.OpPos)
						return edit{p, p + len(b.Op.String()), to.String()}
					}
					if to, ok := boundary[b.Op]; ok {
						g.add("CASE_BOUNDARY", b.Op.String()+" -> "+to.String(), b.OpPos, s.Pos(), opEdit(to))
					}
					if to, ok := negation[b.Op]; ok {
						g.add("CASE_NEGATION", b.Op.String()+" -> "+to.String(), b.OpPos, s.Pos(), opEdit(to))
					}
					return true
				})
			}
			continue
		}
		if len(cc.List) == 0 {
			continue
		}
		if len(cc.List) == 1 {
			g.add("CASE_DROPPED", "case "+g.text(cc.List[0])+" removed", cc.Pos(), s.Pos(),
				edit{g.off(cc.Pos()), g.off(cc.End()), ""})
			continue
		}
		for i, e := range cc.List {
			var from, to int
			if i < len(cc.List)-1 {
				from, to = g.off(e.Pos()), g.off(cc.List[i+1].Pos())
			} else {
				from, to = g.off(cc.List[i-1].End()), g.off(e.End())
			}
			g.add("CASE_DROPPED", "value "+g.text(e)+" removed", e.Pos(), s.Pos(), edit{from, to, ""})
		}
	}
}

func (g *gen) dropStatements(list []ast.Stmt) {
	for _, st := range list {
		if st == g.last {
			continue
		}
		switch s := st.(type) {
		case *ast.ExprStmt, *ast.IncDecStmt, *ast.IfStmt, *ast.ReturnStmt, *ast.SendStmt:
		case *ast.AssignStmt:
			if s.Tok == token.DEFINE {
				continue
			}
		case *ast.BranchStmt:
			if s.Tok != token.BREAK && s.Tok != token.CONTINUE {
				continue
			}
		default:
			continue
		}
		first := strings.SplitN(g.text(st), "\n", 2)[0]
		if len(first) > 50 {
			first = first[:50] + "…"
		}
		g.add("STATEMENT_DROPPED", first, st.Pos(), st.Pos(), edit{g.off(st.Pos()), g.off(st.End()), ""})
	}
}

func (g *gen) table(c *ast.CompositeLit) {
	_, isMap := c.Type.(*ast.MapType)
	at, isSlice := c.Type.(*ast.ArrayType)
	isSlice = isSlice && at.Len == nil
	for i, e := range c.Elts {
		if _, kv := e.(*ast.KeyValueExpr); kv && isMap || isSlice {
			from, to := g.off(e.Pos()), g.off(e.End())
			if i < len(c.Elts)-1 {
				to = g.off(c.Elts[i+1].Pos())
			} else if rest := g.src[to:]; len(rest) > 0 && rest[0] == ',' {
				to++
			}
			g.add("TABLE_ENTRY", "entry "+firstLine(g.text(e))+" removed", e.Pos(), e.Pos(), edit{from, to, ""})
		}
		// An integer in a row (a status in a table, a limit in a config):
		// changed by one.
		v := e
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			v = kv.Value
		}
		if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.INT {
			if n, err := strconv.ParseInt(lit.Value, 0, 64); err == nil {
				g.add("TABLE_ENTRY", lit.Value+" -> "+strconv.FormatInt(n+1, 10), lit.Pos(), lit.Pos(),
					edit{g.off(lit.Pos()), g.off(lit.End()), strconv.FormatInt(n+1, 10)})
			}
		}
	}
}

func firstLine(s string) string {
	s = strings.SplitN(s, "\n", 2)[0]
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// coverage maps a file base name to its blocks with a nonzero count.
type block struct{ l0, c0, l1, c1 int }

func readCoverage(profile string) (map[string][]block, error) {
	b, err := os.ReadFile(profile)
	if err != nil {
		return nil, err
	}
	cov := map[string][]block{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "mode:") || line == "" {
			continue
		}
		// name.go:l0.c0,l1.c1 statements count
		colon := strings.LastIndexByte(line, ':')
		f := strings.Fields(line[colon+1:])
		if len(f) != 3 || f[2] == "0" {
			continue
		}
		var bl block
		if _, err := fmt.Sscanf(f[0], "%d.%d,%d.%d", &bl.l0, &bl.c0, &bl.l1, &bl.c1); err != nil {
			return nil, fmt.Errorf("coverage profile: %q: %w", line, err)
		}
		name := filepath.Base(line[:colon])
		cov[name] = append(cov[name], bl)
	}
	return cov, nil
}

func covered(cov map[string][]block, p token.Position) bool {
	for _, b := range cov[filepath.Base(p.Filename)] {
		after := p.Line > b.l0 || p.Line == b.l0 && p.Column >= b.c0
		before := p.Line < b.l1 || p.Line == b.l1 && p.Column <= b.c1
		if after && before {
			return true
		}
	}
	return false
}

func run(pkg string, muts []*mutant, coef int, verbose bool) error {
	tmp, err := os.MkdirTemp("", "mutants-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	profile := filepath.Join(tmp, "cover.out")
	start := time.Now()
	if outp, err := goTest(context.Background(), pkg, "-coverprofile="+profile); err != nil {
		return fmt.Errorf("the tests of %s fail without a mutant:\n%s", pkg, outp)
	}
	base := time.Since(start)
	timeout := max(time.Duration(coef)*base, 60*time.Second)
	cov, err := readCoverage(profile)
	if err != nil {
		return err
	}
	srcs := map[string][]byte{}
	for i, m := range muts {
		// Package-level initializers are run by every test.
		if !m.pkgLevel && !covered(cov, m.anchor) {
			m.Status = notCovered
			continue
		}
		path, err := filepath.Abs(filepath.Join(pkg, m.File))
		if err != nil {
			return err
		}
		src, ok := srcs[path]
		if !ok {
			if src, err = os.ReadFile(path); err != nil {
				return err
			}
			srcs[path] = src
		}
		mutated := apply(src, m.edits)
		mfile := filepath.Join(tmp, "mutant.go")
		if err := os.WriteFile(mfile, mutated, 0o644); err != nil {
			return err
		}
		overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{path: mfile}})
		ofile := filepath.Join(tmp, "overlay.json")
		if err := os.WriteFile(ofile, overlay, 0o644); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		outp, err := goTest(ctx, pkg, "-overlay="+ofile, "-failfast")
		timed := ctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			m.Status = lived
		case timed:
			m.Status = timedOut
		case bytes.Contains(outp, []byte("[build failed]")) || bytes.Contains(outp, []byte("[setup failed]")):
			m.Status = notViable
		default:
			m.Status = killed
		}
		if verbose || m.Status == lived {
			fmt.Fprintf(os.Stderr, "[%d/%d] %11s %s  %s\n", i+1, len(muts), m.Status, m.id(pkg), m.Detail)
		}
	}
	return nil
}

func apply(src []byte, edits []edit) []byte {
	sort.Slice(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	out := append([]byte(nil), src...)
	for _, e := range edits {
		out = append(out[:e.start:e.start], append([]byte(e.text), out[e.end:]...)...)
	}
	return out
}

func goTest(ctx context.Context, pkg string, args ...string) ([]byte, error) {
	a := append([]string{"test", "-count=1", "-vet=off", "-timeout=10m"}, args...)
	a = append(a, pkg)
	cmd := exec.CommandContext(ctx, "go", a...)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.WaitDelay = 5 * time.Second
	return cmd.CombinedOutput()
}

// gremlinsResult is the part of gremlins' JSON output the report reads.
type gremlinsResult struct {
	Files []struct {
		FileName  string `json:"file_name"`
		Mutations []struct {
			Line   int    `json:"line"`
			Column int    `json:"column"`
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"mutations"`
	} `json:"files"`
}

// readGremlins returns the mutants of a gremlins run that lie in scope.
func readGremlins(path, pkg string, ranges map[string]fileRanges) ([]*mutant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r gremlinsResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var muts []*mutant
	for _, f := range r.Files {
		base := filepath.Base(f.FileName)
		rs, ok := ranges[base]
		if !ok || filepath.Base(filepath.Dir(f.FileName)) != filepath.Base(filepath.Clean(pkg)) && filepath.Dir(f.FileName) != "." {
			continue
		}
		src, err := os.ReadFile(filepath.Join(pkg, base))
		if err != nil {
			return nil, err
		}
		lineStart := []int{0, 0}
		for i, c := range src {
			if c == '\n' {
				lineStart = append(lineStart, i+1)
			}
		}
		for _, m := range f.Mutations {
			if m.Line >= len(lineStart) {
				continue
			}
			off := lineStart[m.Line] + m.Column - 1
			if !in(rs.scope, off) || m.Status == notCovered && in(rs.cases, off) {
				continue
			}
			muts = append(muts, &mutant{File: base, Line: m.Line, Col: m.Column, Operator: m.Type, Status: m.Status})
		}
	}
	return muts, nil
}

type tally struct{ killed, lived, timedOut, notCovered, notViable, equivalent int }

func (t *tally) add(m *mutant, equiv map[string]string, pkg string) {
	switch m.Status {
	case killed:
		t.killed++
	case timedOut:
		t.timedOut++
	case notCovered:
		t.notCovered++
	case notViable:
		t.notViable++
	case lived:
		if _, ok := equiv[m.id(pkg)]; ok {
			t.equivalent++
		} else {
			t.lived++
		}
	}
}

// score is the share of the mutants the tests ran that they noticed,
// equivalent mutants excluded (gremlins' efficacy).
func (t tally) score() float64 {
	n := t.killed + t.timedOut + t.lived
	if n == 0 {
		return 100
	}
	return 100 * float64(t.killed+t.timedOut) / float64(n)
}

func report(w io.Writer, pkg string, grem, custom []*mutant, equiv map[string]string, took time.Duration) {
	var tg, tc, all tally
	for _, m := range grem {
		tg.add(m, equiv, pkg)
		all.add(m, equiv, pkg)
	}
	for _, m := range custom {
		tc.add(m, equiv, pkg)
		all.add(m, equiv, pkg)
	}
	fmt.Fprintf(w, "\n%-22s %7s %7s %7s %7s %7s %7s %7s\n", "package "+pkg, "killed", "lived", "timeout", "uncov", "equiv", "nonviab", "score")
	line := func(name string, t tally) {
		fmt.Fprintf(w, "%-22s %7d %7d %7d %7d %7d %7d %6.1f%%\n", name, t.killed, t.lived, t.timedOut, t.notCovered, t.equivalent, t.notViable, t.score())
	}
	if grem != nil {
		line("  gremlins", tg)
	}
	line("  custom operators", tc)
	line("  total", all)
	if took > 0 {
		fmt.Fprintf(w, "custom operators took %s\n", took.Round(time.Second))
	}
	printed := false
	for _, ms := range [][]*mutant{grem, custom} {
		for _, m := range ms {
			if m.Status != lived && m.Status != notCovered {
				continue
			}
			if !printed {
				fmt.Fprintln(w, "survivors (LIVED, NOT COVERED; equivalent ones with their reason):")
				printed = true
			}
			reason := equiv[m.id(pkg)]
			if reason != "" && m.Status == lived {
				reason = "equivalent: " + reason
			} else {
				reason = m.Detail
			}
			fmt.Fprintf(w, "  %-11s %-58s %s\n", m.Status, m.id(pkg), reason)
		}
	}
}
