package file_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

func TestFormatJSONLines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	path := filepath.Join(t.TempDir(), "a.jsonl")
	writeFile(t, path, "{\"id\": 1, \"price\": 2.50}\n\n{\"id\": 2}\n")
	src := newSource(t, file.Config{Paths: []string{path}, Format: file.JSONLines, StopAtEnd: true})
	recs := readToEnd(t, ctx, openFile(t, src, path, nil))
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2 (the empty line skipped)", len(recs))
	}
	m, ok := recs[0].Value.(map[string]any)
	if !ok || m["id"] != int64(1) || recs[0].ValueSchema != nil {
		t.Fatalf("first record %+v", recs[0])
	}
	if d, ok := m["price"].(stream.Decimal); !ok || d.String() != "2.50" {
		t.Errorf("price %#v", m["price"])
	}
	if sh := src.Shape(); sh.Value != stream.StructuredValue || sh.KeysIdentify {
		t.Errorf("Shape %+v", sh)
	}
}

func TestFormatJSONLinesBadLine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	path := filepath.Join(t.TempDir(), "a.jsonl")
	writeFile(t, path, "{\"id\": 1}\n{\"id\": x}\n{\"id\": 3}\n")
	src := newSource(t, file.Config{Paths: []string{path}, Format: file.JSONLines, StopAtEnd: true})
	r := openFile(t, src, path, nil)
	recs, err := r.Read(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("first Read: %d records, %v; want the line before the bad one", len(recs), err)
	}
	_, err = r.Read(ctx)
	want := path + `: the line at byte 10 is not JSON: invalid character 'x' looking for beginning of value at byte 8`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second Read: %v\nwant it to contain %s", err, want)
	}
	// Reopened at the first record's position, the task meets the same line again: nothing is skipped.
	r2 := openFile(t, src, path, recs[0].Position)
	if _, err := r2.Read(ctx); err == nil || errors.Is(err, sources.ErrEndOfInput) {
		t.Fatalf("reopened: %v, want the bad line's error", err)
	}
}

func TestFormatCSVHeaderFromFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	path := filepath.Join(t.TempDir(), "a.csv")
	writeFile(t, path, "id,name\r\n1,ann\r\n2,bob\r\n")
	src := newSource(t, file.Config{Paths: []string{path}, Format: file.CSV, StopAtEnd: true})
	recs := readToEnd(t, ctx, openFile(t, src, path, nil))
	if len(recs) != 2 || recs[1].Value.(map[string]any)["name"] != "bob" {
		t.Fatalf("got %+v", recs)
	}
	// A task reopened after the first row still knows the columns from the header line.
	again := readToEnd(t, ctx, openFile(t, src, path, recs[0].Position))
	if len(again) != 1 || again[0].Value.(map[string]any)["id"] != "2" {
		t.Fatalf("reopened: %+v", again)
	}
}

func TestFormatCSVDeclaredColumns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	path := filepath.Join(t.TempDir(), "a.csv")
	writeFile(t, path, "id;amount\n1;2.5\n2;x\n")
	cfg := stages.CSVConfig{Delimiter: ';', Columns: []stages.CSVColumn{{Name: "id", Type: stages.CSVInt}, {Name: "amount", Type: stages.CSVDecimal, Scale: 2}}}
	src := newSource(t, file.Config{Paths: []string{path}, Format: file.CSV, CSV: cfg, StopAtEnd: true})
	r := openFile(t, src, path, nil)
	recs, err := r.Read(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Read: %d records, %v", len(recs), err)
	}
	s := recs[0].Value.(*stream.Struct)
	if s.Get("id") != int64(1) || s.Get("amount").(stream.Decimal).String() != "2.50" || recs[0].ValueSchema != s.Schema() {
		t.Fatalf("got %v", s)
	}
	_, err = r.Read(ctx)
	if err == nil || !strings.Contains(err.Error(), `the line at byte 16 does not fit the CSV columns: field 2 ("amount"): "x" is not a number`) {
		t.Fatalf("bad row: %v", err)
	}
	if sh := src.Shape(); strings.Join(sh.Fields, ",") != "id,amount" {
		t.Errorf("Shape %+v", sh)
	}
	if _, err := file.New(file.Config{Paths: []string{path}, Format: file.CSV, CSV: stages.CSVConfig{Columns: []stages.CSVColumn{{Name: "a", Type: "money"}}}}); err == nil {
		t.Errorf("an unknown column type was accepted")
	}
}
