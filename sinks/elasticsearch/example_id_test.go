package elasticsearch_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

// Document ids are chosen with a template. Records whose keys do not identify what they describe (here
// lines of a log file, keyed by the file's path) take Kafka Connect's key.ignore ids, "{topic}+{partition}+{offset}":
// each record is its own document and a replay overwrites it. Records with an id of their own take it from
// a field with "{field:PATH}".
func ExampleConfig_id() {
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	write := func(id, index string, records ...stream.Record) {
		sink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{srv.URL()}, Index: index, ID: id})
		if err != nil {
			panic(err)
		}
		if err := sink.Open(context.Background()); err != nil {
			panic(err)
		}
		if err := sink.Write(context.Background(), records); err != nil {
			panic(err)
		}
	}
	write(elasticsearch.OffsetID, "lines",
		stream.Record{Topic: "lines", Partition: 0, Offset: 41, Key: "/var/log/app.log", Value: `{"msg":"started"}`},
		stream.Record{Topic: "lines", Partition: 0, Offset: 42, Key: "/var/log/app.log", Value: `{"msg":"ready"}`})
	write("{field:user.id}", "users",
		stream.Record{Topic: "signups", Offset: 7, Value: map[string]any{"user": map[string]any{"id": "u-12"}, "plan": "free"}})

	for _, path := range []string{"/lines/_source/lines+0+41", "/lines/_source/lines+0+42", "/users/_source/u-12"} {
		res, err := http.Get(srv.URL() + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Println(path, string(body))
	}
	// Output:
	// /lines/_source/lines+0+41 {"msg":"started"}
	// /lines/_source/lines+0+42 {"msg":"ready"}
	// /users/_source/u-12 {"plan":"free","user":{"id":"u-12"}}
}
