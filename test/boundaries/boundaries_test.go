package boundaries_test

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const module = "github.com/sluicehq/sluice"

// depGraph is the non-test dependency set of one package as `go list -deps` reports it: each package's
// import path and its direct imports.
type depGraph map[string][]string

// listDeps runs `go list -deps` on pkg (an import path) and returns its non-test dependency graph, the
// package itself included.
func listDeps(t *testing.T, pkg string) depGraph {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not in PATH (%v): these tests read the import graph with go list", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr.String())
	}
	g := depGraph{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 {
			g[fields[0]] = fields[1:]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("go list -deps %s: reading its output: %v", pkg, err)
	}
	if _, ok := g[pkg]; !ok {
		t.Fatalf("go list -deps %s did not list %s itself; output:\n%s", pkg, pkg, out)
	}
	return g
}

// importers returns the packages of g that import dep directly.
func (g depGraph) importers(dep string) []string {
	var by []string
	for p, imports := range g {
		for _, imp := range imports {
			if imp == dep {
				by = append(by, p)
				break
			}
		}
	}
	return by
}

// TestElasticsearchSinkBuildsWithoutServer checks that sinks/elasticsearch depends on no package of the
// embedded server and none of bleve: a program that imports only the sink compiles neither.
func TestElasticsearchSinkBuildsWithoutServer(t *testing.T) {
	sink := module + "/sinks/elasticsearch"
	g := listDeps(t, sink)
	for p := range g {
		if strings.HasPrefix(p, "github.com/blevesearch/") || p == module+"/esserver" || strings.HasPrefix(p, module+"/esserver/") {
			t.Errorf("%s depends on %s (imported by %s)", sink, p, strings.Join(g.importers(p), ", "))
		}
	}
	// The check above means something only if the server does use bleve.
	server := listDeps(t, module+"/esserver")
	if _, ok := server["github.com/blevesearch/bleve/v2"]; !ok {
		t.Errorf("%s no longer depends on github.com/blevesearch/bleve/v2: update this test's package list", module+"/esserver")
	}
}

// TestProgramsDoNotUseTestHelpers checks that the runnable example and the CLI start MariaDB through
// internal/mariadb: no package of this module in their non-test builds imports testing, and none is
// internal/mariadbtest. (The programs still link package testing: goka imports it, in its mocks
// mockautoconsumers.go and mockbuilder.go and in goka/storage's test.go; that is goka's, outside this
// module.)
func TestProgramsDoNotUseTestHelpers(t *testing.T) {
	for _, prog := range []string{module + "/examples/mysql-to-es", module + "/cmd/sluice"} {
		g := listDeps(t, prog)
		if _, ok := g[module+"/internal/mariadb"]; !ok && prog == module+"/examples/mysql-to-es" {
			t.Errorf("%s does not depend on %s/internal/mariadb: it no longer starts a private MariaDB, update this test", prog, module)
		}
		for p, imports := range g {
			if p != module && !strings.HasPrefix(p, module+"/") {
				continue
			}
			if strings.HasSuffix(p, "test") {
				t.Errorf("%s's build includes the test helper %s (imported by %s)", prog, p, strings.Join(g.importers(p), ", "))
			}
			for _, imp := range imports {
				if imp == "testing" {
					t.Errorf("%s's build includes %s, which imports testing", prog, p)
				}
			}
		}
	}
}
