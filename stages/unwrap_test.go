package stages_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// The fixtures follow Debezium's AbstractExtractStateTest (debezium-core/src/test/java/io/debezium/
// transforms/AbstractExtractStateTest.java): a row {id int8, name string}, a source block with lsn, ts_ms,
// db and table, and an optional transaction block, in a "dummy.Envelope".

var (
	unwrapRowSchema    = stream.NewStruct("dummy.Value").Field("id", stream.Int8Schema()).Field("name", stream.StringSchema().AsOptional()).MustBuild()
	unwrapSourceSchema = stream.NewStruct("io.debezium.connector.postgresql.Source").
				Field("lsn", stream.Int32Schema()).
				Field("ts_ms", stream.Int64Schema().AsOptional()).
				Field("db", stream.StringSchema().AsOptional()).
				Field("table", stream.StringSchema().AsOptional()).
				MustBuild()
	unwrapTxSchema = stream.NewStruct("event.block").Optional().
			Field("id", stream.StringSchema()).
			Field("total_order", stream.Int64Schema()).
			Field("data_collection_order", stream.Int64Schema()).
			MustBuild()
	unwrapEnvelopeSchema = unwrapEnvelopeFor(unwrapRowSchema)
)

func unwrapEnvelopeFor(row *stream.Schema) *stream.Schema {
	return stream.NewStruct("dummy.Envelope").
		Field("before", row.AsOptional()).
		Field("after", row.AsOptional()).
		Field("source", unwrapSourceSchema).
		Field("op", stream.StringSchema()).
		Field("ts_ms", stream.Int64Schema().AsOptional()).
		Field("transaction", unwrapTxSchema).
		MustBuild()
}

