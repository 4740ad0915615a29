package stages_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Cases ported from Kafka Connect's InsertFieldTest.java are named after the Java test they come from.

// The configuration of copySchemaAndInsertConfiguredFields and schemalessInsertConfiguredFields.
var insertAll = stages.InsertFieldConfig{
	TopicField:     "topic_field!",
	PartitionField: "partition_field",
	TimestampField: "timestamp_field?",
	StaticField:    "instance_id",
	StaticValue:    "my-instance-id",
}

func TestInsertFieldConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg     stages.InsertFieldConfig
		mention []string
	}{
		"nothing":         {stages.InsertFieldConfig{}, []string{"inserts no field"}},
		"no static value": {stages.InsertFieldConfig{StaticField: "s"}, []string{"StaticValue", `"s"`}},
		"no static field": {stages.InsertFieldConfig{TopicField: "t", StaticValue: "v"}, []string{"StaticValue"}},
		"suffix only":     {stages.InsertFieldConfig{TopicField: "!"}, []string{"TopicField"}},
		"same name twice": {stages.InsertFieldConfig{TopicField: "x", OffsetField: "x?"}, []string{"OffsetField", `"x"`, "TopicField"}},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := stages.InsertField("insert", tc.cfg)
			ftConfigErr(t, s, err, tc.mention...)
			ftConfigErr(t, nil, tc.cfg.Validate(), tc.mention...)
		})
	}
	if err := insertAll.Validate(); err != nil {
		t.Error(err)
	}
}

// topLevelStructRequired
func TestInsertFieldNeedsAStructOrMap(t *testing.T) {
	s, _ := stages.InsertField("insert", stages.InsertFieldConfig{TopicField: "topic_field"})
	ftRunErr(t, s, stream.Record{ValueSchema: stream.Int32Schema(), Value: int32(42)}, "value", "int32")
	ftRunErr(t, s, stream.Record{Value: int32(42)}, "value", "int32")
}

// copySchemaAndInsertConfiguredFields
func TestInsertFieldWithSchema(t *testing.T) {
	s, err := stages.InsertField("insert", insertAll)
	if err != nil {
		t.Fatal(err)
	}
	schema := stream.NewStruct("name").Version(1).Doc("doc").Field("magic", stream.Int64Schema().AsOptional()).MustBuild()
	rec := stream.Record{Topic: "test", Partition: 0, ValueSchema: schema, Value: ftStruct(t, schema, "magic", int64(42)),
		Timestamp: time.UnixMilli(789)}
	out := ftRun(t, s, rec)
	want := stream.NewStruct("name").Version(1).Doc("doc").
		Field("magic", stream.Int64Schema().AsOptional()).
		Field("topic_field", stream.StringSchema()).
		Field("partition_field", stream.Int32Schema().AsOptional()).
		Field("timestamp_field", stream.TimestampSchema().AsOptional()).
		Field("instance_id", stream.StringSchema().AsOptional()).
		MustBuild()
	ftSameSchema(t, "schema", out.ValueSchema, want)
	ftSameValue(t, "value", out.Value, ftStruct(t, want, "magic", int64(42), "topic_field", "test",
		"partition_field", int32(0), "timestamp_field", time.UnixMilli(789).UTC(), "instance_id", "my-instance-id"))

	// Exercise caching
	out2 := ftRun(t, s, stream.Record{Topic: "test", Partition: 1, ValueSchema: schema, Value: ftStruct(t, schema)})
	if out2.ValueSchema != out.ValueSchema {
		t.Error("schema derived twice")
	}
	ftSameValue(t, "no timestamp", out2.Value.(*stream.Struct).Get("timestamp_field"), nil)

	// A required timestamp field needs a timestamp; a field the schema has cannot be inserted.
	required, _ := stages.InsertField("insert", stages.InsertFieldConfig{TimestampField: "ts!"})
	ftRunErr(t, required, stream.Record{ValueSchema: schema, Value: ftStruct(t, schema)}, `"ts"`, "timestamp")
	clash, _ := stages.InsertField("insert", stages.InsertFieldConfig{TopicField: "magic"})
	ftRunErr(t, clash, stream.Record{ValueSchema: schema, Value: ftStruct(t, schema)}, `"magic"`, "already")
}

