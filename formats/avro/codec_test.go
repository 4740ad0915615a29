package avro_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/formats/avro"
	"github.com/sluicehq/sluice/stream"
)

// countingRegistry counts the calls that reach the registry underneath.
type countingRegistry struct {
	stream.SchemaRegistry
	registers, fetches atomic.Int32
}

func (r *countingRegistry) Register(ctx context.Context, subject string, s stream.RegisteredSchema) (int, error) {
	r.registers.Add(1)
	if _, ok := ctx.Deadline(); !ok {
		return 0, errors.New("Register called without a deadline")
	}
	return r.SchemaRegistry.Register(ctx, subject, s)
}

func (r *countingRegistry) SchemaByID(ctx context.Context, id int) (stream.RegisteredSchema, error) {
	r.fetches.Add(1)
	if _, ok := ctx.Deadline(); !ok {
		return stream.RegisteredSchema{}, errors.New("SchemaByID called without a deadline")
	}
	return r.SchemaRegistry.SchemaByID(ctx, id)
}

var orderV1 = stream.NewStruct("shop.Order").Field("id", stream.Int64Schema()).
	Field("note", stream.StringSchema().AsOptional()).MustBuild()

func order(t *testing.T, id int64) *stream.Struct { return structOf(t, orderV1, "id", id) }

