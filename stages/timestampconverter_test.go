package stages_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Cases ported from Kafka Connect's TimestampConverterTest.java are named after the Java test they come
// from, and use its constants: a day and 1234 milliseconds after the epoch, and its string format.
var (
	tsDate         = ftTime(millisPerDay)
	tsTime         = ftTime(1234)
	tsDatePlusTime = ftTime(millisPerDay + 1234)
)

const (
	tsDatePlusTimeUnix   = int64(millisPerDay + 1234)
	tsStringFormat       = "yyyy MM dd HH mm ss SSS z"
	tsDatePlusTimeString = "1970 01 02 00 00 01 234 UTC"
)

func tsConverter(t *testing.T, cfg stages.TimestampConverterConfig, opts ...stages.FieldOption) stages.Stage {
	t.Helper()
	s, err := stages.TimestampConverter("ts", cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTimestampConverterConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg     stages.TimestampConverterConfig
		mention []string
	}{
		"testConfigNoTargetType":      {stages.TimestampConverterConfig{}, []string{"Target"}},
		"testConfigInvalidTargetType": {stages.TimestampConverterConfig{Target: "invalid"}, []string{"Target", "invalid"}},
		"lower-case timestamp":        {stages.TimestampConverterConfig{Target: "timestamp"}, []string{"Target"}},
		"testConfigMissingFormat":     {stages.TimestampConverterConfig{Target: stages.TimestampString}, []string{"Format"}},
		"blank format":                {stages.TimestampConverterConfig{Target: stages.TimestampString, Format: "  "}, []string{"Format"}},
		"testConfigInvalidFormat":     {stages.TimestampConverterConfig{Target: stages.TimestampString, Format: "bad-format"}, []string{"Format", "'b'"}},
		"unsupported letter":          {stages.TimestampConverterConfig{Target: stages.TimestampUnix, Format: "yyyy-ww"}, []string{"Format", "'w'", "not supported"}},
		"unterminated quote":          {stages.TimestampConverterConfig{Target: stages.TimestampUnix, Format: "yyyy'T"}, []string{"Format", "quote"}},
		"unknown precision":           {stages.TimestampConverterConfig{Target: stages.TimestampUnix, UnixPrecision: "minutes"}, []string{"UnixPrecision", "minutes"}},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := stages.TimestampConverter("ts", tc.cfg)
			ftConfigErr(t, s, err, tc.mention...)
			ftConfigErr(t, nil, tc.cfg.Validate(), tc.mention...)
		})
	}
}

// testSchemaless*: conversions without schemas.
func TestTimestampConverterSchemaless(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  stages.TimestampConverterConfig
		in   any
		want any
	}{
		{"testSchemalessIdentity", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp}, tsDatePlusTime, tsDatePlusTime},
		{"testSchemalessTimestampToDate", stages.TimestampConverterConfig{Target: stages.TimestampDate}, tsDatePlusTime, tsDate},
		{"testSchemalessTimestampToTime", stages.TimestampConverterConfig{Target: stages.TimestampTime}, tsDatePlusTime, tsTime},
		{"testSchemalessTimestampToUnix", stages.TimestampConverterConfig{Target: stages.TimestampUnix}, tsDatePlusTime, tsDatePlusTimeUnix},
		{"testSchemalessTimestampToString", stages.TimestampConverterConfig{Target: stages.TimestampString, Format: tsStringFormat}, tsDatePlusTime, tsDatePlusTimeString},
		{"testSchemalessDateToTimestamp", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp}, tsDate, tsDate},
		{"testSchemalessTimeToTimestamp", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp}, tsTime, tsTime},
		{"testSchemalessUnixToTimestamp", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp}, tsDatePlusTimeUnix, tsDatePlusTime},
		{"testSchemalessStringToTimestamp", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp, Format: tsStringFormat}, tsDatePlusTimeString, tsDatePlusTime},
		{"testSchemalessNullValueConversion", stages.TimestampConverterConfig{Target: stages.TimestampUnix}, nil, nil},
		// unix.precision, both ways
		{"seconds to Timestamp", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp, UnixPrecision: stages.UnixSeconds}, int64(86401), ftTime(86401000)},
		{"micros to Timestamp", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp, UnixPrecision: stages.UnixMicroseconds}, int64(86401234123), tsDatePlusTime},
		{"nanos to Timestamp", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp, UnixPrecision: stages.UnixNanoseconds}, int64(86401234123456), tsDatePlusTime},
		{"Timestamp to seconds", stages.TimestampConverterConfig{Target: stages.TimestampUnix, UnixPrecision: stages.UnixSeconds}, tsDatePlusTime, int64(86401)},
		{"Timestamp to micros", stages.TimestampConverterConfig{Target: stages.TimestampUnix, UnixPrecision: stages.UnixMicroseconds}, tsDatePlusTime, int64(86401234000)},
		{"Timestamp to nanos", stages.TimestampConverterConfig{Target: stages.TimestampUnix, UnixPrecision: stages.UnixNanoseconds}, tsDatePlusTime, int64(86401234000000)},
		{"micros truncate toward zero", stages.TimestampConverterConfig{Target: stages.TimestampUnix, UnixPrecision: stages.UnixMicroseconds}, int64(-1500), int64(-1000)},
		{"nanos saturate", stages.TimestampConverterConfig{Target: stages.TimestampUnix, UnixPrecision: stages.UnixNanoseconds}, ftTime(1 << 62), int64(1<<63 - 1)},
		{"sub-millisecond input is truncated", stages.TimestampConverterConfig{Target: stages.TimestampUnix}, time.Unix(0, 1_999_999).UTC(), int64(1)},
		{"string to unix", stages.TimestampConverterConfig{Target: stages.TimestampUnix, Format: tsStringFormat}, tsDatePlusTimeString, tsDatePlusTimeUnix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := ftRun(t, tsConverter(t, tc.cfg), stream.Record{Value: tc.in})
			if out.ValueSchema != nil {
				t.Errorf("schema %v", out.ValueSchema)
			}
			ftSameValue(t, "value", out.Value, tc.want)
		})
	}
}

