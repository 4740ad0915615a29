package file_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/stream"
)

// openSink opens a sink on path and closes it when the test ends.
func openSink(t *testing.T, path string) *file.Sink {
	t.Helper()
	s, err := file.New(file.Config{Path: path})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jsonOf is what the registered "json" codec makes of v.
func jsonOf(t *testing.T, schema *stream.Schema, v any) string {
	t.Helper()
	codec, err := stream.LookupCodec("json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := codec.Encode(schema, v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func values(vs ...any) []stream.Record {
	recs := make([]stream.Record, len(vs))
	for i, v := range vs {
		recs[i] = stream.Record{Topic: "t", Offset: int64(i), Value: v}
	}
	return recs
}

func TestNewRejectsEmptyPath(t *testing.T) {
	s, err := file.New(file.Config{})
	if err == nil {
		t.Fatalf("New with no Path = %v, want an error", s)
	}
	if !strings.Contains(err.Error(), "Path") {
		t.Errorf("error %q does not name Path", err)
	}
}

func TestWrite(t *testing.T) {
	person := stream.NewStruct("shop.Person").
		Field("id", stream.Int64Schema()).
		Field("name", stream.StringSchema().AsOptional()).
		MustBuild()
	ada, err := stream.NewStructValue(person)
	if err != nil {
		t.Fatal(err)
	}
	if err := ada.Put("id", int64(1)); err != nil {
		t.Fatal(err)
	}
	if err := ada.Put("name", "Ada"); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"a": int64(1)}
	if got := jsonOf(t, nil, m); got != `{"a":1}` {
		t.Fatalf(`json codec encodes %v as %s, want {"a":1}`, m, got)
	}

	tests := []struct {
		name  string
		batch []stream.Record
		want  string
	}{
		{"string", values("hello"), "hello\n"},
		{"empty string is an empty line", values(""), "\n"},
		{"bytes as they are", values([]byte("raw \xff\r")), "raw \xff\r\n"},
		{"map as JSON", values(m), `{"a":1}` + "\n"},
		{"struct with its schema as JSON",
			[]stream.Record{{ValueSchema: person, Value: ada}}, jsonOf(t, person, ada) + "\n"},
		{"struct without a schema as JSON", values(ada), jsonOf(t, nil, ada) + "\n"},
		{"int64 as JSON", values(int64(42)), "42\n"},
		{"tombstone writes nothing", values(nil), ""},
		{"mixed batch in order", values("a", nil, []byte("b"), m, nil, "c"), "a\nb\n{\"a\":1}\nc\n"},
		{"empty batch", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.txt")
			s := openSink(t, path)
			if err := s.Write(context.Background(), tt.batch); err != nil {
				t.Fatalf("Write: %v", err)
			}
			// Durable when Write returns: on disk before Close.
			if got := readFile(t, path); got != tt.want {
				t.Errorf("file after Write = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteEachBatchIsOnDiskWhenWriteReturns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	s := openSink(t, path)
	want := ""
	for i := range 3 {
		batch := values(fmt.Sprint("line ", i), []byte(fmt.Sprint("bytes ", i)))
		if err := s.Write(context.Background(), batch); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
		want += fmt.Sprintf("line %d\nbytes %d\n", i, i)
		if got := readFile(t, path); got != want {
			t.Fatalf("file after Write %d = %q, want %q", i, got, want)
		}
	}
}

func TestAppendsNeverTruncates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, v := range []string{"new", "again"} {
		s, err := file.New(file.Config{Path: path})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if err := s.Open(ctx); err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		if err := s.Write(ctx, values(v)); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close %d: %v", i, err)
		}
	}
	if got, want := readFile(t, path), "old\nnew\nagain\n"; got != want {
		t.Errorf("file = %q, want %q", got, want)
	}
}

func TestOpenCreatesMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.txt")
	s := openSink(t, path)
	if got := readFile(t, path); got != "" {
		t.Errorf("file after Open = %q, want it created empty", got)
	}
	if err := s.Write(context.Background(), values("x")); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func TestOpenFailsNamingThePath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
	}{
		{"directory", dir},
		{"parent does not exist", filepath.Join(dir, "missing", "out.txt")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := file.New(file.Config{Path: tt.path})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			err = s.Open(context.Background())
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded, want an error", tt.path)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not mention %s", err, tt.path)
			}
		})
	}
}