func TestOneRegistryRoundTripPerSchema(t *testing.T) {
	reg := &countingRegistry{SchemaRegistry: openRegistry(t, "")}
	writer := bind(t, reg, "orders", false, "")
	var first []byte
	for i := range 100 {
		// A new but equal schema value each time costs no round trip either.
		schema := orderV1
		if i%2 == 1 {
			schema = orderV1.WithDoc("")
		}
		data, err := writer.Encode(schema, structOf(t, schema, "id", int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = data
		} else if !bytes.Equal(data[:5], first[:5]) {
			t.Fatalf("schema id changed: % x then % x", first[:5], data[:5])
		}
	}
	if n := reg.registers.Load(); n != 1 {
		t.Errorf("%d Register calls for one schema, want 1", n)
	}
	reader := bind(t, reg, "orders", false, "")
	for range 50 {
		if _, _, err := reader.Decode(first); err != nil {
			t.Fatal(err)
		}
	}
	if n := reg.fetches.Load(); n != 1 {
		t.Errorf("%d SchemaByID calls for one id, want 1", n)
	}
}

func TestTombstoneAndNilSchema(t *testing.T) {
	codec := bind(t, openRegistry(t, ""), "orders", false, "")
	data, err := codec.Encode(orderV1, nil)
	if err != nil || data != nil {
		t.Fatalf("Encode(nil) = % x, %v; want nil bytes (a tombstone)", data, err)
	}
	if s, v, err := codec.Decode(nil); s != nil || v != nil || err != nil {
		t.Fatalf("Decode(nil) = %v, %v, %v; want nils", s, v, err)
	}
	_, err = codec.Encode(nil, "schemaless")
	if err == nil || !strings.Contains(err.Error(), "the avro codec needs a schema") || strings.Contains(err.Error(), `"orders"`) {
		t.Fatalf("schemaless value: %v; want an error saying the avro codec needs a schema, leaving the topic to the engine", err)
	}
}

func TestInvalidValueNeverEncoded(t *testing.T) {
	reg := &countingRegistry{SchemaRegistry: openRegistry(t, "")}
	codec := bind(t, reg, "orders", false, "")
	bad, _ := stream.NewStructValue(orderV1) // required id missing
	_, err := codec.Encode(orderV1, bad)
	if !errors.Is(err, stream.ErrSchemaMismatch) || !strings.Contains(err.Error(), `"id"`) {
		t.Fatalf("Encode of a struct without its required field: %v; want a schema mismatch naming field id", err)
	}
	_, err = codec.Encode(stream.Int32Schema(), int64(1))
	if !errors.Is(err, stream.ErrSchemaMismatch) {
		t.Fatalf("Encode of an int64 as int32: %v; want a schema mismatch", err)
	}
	if n := reg.registers.Load(); n != 0 {
		t.Errorf("invalid values registered %d schemas", n)
	}
}

func TestIncompatibleSchemaRefused(t *testing.T) {
	codec := bind(t, openRegistry(t, "BACKWARD"), "orders", false, "")
	if _, err := codec.Encode(orderV1, order(t, 1)); err != nil {
		t.Fatal(err)
	}
	// A new required field without a default cannot read the records written before: BACKWARD refuses it.
	v2 := stream.NewStruct("shop.Order").Field("id", stream.Int64Schema()).
		Field("note", stream.StringSchema().AsOptional()).Field("total", stream.Int64Schema()).MustBuild()
	_, err := codec.Encode(v2, structOf(t, v2, "id", int64(2), "total", int64(3)))
	if !errors.Is(err, stream.ErrIncompatibleSchema) {
		t.Fatalf("Encode with an incompatible schema: %v; want an error wrapping stream.ErrIncompatibleSchema", err)
	}
	for _, want := range []string{`"orders-value"`, "total", "BACKWARD"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// Adding it with a default is compatible.
	v3 := stream.NewStruct("shop.Order").Field("id", stream.Int64Schema()).
		Field("note", stream.StringSchema().AsOptional()).Field("total", stream.Int64Schema().WithDefault(int64(0))).MustBuild()
	if _, err := codec.Encode(v3, structOf(t, v3, "id", int64(2))); err != nil {
		t.Fatalf("a new field with a default: %v", err)
	}
}

func TestSubjectNameStrategies(t *testing.T) {
	for _, tt := range []struct {
		strategy string
		key      bool
		subject  string
	}{
		{"", false, "orders-value"},
		{stream.SubjectTopicName, true, "orders-key"},
		{stream.SubjectRecordName, false, "shop.Order"},
		{stream.SubjectTopicRecordName, true, "orders-shop.Order"},
	} {
		reg := &exactRegistry{}
		subjects := &subjectRecorder{SchemaRegistry: reg}
		codec := bind(t, subjects, "orders", tt.key, tt.strategy)
		if _, err := codec.Encode(orderV1, order(t, 1)); err != nil {
			t.Fatal(err)
		}
		if subjects.last != tt.subject {
			t.Errorf("strategy %q key=%v: subject %q, want %q", tt.strategy, tt.key, subjects.last, tt.subject)
		}
	}
	c, _ := stream.LookupCodec("avro")
	if _, err := c.(stream.TopicCodec).ForTopic(stream.TopicBinding{Topic: "orders", Registry: &exactRegistry{}, SubjectNames: "bogus"}); err == nil ||
		!strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown strategy: %v", err)
	}
	if _, err := c.(stream.TopicCodec).ForTopic(stream.TopicBinding{Topic: "orders"}); err == nil ||
		strings.Contains(err.Error(), `"orders"`) || !strings.Contains(err.Error(), "schema registry") {
		t.Errorf("no registry: %v; want an error naming the missing registry (the engine names the topic)", err)
	}
	if _, err := c.Encode(orderV1, order(t, 1)); err == nil {
		t.Error("the unbound codec encoded a value")
	}
}

type subjectRecorder struct {
	stream.SchemaRegistry
	last string
}

func (r *subjectRecorder) Register(ctx context.Context, subject string, s stream.RegisteredSchema) (int, error) {
	r.last = subject
	return r.SchemaRegistry.Register(ctx, subject, s)
}

func TestDecodeErrors(t *testing.T) {
	reg := &exactRegistry{}
	codec := bind(t, reg, "orders", false, "")
	good, err := codec.Encode(orderV1, order(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"magic byte", append([]byte{1}, good[1:]...), "first byte is 1"},
		{"short", []byte{0, 0, 0}, "too short"},
		{"unknown id", []byte{0, 0, 0, 0, 99, 2}, "schema id 99"},
		{"truncated body", good[:len(good)-1], "ends early"},
		{"trailing bytes", append(bytes.Clone(good), 0), "left after the value"},
		{"union branch", append(bytes.Clone(good[:len(good)-1]), 8), "union branch 4"},
	} {
		_, _, err := codec.Decode(tt.data)
		// The engine names the topic, partition and offset (topology's decode errors); the codec does not
		// repeat the topic.
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), `"orders"`) {
			t.Errorf("%s: %v; want an error containing %q and not naming the topic", tt.name, err, tt.want)
		}
	}
}

// foreignCase is a schema and a value written by hamba/avro's own encoder, as another serializer would.
type foreignCase struct {
	name       string
	avroSchema string
	hambaValue any
	schema     *stream.Schema
	want       func(t *testing.T, s *stream.Schema) any
}

