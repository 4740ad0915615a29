package topology_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// goTypeWords are Go type names that must not reach a user in an error message, a log line or a panic:
// the data model's values are described with Kafka Connect's type names ("int64", "double", "string",
// "bytes", "array", "map", "struct"), which users write in schemas and Cast specs, and as "text", "an
// object", "structured values". "%T" prints a Go type, so it is refused anywhere.
var goTypeWords = []string{
	"%T", "*stream.", "stream.Struct", "map[string]any", "map[any]any", "[]any", "interface {}",
	"interface{}", "float64", "float32", "[]byte", "[]uint8", "json.Number", "big.Int", "time.Time",
	"reflect.",
}

// goTypeExceptions are string literals allowed to hold one of goTypeWords, by file (relative to the
// repository) and literal, each because it is the user's own vocabulary, not the engine speaking Go:
var goTypeExceptions = map[string][]string{
	// Kafka Connect's Cast transform spells its types int8 ... float32, float64: the user writes them.
	"stages/cast.go": {"float32", "float64", "int8, int16, int32, int64, float32, float64, boolean or string"},
	// Typed stages name the Go type of a field of the user's own In type (see the stages package doc:
	// `want a number (float64)`), which is the user's code.
	"stages/typedinput.go": {"is %s, want an RFC 3339 timestamp (time.Time)"},
	"stages/typedview.go":  {"a timestamp (time.Time)", "an object with a schema (*stream.Struct)"},
	// Debezium's logical type name, which the user's schemas carry.
	"sinks/elasticsearch/mapping.go": {"io.debezium.time.Timestamp"},
}

// TestShapeMessagesNameNoGoTypes is acceptance 3 of issue 22: no message the stages, the engine, the data
// model, the sources or the sinks produce names a Go type. It reads every string literal of their non-test
// Go files (format strings of fmt.Errorf, errors.New, panic and log calls, and the helpers that name
// values), so a message built from a literal cannot speak Go. Messages that print a value's Go type at run
// time go through "%T" or reflect, refused above.
func TestShapeMessagesNameNoGoTypes(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	for _, dir := range []string{"stages", "topology", "stream", "sources", "sinks"} {
		root := filepath.Join("..", dir)
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			rel := filepath.ToSlash(strings.TrimPrefix(path, ".."+string(filepath.Separator)))
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			checked++
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					return true
				}
				for _, w := range goTypeWords {
					if strings.Contains(s, w) && !allowedLiteral(rel, s) {
						t.Errorf("%s: %q names a Go type (%s): say it in the user's words", fset.Position(lit.Pos()), s, w)
						break
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 100 {
		t.Fatalf("read only %d files: the walk missed the packages", checked)
	}
}

func allowedLiteral(file, lit string) bool {
	for _, allowed := range goTypeExceptions[file] {
		if lit == allowed {
			return true
		}
	}
	return false
}
