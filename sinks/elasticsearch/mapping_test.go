package elasticsearch_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

// everySchema carries every type and logical type the sink maps, as Connect and Debezium name them.
func everySchema() *stream.Schema {
	named := func(typ stream.Type, name string) *stream.Schema { return &stream.Schema{Type: typ, Name: name} }
	variable := stream.NewStruct("io.debezium.data.VariableScaleDecimal").
		Field("scale", stream.Int32Schema()).Field("value", stream.BytesSchema()).MustBuild()
	nested := stream.NewStruct("shop.customer").Field("id", stream.Int64Schema()).
		Field("since", named(stream.TypeInt64, "io.debezium.time.MicroTimestamp")).Optional().MustBuild()
	return stream.NewStruct("shop.every").
		Field("id", stream.Int64Schema()).
		Field("i8", stream.Int8Schema()).Field("i16", stream.Int16Schema()).Field("i32", stream.Int32Schema()).
		Field("f32", stream.Float32Schema()).Field("f64", stream.Float64Schema()).
		Field("flag", stream.BooleanSchema()).Field("name", stream.StringSchema()).Field("raw", stream.BytesSchema()).
		Field("amount", stream.DecimalSchema(2).WithParameter("connect.decimal.precision", "12")).
		Field("huge", stream.DecimalSchema(30).WithParameter("connect.decimal.precision", "65")).
		Field("noprec", stream.DecimalSchema(3)).
		Field("variable", variable).
		Field("day", stream.DateSchema()).Field("clock", stream.TimeSchema()).Field("ts", stream.TimestampSchema()).
		Field("dbz_day", named(stream.TypeInt32, "io.debezium.time.Date")).
		Field("dbz_ts", named(stream.TypeInt64, "io.debezium.time.Timestamp")).
		Field("created_at", named(stream.TypeInt64, "io.debezium.time.MicroTimestamp")).
		Field("nano_ts", named(stream.TypeInt64, "io.debezium.time.NanoTimestamp")).
		Field("zoned", named(stream.TypeString, "io.debezium.time.ZonedTimestamp")).
		Field("duration", named(stream.TypeInt64, "io.debezium.time.MicroTime")).
		Field("tags", stream.ArrayOf(stream.StringSchema())).
		Field("attrs", stream.MapOf(stream.StringSchema(), stream.StringSchema())).
		Field("customer", nested).
		Field("missing", named(stream.TypeInt64, "io.debezium.time.MicroTimestamp").AsOptional()).
		MustBuild()
}

