package readme

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// repoRoot is the module's root directory (two levels above this package).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot tell where this test file is")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// block is one fenced code block of a Markdown file.
type block struct {
	lang    string // the fence's info string: sh, go, ...
	section string // the nearest heading above it, without the #s
	line    int    // 1-based line of the opening fence
	text    string // the lines between the fences
}

// readmeBlocks returns README.md's fenced code blocks in order.
func readmeBlocks(t testing.TB) []block {
	t.Helper()
	return markdownBlocks(t, filepath.Join(repoRoot(t), "README.md"))
}

func markdownBlocks(t testing.TB, path string) []block {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []block
	var cur *block
	var body []string
	section := ""
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), section: section, line: n}
			body = nil
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.text = strings.Join(body, "\n") + "\n"
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body = append(body, line)
		case strings.HasPrefix(line, "#"):
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
		}
	}
	if cur != nil {
		t.Fatalf("%s: the code block opened on line %d is never closed", path, cur.line)
	}
	return blocks
}

// shellCommands returns the commands of a shell block: one per line, continuation lines (ending in \)
// joined, comments and blank lines dropped. Each command keeps its trailing comment out.
func shellCommands(text string) []string {
	var cmds []string
	var pending string
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			pending += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		cmd := strings.TrimSpace(stripComment(pending + trimmed))
		pending = ""
		if cmd != "" {
			cmds = append(cmds, cmd)
		}
	}
	return cmds
}

// stripComment removes a trailing " # ..." shell comment outside quotes.
func stripComment(line string) string {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && i > 0 && (line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i]
		}
	}
	return line
}

// sectionBlocks returns the blocks of README.md under the heading named section, of language lang.
func sectionBlocks(t testing.TB, section, lang string) []block {
	t.Helper()
	var out []block
	for _, b := range readmeBlocks(t) {
		if b.section == section && b.lang == lang {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Fatalf("README.md has no ```%s block under %q: the test follows that section's text", lang, section)
	}
	return out
}
