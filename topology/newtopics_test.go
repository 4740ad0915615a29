package topology_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/topology"
)

// A source with ToRecordTopics(NewTopics(prefix, ...)) gets each undeclared topic under the prefix created
// with the options before its first record (3 partitions here, as asked, not the broker's default), keeps
// sending to declared topics as before, and stops on a record whose topic is neither declared nor under
// the prefix, saying how to fix it.
func TestNewTopicsCreatesRecordTopics(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	tp := topology.New("nt-run")
	tp.Topic("nt-declared")
	tp.Source("multi", multiTopicSource{topics: []string{"nt-new.a", "nt-new.b", "nt-declared", "nt-new.a", "nt-stray"}}).
		ToRecordTopics(topology.NewTopics("nt-new.", topology.Partitions(3), topology.ValueCodec("json"), topology.Compression("gzip")))
	log := &testkit.LogBuffer{}
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := tp.RunWith(ctx, cfg)
	want := `source "multi" task "multi:0": record at position 4`
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `record for topic "nt-stray"`) ||
		!strings.Contains(err.Error(), "NewTopics") {
		t.Fatalf("RunWith = %v, want it to say %s ... record for topic \"nt-stray\" ... NewTopics", err, want)
	}
	for topic, values := range map[string]string{"nt-new.a": `{"n":0} {"n":3}`, "nt-new.b": `{"n":1}`, "nt-declared": `{"n":2}`} {
		got := testkit.Values(testkit.ReadTopic(t, brokers, topic))
		slices.Sort(got) // by partition, then offset: sorted to compare
		if strings.Join(got, " ") != values {
			t.Errorf("topic %s holds %s, want %s", topic, got, values)
		}
	}
	for _, topic := range []string{"nt-new.a", "nt-new.b"} {
		if n := len(testkit.HighWaterMarks(t, brokers, topic)); n != 3 {
			t.Errorf("topic %s has %d partitions, want the 3 of its NewTopics", topic, n)
		}
		if lines := log.Lines("topic created for the source's records", "topic="+topic+" "); len(lines) != 1 {
			t.Errorf("topic %s: %d creation log lines, want 1:\n%s", topic, len(lines), log)
		}
	}
}

// Validate checks a NewTopics prefix and options as it checks a declared topic; describe and ACLs show the
// prefix.
func TestNewTopicsValidateAndACLs(t *testing.T) {
	tp := topology.New("nt-bad")
	tp.Topic("x")
	tp.Source("cdc", nopSource{}).ToRecordTopics(topology.NewTopics("bad prefix", topology.ValueCodec("nope"), topology.Partitions(0)))
	err := tp.Validate()
	for _, want := range []string{`source "cdc": NewTopics("bad prefix"): prefix:`, `source "cdc": NewTopics("bad prefix"): ValueCodec: stream: unknown codec "nope"`,
		`source "cdc": NewTopics("bad prefix"): Partitions must be at least 1, got 0`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to say %s", err, want)
		}
	}

	tp = topology.New("nt-ok")
	tp.Topic("cdc.schema")
	tp.Source("cdc", nopSource{}).ToRecordTopics(topology.NewTopics("cdc.shop."))
	if err := tp.Validate(); err != nil {
		t.Fatal(err)
	}
	var prefixed []string
	for _, a := range tp.ACLs("User:sluice") {
		if a.PatternType == topology.PatternPrefixed {
			prefixed = append(prefixed, a.String())
		}
	}
	if got, want := strings.Join(prefixed, "; "), "Create on topic cdc.shop. (prefixed); Write on topic cdc.shop. (prefixed)"; got != want {
		t.Errorf("prefixed ACLs: %s, want %s", got, want)
	}
}

// NewTopics: records of a multi-topic source (one topic per table, say) whose topics start with the prefix
// get their topic created at run time, with these options, so that a table created while the pipeline
// runs needs no new declaration. The service account needs CREATE and WRITE on the prefix.
func ExampleNewTopics() {
	t := topology.New("shop-cdc")
	t.Topic("sluice.shop.orders", topology.Partitions(3)) // declared topics keep their own options
	t.Source("cdc", nopSource{}).
		ToRecordTopics(topology.NewTopics("sluice.shop.", topology.Partitions(3), topology.ValueCodec("json")))
	if err := t.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range t.ACLs("User:cdc") {
		if a.PatternType == topology.PatternPrefixed {
			fmt.Println(a.KafkaACLsCommand("kafka:9092"))
		}
	}
	// Output:
	// kafka-acls.sh --bootstrap-server kafka:9092 --add --allow-principal User:cdc --operation Create --topic sluice.shop. --resource-pattern-type prefixed
	// kafka-acls.sh --bootstrap-server kafka:9092 --add --allow-principal User:cdc --operation Write --topic sluice.shop. --resource-pattern-type prefixed
}