func mustDecimal(t *testing.T, s string) stream.Decimal {
	t.Helper()
	d, err := stream.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// everyRecord is document id with created_at at the given time.
func everyRecord(t *testing.T, schema *stream.Schema, id int64, created time.Time) stream.Record {
	t.Helper()
	v, _ := stream.NewStructValue(schema)
	customerField, _ := schema.Field("customer")
	customer, _ := stream.NewStructValue(customerField.Schema)
	variableField, _ := schema.Field("variable")
	variable, _ := stream.NewStructValue(variableField.Schema)
	put := func(st *stream.Struct, name string, x any) {
		if err := st.Put(name, x); err != nil {
			t.Fatal(err)
		}
	}
	put(customer, "id", int64(7))
	put(customer, "since", int64(1_700_000_000_123_456))
	put(variable, "scale", int32(4))
	put(variable, "value", []byte{0xf8, 0xa4, 0x32, 0xeb}) // -123456789 in two's complement
	for name, x := range map[string]any{
		"id": id, "i8": int8(-8), "i16": int16(1600), "i32": int32(320000), "f32": float32(1.5), "f64": 2.25,
		"flag": true, "name": `Ada "the first"`, "raw": []byte{0, 1, 2, 255},
		"amount": mustDecimal(t, "1234567890.12"), "huge": mustDecimal(t, "12345678901234567890123456789012345.123456789012345678901234567890"),
		"noprec": mustDecimal(t, "-0.005"), "variable": variable,
		"day":        time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		"clock":      time.Date(1970, 1, 1, 15, 7, 15, 123e6, time.UTC),
		"ts":         time.Date(2026, 11, 30, 15, 7, 15, 123e6, time.UTC),
		"dbz_day":    int32(20787), // 2026-11-30
		"dbz_ts":     int64(1796051235123),
		"created_at": created.UnixMicro(),
		"nano_ts":    int64(1796051235123456789),
		"zoned":      "2026-11-30T15:07:15.123456Z",
		"duration":   int64(-3_600_000_000),
		"tags":       []any{"a", "b"},
		"attrs":      map[string]any{"k": "v"},
		"customer":   customer,
	} {
		put(v, name, x)
	}
	return stream.Record{Topic: "every", Key: id, Value: v, ValueSchema: schema, Offset: id, Operation: stream.OpCreate}
}

func getJSON(t *testing.T, client *es.Client, method, path, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Perform(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	var out map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// at walks a decoded JSON document along a dotted path.
func at(doc any, path string) any {
	for _, p := range strings.Split(path, ".") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[p]
	}
	return doc
}

func searchIDs(t *testing.T, client *es.Client, index, query string) []string {
	t.Helper()
	r := getJSON(t, client, "POST", "/"+index+"/_search", `{"query":`+query+`,"sort":[{"id":"asc"}]}`)
	var ids []string
	for _, h := range at(r, "hits.hits").([]any) {
		ids = append(ids, h.(map[string]any)["_id"].(string))
	}
	return ids
}

// The sink creates the index with the mapping derived from a schema carrying every type and logical type
// (the table in the package documentation), writes values that mapping parses without loss, and range
// queries on the dates and the scaled_float work.
func TestSchemaMappingEveryLogicalType(t *testing.T) {
	testSchemaMappingEveryLogicalType(t, embeddedTarget(t))
}

func TestSchemaMappingEveryLogicalTypeInteropOpenSearch(t *testing.T) {
	testSchemaMappingEveryLogicalType(t, openSearchTarget(t, "every"))
}

func testSchemaMappingEveryLogicalType(t *testing.T, tg target) {
	sink := tg.newSink(t, elasticsearch.Config{Index: "{topic}", Refresh: "true"})
	schema := everySchema()
	now := time.Now().UTC()
	recs := []stream.Record{
		everyRecord(t, schema, 1, time.Date(2026, 11, 29, 23, 59, 59, 999999e3, time.UTC)),
		everyRecord(t, schema, 2, time.Date(2026, 11, 30, 15, 7, 15, 123456e3, time.UTC)),
		everyRecord(t, schema, 3, now.Add(time.Hour)),
	}
	if err := sink.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	client := tg.client(t)
	m := getJSON(t, client, "GET", "/every/_mapping", "")
	want := map[string]string{
		"id": "long", "i8": "byte", "i16": "short", "i32": "integer", "f32": "float", "f64": "double",
		"flag": "boolean", "name": "text", "raw": "binary", "amount": "scaled_float", "huge": "keyword",
		"noprec": "keyword", "variable": "keyword", "day": "date", "clock": "date", "ts": "date",
		"dbz_day": "date", "dbz_ts": "date", "created_at": "date", "nano_ts": "date", "zoned": "date",
		"duration": "long", "tags": "text", "attrs": "object", "customer.id": "long", "customer.since": "date",
		"missing": "date",
	}
	for field, typ := range want {
		path := "every.mappings.properties." + strings.ReplaceAll(field, ".", ".properties.") + ".type"
		if field == "attrs" {
			if got := at(m, "every.mappings.properties.attrs"); got == nil {
				t.Errorf("attrs: no mapping")
			}
			continue
		}
		if got := at(m, path); got != typ {
			t.Errorf("%s mapped %v, want %s", field, got, typ)
		}
	}
	// Elasticsearch answers 100, OpenSearch 100.0: the same number.
	if got, _ := at(m, "every.mappings.properties.amount.scaling_factor").(json.Number); got.String() != "100" && got.String() != "100.0" {
		t.Errorf("amount scaling_factor %v, want 100", got)
	}
	if got := at(m, "every.mappings.properties.name.fields.keyword.ignore_above"); got != json.Number("256") {
		t.Errorf("name.keyword ignore_above %v, want 256", got)
	}

	src := at(getJSON(t, client, "GET", "/every/_doc/2", ""), "_source")
	wantSource := map[string]any{
		"amount": json.Number("1234567890.12"), "huge": "12345678901234567890123456789012345.123456789012345678901234567890",
		"noprec": "-0.005", "variable": "-12345.6789", "day": "2026-11-30", "clock": "1970-01-01T15:07:15.123Z",
		"ts": "2026-11-30T15:07:15.123Z", "dbz_day": "2026-11-30", "dbz_ts": "2026-11-30T15:07:15.123Z",
		"created_at": "2026-11-30T15:07:15.123456Z", "nano_ts": "2026-11-30T15:07:15.123456789Z",
		"zoned": "2026-11-30T15:07:15.123456Z", "duration": json.Number("-3600000000"), "raw": "AAEC/w==",
		"name": `Ada "the first"`, "i8": json.Number("-8"), "f32": json.Number("1.5"), "missing": nil,
		"customer.since": "2023-11-14T22:13:20.123456Z",
	}
	for field, v := range wantSource {
		if got := at(src, field); got != v {
			t.Errorf("_source %s = %#v, want %#v", field, got, v)
		}
	}

	for _, c := range []struct {
		name, query string
		want        []string
	}{
		{"microsecond bounds", `{"range":{"created_at":{"gte":"2026-11-30T00:00:00Z","lt":"2026-11-30T15:07:16Z"}}}`, []string{"2"}},
		{"date only", `{"range":{"created_at":{"lt":"2026-11-30"}}}`, []string{"1"}},
		{"date math", `{"range":{"created_at":{"gte":"now"}}}`, []string{"3"}},
		{"scaled_float", `{"range":{"amount":{"gte":1234567890.12,"lte":1234567890.12}}}`, []string{"1", "2", "3"}},
		{"decimal keyword", `{"term":{"huge":"12345678901234567890123456789012345.123456789012345678901234567890"}}`, []string{"1", "2", "3"}},
		{"nested date", `{"range":{"customer.since":{"gte":"2023-11-14","lt":"2023-11-15"}}}`, []string{"1", "2", "3"}},
	} {
		if got := searchIDs(t, client, "every", c.query); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: %s found %v, want %v", c.name, c.query, got, c.want)
		}
	}
}

// An index that exists with other types is not changed: each differing field is reported once, naming the
// index, the field, the existing and the wanted type, and written as the json codec writes it (the form
// the index was built from, here epoch microseconds into a long), so that no document is refused; fields
// the index lacks are added.
func TestSchemaMappingChecksExistingIndex(t *testing.T) {
	testSchemaMappingChecksExistingIndex(t, embeddedTarget(t))
}

func TestSchemaMappingChecksExistingIndexInteropOpenSearch(t *testing.T) {
	testSchemaMappingChecksExistingIndex(t, openSearchTarget(t, "every"))
}

func testSchemaMappingChecksExistingIndex(t *testing.T, tg target) {
	client := tg.client(t)
	getJSON(t, client, "PUT", "/every", `{"mappings":{"properties":{"amount":{"type":"float"},"created_at":{"type":"long"},"id":{"type":"long"}}}}`)
	var logs testkit.LogBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	sink := tg.newSink(t, elasticsearch.Config{Index: "{topic}", Logger: logger})
	schema := stream.NewStruct("s").Field("id", stream.Int64Schema()).
		Field("amount", stream.DecimalSchema(2).WithParameter("connect.decimal.precision", "12")).
		Field("day", stream.DateSchema()).
		Field("created_at", &stream.Schema{Type: stream.TypeInt64, Name: "io.debezium.time.MicroTimestamp"}).MustBuild()
	rec := func(id int64) stream.Record {
		v, _ := stream.NewStructValue(schema)
		_ = v.Put("id", id)
		_ = v.Put("amount", stream.NewDecimal(4200, 2))
		_ = v.Put("day", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
		_ = v.Put("created_at", int64(1796051235123456))
		return stream.Record{Topic: "every", Key: id, Value: v, ValueSchema: schema, Offset: id}
	}
	for i := range int64(3) {
		if err := sink.Write(context.Background(), []stream.Record{rec(i)}); err != nil {
			t.Fatal(err)
		}
	}
	m := getJSON(t, client, "GET", "/every/_mapping", "")
	if got := at(m, "every.mappings.properties.amount.type"); got != "float" {
		t.Errorf("existing amount mapping changed to %v", got)
	}
	if got := at(m, "every.mappings.properties.day.type"); got != "date" {
		t.Errorf("missing field day mapped %v, want date (added from the schema)", got)
	}
	if got := at(m, "every.mappings.properties.created_at.type"); got != "long" {
		t.Errorf("existing created_at mapping changed to %v", got)
	}
	src := at(getJSON(t, client, "GET", "/every/_doc/2", ""), "_source")
	if got := at(src, "created_at"); got != json.Number("1796051235123456") {
		t.Errorf("created_at written as %#v into the existing long field, want the epoch microseconds", got)
	}
	if got := at(src, "day"); got != "2026-11-30" {
		t.Errorf("day (no conflict) written as %#v, want an ISO date", got)
	}
	if got := at(src, "amount"); got != json.Number("42.00") {
		t.Errorf("amount written as %#v, want 42.00", got)
	}
	amount := logs.Lines("another type", "index=every", "field=amount", "existing=float", `wanted="scaled_float (scaling_factor 100)"`)
	created := logs.Lines("another type", "index=every", "field=created_at", "existing=long", "wanted=date")
	if len(amount) != 1 || len(created) != 1 || len(logs.Lines("another type")) != 2 {
		t.Errorf("want one warning naming index, field, existing and wanted type for amount and for created_at:\n%s", logs.String())
	}
}

// Config.Mappings wins over the derived mapping; IgnoreSchema writes and maps as before; DecimalMapping
// chooses the decimal type.
func TestSchemaMappingOptions(t *testing.T) {
	schema := stream.NewStruct("s").Field("id", stream.Int64Schema()).Field("small", stream.Int8Schema()).
		Field("amount", stream.DecimalSchema(2).WithParameter("connect.decimal.precision", "12")).
		Field("created_at", &stream.Schema{Type: stream.TypeInt64, Name: "io.debezium.time.MicroTimestamp"}).MustBuild()
	v, _ := stream.NewStructValue(schema)
	_ = v.Put("id", int64(1))
	_ = v.Put("small", int8(1))
	_ = v.Put("amount", stream.NewDecimal(4200, 2))
	_ = v.Put("created_at", int64(1796051235123456))
	rec := stream.Record{Topic: "t", Key: int64(1), Value: v, ValueSchema: schema}
	for _, c := range []struct {
		name string
		cfg  elasticsearch.Config
		want map[string]any // mapping type or _source value by field
	}{
		{"user mappings win", elasticsearch.Config{Index: "t", Mappings: json.RawMessage(`{"properties":{"amount":{"type":"keyword"}}}`)},
			map[string]any{"amount": "keyword", "small": "long", "_source.created_at": "2026-11-30T15:07:15.123456Z"}},
		{"ignore schema", elasticsearch.Config{Index: "t", IgnoreSchema: true},
			map[string]any{"amount": "float", "created_at": "long", "_source.created_at": json.Number("1796051235123456")}},
		{"decimal keyword", elasticsearch.Config{Index: "t", DecimalMapping: elasticsearch.DecimalKeyword},
			map[string]any{"amount": "keyword", "small": "byte", "_source.amount": "42.00"}},
		{"decimal double", elasticsearch.Config{Index: "t", DecimalMapping: elasticsearch.DecimalDouble},
			map[string]any{"amount": "double", "_source.amount": json.Number("42.00")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startServer(t)
			c.cfg.URLs, c.cfg.Refresh = []string{srv.URL()}, "true"
			sink := newSink(t, c.cfg)
			if err := sink.Write(context.Background(), []stream.Record{rec}); err != nil {
				t.Fatal(err)
			}
			client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
			m := getJSON(t, client, "GET", "/t/_mapping", "")
			src := at(getJSON(t, client, "GET", "/t/_doc/1", ""), "_source")
			for field, want := range c.want {
				var got any
				if f, ok := strings.CutPrefix(field, "_source."); ok {
					got = at(src, f)
				} else {
					got = at(m, "t.mappings.properties."+field+".type")
				}
				if got != want {
					t.Errorf("%s = %#v, want %#v", field, got, want)
				}
			}
		})
	}
}

// An index template that resolves to several indices gives each its derived mapping.
func TestSchemaMappingPerTemplateIndex(t *testing.T) {
	srv := startServer(t)
	sink := newSink(t, elasticsearch.Config{URLs: []string{srv.URL()}, Index: "orders-{field:region}"})
	schema := stream.NewStruct("s").Field("region", stream.StringSchema()).
		Field("created_at", &stream.Schema{Type: stream.TypeInt64, Name: "io.debezium.time.MicroTimestamp"}).MustBuild()
	var recs []stream.Record
	for i, region := range []string{"eu", "us", "eu"} {
		v, _ := stream.NewStructValue(schema)
		_ = v.Put("region", region)
		_ = v.Put("created_at", int64(1796051235123456))
		recs = append(recs, stream.Record{Topic: "t", Key: int64(i), Value: v, ValueSchema: schema, Offset: int64(i)})
	}
	if err := sink.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	for _, index := range []string{"orders-eu", "orders-us"} {
		m := getJSON(t, client, "GET", "/"+index+"/_mapping", "")
		if got := at(m, index+".mappings.properties.created_at.type"); got != "date" {
			t.Errorf("%s: created_at mapped %v, want date", index, got)
		}
	}
}

// Credentials that may write documents but not read or create mappings (a common API key) still write
// the documents; the missing derived mapping is reported once, not silently.
func TestSchemaMappingWithoutMappingPrivileges(t *testing.T) {
	srv := startServer(t)
	target, _ := url.Parse(srv.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_mapping") || (r.Method == http.MethodPut && strings.Count(r.URL.Path, "/") == 1) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":{"type":"security_exception","reason":"action [indices:admin/mappings/get] is unauthorized for API key id [x]"},"status":403}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	var logs testkit.LogBuffer
	sink := newSink(t, elasticsearch.Config{URLs: []string{front.URL}, Index: "t", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	schema := stream.NewStruct("s").Field("id", stream.Int64Schema()).MustBuild()
	for i := range int64(3) {
		v, _ := stream.NewStructValue(schema)
		_ = v.Put("id", i)
		if err := sink.Write(context.Background(), []stream.Record{{Topic: "t", Key: i, Value: v, ValueSchema: schema, Offset: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if st := sink.Stats(); st.Indexed != 3 {
		t.Errorf("%d documents indexed, want 3", st.Indexed)
	}
	if n := len(logs.Lines("may not read or create the index mapping")); n != 1 {
		t.Errorf("%d warnings about the mapping privileges, want 1:\n%s", n, logs.String())
	}
}
