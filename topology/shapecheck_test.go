package topology_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	filesink "github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// shapeKit builds the parts of the newcomer pipelines below.
type shapeKit struct {
	t   *testing.T
	dir string
}

func (k shapeKit) files(format file.Format, cfg stages.CSVConfig) *file.Source {
	k.t.Helper()
	src, err := file.New(file.Config{Paths: []string{filepath.Join(k.dir, "in.jsonl")}, Format: format, CSV: cfg})
	if err != nil {
		k.t.Fatal(err)
	}
	return src
}

func (k shapeKit) sink() sinks.Sink {
	k.t.Helper()
	s, err := filesink.New(filesink.Config{Path: filepath.Join(k.dir, "out")})
	if err != nil {
		k.t.Fatal(err)
	}
	return s
}

// search is an Elasticsearch sink with the given document id rule ("" for the default, "{key}"). It does
// not connect until the pipeline opens it.
func (k shapeKit) search(id string) sinks.Sink {
	k.t.Helper()
	s, err := elasticsearch.New(elasticsearch.Config{URLs: []string{"http://127.0.0.1:9"}, Index: "docs", ID: id})
	if err != nil {
		k.t.Fatal(err)
	}
	return s
}

func (k shapeKit) mysql() *mysql.Source {
	k.t.Helper()
	s, err := mysql.New(mysql.Config{DSN: "root@tcp(127.0.0.1:9)/", ServerID: 7, Tables: []string{"shop.orders"}, TopicPrefix: "shop"})
	if err != nil {
		k.t.Fatal(err)
	}
	return s
}

func (k shapeKit) stage(s stages.Stage, err error) stages.Stage {
	k.t.Helper()
	if err != nil {
		k.t.Fatal(err)
	}
	return s
}

func (k shapeKit) mask() stages.Stage {
	return k.stage(stages.MaskField("mask-email", stages.MaskFieldConfig{Fields: []string{"email"}}))
}

