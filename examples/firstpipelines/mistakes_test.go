package firstpipelines_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// firstTry is the JSON-lines pipeline as a newcomer first writes it: the file read as plain lines, and the
// sink left to use record keys as document ids.
func firstTry() error {
	src, err1 := file.New(file.Config{Paths: []string{"/data/users.jsonl"}})
	mask, err2 := stages.MaskField("mask-email", stages.MaskFieldConfig{Fields: []string{"email"}})
	index, err3 := elasticsearch.New(elasticsearch.Config{URLs: []string{"http://127.0.0.1:9200"}, Index: "users"})
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	t := topology.New("users-search")
	users := t.Topic("users")
	t.Source("files", src).Via(mask).To(users)
	t.Flow("index").From(users).To(index)
	return t.Validate() // Run calls it too, before it starts anything
}

// Both mistakes of the first try are refused before anything runs, each with the fix; the
// jsonLinesToElasticsearch example is the pipeline with both fixed.
func Example_newcomerMistakes() {
	err := firstTry()
	fmt.Println(errors.Is(err, topology.ErrShape))
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Println(line)
	}
	// Output:
	// true
	// invalid topology "users-search": source "files": stage "mask-email" needs structured values; source "files" emits lines of text: add stages.ParseJSON (or stages.ParseCSV) before it (or set the file source's Format to file.JSONLines or file.CSV)
	// flow "index": sink "elasticsearch index users at 127.0.0.1:9200": the keys of its records do not identify documents (the file source, for one, keys every line by its file's path), so the default ID "{key}" would keep one document per key, each record overwriting the last: set the sink's ID to "{topic}+{partition}+{offset}" (every record its own document; a replay overwrites them), to "{field:PATH}" (a field that identifies the document), or to "{key}" if the keys do identify documents; source "files" emits lines of text
}
