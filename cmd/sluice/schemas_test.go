package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/registrylog"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/sluicehq/sluice/stream"
)

// sluice schemas and sluice tail --codec avro, driven as a user runs them: against a registry's REST API
// (--registry URL: here the embedded registry's handler, which a pipeline's operator API serves) and with
// --registry kafka (the registry's topic through Kafka, while no pipeline runs). The Avro records are
// written as a pipeline writes them: the avro codec bound to the topic and the registry.
func TestSchemasAndAvroTail(t *testing.T) {
	bin := buildSluice(t)
	brokers := testkit.Brokers(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log, err := registrylog.Open(ctx, kafka.Settings{Brokers: brokers}, schemaregistry.DefaultTopic, 1)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schemaregistry.OpenEmbedded(ctx, log, schemaregistry.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	api := httptest.NewServer(reg.Handler())
	defer api.Close()

	codec, err := stream.LookupCodec("avro")
	if err != nil {
		t.Fatal(err)
	}
	value, err := codec.(stream.TopicCodec).ForTopic(stream.TopicBinding{Topic: "orders", Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	v1 := stream.NewStruct("shop.Order").Field("id", stream.Int64Schema()).Field("status", stream.StringSchema()).MustBuild()
	v2 := stream.NewStruct("shop.Order").Field("id", stream.Int64Schema()).Field("status", stream.StringSchema()).
		Field("note", stream.StringSchema().AsOptional()).MustBuild()
	produce := func(schema *stream.Schema, key string, fields map[string]any) {
		s, _ := stream.NewStructValue(schema)
		for k, v := range fields {
			if err := s.Put(k, v); err != nil {
				t.Fatal(err)
			}
		}
		b, err := value.Encode(schema, s)
		if err != nil {
			t.Fatal(err)
		}
		testkit.Produce(t, brokers, "orders", testkit.Message{Partition: 0, Key: []byte(key), Value: b})
	}
	testkit.CreateTopic(t, brokers, "orders", 1)
	produce(v1, "o1", map[string]any{"id": int64(1), "status": "new"})
	produce(v2, "o2", map[string]any{"id": int64(2), "status": "paid", "note": "gift"})

	kafkaArgs := []string{"--registry", "kafka", "--brokers", strings.Join(brokers, ",")}
	for _, via := range []struct {
		name string
		args []string
	}{{"http", []string{"--registry", api.URL}}, {"kafka", kafkaArgs}} {
		t.Run(via.name, func(t *testing.T) {
			expect := func(want string, args ...string) string {
				t.Helper()
				res := sluice(t, bin, nil, append(args, via.args...)...)
				if res.code != 0 || !strings.Contains(res.stdout, want) {
					t.Fatalf("sluice %s: want %q in stdout\n%s", strings.Join(args, " "), want, res)
				}
				return res.stdout
			}
			expect("orders-value\n", "schemas", "subjects")
			expect("1\n2\n", "schemas", "versions", "orders-value")
			got := expect("subject orders-value version 2 id ", "schemas", "get", "orders-value")
			if !strings.Contains(got, `"name": "note"`) {
				t.Errorf("schemas get orders-value (latest) shows no field note:\n%s", got)
			}
			if got := expect("subject orders-value version 1 ", "schemas", "get", "orders-value", "1"); strings.Contains(got, "note") {
				t.Errorf("version 1 shows field note:\n%s", got)
			}
			expect(`"compatibilityLevel":`, "schemas", "config", "-o", "json")
			expect("BACKWARD\n", "schemas", "config", "orders-value")
			res := sluice(t, bin, nil, append([]string{"schemas", "versions", "nothing-value"}, via.args...)...)
			if res.code != 1 || !strings.Contains(res.stderr, "(40401)") {
				t.Errorf("versions of an unknown subject: want exit 1 and Confluent's 40401\n%s", res)
			}
			tail := expect(`key=o2  {"id":2,"status":"paid","note":"gift"}`, "tail", "orders", "--codec", "avro", "--key-codec", "string",
				"--brokers", strings.Join(brokers, ","))
			if !strings.Contains(tail, `0@0  key=o1  {"id":1,"status":"new"`) {
				t.Errorf("tail --codec avro:\n%s", tail)
			}
		})
	}

	// A level set with --registry kafka is the registry's: the HTTP API sees it, and it refuses what it should.
	if res := sluice(t, bin, nil, append([]string{"schemas", "config", "orders-value", "forward"}, kafkaArgs...)...); res.code != 0 || !strings.Contains(res.stdout, "compatibility FORWARD") {
		t.Fatalf("schemas config orders-value forward:\n%s", res)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if level, err := reg.Compatibility(ctx, "orders-value"); err == nil && level == "FORWARD" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the registry did not see FORWARD set through Kafka within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	v3 := stream.NewStruct("shop.Order").Field("id", stream.Int64Schema()).Field("note", stream.StringSchema().AsOptional()).MustBuild()
	s, _ := stream.NewStructValue(v3)
	s.Put("id", int64(3))
	if _, err := value.Encode(v3, s); err == nil || !strings.Contains(err.Error(), `field "status"`) || !strings.Contains(err.Error(), "FORWARD") {
		t.Errorf("encoding without the required field status under FORWARD: %v", err)
	}
	if res := sluice(t, bin, nil, "schemas", "config", "orders-value", "SIDEWAYS", "--registry", api.URL); res.code != 1 || !strings.Contains(res.stderr, "42203") {
		t.Errorf("an unknown level: want Confluent's 42203\n%s", res)
	}
}