// TestValidateShapes is acceptance 2 of issue 22: the mistakes a newcomer makes are refused by Validate,
// before anything runs, with a message that names the stage (or join, or sink), what produced its input,
// and the fix. The pipelines that fix them pass.
func TestValidateShapes(t *testing.T) {
	k := shapeKit{t: t, dir: t.TempDir()}
	customers := stages.CSVConfig{Columns: []stages.CSVColumn{{Name: "id", Type: stages.CSVInt}, {Name: "name"}}}
	for _, tc := range []struct {
		name  string
		build func(tp *topology.Topology)
		want  []string // parts of the one error; none: Validate passes
	}{
		{
			name: "structured stage after a string source, before Kafka",
			build: func(tp *topology.Topology) {
				lines := tp.Topic("lines")
				tp.Source("files", k.files(file.Lines, stages.CSVConfig{})).Via(k.mask()).To(lines)
				tp.Flow("index").From(lines).To(k.sink())
			},
			want: []string{`source "files": stage "mask-email" needs structured values; source "files" emits lines of text: ` +
				`add stages.ParseJSON (or stages.ParseCSV) before it (or set the file source's Format to file.JSONLines or file.CSV)`},
		},
		{
			name: "structured stage after a string source, in the flow",
			build: func(tp *topology.Topology) {
				lines := tp.Topic("lines")
				tp.Source("files", k.files(file.Lines, stages.CSVConfig{})).To(lines)
				tp.Flow("index").From(lines).Via(stages.Filter("all", nil), k.mask()).To(k.sink())
			},
			want: []string{`flow "index": stage "mask-email" needs structured values; source "files" emits lines of text: add stages.ParseJSON`},
		},
		{
			name: "fixed with ParseJSON",
			build: func(tp *topology.Topology) {
				lines := tp.Topic("lines")
				tp.Source("files", k.files(file.Lines, stages.CSVConfig{})).To(lines)
				tp.Flow("index").From(lines).Via(k.stage(stages.ParseJSON("parse")), k.mask()).To(k.sink())
			},
		},
		{
			name: "fixed with the file source's format",
			build: func(tp *topology.Topology) {
				docs := tp.Topic("docs")
				tp.Source("files", k.files(file.JSONLines, stages.CSVConfig{})).Via(k.mask()).To(docs)
				tp.Flow("index").From(docs).Via(k.mask()).To(k.sink())
			},
		},
		{
			name: "a JSON stage on a topic declared binary",
			build: func(tp *topology.Topology) {
				raw := tp.Topic("raw", topology.ValueCodec("bytes"))
				tp.Flow("decode").From(raw).Via(k.stage(stages.ParseJSON("parse"))).To(k.sink())
			},
			want: []string{`flow "decode": stage "parse" takes JSON text, and the records are declared binary data (a topic's "bytes" codec): ` +
				`if they hold JSON text, give the topic the "string" codec (or the "json" codec, which parses them, and remove this stage); ` +
				`topic "raw" emits binary data (the topic's codec is "bytes")`},
		},
		{
			name: "a JSON stage on text read from a topic is fine",
			build: func(tp *topology.Topology) {
				raw := tp.Topic("raw", topology.ValueCodec("string"))
				tp.Flow("decode").From(raw).Via(k.stage(stages.ParseJSON("parse")), k.mask()).To(k.sink())
			},
		},
		{
			name: "a JSON stage on records already parsed",
			build: func(tp *topology.Topology) {
				docs := tp.Topic("docs")
				tp.Source("files", k.files(file.JSONLines, stages.CSVConfig{})).To(docs)
				tp.Flow("index").From(docs).Via(k.stage(stages.ParseJSON("parse"))).To(k.sink())
			},
			want: []string{`flow "index": stage "parse" takes JSON text (strings or bytes), and the records already are structured values: remove it; ` +
				`source "files" emits JSON objects read from lines of text (Format file.JSONLines)`},
		},
		{
			name: "a join on a field the source does not have",
			build: func(tp *topology.Topology) {
				rows, people := tp.Topic("orders"), tp.Topic("people")
				tp.Source("orders", k.files(file.CSV, stages.CSVConfig{Columns: []stages.CSVColumn{{Name: "id"}, {Name: "customer"}, {Name: "amount"}}})).To(rows)
				tp.Source("people", k.files(file.CSV, customers)).To(people)
				table := tp.Table("customers", people)
				j, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
				if err != nil {
					t.Fatal(err)
				}
				tp.Flow("enrich").From(rows).Join(table, j).To(k.sink())
			},
			want: []string{`flow "enrich": join "with-customer" reads field "customer_id", which the records do not have; ` +
				`source "orders" emits CSV rows read from lines of text (Format file.CSV), with fields "id", "customer", "amount": name one of them in the join`},
		},
		{
			name: "a join on text",
			build: func(tp *topology.Topology) {
				lines, people := tp.Topic("lines"), tp.Topic("people")
				tp.Source("files", k.files(file.Lines, stages.CSVConfig{})).To(lines)
				tp.Source("people", k.files(file.CSV, customers)).To(people)
				j, _ := stages.LookupJoin("with-customer", "customer_id", "customer")
				tp.Flow("enrich").From(lines).Join(tp.Table("customers", people), j).To(k.sink())
			},
			want: []string{`flow "enrich": join "with-customer" needs structured values holding field "customer_id"; source "files" emits lines of text: add stages.ParseJSON`},
		},
		{
			name: "unwrap of records that are not change events",
			build: func(tp *topology.Topology) {
				docs := tp.Topic("docs")
				tp.Source("people", k.files(file.CSV, customers)).To(docs)
				tp.Flow("rows").From(docs).Via(k.stage(stages.Unwrap("unwrap", stages.UnwrapConfig{}))).To(k.sink())
			},
			want: []string{`flow "rows": stage "unwrap" needs Debezium change events, with "before" and "after" fields; the records have "id", "name"; source "people" emits CSV rows`},
		},
		{
			name: "structured values into a topic of text",
			build: func(tp *topology.Topology) {
				out := tp.Topic("out", topology.ValueCodec("string"))
				tp.Source("files", k.files(file.JSONLines, stages.CSVConfig{})).To(out)
			},
			want: []string{`source "files": topic "out" has the "string" codec, which cannot hold structured values; source "files" emits JSON objects read from lines of text (Format file.JSONLines): add stages.FormatJSON at the end, or give the topic the "json" codec`},
		},
		{
			name: "a search index fed lines keyed by their file, without an id rule",
			build: func(tp *topology.Topology) {
				docs := tp.Topic("docs")
				tp.Source("files", k.files(file.JSONLines, stages.CSVConfig{})).Via(k.mask()).To(docs)
				tp.Flow("index").From(docs).To(k.search(""))
			},
			want: []string{`flow "index": sink "elasticsearch index docs at 127.0.0.1:9": the keys of its records do not identify documents`,
				`set the sink's ID to "{topic}+{partition}+{offset}"`,
				`; source "files" emits JSON objects read from lines of text (Format file.JSONLines)`},
		},
		{
			name: "a search index fed lines, with an id rule",
			build: func(tp *topology.Topology) {
				docs := tp.Topic("docs")
				tp.Source("files", k.files(file.JSONLines, stages.CSVConfig{})).Via(k.mask()).To(docs)
				tp.Flow("index").From(docs).To(k.search(elasticsearch.OffsetID))
			},
		},
		{
			name: "a search index fed a topic written outside the pipeline (kcat)",
			build: func(tp *topology.Topology) {
				tp.Flow("index").From(tp.Topic("clicks")).Via(k.mask()).To(k.search(""))
			},
		},
		{
			name: "a search index fed change events, keyed by primary key",
			build: func(tp *topology.Topology) {
				orders := tp.Topic("shop.shop.orders")
				tp.Source("cdc", k.mysql()).ToRecordTopics()
				tp.Flow("index").From(orders).Via(k.stage(stages.Unwrap("unwrap", stages.UnwrapConfig{})), k.mask()).To(k.search(""))
			},
		},
		{
			name: "change events mistaken for rows",
			build: func(tp *topology.Topology) {
				orders := tp.Topic("shop.shop.orders")
				tp.Source("cdc", k.mysql()).ToRecordTopics()
				tp.Flow("index").From(orders).Via(k.stage(stages.ExtractField("customer", stages.ExtractFieldConfig{Field: "customer_id"}))).To(k.sink())
			},
			want: []string{`flow "index": stage "customer" needs field "customer_id", which the records do not have (they have "before", "after", "source", "op", "ts_ms"); ` +
				`source "cdc" emits Debezium change events of MySQL rows: add stages.Unwrap before it, to work on the rows of the change events`},
		},
		{
			name: "a search index after a user function that sets the keys",
			build: func(tp *topology.Topology) {
				docs := tp.Topic("docs")
				tp.Source("files", k.files(file.JSONLines, stages.CSVConfig{})).To(docs)
				tp.Flow("index").From(docs).Via(stages.Map("key-by-id", nil)).To(k.search(""))
			},
		},
		{
			name: "a topic written outside beside a CDC source's topics",
			build: func(tp *topology.Topology) {
				tp.Source("cdc", k.mysql()).ToRecordTopics()
				tp.Topic("shop.shop.orders")
				people := tp.Topic("people")
				tp.Source("people", k.files(file.CSV, customers)).To(people)
				j, _ := stages.LookupJoin("with-customer", "user_id", "customer")
				tp.Flow("enrich").From(tp.Topic("clicks")).Join(tp.Table("customers", people), j).To(k.sink())
			},
		},
		{
			name: "a CDC source's schema-change topic is not change events",
			build: func(tp *topology.Topology) {
				tp.Source("cdc", k.mysql()).ToRecordTopics()
				tp.Flow("ddl").From(tp.Topic("shop")).Via(k.stage(stages.Unwrap("unwrap", stages.UnwrapConfig{}))).To(k.sink())
			},
			want: []string{`flow "ddl": stage "unwrap" needs Debezium change events, with "before" and "after" fields; the records have "source", "ts_ms", "databaseName", "schemaName", "ddl", "tableChanges"; source "cdc" emits schema changes of MySQL databases`},
		},
		{
			name: "a table of lines unwrapped as change events",
			build: func(tp *topology.Topology) {
				lines := tp.Topic("lines")
				tp.Source("files", k.files(file.Lines, stages.CSVConfig{})).To(lines)
				table := tp.Table("rows", lines).Via(k.stage(stages.Unwrap("unwrap", stages.UnwrapConfig{})))
				j, _ := stages.LookupJoin("j", "id", "row")
				tp.Flow("enrich").From(tp.Topic("clicks")).Join(table, j).To(k.sink())
			},
			want: []string{`table "rows": stage "unwrap" needs Debezium change events (structured values with "before" and "after"); source "files" emits lines of text`},
		},
		{
			name: "a stage after a user function is not checked",
			build: func(tp *topology.Topology) {
				lines := tp.Topic("lines")
				tp.Source("files", k.files(file.Lines, stages.CSVConfig{})).To(lines)
				tp.Flow("index").From(lines).Via(stages.Map("mine", nil), k.mask()).To(k.sink())
			},
		},
		{
			name: "a shape carried from a flow's output topic to the next flow",
			build: func(tp *topology.Topology) {
				lines, texts := tp.Topic("lines"), tp.Topic("texts")
				tp.Source("files", k.files(file.JSONLines, stages.CSVConfig{})).To(lines)
				tp.Flow("to-text").From(lines).Via(k.stage(stages.FormatJSON("format"))).ToTopic(texts)
				tp.Flow("index").From(texts).Via(k.mask()).To(k.sink())
			},
			want: []string{`flow "index": stage "mask-email" needs structured values; stage "format" emits JSON text: add stages.ParseJSON`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := topology.New("shapes")
			tc.build(tp)
			err := tp.Validate()
			t.Log(err)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, topology.ErrShape) || !errors.Is(err, topology.ErrInvalidTopology) {
				t.Fatalf("Validate: %v; want an error wrapping ErrShape and ErrInvalidTopology", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate:\n  %v\nwant it to contain\n  %s", err, w)
				}
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("Validate reported %d errors, want the one mistake: %v", n, err)
			}
		})
	}
}