// unwrapTestStruct builds a struct of schema from name, value pairs.
func unwrapTestStruct(t testing.TB, schema *stream.Schema, kv ...any) *stream.Struct {
	t.Helper()
	st, err := stream.NewStructValue(schema)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		if err := st.Put(kv[i].(string), kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// unwrapTestEvent builds a schema'd change event as Debezium's Envelope.create/update/delete/truncate do.
func unwrapTestEvent(t testing.TB, op string, before, after *stream.Struct, withTx bool) stream.Record {
	t.Helper()
	source := unwrapTestStruct(t, unwrapSourceSchema, "lsn", int32(1234), "ts_ms", int64(1700000000000), "db", "test_db", "table", "test_table")
	kv := []any{"source", source, "op", op, "ts_ms", int64(1700000000123)}
	if before != nil {
		kv = append(kv, "before", before)
	}
	if after != nil {
		kv = append(kv, "after", after)
	}
	if withTx {
		kv = append(kv, "transaction", unwrapTestStruct(t, unwrapTxSchema, "id", "571", "total_order", int64(42), "data_collection_order", int64(42)))
	}
	env := unwrapTestStruct(t, unwrapEnvelopeSchema, kv...)
	return stream.Record{
		Topic: "dummy", Partition: 2, Offset: 7,
		KeySchema: stream.NewStruct("dummy.Key").Field("id", stream.Int8Schema()).MustBuild(),
		Key:       "key placeholder", ValueSchema: unwrapEnvelopeSchema, Value: env,
		Headers: []stream.Header{{Key: "application/debezium-test-header", Value: []byte("shouldPropagatePreviousRecordHeaders")}},
	}
}

func unwrapTestRow(t testing.TB, name string) *stream.Struct {
	return unwrapTestStruct(t, unwrapRowSchema, "id", int8(1), "name", name)
}

func unwrapCreate(t testing.TB) stream.Record {
	return unwrapTestEvent(t, "c", nil, unwrapTestRow(t, "myRecord"), false)
}

func unwrapUpdate(t testing.TB) stream.Record {
	return unwrapTestEvent(t, "u", unwrapTestRow(t, "myRecord"), unwrapTestRow(t, "updatedRecord"), true)
}

func unwrapDelete(t testing.TB) stream.Record {
	return unwrapTestEvent(t, "d", unwrapTestRow(t, "myRecord"), nil, false)
}

func unwrapTruncate(t testing.TB) stream.Record { return unwrapTestEvent(t, "t", nil, nil, false) }

func unwrapTombstone() stream.Record { return stream.Record{Topic: "dummy", Key: "key placeholder"} }

// unwrapFlat gives the fields of a struct or map value as a map, for comparisons.
func unwrapFlat(v any) map[string]any {
	switch v := v.(type) {
	case *stream.Struct:
		m := map[string]any{}
		for _, f := range v.Schema().Fields {
			m[f.Name] = v.Get(f.Name)
		}
		return m
	case map[string]any:
		return v
	}
	return nil
}

// unwrapHeaders gives the headers added by Unwrap (after the test header) as "key=value" ("key=<nil>").
func unwrapHeaders(hs []stream.Header) []string {
	var out []string
	for _, h := range hs {
		if h.Key == "application/debezium-test-header" {
			continue
		}
		if h.Value == nil {
			out = append(out, h.Key+"=<nil>")
		} else {
			out = append(out, h.Key+"="+string(h.Value))
		}
	}
	return out
}

func unwrapPrefix(p string) *string { return &p }

// TestUnwrap ports Debezium's ExtractNewRecordStateTest (debezium-core/src/test/java/io/debezium/transforms/
// ExtractNewRecordStateTest.java, delete.tombstone.handling.mode variants) on schema'd events.
func TestUnwrap(t *testing.T) {
	cases := []struct {
		name        string
		cfg         stages.UnwrapConfig
		in          func(testing.TB) stream.Record
		dropped     bool
		tombstone   bool
		want        map[string]any // fields of the output value
		wantOp      stream.Operation
		wantHeaders []string
	}{
		{name: "testTombstoneDroppedByDefault", in: func(testing.TB) stream.Record { return unwrapTombstone() }, dropped: true},
		{name: "testTombstoneDroppedConfigured (drop)", cfg: stages.UnwrapConfig{DeleteHandling: stages.DeleteDrop},
			in: func(testing.TB) stream.Record { return unwrapTombstone() }, dropped: true},
		{name: "testTombstoneRewriteWithTombstone", cfg: stages.UnwrapConfig{DeleteHandling: stages.DeleteRewrite, KeepTombstones: true},
			in: func(testing.TB) stream.Record { return unwrapTombstone() }, tombstone: true, wantOp: stream.OpDelete},
		{name: "testTruncateDroppedByDefault", in: unwrapTruncate, dropped: true},
		{name: "truncate dropped even when tombstones are kept", cfg: stages.UnwrapConfig{KeepTombstones: true}, in: unwrapTruncate, dropped: true},
		{name: "testDeleteDroppedByDefault (drop)", cfg: stages.UnwrapConfig{DeleteHandling: stages.DeleteDrop}, in: unwrapDelete, dropped: true},
		{name: "testHandleDeleteNone (tombstone)", in: unwrapDelete, tombstone: true, wantOp: stream.OpDelete},
		{name: "testHandleDeleteRewrite", cfg: stages.UnwrapConfig{DeleteHandling: stages.DeleteRewrite}, in: unwrapDelete,
			want: map[string]any{"id": int8(1), "name": "myRecord", "__deleted": "true"}, wantOp: stream.OpDelete},
		{name: "testHandleCreateRewrite", cfg: stages.UnwrapConfig{DeleteHandling: stages.DeleteRewrite, AddHeaders: []string{"op"}}, in: unwrapCreate,
			want: map[string]any{"id": int8(1), "name": "myRecord", "__deleted": "false"}, wantOp: stream.OpCreate, wantHeaders: []string{"__op=c"}},
		{name: "testUnwrapCreateRecord", in: unwrapCreate,
			want: map[string]any{"id": int8(1), "name": "myRecord"}, wantOp: stream.OpCreate},
		{name: "update", in: unwrapUpdate,
			want: map[string]any{"id": int8(1), "name": "updatedRecord"}, wantOp: stream.OpUpdate},
		{name: "snapshot read", in: func(t testing.TB) stream.Record { return unwrapTestEvent(t, "r", nil, unwrapTestRow(t, "x"), false) },
			want: map[string]any{"id": int8(1), "name": "x"}, wantOp: stream.OpRead},
		{name: "testAddField", cfg: stages.UnwrapConfig{AddFields: []string{"op"}}, in: unwrapCreate,
			want: map[string]any{"id": int8(1), "name": "myRecord", "__op": "c"}, wantOp: stream.OpCreate},
		{name: "testAddTimestamp (ts_ms)", cfg: stages.UnwrapConfig{AddFields: []string{"ts_ms"}}, in: unwrapCreate,
			want: map[string]any{"id": int8(1), "name": "myRecord", "__ts_ms": int64(1700000000123)}, wantOp: stream.OpCreate},
		{name: "testAddTimestamp (source.ts_ms)", cfg: stages.UnwrapConfig{AddFields: []string{"source.ts_ms"}}, in: unwrapCreate,
			want: map[string]any{"id": int8(1), "name": "myRecord", "__source_ts_ms": int64(1700000000000)}, wantOp: stream.OpCreate},
		{name: "testAddFields", cfg: stages.UnwrapConfig{AddFields: []string{"op ", " lsn", "id"}, AddFieldsPrefix: unwrapPrefix("prefix.")}, in: unwrapUpdate,
			want: map[string]any{"id": int8(1), "name": "updatedRecord", "prefix.op": "u", "prefix.lsn": int32(1234), "prefix.id": "571"}, wantOp: stream.OpUpdate},
		{name: "testNewFieldAndHeaderMapping", cfg: stages.UnwrapConfig{
			AddFields:        []string{"op:OP", " lsn:LSN", " id:ID", " source.lsn:source_lsn", " transaction.total_order:TOTAL_ORDER"},
			AddFieldsPrefix:  unwrapPrefix(""),
			AddHeaders:       []string{"op", " source.lsn:source_lsn", " transaction.id:TXN_ID", " transaction.total_order:TOTAL_ORDER"},
			AddHeadersPrefix: unwrapPrefix("prefix."),
		}, in: unwrapUpdate,
			want:   map[string]any{"id": int8(1), "name": "updatedRecord", "OP": "u", "LSN": int32(1234), "ID": "571", "source_lsn": int32(1234), "TOTAL_ORDER": int64(42)},
			wantOp: stream.OpUpdate, wantHeaders: []string{"prefix.op=u", "prefix.source_lsn=1234", "prefix.TXN_ID=571", "prefix.TOTAL_ORDER=42"}},
		{name: "testAddFieldsForMissingOptionalField", cfg: stages.UnwrapConfig{AddFields: []string{"op", "lsn", "id"}}, in: unwrapCreate,
			want: map[string]any{"id": int8(1), "name": "myRecord", "__op": "c", "__lsn": int32(1234), "__id": nil}, wantOp: stream.OpCreate},
		{name: "testAddFieldsSpecifyStruct", cfg: stages.UnwrapConfig{AddFields: []string{"op", "source.lsn", "transaction.id", "transaction.total_order"}}, in: unwrapUpdate,
			want:   map[string]any{"id": int8(1), "name": "updatedRecord", "__op": "u", "__source_lsn": int32(1234), "__transaction_id": "571", "__transaction_total_order": int64(42)},
			wantOp: stream.OpUpdate},
		{name: "plain names from source (table, db)", cfg: stages.UnwrapConfig{AddFields: []string{"table", "db"}}, in: unwrapCreate,
			want: map[string]any{"id": int8(1), "name": "myRecord", "__table": "test_table", "__db": "test_db"}, wantOp: stream.OpCreate},
		{name: "fields the event does not have are left out", cfg: stages.UnwrapConfig{AddFields: []string{"source.version", "nope"}}, in: unwrapCreate,
			want: map[string]any{"id": int8(1), "name": "myRecord"}, wantOp: stream.OpCreate},
		{name: "testAddHeader", cfg: stages.UnwrapConfig{AddHeaders: []string{"op"}}, in: unwrapCreate,
			want: map[string]any{"id": int8(1), "name": "myRecord"}, wantOp: stream.OpCreate, wantHeaders: []string{"__op=c"}},
		{name: "testAddHeaders", cfg: stages.UnwrapConfig{AddHeaders: []string{"op ", " lsn", "id"}}, in: unwrapUpdate,
			want: map[string]any{"id": int8(1), "name": "updatedRecord"}, wantOp: stream.OpUpdate, wantHeaders: []string{"__op=u", "__lsn=1234", "__id=571"}},
		{name: "testAddHeadersForMissingOptionalField", cfg: stages.UnwrapConfig{AddHeaders: []string{"op", "lsn", "id"}}, in: unwrapCreate,
			want: map[string]any{"id": int8(1), "name": "myRecord"}, wantOp: stream.OpCreate, wantHeaders: []string{"__op=c", "__lsn=1234", "__id=<nil>"}},
		{name: "testAddHeadersSpecifyStruct", cfg: stages.UnwrapConfig{
			AddHeaders: []string{"op", "source.lsn", "transaction.id", "transaction.total_order"}, AddHeadersPrefix: unwrapPrefix("prefix."),
		}, in: unwrapUpdate, want: map[string]any{"id": int8(1), "name": "updatedRecord"}, wantOp: stream.OpUpdate,
			wantHeaders: []string{"prefix.op=u", "prefix.source_lsn=1234", "prefix.transaction_id=571", "prefix.transaction_total_order=42"}},
		{name: "testAddHeadersHandleDeleteRewriteAndTombstone (delete)", cfg: stages.UnwrapConfig{
			DeleteHandling: stages.DeleteRewrite, KeepTombstones: true, AddHeaders: []string{"op", "source.lsn"},
		}, in: unwrapDelete, want: map[string]any{"id": int8(1), "name": "myRecord", "__deleted": "true"}, wantOp: stream.OpDelete,
			wantHeaders: []string{"__op=d", "__source_lsn=1234"}},
		{name: "testAddHeadersHandleDeleteRewriteAndTombstone (tombstone)", cfg: stages.UnwrapConfig{
			DeleteHandling: stages.DeleteRewrite, KeepTombstones: true, AddHeaders: []string{"op", "source.lsn"},
		}, in: func(testing.TB) stream.Record { return unwrapTombstone() }, tombstone: true, wantOp: stream.OpDelete, wantHeaders: []string{"__op=d"}},
		{name: "headers on the tombstone a delete becomes", cfg: stages.UnwrapConfig{AddHeaders: []string{"op", "table"}}, in: unwrapDelete,
			tombstone: true, wantOp: stream.OpDelete, wantHeaders: []string{"__op=d", "__table=test_table"}},
		{name: "testAddFieldHandleDeleteRewrite", cfg: stages.UnwrapConfig{DeleteHandling: stages.DeleteRewrite, AddFields: []string{"op"}}, in: unwrapDelete,
			want: map[string]any{"id": int8(1), "name": "myRecord", "__op": "d", "__deleted": "true"}, wantOp: stream.OpDelete},
		{name: "testAddFieldsHandleDeleteRewrite", cfg: stages.UnwrapConfig{DeleteHandling: stages.DeleteRewrite, AddFields: []string{"op", "lsn"}}, in: unwrapDelete,
			want: map[string]any{"id": int8(1), "name": "myRecord", "__op": "d", "__lsn": int32(1234), "__deleted": "true"}, wantOp: stream.OpDelete},
		{name: "testAddFieldsSpecifyStructHandleDeleteRewrite", cfg: stages.UnwrapConfig{DeleteHandling: stages.DeleteRewrite, AddFields: []string{"op", "source.lsn"}}, in: unwrapDelete,
			want: map[string]any{"id": int8(1), "name": "myRecord", "__op": "d", "__source_lsn": int32(1234), "__deleted": "true"}, wantOp: stream.OpDelete},
		{name: "add.fields are not added to the tombstone a delete becomes", cfg: stages.UnwrapConfig{AddFields: []string{"op"}}, in: unwrapDelete,
			tombstone: true, wantOp: stream.OpDelete},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := stages.Unwrap("unwrap", tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			in := tc.in(t)
			inHeaders := slices.Clone(in.Headers)
			out, err := s.Process(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.dropped {
				if len(out) != 0 {
					t.Fatalf("got %+v, want the record dropped", out)
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("got %d records, want 1", len(out))
			}
			got := out[0]
			if got.Topic != in.Topic || got.Partition != in.Partition || got.Offset != in.Offset || got.Key != in.Key || got.KeySchema != in.KeySchema {
				t.Errorf("topic, partition, offset or key changed: %+v", got)
			}
			if got.Operation != tc.wantOp {
				t.Errorf("Operation = %v, want %v", got.Operation, tc.wantOp)
			}
			if h := unwrapHeaders(got.Headers); !slices.Equal(h, tc.wantHeaders) {
				t.Errorf("added headers %q, want %q", h, tc.wantHeaders)
			}
			if len(in.Headers) > 0 && (len(got.Headers) == 0 || got.Headers[0].Key != "application/debezium-test-header") {
				t.Errorf("existing headers not kept (testUnwrapPropagatesRecordHeaders): %q", got.Headers)
			}
			if !slices.EqualFunc(in.Headers, inHeaders, func(a, b stream.Header) bool { return a.Key == b.Key }) {
				t.Errorf("input headers changed: %q", in.Headers)
			}
			if tc.tombstone {
				if got.Value != nil || got.ValueSchema != nil {
					t.Errorf("want a tombstone, got value %v schema %v", got.Value, got.ValueSchema)
				}
				return
			}
			st, ok := got.Value.(*stream.Struct)
			if !ok {
				t.Fatalf("value %T, want *stream.Struct", got.Value)
			}
			if !maps.EqualFunc(unwrapFlat(st), tc.want, stream.EqualValues) {
				t.Errorf("value %v, want %v", unwrapFlat(st), tc.want)
			}
			if got.ValueSchema == nil || got.ValueSchema.Name != "dummy.Value" || len(got.ValueSchema.Fields) != len(tc.want) {
				t.Errorf("value schema %+v", got.ValueSchema)
			}
			if err := got.ValueSchema.Validate(got.Value); err != nil {
				t.Errorf("value does not fit its schema: %v", err)
			}
		})
	}
}

// TestUnwrapSchemas checks the output schemas: the after field's schema when nothing is added, else the
// row's fields, the added fields (optional) and __deleted (optional string), in a required struct schema
// that keeps the row schema's name; and one schema value per table.
func TestUnwrapSchemas(t *testing.T) {
	ctx := context.Background()
	plain, _ := stages.Unwrap("unwrap", stages.UnwrapConfig{})
	out, _ := plain.Process(ctx, unwrapCreate(t))
	if out[0].ValueSchema != unwrapEnvelopeSchema.Fields[1].Schema {
		t.Errorf("plain unwrap: schema %+v, want the envelope's after schema", out[0].ValueSchema)
	}

	rewrite, _ := stages.Unwrap("unwrap", stages.UnwrapConfig{DeleteHandling: stages.DeleteRewrite, AddFields: []string{"op", "source.ts_ms", "transaction.id"}})
	created, _ := rewrite.Process(ctx, unwrapCreate(t))
	updated, _ := rewrite.Process(ctx, unwrapUpdate(t))
	deleted, _ := rewrite.Process(ctx, unwrapDelete(t))
	schema := created[0].ValueSchema
	want := stream.NewStruct("dummy.Value").
		Field("id", stream.Int8Schema()).
		Field("name", stream.StringSchema().AsOptional()).
		Field("__op", stream.StringSchema().AsOptional()).
		Field("__source_ts_ms", stream.Int64Schema().AsOptional()).
		Field("__transaction_id", stream.StringSchema().AsOptional()).
		Field("__deleted", stream.StringSchema().AsOptional()).
		MustBuild()
	if !schema.Equal(want) {
		t.Errorf("schema %+v, want %+v", schema, want)
	}
	if updated[0].ValueSchema != schema || deleted[0].ValueSchema != schema {
		t.Error("records of one table do not share their output schema")
	}
	// The schema cache is safe for tasks sharing the stage.
	shared := unwrapUpdate(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if out, err := rewrite.Process(ctx, shared); err != nil || !out[0].ValueSchema.Equal(want) {
					t.Errorf("concurrent Process: %v, %v", out, err)
				}
			}
		})
	}
	wg.Wait()
	if got := unwrapFlat(created[0].Value)["__transaction_id"]; got != nil {
		t.Errorf("no transaction during a snapshot: __transaction_id = %v, want nil", got)
	}

	// A row that already has a field of an added name is an error, as Debezium's SchemaBuilder refuses
	// duplicate fields.
	rowWithOp := stream.NewStruct("r").Field("id", stream.Int8Schema()).Field("__op", stream.StringSchema()).MustBuild()
	env := unwrapEnvelopeFor(rowWithOp)
	ev := unwrapTestStruct(t, env, "op", "c", "source", unwrapTestStruct(t, unwrapSourceSchema, "lsn", int32(1)),
		"after", unwrapTestStruct(t, rowWithOp, "id", int8(1), "__op", "x"))
	addOp, _ := stages.Unwrap("unwrap", stages.UnwrapConfig{AddFields: []string{"op"}})
	if _, err := addOp.Process(ctx, stream.Record{ValueSchema: env, Value: ev}); !errors.Is(err, stream.ErrSchemaMismatch) || !strings.Contains(err.Error(), "__op") {
		t.Errorf("duplicate field: %v", err)
	}
}

