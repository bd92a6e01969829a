// Package archtest holds the repository's shape to the rules ARCHITECTURE.md
// states: stages import one way only, no production file or function grows
// past what a reader can hold, and test helpers stay out of the binary.
package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	module = "github.com/logjail/logjail"
	// maxFileLines bounds every non-test Go file; maxFuncLines every
	// function, tests included. A function may be longer when its doc
	// comment says why with the words "longer than 80 lines:" (a table, a
	// generated scanner).
	maxFileLines = 600
	maxFuncLines = 80
	longReason   = "longer than 80 lines:"
)

// layers is the one-way rule: a package may import packages of its own
// layer or a lower one, never a higher one. A package belongs to the layer
// of its top-level directory.
var layers = map[string]int{
	"ingest":    0,
	"match":     1,
	"state":     2,
	"enforce":   3,
	"pipelines": 4,
	"daemon":    5,
	"cmd":       6,
}

// sourceFile is one parsed Go file of the module.
type sourceFile struct {
	rel  string // path from the module root, slash-separated
	test bool   // a _test.go file
	fset *token.FileSet
	ast  *ast.File
}

// moduleFiles parses the module's Go files, outside testdata: the non-test
// ones, and the tests too when withTests.
func moduleFiles(t *testing.T, withTests bool) []sourceFile {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	var out []sourceFile
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		test := strings.HasSuffix(path, "_test.go")
		if d.IsDir() || !strings.HasSuffix(path, ".go") || (test && !withTests) {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out = append(out, sourceFile{rel: filepath.ToSlash(rel), test: test, fset: fset, ast: f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("found only %d Go files under %s: wrong root?", len(out), root)
	}
	return out
}

func TestFileAndFunctionSizes(t *testing.T) {
	for _, f := range moduleFiles(t, true) {
		if n := f.fset.Position(f.ast.End()).Line; n > maxFileLines && !f.test {
			t.Errorf("%s: %d lines, more than %d: split it by what its parts do", f.rel, n, maxFileLines)
		}
		for _, d := range f.ast.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			n := f.fset.Position(fn.End()).Line - f.fset.Position(fn.Pos()).Line + 1
			if n > maxFuncLines && !strings.Contains(fn.Doc.Text(), longReason) {
				t.Errorf("%s:%d: %s is %d lines, more than %d (or say why in its doc comment with %q)",
					f.rel, f.fset.Position(fn.Pos()).Line, fn.Name.Name, n, maxFuncLines, longReason)
			}
		}
	}
}

func TestImportsGoOneWay(t *testing.T) {
	for _, f := range moduleFiles(t, false) {
		from, ok := layerOf(f.rel)
		if !ok {
			continue
		}
		for _, imp := range f.ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			rel, inModule := strings.CutPrefix(path, module+"/")
			if !inModule {
				continue
			}
			if strings.HasPrefix(rel, "internal/") {
				t.Errorf("%s imports %s: internal/ holds test helpers, which stay out of the binary", f.rel, path)
				continue
			}
			to, ok := layerOf(rel + "/")
			if !ok {
				t.Errorf("%s imports %s, which belongs to no layer (add it to layers and ARCHITECTURE.md)", f.rel, path)
				continue
			}
			if to > from {
				t.Errorf("%s imports %s: a lower stage may not import a higher one", f.rel, path)
			}
		}
	}
}

// layerOf returns the layer of the package holding the file at rel.
func layerOf(rel string) (int, bool) {
	top, _, ok := strings.Cut(rel, "/")
	if !ok {
		return 0, false
	}
	l, ok := layers[top]
	return l, ok
}

func TestEveryPackageHasALayer(t *testing.T) {
	for _, f := range moduleFiles(t, false) {
		top, _, _ := strings.Cut(f.rel, "/")
		if _, ok := layers[top]; !ok && top != "internal" {
			t.Errorf("%s: directory %s/ belongs to no layer (add it to layers and ARCHITECTURE.md)", f.rel, top)
		}
	}
}