func TestForeignSchemas(t *testing.T) {
	uuid := "0f8fad5b-d9cb-469f-a165-70867728950e"
	ts := time.Date(2026, 11, 30, 21, 0, 0, 123456000, time.UTC)
	cases := []foreignCase{
		{name: "enum", avroSchema: `{"type":"enum","name":"Suit","namespace":"cards","symbols":["SPADES","HEARTS"],"default":"SPADES"}`,
			hambaValue: "HEARTS",
			want:       func(t *testing.T, s *stream.Schema) any { return "HEARTS" }},
		{name: "fixed", avroSchema: `{"type":"fixed","name":"md5","size":4}`, hambaValue: [4]byte{1, 2, 3, 0xff},
			want: func(t *testing.T, s *stream.Schema) any { return []byte{1, 2, 3, 0xff} }},
		{name: "fixed decimal", avroSchema: `{"type":"fixed","name":"amount","size":8,"logicalType":"decimal","precision":18,"scale":2}`,
			hambaValue: big.NewRat(-12345, 100),
			want:       func(t *testing.T, s *stream.Schema) any { return stream.NewDecimal(-12345, 2) }},
		{name: "local timestamp", avroSchema: `{"type":"long","logicalType":"local-timestamp-micros"}`, hambaValue: int64(42),
			want: func(t *testing.T, s *stream.Schema) any { return int64(42) }},
		{name: "union of several types", avroSchema: `{"type":"record","name":"R","fields":[{"name":"u","type":["null","int","string",{"type":"record","name":"S","fields":[{"name":"x","type":"long"}]}]}]}`,
			hambaValue: map[string]any{"u": map[string]any{"string": "hi"}},
			want: func(t *testing.T, s *stream.Schema) any {
				f, _ := s.Field("u")
				if f.Schema.Name != "io.confluent.connect.avro.Union" || !f.Schema.Optional || len(f.Schema.Fields) != 3 {
					t.Errorf("union field schema %+v", f.Schema)
				}
				return structOf(t, s, "u", structOf(t, f.Schema, "string", "hi"))
			}},
		{name: "union record branch", avroSchema: `{"type":"record","name":"R","fields":[{"name":"u","type":["int",{"type":"record","name":"S","fields":[{"name":"x","type":"long"}]}]}]}`,
			hambaValue: map[string]any{"u": map[string]any{"S": map[string]any{"x": int64(7)}}},
			want: func(t *testing.T, s *stream.Schema) any {
				f, _ := s.Field("u")
				sf, _ := f.Schema.Field("S")
				return structOf(t, s, "u", structOf(t, f.Schema, "S", structOf(t, sf.Schema.AsRequired(), "x", int64(7))))
			}},
		{name: "python-style record", avroSchema: `{"type":"record","name":"Payment","namespace":"io.example","doc":"a payment","fields":[
			{"name":"id","type":{"type":"string","logicalType":"uuid"}},
			{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}},
			{"name":"day","type":{"type":"int","logicalType":"date"}},
			{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":38,"scale":10}},
			{"name":"note","type":["null","string"],"default":null,"doc":"free text"},
			{"name":"tags","type":{"type":"map","values":"long"}},
			{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[{"name":"sku","type":"string"},{"name":"qty","type":"int","default":1}]}}},
			{"name":"previous","type":["null","Line"],"default":null}]}`,
			hambaValue: map[string]any{"id": uuid, "at": ts, "day": time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
				"amount": new(big.Rat).SetFrac(big.NewInt(-123456789012345), big.NewInt(10000000000)),
				"note":   "n", "tags": map[string]any{"a": int64(1)},
				"lines":    []any{map[string]any{"sku": "A", "qty": 2}},
				"previous": map[string]any{"io.example.Line": map[string]any{"sku": "B", "qty": 3}}},
			want: func(t *testing.T, s *stream.Schema) any {
				if s.Name != "io.example.Payment" || s.Doc != "a payment" {
					t.Errorf("record name/doc: %q %q", s.Name, s.Doc)
				}
				at, _ := s.Field("at")
				if at.Schema.Name != avro.MicroTimestampName || at.Schema.Type != stream.TypeInt64 {
					t.Errorf("timestamp-micros mapped to %+v", at.Schema)
				}
				amount, _ := s.Field("amount")
				if amount.Schema.Parameters["connect.decimal.precision"] != "38" {
					t.Errorf("decimal parameters %v", amount.Schema.Parameters)
				}
				note, _ := s.Field("note")
				if !note.Schema.Optional || note.Schema.Doc != "free text" {
					t.Errorf("note schema %+v", note.Schema)
				}
				lines, _ := s.Field("lines")
				line := lines.Schema.Items
				qty, _ := line.Field("qty")
				if qty.Schema.Default != int32(1) {
					t.Errorf("qty default %v", qty.Schema.Default)
				}
				return structOf(t, s, "id", uuid, "at", ts.UnixMicro(), "day", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
					"amount", stream.NewDecimal(-123456789012345, 10), "note", "n", "tags", map[string]any{"a": int64(1)},
					"lines", []any{structOf(t, line, "sku", "A", "qty", int32(2))},
					"previous", structOf(t, line, "sku", "B", "qty", int32(3)))
			}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			hs, err := hamba.ParseWithCache(tt.avroSchema, "", &hamba.SchemaCache{})
			if err != nil {
				t.Fatal(err)
			}
			body, err := hamba.Marshal(hs, tt.hambaValue)
			if err != nil {
				t.Fatal(err)
			}
			reg := &exactRegistry{}
			id, _ := reg.Register(context.Background(), "foreign-value", stream.RegisteredSchema{Schema: tt.avroSchema})
			codec := bind(t, reg, "foreign", false, "")
			data := append([]byte{0, 0, 0, 0, byte(id)}, body...)
			schema, v, err := codec.Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if want := tt.want(t, schema); !stream.EqualValues(v, want) {
				t.Errorf("decoded %v, want %v", v, want)
			}
			// Written back, hamba reads the same value from it (hamba writes arrays and maps in blocks that
			// carry their size, so the bytes may differ), and the schema is the same Avro schema.
			again, err := codec.Encode(schema, v)
			if err != nil {
				t.Fatalf("re-encoding: %v", err)
			}
			var fromHamba, fromSluice any
			if err := hamba.Unmarshal(hs, body, &fromHamba); err != nil {
				t.Fatal(err)
			}
			if err := hamba.Unmarshal(hs, again[5:], &fromSluice); err != nil {
				t.Fatalf("hamba cannot read what the codec wrote (% x): %v", again[5:], err)
			}
			if !reflect.DeepEqual(fromHamba, fromSluice) {
				t.Errorf("hamba reads %v from the codec's bytes, %v from its own", fromSluice, fromHamba)
			}
			text, err := avro.SchemaFor(schema)
			if err != nil {
				t.Fatal(err)
			}
			back, err := hamba.ParseWithCache(text, "", &hamba.SchemaCache{})
			if err != nil {
				t.Fatalf("SchemaFor wrote an invalid schema: %v\n%s", err, text)
			}
			if back.String() != hs.String() {
				t.Errorf("Avro schema changed:\n got %s\nwant %s", back.String(), hs.String())
			}
		})
	}
}