// TestUnwrapPassThrough ports testIgnoreUnknownRecord and testSchemaChangeEventWithOperationHeader: records
// that are not change events are passed on unchanged, Operation included.
func TestUnwrapPassThrough(t *testing.T) {
	unknown := stream.NewStruct("unknown").Field("id", stream.Int8Schema()).MustBuild()
	unnamed := stream.NewStruct("").Field("id", stream.Int8Schema()).MustBuild()
	heartbeat := stream.NewStruct("io.debezium.connector.common.Heartbeat").Field("ts_ms", stream.Int64Schema()).MustBuild()
	records := []stream.Record{
		{ValueSchema: unknown, Value: unwrapTestStruct(t, unknown, "id", int8(1)), Operation: stream.OpUpdate},
		{ValueSchema: unnamed, Value: unwrapTestStruct(t, unnamed, "id", int8(1))},
		{Topic: "op.with.heartbeat", ValueSchema: heartbeat, Value: unwrapTestStruct(t, heartbeat, "ts_ms", int64(1))},
		{Value: map[string]any{"id": int64(1), "op": "c"}},   // no before or after
		{Value: map[string]any{"before": nil, "after": nil}}, // no op
		{Value: "a line of text"},
		{Value: []byte{1, 2, 3}},
	}
	ctx := context.Background()
	for _, cfg := range []stages.UnwrapConfig{{}, {AddHeaders: []string{"op"}, AddFields: []string{"op"}, DeleteHandling: stages.DeleteRewrite}} {
		s, _ := stages.Unwrap("unwrap", cfg)
		for _, r := range records {
			out, err := s.Process(ctx, r)
			if err != nil || len(out) != 1 || !stream.EqualValues(out[0].Value, r.Value) || out[0].ValueSchema != r.ValueSchema ||
				out[0].Operation != r.Operation || len(out[0].Headers) != 0 {
				t.Errorf("%+v: got %+v, %v; want it unchanged", r.Value, out, err)
			}
		}
	}
}