// testWithSchema*: conversions with schemas.
func TestTimestampConverterWithSchema(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        stages.TimestampConverterConfig
		schema     *stream.Schema
		in         any
		wantSchema *stream.Schema
		want       any
	}{
		{"testWithSchemaIdentity", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp}, stream.TimestampSchema(), tsDatePlusTime, stream.TimestampSchema(), tsDatePlusTime},
		{"testWithSchemaTimestampToDate", stages.TimestampConverterConfig{Target: stages.TimestampDate}, stream.TimestampSchema(), tsDatePlusTime, stream.DateSchema(), tsDate},
		{"testWithSchemaTimestampToTime", stages.TimestampConverterConfig{Target: stages.TimestampTime}, stream.TimestampSchema(), tsDatePlusTime, stream.TimeSchema(), tsTime},
		{"testWithSchemaTimestampToUnix", stages.TimestampConverterConfig{Target: stages.TimestampUnix}, stream.TimestampSchema(), tsDatePlusTime, stream.Int64Schema(), tsDatePlusTimeUnix},
		{"testWithSchemaTimestampToString", stages.TimestampConverterConfig{Target: stages.TimestampString, Format: tsStringFormat}, stream.TimestampSchema(), tsDatePlusTime, stream.StringSchema(), tsDatePlusTimeString},
		{"testWithSchemaDateToTimestamp", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp}, stream.DateSchema(), tsDate, stream.TimestampSchema(), tsDate},
		{"testWithSchemaTimeToTimestamp", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp}, stream.TimeSchema(), tsTime, stream.TimestampSchema(), tsTime},
		{"testWithSchemaUnixToTimestamp", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp}, stream.Int64Schema(), tsDatePlusTimeUnix, stream.TimestampSchema(), tsDatePlusTime},
		{"testWithSchemaStringToTimestamp", stages.TimestampConverterConfig{Target: stages.TimestampTimestamp, Format: tsStringFormat}, stream.StringSchema(), tsDatePlusTimeString, stream.TimestampSchema(), tsDatePlusTime},
		{"testWithSchemaNullValueToUnix", stages.TimestampConverterConfig{Target: stages.TimestampUnix}, stream.TimestampSchema().AsOptional(), nil, stream.Int64Schema().AsOptional(), nil},
		{"optional stays optional", stages.TimestampConverterConfig{Target: stages.TimestampDate}, stream.Int64Schema().AsOptional(), tsDatePlusTimeUnix, stream.DateSchema().AsOptional(), tsDate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := ftRun(t, tsConverter(t, tc.cfg), stream.Record{ValueSchema: tc.schema, Value: tc.in})
			ftSameSchema(t, "schema", out.ValueSchema, tc.wantSchema)
			ftSameValue(t, "value", out.Value, tc.want)
			if err := out.ValueSchema.Validate(out.Value); err != nil {
				t.Error(err)
			}
		})
	}
}