func TestSchemaForRefuses(t *testing.T) {
	for _, tt := range []struct {
		name   string
		schema *stream.Schema
		want   string
	}{
		{"nil", nil, "needs a schema"},
		{"field name", stream.NewStruct("r").Field("user-id", stream.Int32Schema()).MustBuild(), `"user-id"`},
		{"bytes keys", stream.MapOf(stream.BytesSchema(), stream.Int32Schema()), "map keys of type bytes"},
		{"two structs one name", stream.NewStruct("r").
			Field("a", stream.NewStruct("same").Field("x", stream.Int32Schema()).MustBuild()).
			Field("b", stream.NewStruct("same").Field("y", stream.Int32Schema()).MustBuild()).MustBuild(), `"same"`},
	} {
		if _, err := avro.SchemaFor(tt.schema); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	codec := bind(t, openRegistry(t, ""), "orders", false, "")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				o, _ := stream.NewStructValue(orderV1)
				_ = o.Put("id", int64(g*1000+i))
				data, err := codec.Encode(orderV1, o)
				if err != nil {
					errs <- err
					return
				}
				_, v, err := codec.Decode(data)
				if err != nil {
					errs <- err
					return
				}
				if !stream.EqualValues(v, o) {
					errs <- fmt.Errorf("decoded %v, wrote %v", v, o)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestAvroDataSchema maps a schema as Confluent's AvroConverter writes it for a Debezium change event's
// value (connect.* properties, a Decimal with its parameters, a Debezium MicroTimestamp without a logical
// type, an int16) to the schema Debezium declared.
func TestAvroDataSchema(t *testing.T) {
	text := `{"type":"record","name":"Value","namespace":"dbserver1.inventory.customers","fields":[
		{"name":"id","type":"int"},
		{"name":"created","type":{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}},
		{"name":"price","type":["null",{"type":"bytes","scale":2,"precision":10,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}],"default":null},
		{"name":"small","type":{"type":"int","connect.type":"int16"}},
		{"name":"born","type":["null",{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}],"default":null}
	],"connect.name":"dbserver1.inventory.customers.Value"}`
	got, err := avro.StreamSchema(text)
	if err != nil {
		t.Fatal(err)
	}
	want := stream.NewStruct("dbserver1.inventory.customers.Value").
		Field("id", stream.Int32Schema()).
		Field("created", stream.Int64Schema().WithName(avro.MicroTimestampName).WithVersion(1)).
		Field("price", stream.DecimalSchema(2).WithParameter("connect.decimal.precision", "10").AsOptional()).
		Field("small", stream.Int16Schema()).
		Field("born", stream.DateSchema().AsOptional()).
		MustBuild()
	if !got.Equal(want) {
		for i, f := range got.Fields {
			t.Logf("%s: %+v", f.Name, f.Schema)
			t.Logf("%s: %+v (want)", want.Fields[i].Name, want.Fields[i].Schema)
		}
		t.Fatal("schema differs")
	}
}
