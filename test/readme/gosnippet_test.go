package readme

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// snippetImports are the packages a README snippet may use without an import line, by the name it uses.
var snippetImports = map[string]string{
	"context":       "context",
	"errors":        "errors",
	"fmt":           "fmt",
	"os":            "os",
	"time":          "time",
	"slog":          "log/slog",
	"topology":      "github.com/sluicehq/sluice/topology",
	"stages":        "github.com/sluicehq/sluice/stages",
	"stream":        "github.com/sluicehq/sluice/stream",
	"file":          "github.com/sluicehq/sluice/sources/file",
	"mysql":         "github.com/sluicehq/sluice/sources/mysql",
	"elasticsearch": "github.com/sluicehq/sluice/sinks/elasticsearch",
	"verify":        "github.com/sluicehq/sluice/verify",
}

// snippetParams are the free names README snippets may use, given to the function a fragment becomes.
const snippetParams = "ctx context.Context, esURL string"

// TestGoSnippetsCompile compiles every ```go block of README.md against this tree: a block with a package
// clause as it stands, any other as the body of `func(ctx context.Context, esURL string) error` with the
// imports of the package names it uses. The files are laid over the module with `go build -overlay`, so
// nothing is written into the tree.
func TestGoSnippetsCompile(t *testing.T) {
	root := repoRoot(t)
	var snippets []block
	for _, b := range readmeBlocks(t) {
		if b.lang == "go" {
			snippets = append(snippets, b)
		}
	}
	if len(snippets) == 0 {
		t.Fatal("README.md has no ```go block: nothing to compile (has the README changed its fences?)")
	}
	tmp := t.TempDir()
	overlay := map[string]string{}
	var pkgs []string
	for i, b := range snippets {
		src := snippetSource(b)
		real := filepath.Join(tmp, fmt.Sprintf("snippet%d.go", i))
		if err := os.WriteFile(real, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, "test", "readme", "internal", fmt.Sprintf("readmesnippet%d", i))
		overlay[filepath.Join(dir, "main.go")] = real
		pkgs = append(pkgs, "./"+filepath.ToSlash(mustRel(t, root, dir)))
	}
	overlayJSON, _ := json.Marshal(map[string]any{"Replace": overlay})
	overlayFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayFile, overlayJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, pkg := range pkgs {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", os.DevNull, "-overlay", overlayFile, pkg)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("README.md's ```go block at line %d does not compile (go build: %v):\n%s\nas compiled:\n%s",
				snippets[i].line, err, out, numbered(snippetSource(snippets[i])))
		}
	}
}

// snippetSource is the Go file a README block compiles as.
func snippetSource(b block) string {
	if regexp.MustCompile(`(?m)^package \w+`).MatchString(b.text) {
		return b.text
	}
	used := map[string]bool{"context": true} // the wrapper's own parameter
	for _, m := range regexp.MustCompile(`\b([a-z]\w*)\.[A-Z]`).FindAllStringSubmatch(b.text, -1) {
		if _, ok := snippetImports[m[1]]; ok {
			used[m[1]] = true
		}
	}
	var imports []string
	for name := range used {
		imports = append(imports, fmt.Sprintf("\t%q", snippetImports[name]))
	}
	sort.Strings(imports)
	var src bytes.Buffer
	fmt.Fprintf(&src, "package main\n\nimport (\n%s\n)\n\n", strings.Join(imports, "\n"))
	fmt.Fprintf(&src, "func main() { _ = readmeSnippet }\n\n")
	fmt.Fprintf(&src, "// readmeSnippet is README.md's block of line %d.\nfunc readmeSnippet(%s) error {\n%s}\n", b.line, snippetParams, b.text)
	return src.String()
}

func mustRel(t *testing.T, base, target string) string {
	t.Helper()
	rel, err := filepath.Rel(base, target)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

func numbered(src string) string {
	var out strings.Builder
	for i, line := range strings.Split(src, "\n") {
		fmt.Fprintf(&out, "%4d  %s\n", i+1, line)
	}
	return out.String()
}