// testSchemalessFieldConversion, testWithSchemaFieldConversion, testKey
func TestTimestampConverterField(t *testing.T) {
	s := tsConverter(t, stages.TimestampConverterConfig{Target: stages.TimestampDate, Field: "ts"})
	out := ftRun(t, s, stream.Record{Value: map[string]any{"ts": tsDatePlusTime, "other": "x"}})
	ftSameValue(t, "schemaless", out.Value, map[string]any{"ts": tsDate, "other": "x"})
	out = ftRun(t, s, stream.Record{Value: map[string]any{"other": "x"}})
	ftSameValue(t, "schemaless without the field", out.Value, map[string]any{"other": "x"})
	ftRunErr(t, s, stream.Record{Value: "text"}, "value", "string")

	toTimestamp := tsConverter(t, stages.TimestampConverterConfig{Target: stages.TimestampTimestamp, Field: "ts"})
	schema := stream.NewStruct("ev").Field("ts", stream.Int64Schema()).Field("other", stream.StringSchema()).MustBuild()
	out = ftRun(t, toTimestamp, stream.Record{ValueSchema: schema, Value: ftStruct(t, schema, "ts", tsDatePlusTimeUnix, "other", "test")})
	want := stream.NewStruct("ev").Field("ts", stream.TimestampSchema()).Field("other", stream.StringSchema()).MustBuild()
	ftSameSchema(t, "schema", out.ValueSchema, want)
	ftSameValue(t, "value", out.Value, ftStruct(t, want, "ts", tsDatePlusTime, "other", "test"))

	// A nil struct keeps the converted schema; a nil field stays nil.
	optional := stream.NewStruct("ev").Field("ts", stream.Int64Schema().AsOptional()).Optional().MustBuild()
	out = ftRun(t, toTimestamp, stream.Record{ValueSchema: optional})
	ftSameSchema(t, "nil struct schema", out.ValueSchema, stream.NewStruct("ev").Field("ts", stream.TimestampSchema().AsOptional()).Optional().MustBuild())
	if out.Value != nil {
		t.Errorf("value %v", out.Value)
	}
	out = ftRun(t, toTimestamp, stream.Record{ValueSchema: optional, Value: ftStruct(t, optional)})
	ftSameValue(t, "nil field", out.Value.(*stream.Struct).Get("ts"), nil)

	// A struct default is converted too; a field default is dropped, as in Connect.
	base := stream.NewStruct("ev").Field("ts", stream.Int64Schema().AsOptional().WithDefault(int64(5))).MustBuild()
	withDefault := base.WithDefault(ftStruct(t, base, "ts", int64(1000)))
	out = ftRun(t, toTimestamp, stream.Record{ValueSchema: withDefault, Value: ftStruct(t, withDefault)})
	ftSameValue(t, "field default used", out.Value.(*stream.Struct).Get("ts"), ftTime(5))
	ftSameValue(t, "struct default", out.ValueSchema.Default.(*stream.Struct).Get("ts"), ftTime(1000))
	if f, _ := out.ValueSchema.Field("ts"); f.Schema.Default != nil {
		t.Errorf("field default %v kept", f.Schema.Default)
	}

	key := tsConverter(t, stages.TimestampConverterConfig{Target: stages.TimestampTimestamp}, stages.OnKey())
	out = ftRun(t, key, stream.Record{Key: tsDatePlusTime})
	ftSameValue(t, "key", out.Key, tsDatePlusTime)
}

func TestTimestampConverterErrors(t *testing.T) {
	unix := tsConverter(t, stages.TimestampConverterConfig{Target: stages.TimestampUnix})
	ftRunErr(t, unix, stream.Record{Value: int32(5)}, "value", "int32")
	ftRunErr(t, unix, stream.Record{Value: "2024-01-01"}, "value", "no Format")
	ftRunErr(t, unix, stream.Record{ValueSchema: stream.Int32Schema(), Value: int32(5)}, "value", "not a timestamp")
	ftRunErr(t, unix, stream.Record{ValueSchema: stream.TimestampSchema(), Value: int64(5)}, "value", "must be a timestamp, not int64")
	parse := tsConverter(t, stages.TimestampConverterConfig{Target: stages.TimestampUnix, Format: "yyyy-MM-dd", Field: "d"})
	ftRunErr(t, parse, stream.Record{Value: map[string]any{"d": "01/02/2024"}}, `value field "d"`, `"01/02/2024"`, `"yyyy-MM-dd"`)
}

