package app

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Handlers reach domain rules through app/core; only the wiring (app.go,
// which builds the workers, relay and queue) may import the task layer.
func TestOnlyWiringImportsJobs(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "app.go" {
			continue
		}
		ast, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "github.com/tsunagu/tsunagu/jobs" {
				t.Errorf("%s imports jobs: move the rule it uses to app/core, or the wiring to app.go", f)
			}
		}
	}
}
