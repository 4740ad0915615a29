package avro_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/formats/avro"
	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/sluicehq/sluice/stream"
)

// openRegistry returns Sluice's embedded schema registry on an in-memory log.
func openRegistry(t testing.TB, compatibility string) *schemaregistry.Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := schemaregistry.OpenEmbedded(ctx, schemaregistry.NewMemoryLog(),
		schemaregistry.EmbeddedOptions{DefaultCompatibility: compatibility, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

func bind(t testing.TB, reg stream.SchemaRegistry, topic string, key bool, strategy string) stream.Codec {
	t.Helper()
	c, err := stream.LookupCodec("avro")
	if err != nil {
		t.Fatal(err)
	}
	tc, ok := c.(stream.TopicCodec)
	if !ok {
		t.Fatalf("the registered avro codec is a %T, not a stream.TopicCodec", c)
	}
	bound, err := tc.ForTopic(stream.TopicBinding{Topic: topic, Key: key, Registry: reg, SubjectNames: strategy})
	if err != nil {
		t.Fatal(err)
	}
	return bound
}

func structOf(t testing.TB, schema *stream.Schema, kv ...any) *stream.Struct {
	t.Helper()
	s, err := stream.NewStructValue(schema)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		if err := s.Put(kv[i].(string), kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func bigDec(t testing.TB, unscaled string, scale int32) stream.Decimal {
	t.Helper()
	u, ok := new(big.Int).SetString(unscaled, 10)
	if !ok {
		t.Fatalf("bad unscaled value %q", unscaled)
	}
	return stream.Decimal{Unscaled: u, Scale: scale}
}

type roundTripCase struct {
	name   string
	schema *stream.Schema
	v      any
}

// roundTripCases covers every type of the data model through the Avro mapping, with edge values.
func roundTripCases(t testing.TB) []roundTripCase {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	geo := stream.NewStruct("shop.Geo").Field("lat", stream.Float64Schema()).Field("lon", stream.Float64Schema()).Optional().MustBuild()
	address := stream.NewStruct("shop.Address").
		Field("street", stream.StringSchema()).
		Field("zip", stream.Int32Schema().AsOptional()).
		Field("geo", geo).
		MustBuild()
	line := stream.NewStruct("shop.Line").Field("sku", stream.StringSchema()).Field("qty", stream.Int16Schema()).
		Field("price", stream.DecimalSchema(30).WithParameter("connect.decimal.precision", "65")).MustBuild()
	withDefaults := stream.NewStruct("defaults").
		Field("n", stream.Int32Schema().WithDefault(int32(7))).
		Field("s", stream.StringSchema().AsOptional().WithDefault("dflt")).
		Field("day", stream.DateSchema().WithDefault(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))).
		Field("list", stream.ArrayOf(stream.Int8Schema()).WithDefault([]any{int8(1), int8(2)})).
		Field("f", stream.Float32Schema().WithDefault(float32(0.1))).
		Field("m", stream.MapOf(stream.StringSchema(), stream.BooleanSchema()).WithDefault(map[string]any{"b": true, "a": false})).
		MustBuild()
	// Defaults that a registry normalizing through hamba/avro's JSON form once changed (a long beyond 2^53
	// became another number, bytes and decimal defaults base64): the embedded registry keeps them exactly.
	exactDefaults := stream.NewStruct("exactDefaults").
		Field("big", stream.Int64Schema().WithDefault(int64(math.MaxInt64))).
		Field("d", stream.DecimalSchema(2).WithDefault(stream.NewDecimal(-1, 2))).
		Field("raw", stream.BytesSchema().WithDefault([]byte{0, 0x7f, 0x80, 0xff})).
		MustBuild()
	order := stream.NewStruct("shop.Order").
		Field("id", stream.Int64Schema()).
		Field("shipping", address).
		Field("billing", address.AsOptional()).
		Field("lines", stream.ArrayOf(line)).
		Field("attrs", stream.MapOf(stream.StringSchema(), stream.StringSchema().AsOptional())).
		Field("placed", stream.TimestampSchema()).
		Field("created", stream.Int64Schema().WithName(avro.MicroTimestampName)).
		Version(3).Doc("an order").
		MustBuild()
	addr := structOf(t, address, "street", "1 Main St \"Apt\" 2\n", "zip", int32(10115),
		"geo", structOf(t, geo, "lat", 52.52, "lon", 13.405))
	maxDec := bigDec(t, strings.Repeat("9", 65), 30)
	minDec := bigDec(t, "-"+strings.Repeat("9", 65), 30)
	selfDefault := stream.NewStruct("self").Field("x", stream.Int32Schema()).MustBuild()
	selfDefault.Default = structOf(t, selfDefault, "x", int32(-1))
	anon := stream.NewStruct("").Field("a", stream.NewStruct("").Field("b", stream.StringSchema()).MustBuild()).
		Field("c", stream.NewStruct("").Field("d", stream.Int8Schema()).Optional().MustBuild()).MustBuild()
	anonA, _ := anon.Field("a")
	dashed := stream.NewStruct("shop-search.shop.orders.Value").Field("id", stream.Int32Schema()).MustBuild()
	mapOfStructs := stream.MapOf(stream.StringSchema(), stream.MapOf(stream.StringSchema(), address))
	twoEntryMaps := stream.NewStruct("two.Maps").
		Field("byID", stream.MapOf(stream.Int64Schema(), stream.StringSchema())).
		Field("byFlag", stream.MapOf(stream.BooleanSchema(), stream.Int32Schema().AsOptional())).MustBuild()

	cases := []roundTripCase{
		{"int8 min", stream.Int8Schema(), int8(math.MinInt8)},
		{"int8 max", stream.Int8Schema(), int8(math.MaxInt8)},
		{"int16 min", stream.Int16Schema(), int16(math.MinInt16)},
		{"int16 max", stream.Int16Schema(), int16(math.MaxInt16)},
		{"int32 min", stream.Int32Schema(), int32(math.MinInt32)},
		{"int32 max", stream.Int32Schema(), int32(math.MaxInt32)},
		{"int64 min", stream.Int64Schema(), int64(math.MinInt64)},
		{"int64 max", stream.Int64Schema(), int64(math.MaxInt64)},
		{"float max", stream.Float32Schema(), float32(math.MaxFloat32)},
		{"float smallest", stream.Float32Schema(), float32(math.SmallestNonzeroFloat32)},
		{"float NaN", stream.Float32Schema(), float32(math.NaN())},
		{"float -Inf", stream.Float32Schema(), float32(math.Inf(-1))},
		{"double max", stream.Float64Schema(), math.MaxFloat64},
		{"double -0", stream.Float64Schema(), math.Copysign(0, -1)},
		{"double NaN", stream.Float64Schema(), math.NaN()},
		{"double 1e-7", stream.Float64Schema(), 1e-7},
		{"boolean", stream.BooleanSchema(), false},
		{"string empty", stream.StringSchema(), ""},
		{"string unicode", stream.StringSchema(), "Grüße ☃ 😀 \u2028 <&> \x00\x1f\"\\"},
		{"bytes empty", stream.BytesSchema(), []byte{}},
		{"bytes all", stream.BytesSchema(), allBytes},
		{"uuid", stream.StringSchema().WithName(avro.UUIDName), "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"array empty", stream.ArrayOf(stream.StringSchema()), []any{}},
		{"array optional items", stream.ArrayOf(stream.Int64Schema().AsOptional()), []any{int64(1), nil, int64(-1)}},
		{"array of arrays", stream.ArrayOf(stream.ArrayOf(stream.BooleanSchema())), []any{[]any{true}, []any{}, []any{false, true}}},
		{"array of structs", stream.ArrayOf(address), []any{addr, structOf(t, address, "street", "", "geo", nil)}},
		{"map string keys", stream.MapOf(stream.StringSchema(), address), map[string]any{"home": addr, "": addr}},
		{"map empty", stream.MapOf(stream.StringSchema(), stream.Int8Schema()), map[string]any{}},
		{"map int64 keys", stream.MapOf(stream.Int64Schema(), stream.StringSchema()), map[any]any{int64(math.MinInt64): "min", int64(0): "zero"}},
		{"map boolean keys", stream.MapOf(stream.BooleanSchema(), stream.Float64Schema()), map[any]any{true: 1.5, false: -2.0}},
		{"map decimal keys", stream.MapOf(stream.DecimalSchema(1), stream.Int8Schema()), map[any]any{stream.NewDecimal(15, 1): int8(1), stream.NewDecimal(-15, 1): int8(2)}},
		{"map optional keys", stream.MapOf(stream.Int32Schema().AsOptional(), stream.Int32Schema()), map[any]any{nil: int32(0), int32(1): int32(1)}},
		{"map struct keys", stream.MapOf(geo, stream.StringSchema()), map[any]any{structOf(t, geo, "lat", 1.0, "lon", 2.0): "a"}},
		{"map optional string keys", stream.MapOf(stream.StringSchema().AsOptional(), stream.Int32Schema()), map[string]any{"x": int32(1)}},
		{"map of maps", stream.MapOf(stream.StringSchema(), stream.MapOf(stream.Int16Schema(), stream.ArrayOf(stream.StringSchema()))),
			map[string]any{"a": map[any]any{int16(1): []any{"x"}}}},
		{"nested maps of structs", mapOfStructs, map[string]any{"eu": map[string]any{"home": addr, "work": structOf(t, address, "street", "2", "geo", nil)}, "us": map[string]any{}}},
		{"two maps with other keys", twoEntryMaps, structOf(t, twoEntryMaps, "byID", map[any]any{int64(7): "seven"}, "byFlag", map[any]any{true: nil, false: int32(0)})},
		{"struct nested", order, structOf(t, order, "id", int64(1), "shipping", addr, "billing", nil,
			"lines", []any{structOf(t, line, "sku", "A-1", "qty", int16(2), "price", maxDec),
				structOf(t, line, "sku", "B-2", "qty", int16(-1), "price", minDec)},
			"attrs", map[string]any{"gift": "yes", "note": nil},
			"placed", time.UnixMilli(1700000000123).UTC(), "created", int64(1700000000123456))},
		{"struct optional nil", address.AsOptional(), nil},
		{"struct defaults", withDefaults, structOf(t, withDefaults)},
		{"struct self default", selfDefault, nil},
		{"struct defaults of long, bytes, decimal", exactDefaults, structOf(t, exactDefaults)},
		{"struct anonymous", anon, structOf(t, anon, "a", structOf(t, anonA.Schema, "b", "x"), "c", nil)},
		{"struct name not an avro name", dashed, structOf(t, dashed, "id", int32(5))},
		{"decimal 65,30 max", stream.DecimalSchema(30), maxDec},
		{"decimal 65,30 min", stream.DecimalSchema(30), minDec},
		{"decimal zero", stream.DecimalSchema(30), bigDec(t, "0", 30)},
		{"decimal negative scale", stream.DecimalSchema(-3), stream.NewDecimal(-12, -3)},
		{"decimal -128", stream.DecimalSchema(0), stream.NewDecimal(-128, 0)},
		{"decimal -129", stream.DecimalSchema(0), stream.NewDecimal(-129, 0)},
		{"decimal 128", stream.DecimalSchema(0), stream.NewDecimal(128, 0)},
		{"date epoch", stream.DateSchema(), time.Unix(0, 0).UTC()},
		{"date before epoch", stream.DateSchema(), time.Date(1900, 2, 28, 0, 0, 0, 0, time.UTC)},
		{"date max", stream.DateSchema(), time.Unix(int64(math.MaxInt32)*86400, 0).UTC()},
		{"time midnight", stream.TimeSchema(), time.Unix(0, 0).UTC()},
		{"time last ms", stream.TimeSchema(), time.UnixMilli(86400000 - 1).UTC()},
		{"timestamp min", stream.TimestampSchema(), time.UnixMilli(math.MinInt64).UTC()},
		{"timestamp max", stream.TimestampSchema(), time.UnixMilli(math.MaxInt64).UTC()},
		{"timestamp before epoch", stream.TimestampSchema(), time.UnixMilli(-1).UTC()},
		{"micro timestamp", stream.Int64Schema().WithName(avro.MicroTimestampName), int64(1700000000123456)},
		{"micro timestamp before epoch", stream.Int64Schema().WithName(avro.MicroTimestampName), int64(-1)},
		{"micro time", stream.Int64Schema().WithName(avro.MicroTimeName), int64(86399999999)},
		{"optional logical nil", stream.TimestampSchema().AsOptional(), nil},
		{"optional with default", stream.StringSchema().AsOptional().WithDefault("d"), "x"},
		{"metadata nested", stream.ArrayOf(stream.Int8Schema().WithName("n").WithVersion(-2).WithDoc("d\"oc").
			WithParameter("b", "2").WithParameter("a", "1")).WithName("arr"), []any{int8(1)}},
	}
	// Decimals of precision 38 at every scale, with the largest and smallest unscaled values.
	nines := strings.Repeat("9", 38)
	for scale := 0; scale <= 38; scale++ {
		s := stream.DecimalSchema(scale).WithParameter("connect.decimal.precision", "38")
		cases = append(cases,
			roundTripCase{fmt.Sprintf("decimal 38,%d max", scale), s, bigDec(t, nines, int32(scale))},
			roundTripCase{fmt.Sprintf("decimal 38,%d min", scale), s, bigDec(t, "-"+nines, int32(scale))},
			roundTripCase{fmt.Sprintf("decimal 38,%d -1", scale), s, bigDec(t, "-1", int32(scale))})
	}
	return cases
}

// withDefaults returns a copy of s whose nil fields hold their field's default, as decoders return them.
func withDefaults(t testing.TB, s *stream.Struct) *stream.Struct {
	c, err := stream.NewStructValue(s.Schema())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range s.Schema().Fields {
		if err := c.Put(f.Name, s.Get(f.Name)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestRoundTrip writes every case through the avro codec bound to a topic and Sluice's embedded registry,
// reads it back, and expects the same schema and value, the same bytes when the decoded value is written
// again, and a registered schema that StreamSchema maps back to the original.
func TestRoundTrip(t *testing.T) {
	reg := openRegistry(t, "")
	for i, tt := range roundTripCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.schema.Validate(tt.v); err != nil {
				t.Fatalf("test value does not validate: %v", err)
			}
			text, err := avro.SchemaFor(tt.schema)
			if err != nil {
				t.Fatal(err)
			}
			back, err := avro.StreamSchema(text)
			if err != nil {
				t.Fatalf("StreamSchema(%s): %v", text, err)
			}
			if !back.Equal(tt.schema) {
				t.Errorf("StreamSchema(SchemaFor(s)) differs:\n got %+v\nwant %+v\navro %s", back, tt.schema, text)
			}
			codec := bind(t, reg, fmt.Sprintf("rt%d", i), false, "")
			v := tt.v
			if v == nil { // nil would be a tombstone: write the default explicitly
				v = tt.schema.Default
			}
			if v == nil {
				// An optional nil inside a one-field struct exercises the null branch instead.
				holder := stream.NewStruct("holder").Field("v", tt.schema).MustBuild()
				tt.schema, v = holder, structOf(t, holder)
			}
			data, err := codec.Encode(tt.schema, v)
			if err != nil {
				t.Fatalf("Encode: %v (avro %s)", err, text)
			}
			if len(data) < 5 || data[0] != 0 {
				t.Fatalf("not Confluent's wire format: % x", data)
			}
			// An independent Avro implementation reads the body with the registered schema.
			written, err := avro.SchemaFor(tt.schema)
			if err != nil {
				t.Fatal(err)
			}
			hs, err := hamba.ParseWithCache(written, "", &hamba.SchemaCache{})
			if err != nil {
				t.Fatalf("hamba/avro refuses the schema: %v\n%s", err, written)
			}
			var generic any
			if err := hamba.Unmarshal(hs, data[5:], &generic); err != nil {
				t.Errorf("hamba/avro cannot read the body % x: %v", data[5:], err)
			}
			schema, got, err := codec.Decode(data)
			if err != nil {
				t.Fatalf("Decode(% x): %v (avro %s)", data, err, text)
			}
			want := v
			if st, ok := want.(*stream.Struct); ok {
				want = withDefaults(t, st)
			}
			if !schema.Equal(tt.schema) {
				t.Errorf("schema changed:\n got %+v\nwant %+v\navro %s", schema, tt.schema, text)
			}
			if !stream.EqualValues(got, want) {
				t.Errorf("value changed:\n got %v\nwant %v", got, want)
			}
			again, err := codec.Encode(schema, got)
			if err != nil || !bytes.Equal(again, data) {
				t.Errorf("re-encoding differs: %v\n got % x\nwant % x", err, again, data)
			}
		})
	}
}

// exactRegistry is a stream.SchemaRegistry that keeps each schema's text exactly as registered, with one id
// per distinct text and no compatibility rule: a test double where the embedded registry's rules are beside
// the point (Confluent's registry serves a normalized text, as the embedded one does).
type exactRegistry struct {
	mu    sync.Mutex
	texts []string
	calls int
}

func (r *exactRegistry) Register(ctx context.Context, subject string, s stream.RegisteredSchema) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if i := slices.Index(r.texts, s.Schema); i >= 0 {
		return i + 1, nil
	}
	r.texts = append(r.texts, s.Schema)
	return len(r.texts), nil
}

func (r *exactRegistry) SchemaByID(ctx context.Context, id int) (stream.RegisteredSchema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if id < 1 || id > len(r.texts) {
		return stream.RegisteredSchema{}, fmt.Errorf("schema %d not found", id)
	}
	return stream.RegisteredSchema{Type: "AVRO", Schema: r.texts[id-1]}, nil
}
