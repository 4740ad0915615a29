package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/file"
)

// With Format file.JSONLines the source emits each line as a parsed object, so field stages can follow it
// directly; its Shape tells Validate so, and that its keys (the file's path) do not identify records.
func ExampleFormat() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "users.jsonl")
	_ = os.WriteFile(path, []byte("{\"id\": 1, \"email\": \"ada@example.com\"}\n{\"id\": 2}\n"), 0o644)

	src, _ := file.New(file.Config{Paths: []string{path}, Format: file.JSONLines, StopAtEnd: true})
	r, _ := src.Open(context.Background(), sources.Task{Key: "file:" + path}, nil)
	defer r.Close()
	recs, _ := r.Read(context.Background())
	for _, rec := range recs {
		fmt.Println(rec.Value)
	}
	shape := src.Shape()
	fmt.Println(shape.Value, shape.KeysIdentify)
	// Output:
	// map[email:ada@example.com id:1]
	// map[id:2]
	// structured values false
}