func TestWriteAfterCloseFails(t *testing.T) {
	tests := []struct {
		name  string
		batch []stream.Record
		is    error
	}{
		{"lines", values("late"), os.ErrClosed},
		{"only tombstones", values(nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.txt")
			s, err := file.New(file.Config{Path: path})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			ctx := context.Background()
			if err := s.Open(ctx); err != nil {
				t.Fatalf("Open: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			err = s.Write(ctx, tt.batch)
			if err == nil {
				t.Fatal("Write after Close succeeded, want an error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not mention %s", err, path)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %v", err, tt.is)
			}
			if got := readFile(t, path); got != "" {
				t.Errorf("file = %q, want nothing written", got)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestWriteValueTheCodecRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	s := openSink(t, path)
	batch := []stream.Record{
		{Topic: "orders", Partition: 2, Offset: 7, ValueSchema: stream.Int32Schema(), Value: map[string]any{"a": int64(1)}},
	}
	err := s.Write(context.Background(), batch)
	if !errors.Is(err, stream.ErrSchemaMismatch) {
		t.Fatalf("Write = %v, want an error wrapping ErrSchemaMismatch", err)
	}
	if !strings.Contains(err.Error(), "orders/2@7") {
		t.Errorf("error %q does not name the record orders/2@7", err)
	}
	if got := readFile(t, path); got != "" {
		t.Errorf("file = %q, want nothing written", got)
	}
}

func ExampleNew() {
	dir, err := os.MkdirTemp("", "sluice-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "out.txt")

	sink, err := file.New(file.Config{Path: path})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := sink.Open(ctx); err != nil {
		fmt.Println(err)
		return
	}
	batch := []stream.Record{
		{Value: "a line"},
		{Value: []byte("raw bytes")},
		{Value: map[string]any{"id": int64(7), "ok": true}},
		{Key: "deleted", Value: nil}, // a tombstone writes nothing
	}
	if err := sink.Write(ctx, batch); err != nil {
		fmt.Println(err)
		return
	}
	if err := sink.Close(); err != nil {
		fmt.Println(err)
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(data))
	// Output:
	// a line
	// raw bytes
	// {"id":7,"ok":true}
}

// Numbers are written with exactly the digits they hold, whether they came with a schema or, decoded by the
// json codec after Kafka, without one: DECIMAL(65,30) digits, 2.00's scale, BIGINT UNSIGNED beyond int64,
// float32's shortest text.
func TestWriteKeepsNumbersExact(t *testing.T) {
	const line = `{"biu":18446744073709551615,"d12":2.00,"d65":-12345678901234567890123456789012345.123456789012345678901234567890,"dbl":1.0E-300,"f":3.4028235E38,"i":-9223372036854775808}`
	var codec stream.JSONCodec
	_, decoded, err := codec.Decode([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	row := stream.NewStruct("row").Field("f", stream.Float32Schema()).Field("d65", stream.DecimalSchema(30)).MustBuild()
	st, _ := stream.NewStructValue(row)
	d65, _ := stream.ParseDecimal("99999999999999999999999999999999999.999999999999999999999999999999")
	_ = st.Put("f", float32(0.1))
	_ = st.Put("d65", d65)

	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := openSink(t, path)
	recs := values(decoded, st)
	recs[1].ValueSchema = row
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n")
	want := []string{
		`{"biu":18446744073709551615,"d12":2.00,"d65":-12345678901234567890123456789012345.123456789012345678901234567890,"dbl":1.0E-300,"f":3.4028235E+38,"i":-9223372036854775808}`,
		`{"f":0.1,"d65":99999999999999999999999999999999999.999999999999999999999999999999}`,
	}
	if len(got) != len(want) {
		t.Fatalf("wrote %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
}