// TestUnwrapSchemaless runs the same behaviour on change events from JSON without schemas
// (schemas.enable=false), where the envelope and rows are map[string]any.
func TestUnwrapSchemaless(t *testing.T) {
	event := func(op string, before, after map[string]any, tx bool) stream.Record {
		v := map[string]any{
			"before": nil, "after": nil, "op": op, "ts_ms": int64(1700000000123),
			"source":      map[string]any{"lsn": int64(1234), "ts_ms": int64(1700000000000), "db": "test_db", "table": "test_table"},
			"transaction": nil,
		}
		if before != nil {
			v["before"] = before
		}
		if after != nil {
			v["after"] = after
		}
		if tx {
			v["transaction"] = map[string]any{"id": "571", "total_order": int64(42), "data_collection_order": int64(42)}
		}
		return stream.Record{Topic: "dummy", Key: map[string]any{"id": int64(1)}, Value: v}
	}
	row := func(name string) map[string]any { return map[string]any{"id": int64(1), "name": name} }
	create := event("c", nil, row("myRecord"), false)
	update := event("u", row("myRecord"), row("updatedRecord"), true)
	del := event("d", row("myRecord"), nil, false)
	truncate := event("t", nil, nil, false)

	cases := []struct {
		name        string
		cfg         stages.UnwrapConfig
		in          stream.Record
		dropped     bool
		want        map[string]any // nil: a tombstone
		wantOp      stream.Operation
		wantHeaders []string
	}{
		{name: "create", in: create, want: row("myRecord"), wantOp: stream.OpCreate},
		{name: "update with fields and headers", cfg: stages.UnwrapConfig{
			AddFields: []string{"op", "source.ts_ms", "table", "id"}, AddHeaders: []string{"op", "lsn", "transaction.total_order:order"},
		}, in: update,
			want:   map[string]any{"id": int64(1), "name": "updatedRecord", "__op": "u", "__source_ts_ms": int64(1700000000000), "__table": "test_table", "__id": "571"},
			wantOp: stream.OpUpdate, wantHeaders: []string{"__op=u", "__lsn=1234", "__order=42"}},
		{name: "null transaction gives nil fields", cfg: stages.UnwrapConfig{AddFields: []string{"id"}, AddHeaders: []string{"transaction.id"}}, in: create,
			want: map[string]any{"id": int64(1), "name": "myRecord", "__id": nil}, wantOp: stream.OpCreate, wantHeaders: []string{"__transaction_id=<nil>"}},
		{name: "missing fields are left out", cfg: stages.UnwrapConfig{AddFields: []string{"source.version"}, AddHeaders: []string{"nope"}}, in: create,
			want: row("myRecord"), wantOp: stream.OpCreate},
		{name: "delete to tombstone", in: del, wantOp: stream.OpDelete},
		{name: "delete dropped", cfg: stages.UnwrapConfig{DeleteHandling: stages.DeleteDrop}, in: del, dropped: true},
		{name: "delete rewritten", cfg: stages.UnwrapConfig{DeleteHandling: stages.DeleteRewrite, AddFields: []string{"op"}}, in: del,
			want: map[string]any{"id": int64(1), "name": "myRecord", "__op": "d", "__deleted": "true"}, wantOp: stream.OpDelete},
		{name: "create rewritten", cfg: stages.UnwrapConfig{DeleteHandling: stages.DeleteRewrite}, in: create,
			want: map[string]any{"id": int64(1), "name": "myRecord", "__deleted": "false"}, wantOp: stream.OpCreate},
		{name: "truncate", in: truncate, dropped: true},
		{name: "tombstone dropped", in: stream.Record{Key: "k"}, dropped: true},
		{name: "tombstone kept", cfg: stages.UnwrapConfig{KeepTombstones: true, AddHeaders: []string{"op", "table"}}, in: stream.Record{Key: "k"},
			wantOp: stream.OpDelete, wantHeaders: []string{"__op=d"}},
	}
	ctx := context.Background()
	for _, tc := range cases {
		s, err := stages.Unwrap("unwrap", tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		before := fmt.Sprint(tc.in.Value)
		out, err := s.Process(ctx, tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if fmt.Sprint(tc.in.Value) != before {
			t.Errorf("%s: input event modified: %v", tc.name, tc.in.Value)
		}
		if tc.dropped {
			if len(out) != 0 {
				t.Errorf("%s: got %+v, want it dropped", tc.name, out)
			}
			continue
		}
		if len(out) != 1 {
			t.Errorf("%s: got %d records", tc.name, len(out))
			continue
		}
		got := out[0]
		if got.Operation != tc.wantOp || got.ValueSchema != nil || !stream.EqualValues(got.Key, tc.in.Key) {
			t.Errorf("%s: Operation %v (want %v), schema %v, key %v", tc.name, got.Operation, tc.wantOp, got.ValueSchema, got.Key)
		}
		if h := unwrapHeaders(got.Headers); !slices.Equal(h, tc.wantHeaders) {
			t.Errorf("%s: headers %q, want %q", tc.name, h, tc.wantHeaders)
		}
		if tc.want == nil {
			if got.Value != nil {
				t.Errorf("%s: value %v, want a tombstone", tc.name, got.Value)
			}
			continue
		}
		if !stream.EqualValues(got.Value, tc.want) {
			t.Errorf("%s: value %v, want %v", tc.name, got.Value, tc.want)
		}
	}
}

// TestUnwrapNonStructRows follows Debezium for rows that are not structs (MongoDB's JSON strings): they are
// unwrapped as they are, rewrite adds no __deleted to them, and add.fields fails (requireStruct).
func TestUnwrapNonStructRows(t *testing.T) {
	env := stream.NewStruct("mongo.Envelope").
		Field("after", stream.StringSchema().AsOptional()).
		Field("source", unwrapSourceSchema).
		Field("op", stream.StringSchema()).
		MustBuild()
	ev := unwrapTestStruct(t, env, "op", "c", "after", `{"_id": 1}`, "source", unwrapTestStruct(t, unwrapSourceSchema, "lsn", int32(1)))
	ctx := context.Background()
	rewrite, _ := stages.Unwrap("unwrap", stages.UnwrapConfig{DeleteHandling: stages.DeleteRewrite})
	out, err := rewrite.Process(ctx, stream.Record{ValueSchema: env, Value: ev})
	if err != nil || out[0].Value != `{"_id": 1}` || out[0].ValueSchema != env.Fields[0].Schema {
		t.Errorf("string row: %+v, %v", out, err)
	}
	addOp, _ := stages.Unwrap("unwrap", stages.UnwrapConfig{AddFields: []string{"op"}})
	if _, err := addOp.Process(ctx, stream.Record{ValueSchema: env, Value: ev}); !errors.Is(err, stream.ErrSchemaMismatch) {
		t.Errorf("add.fields on a string row: %v", err)
	}
	schemaless := map[string]any{"op": "c", "after": "text"}
	if _, err := addOp.Process(ctx, stream.Record{Value: schemaless}); !errors.Is(err, stream.ErrSchemaMismatch) {
		t.Errorf("add.fields on a schemaless string row: %v", err)
	}
}

func TestUnwrapConfig(t *testing.T) {
	cases := []struct {
		name   string
		cfg    stages.UnwrapConfig
		option string
	}{
		{"unknown delete handling", stages.UnwrapConfig{DeleteHandling: "none"}, "DeleteHandling"},
		{"rewrite-with-tombstone is two options here", stages.UnwrapConfig{DeleteHandling: "rewrite-with-tombstone"}, "DeleteHandling"},
		{"empty field", stages.UnwrapConfig{AddFields: []string{"op", " "}}, "AddFields[1]"},
		{"too many dots", stages.UnwrapConfig{AddFields: []string{"source.a.b"}}, "AddFields[0]"},
		{"empty struct", stages.UnwrapConfig{AddFields: []string{".ts_ms"}}, "AddFields[0]"},
		{"empty new name", stages.UnwrapConfig{AddHeaders: []string{"op:"}}, "AddHeaders[0]"},
		{"two renames", stages.UnwrapConfig{AddHeaders: []string{"db", "op:a:b"}}, "AddHeaders[1]"},
	}
	for _, tc := range cases {
		_, err := stages.Unwrap("unwrap", tc.cfg)
		if !errors.Is(err, stages.ErrTransformConfig) || !strings.Contains(err.Error(), ": "+tc.option+": ") ||
			!strings.Contains(err.Error(), `Unwrap "unwrap"`) {
			t.Errorf("%s: err = %v, want ErrTransformConfig naming %s", tc.name, err, tc.option)
		}
		if err := tc.cfg.Validate(); !errors.Is(err, stages.ErrTransformConfig) {
			t.Errorf("%s: Validate = %v", tc.name, err)
		}
	}
	if _, err := stages.Unwrap("", stages.UnwrapConfig{}); !errors.Is(err, stages.ErrNoName) {
		t.Errorf("no name: %v", err)
	}
	if err := (stages.UnwrapConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
}

// Debezium change events become rows: the "after" image, with metadata as fields or headers, and deletes
// as tombstones (or dropped, or soft deletes with __deleted).
func ExampleUnwrap() {
	row := stream.NewStruct("inventory.customers.Value").
		Field("id", stream.Int32Schema()).
		Field("email", stream.StringSchema()).
		MustBuild()
	source := stream.NewStruct("io.debezium.connector.mysql.Source").
		Field("ts_ms", stream.Int64Schema()).
		Field("db", stream.StringSchema()).
		Field("table", stream.StringSchema()).
		MustBuild()
	envelope := stream.NewStruct("inventory.customers.Envelope").
		Field("before", row.AsOptional()).
		Field("after", row.AsOptional()).
		Field("source", source).
		Field("op", stream.StringSchema()).
		Field("ts_ms", stream.Int64Schema().AsOptional()).
		MustBuild()
	event := func(op string, before, after *stream.Struct) stream.Record {
		src, _ := stream.NewStructValue(source)
		_ = src.Put("ts_ms", int64(1700000000000))
		_ = src.Put("db", "inventory")
		_ = src.Put("table", "customers")
		ev, _ := stream.NewStructValue(envelope)
		_ = ev.Put("op", op)
		_ = ev.Put("source", src)
		if before != nil {
			_ = ev.Put("before", before)
		}
		if after != nil {
			_ = ev.Put("after", after)
		}
		return stream.Record{Topic: "dbserver1.inventory.customers", Key: int32(1001), ValueSchema: envelope, Value: ev}
	}
	customer, _ := stream.NewStructValue(row)
	_ = customer.Put("id", int32(1001))
	_ = customer.Put("email", "sally@example.com")

	unwrap, err := stages.Unwrap("unwrap", stages.UnwrapConfig{
		DeleteHandling: stages.DeleteRewrite,
		AddFields:      []string{"op", "table", "source.ts_ms"},
		AddHeaders:     []string{"db"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, in := range []stream.Record{
		event("c", nil, customer),
		event("d", customer, nil),
		{Topic: "dbserver1.inventory.customers", Key: int32(1001)}, // the tombstone after the delete
	} {
		out, _ := unwrap.Process(ctx, in)
		for _, r := range out {
			fmt.Printf("%s %v headers=%q\n", r.Operation, r.Value, r.Headers)
		}
	}
	// Output:
	// c Struct{id=1001,email=sally@example.com,__op=c,__table=customers,__source_ts_ms=1700000000000,__deleted=false} headers=[{"__db" "inventory"}]
	// d Struct{id=1001,email=sally@example.com,__op=d,__table=customers,__source_ts_ms=1700000000000,__deleted=true} headers=[{"__db" "inventory"}]
}

// Without schemas (JSON with schemas.enable=false) events and rows are maps; by default a delete becomes a
// tombstone and Debezium's own tombstone is dropped.
func ExampleUnwrap_schemaless() {
	unwrap, _ := stages.Unwrap("unwrap", stages.UnwrapConfig{})
	ctx := context.Background()
	for _, v := range []map[string]any{
		{"op": "u", "before": map[string]any{"id": int64(1), "qty": int64(3)}, "after": map[string]any{"id": int64(1), "qty": int64(2)}},
		{"op": "d", "before": map[string]any{"id": int64(1), "qty": int64(2)}, "after": nil},
		nil,
	} {
		in := stream.Record{Key: int64(1)}
		if v != nil {
			in.Value = v
		}
		out, _ := unwrap.Process(ctx, in)
		fmt.Println(len(out), func() string {
			if len(out) == 0 {
				return "dropped"
			}
			return fmt.Sprintf("%s key=%v value=%v", out[0].Operation, out[0].Key, out[0].Value)
		}())
	}
	// Output:
	// 1 u key=1 value=map[id:1 qty:2]
	// 1 d key=1 value=<nil>
	// 0 dropped
}
