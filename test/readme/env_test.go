package readme

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var envName = regexp.MustCompile(`^SLUICE_[A-Z0-9_]+$`)

// namePrefix is the start of a variable name that code would complete at run time ("SLUICE_ES_" + x).
var namePrefix = regexp.MustCompile(`^SLUICE_([A-Z0-9]+_)*$`)

// TestConfigurationTableMatchesCode is acceptance 3 of issue 24: every SLUICE_* variable the code reads is a
// row of README.md's "Configuration (environment)" table, and every row is a variable the code reads.
// "Read" means a string literal that is exactly a variable's name in a non-test Go file: the names given to
// os.Getenv and os.LookupEnv, and to the helpers that wrap them (envOr, a map of names to fields), are all
// written that way in this tree.
func TestConfigurationTableMatchesCode(t *testing.T) {
	read := envNamesInCode(t, repoRoot(t))
	documented := envNamesInTable(t)
	if len(read) == 0 || len(documented) == 0 {
		t.Fatalf("found %d variables in the code and %d in the README's table: the scan is broken", len(read), len(documented))
	}
	for _, name := range sortedKeys(read) {
		if !documented[name] {
			t.Errorf("%s is read by %s but missing from README.md's configuration table", name, strings.Join(read[name], ", "))
		}
	}
	for _, name := range sortedKeys(documented) {
		if _, ok := read[name]; !ok {
			t.Errorf("README.md's configuration table documents %s, which no non-test Go file reads", name)
		}
	}
	if !t.Failed() {
		t.Logf("%d variables read by the code, all in the table", len(read))
	}
}

// envNamesInCode returns the SLUICE_* names written as string literals in non-test Go files under root,
// each with the files that name it (relative to root).
func envNamesInCode(t *testing.T, root string) map[string][]string {
	t.Helper()
	names := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			// A name built at run time ("SLUICE_" + x) would escape this scan: refuse it.
			if bin, ok := n.(*ast.BinaryExpr); ok && bin.Op == token.ADD {
				if lit, ok := bin.X.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && namePrefix.MatchString(s) {
						t.Errorf("%s builds a variable name at run time (%s + ...): write each name whole, so that this test sees it", rel, lit.Value)
					}
				}
			}
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && envName.MatchString(s) {
				if files := names[s]; len(files) == 0 || files[len(files)-1] != rel {
					names[s] = append(files, rel)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// envNamesInTable returns the variables named (in backquotes) in the first column of README.md's configuration table.
func envNamesInTable(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const heading = "## Configuration (environment)"
	_, after, ok := strings.Cut(string(data), heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q section", heading)
	}
	if i := strings.Index(after, "\n#"); i >= 0 {
		after = after[:i]
	}
	quoted := regexp.MustCompile("`(SLUICE_[A-Z0-9_]+)`")
	names := map[string]bool{}
	for _, line := range strings.Split(after, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.TrimSpace(cells[0]) != "" {
			continue
		}
		for _, m := range quoted.FindAllStringSubmatch(cells[1], -1) { // a row may name several: `A`, `B`
			names[m[1]] = true
		}
	}
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