// Formatting and parsing with SimpleDateFormat patterns, in UTC.
func TestTimestampConverterFormats(t *testing.T) {
	at := time.Date(2001, 7, 4, 19, 8, 56, 235e6, time.UTC)
	for _, tc := range []struct {
		format, text string
		parsed       time.Time // zero: at
	}{
		{"yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2001-07-04T19:08:56.235+0000", time.Time{}},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2001-07-04T19:08:56.235Z", time.Time{}},
		{"EEE, d MMM yyyy HH:mm:ss.SSS Z", "Wed, 4 Jul 2001 19:08:56.235 +0000", time.Time{}},
		{"EEEE, MMMM d, yyyy h:mm:ss.SSS a z", "Wednesday, July 4, 2001 7:08:56.235 PM UTC", time.Time{}},
		{"yyyyMMddHHmmssSSS", "20010704190856235", time.Time{}},
		{"yyyy.MM.dd G 'at' HH:mm:ss.SSS zzzz", "2001.07.04 AD at 19:08:56.235 Coordinated Universal Time", time.Time{}},
		{"hh 'o''clock' a, yy-D", "07 o'clock PM, 01-185", time.Date(2001, 7, 4, 19, 0, 0, 0, time.UTC)},
		{"K:mm a, k", "7:08 PM, 19", time.Date(1970, 1, 1, 19, 8, 0, 0, time.UTC)},
		{"u SSSSSS", "3 000235", time.Date(1970, 1, 1, 0, 0, 0, 235e6, time.UTC)},
	} {
		toString := tsConverter(t, stages.TimestampConverterConfig{Target: stages.TimestampString, Format: tc.format})
		ftSameValue(t, "format "+tc.format, ftRun(t, toString, stream.Record{Value: at}).Value, tc.text)
		want := tc.parsed
		if want.IsZero() {
			want = at
		}
		toTimestamp := tsConverter(t, stages.TimestampConverterConfig{Target: stages.TimestampTimestamp, Format: tc.format})
		ftSameValue(t, "parse "+tc.text, ftRun(t, toTimestamp, stream.Record{Value: tc.text}).Value, want)
	}

	// Parsing is lenient like SimpleDateFormat's: zones and offsets, rolling over, text after the pattern.
	for _, tc := range []struct {
		format, text string
		want         time.Time
	}{
		{"yyyy-MM-dd HH:mm Z", "2001-07-04 12:08 -0700", time.Date(2001, 7, 4, 19, 8, 0, 0, time.UTC)},
		{"yyyy-MM-dd HH:mm XXX", "2001-07-04 21:08 +02:00", time.Date(2001, 7, 4, 19, 8, 0, 0, time.UTC)},
		{"yyyy-MM-dd HH:mm z", "2001-07-04 21:08 GMT+02:00", time.Date(2001, 7, 4, 19, 8, 0, 0, time.UTC)},
		{"yyyy-MM-dd", "2001-13-32", time.Date(2002, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"yyyy-MM-dd", "2001-07-04T19:08:56", time.Date(2001, 7, 4, 0, 0, 0, 0, time.UTC)},
		{"yyyy-MM-dd", "2001-7-4", time.Date(2001, 7, 4, 0, 0, 0, 0, time.UTC)},
		{"dd MMM yyyy", "04 jul 2001", time.Date(2001, 7, 4, 0, 0, 0, 0, time.UTC)},
		{"d MMM yyyy G", "1 Jan 44 BC", time.Date(-43, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		toTimestamp := tsConverter(t, stages.TimestampConverterConfig{Target: stages.TimestampTimestamp, Format: tc.format})
		ftSameValue(t, "parse "+tc.text, ftRun(t, toTimestamp, stream.Record{Value: tc.text}).Value, tc.want)
	}
}

func TestTimestampConverterFieldNeedsAStruct(t *testing.T) {
	s := tsConverter(t, stages.TimestampConverterConfig{Target: stages.TimestampUnix, Field: "ts"})
	ftRunErr(t, s, stream.Record{ValueSchema: stream.Int64Schema(), Value: int64(1)}, "value", "must be a struct")
	schema := stream.NewStruct("").Field("ts", stream.Int64Schema()).MustBuild()
	ftRunErr(t, s, stream.Record{ValueSchema: schema, Value: map[string]any{"ts": int64(1)}}, "value", "must be a struct")
	bad := stream.NewStruct("").Field("ts", stream.BooleanSchema()).MustBuild()
	ftRunErr(t, s, stream.Record{ValueSchema: bad, Value: ftStruct(t, bad, "ts", true)}, `field "ts"`, "not a timestamp")
}
