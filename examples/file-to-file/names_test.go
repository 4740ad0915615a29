package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
)

// The example's Kafka groups and topics are those of a deployed file-to-file pipeline (default -name):
// renaming one would orphan its offsets and the files' positions.
func TestEngineNamesUnchanged(t *testing.T) {
	dir := t.TempDir()
	src, err := filesource.New(filesource.Config{Paths: []string{filepath.Join(dir, "in.log")}})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: filepath.Join(dir, "out.log")})
	if err != nil {
		t.Fatal(err)
	}
	tp := declare("file-to-file", "lines", 4, 1000, src, sink)
	if err := tp.Validate(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range tp.EngineNames() {
		got = append(got, fmt.Sprintf("%s %s", n.Kind, n.Name))
	}
	want := []string{
		"consumer group file-to-file.files",
		"topic file-to-file.files.control",
		"topic file-to-file.files-table",
		"consumer group file-to-file.to-file",
		"topic file-to-file.status",
		"topic file-to-file.commands",
		"topic file-to-file.audit",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("engine names:\n%s\nwant (as deployed):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