// schemalessInsertConfiguredFields
func TestInsertFieldSchemaless(t *testing.T) {
	s, _ := stages.InsertField("insert", insertAll)
	in := map[string]any{"magic": int64(42)}
	out := ftRun(t, s, stream.Record{Topic: "test", Partition: 0, Value: in, Timestamp: time.UnixMilli(123)})
	ftSameValue(t, "value", out.Value, map[string]any{"magic": int64(42), "topic_field": "test",
		"partition_field": int32(0), "timestamp_field": int64(123), "instance_id": "my-instance-id"})
	if len(in) != 1 {
		t.Errorf("input changed: %v", in)
	}

	out = ftRun(t, s, stream.Record{Topic: "test", Value: map[string]any{"topic_field": "old"}})
	ftSameValue(t, "no timestamp, existing entry replaced", out.Value, map[string]any{"topic_field": "test",
		"partition_field": int32(0), "instance_id": "my-instance-id"})
}

// insertConfiguredFieldsIntoTombstoneEventWithoutSchemaLeavesValueUnchanged,
// insertConfiguredFieldsIntoTombstoneEventWithSchemaLeavesValueUnchanged, insertKeyFieldsIntoTombstoneEvent,
// insertIntoNullKeyLeavesRecordUnchanged
func TestInsertFieldTombstones(t *testing.T) {
	value, _ := stages.InsertField("insert", insertAll)
	key, _ := stages.InsertField("insert", insertAll, stages.OnKey())
	schema := stream.NewStruct("name").Version(1).Doc("doc").Field("magic", stream.Int64Schema().AsOptional()).MustBuild()

	out := ftRun(t, value, stream.Record{Topic: "test"})
	if out.Value != nil || out.ValueSchema != nil {
		t.Errorf("schemaless tombstone: %+v", out)
	}
	out = ftRun(t, value, stream.Record{Topic: "test", ValueSchema: schema})
	if out.Value != nil || out.ValueSchema != schema {
		t.Errorf("tombstone with schema: %+v", out)
	}
	out = ftRun(t, key, stream.Record{Topic: "test", Key: map[string]any{"magic": int64(42)}})
	ftSameValue(t, "key", out.Key, map[string]any{"magic": int64(42), "topic_field": "test",
		"partition_field": int32(0), "instance_id": "my-instance-id"})
	if out.Value != nil {
		t.Errorf("value %v", out.Value)
	}
	in := stream.Record{Topic: "test", Value: map[string]any{"magic": int64(42)}}
	out = ftRun(t, key, in)
	if out.Key != nil || out.KeySchema != nil {
		t.Errorf("nil key: %+v", out)
	}
}

// Connect inserts offsets only into sink records (requireSinkRecord); Sluice inserts the offset of records
// read from Kafka, and refuses records that still carry a source position.
func TestInsertFieldOffset(t *testing.T) {
	s, _ := stages.InsertField("insert", stages.InsertFieldConfig{OffsetField: "offset!"})
	out := ftRun(t, s, stream.Record{Topic: "t", Offset: 99, Value: map[string]any{}})
	ftSameValue(t, "value", out.Value, map[string]any{"offset": int64(99)})

	schema := stream.NewStruct("").Field("a", stream.Int8Schema()).MustBuild()
	out = ftRun(t, s, stream.Record{Offset: 7, ValueSchema: schema, Value: ftStruct(t, schema, "a", int8(1))})
	ftSameSchema(t, "schema", out.ValueSchema, stream.NewStruct("").Field("a", stream.Int8Schema()).Field("offset", stream.Int64Schema()).MustBuild())
	ftSameValue(t, "offset", out.Value.(*stream.Struct).Get("offset"), int64(7))

	ftRunErr(t, s, stream.Record{Value: map[string]any{}, Position: stream.Position(`{"line":3}`)}, `"offset"`, "not read from Kafka")
}
