package store_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// poolImports are packages that hand out more than one connection.
var poolImports = map[string]bool{
	"github.com/jackc/pgx/v5/pgxpool": true,
	"github.com/jackc/pgx/v5/stdlib":  true,
	"database/sql":                    true,
}

// dialFuncs open a PostgreSQL connection; only package store may call them.
var dialFuncs = map[string]bool{
	"pgx.Connect": true, "pgx.ConnectConfig": true, "pgx.ConnectWithOptions": true,
	"pgconn.Connect": true, "pgconn.ConnectConfig": true, "pgconn.ConnectWithOptions": true,
}

// exempt lists directories whose code may use pools: the benchmark harness
// reproduces the pooled design it compares against.
var exempt = []string{"bench/"}

// TestNoSecondConnectionInProductionCode is the linter rule behind the
// package's promise: production code never imports a pool and never dials
// PostgreSQL outside package store.
func TestNoSecondConnectionInProductionCode(t *testing.T) {
	root := filepath.Join("..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" || isExempt(rel+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasPrefix(rel, "internal/testenv/") {
			return nil
		}
		checked++
		checkFile(t, path, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked only %d files: the walk is broken", checked)
	}
}

func isExempt(rel string) bool {
	for _, e := range exempt {
		if strings.HasPrefix(rel, e) {
			return true
		}
	}
	return false
}

func checkFile(t *testing.T, path, rel string) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", rel, err)
	}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if poolImports[p] {
			t.Errorf("%s imports %s: production code must hold one connection per worker (use package store)", rel, p)
		}
	}
	inStore := strings.HasPrefix(rel, "store/")
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && dialFuncs[x.Name+"."+sel.Sel.Name] && !inStore {
			t.Errorf("%s calls %s.%s: only package store may open a PostgreSQL connection", rel, x.Name, sel.Sel.Name)
		}
		return true
	})
}
