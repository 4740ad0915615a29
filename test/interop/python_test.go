package interop_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/formats/avro"
	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// avroEverythingSchema is everythingSchema (every type of the data model) plus the Debezium types the avro
// codec maps onto Avro logical types: timestamp-micros, time-micros and uuid.
var avroEverythingSchema = func() *stream.Schema {
	b := stream.NewStruct("sluice.interop.AvroEverything")
	for _, f := range everythingSchema.Fields {
		b.Field(f.Name, f.Schema)
	}
	return b.
		Field("micro_at", &stream.Schema{Type: stream.TypeInt64, Name: avro.MicroTimestampName, Version: 1}).
		Field("micro_clock", &stream.Schema{Type: stream.TypeInt64, Name: avro.MicroTimeName, Version: 1}).
		Field("uid", &stream.Schema{Type: stream.TypeString, Name: avro.UUIDName, Version: 1}).
		MustBuild()
}()

// avroEverything returns record i of the Avro test: everything(i)'s fields and the Debezium-typed ones.
func avroEverything(i int) *stream.Struct {
	base := everything(i)
	v := mustStruct(avroEverythingSchema,
		"micro_at", []int64{0, 1764538480123456, -1, -62135596800000000, 253402300799999999, 1}[i],
		"micro_clock", []int64{0, 86399999999, 1, 43200000001, 500000, 3600000000}[i],
		"uid", []string{"00000000-0000-0000-0000-000000000000", "0b7e6a52-8a4e-4c39-9a6b-1f2d3c4b5a69",
			"ffffffff-ffff-ffff-ffff-ffffffffffff", "123e4567-e89b-12d3-a456-426614174000",
			"6ba7b810-9dad-11d1-80b4-00c04fd430c8", "f47ac10b-58cc-4372-a567-0e02b2c3d479"}[i])
	for _, f := range everythingSchema.Fields {
		if err := v.Put(f.Name, base.Get(f.Name)); err != nil {
			panic(err)
		}
	}
	return v
}

// pythonClient returns the venv's python and test/python/avro_interop.py; the test fails when `make
// python-venv` has not been run.
func pythonClient(t *testing.T) (python, script string) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "test", "python")
	python = filepath.Join(dir, ".venv", "bin", "python")
	if _, err := os.Stat(filepath.Join(dir, ".venv", ".complete")); err != nil {
		t.Fatalf("Confluent's Python client is not installed in %s: run `make python-venv` (make test-interop does)", filepath.Join(dir, ".venv"))
	}
	return python, filepath.Join(dir, "avro_interop.py")
}

// runPython runs avro_interop.py with args and returns its standard output.
func runPython(t *testing.T, args ...string) string {
	t.Helper()
	python, script := pythonClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, append([]string{script}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python avro_interop.py %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// registryServed reports whether the pipeline's operator API at addr answers GET /subjects (the
// embedded schema registry is open).
func registryServed(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/subjects", nil)
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// TestInteropPythonConsumesSluiceAvroTopic: a pipeline writes records of every type the avro mapping
// supports to a topic declared with ValueCodec("avro"), registering the schema in its embedded registry;
// Confluent's Python client (confluent-kafka's AvroDeserializer with a SchemaRegistryClient on the
// pipeline's operator API) consumes the topic and gets the same values.
func TestInteropPythonConsumesSluiceAvroTopic(t *testing.T) {
	requireInterop(t)
	pythonClient(t)
	brokers := testkit.Brokers(t, 1)
	httpAddr := testkit.FreeAddr(t)

	const topic = "avro-everything"
	top := numberedPipeline(t, "avro-out", topic, "avro", avroEverythingSchema, avroEverything)
	p := startPipeline(t, top, brokers, httpAddr)
	p.waitFor(t, "the topic complete", func() bool { return topicCount(t, brokers, topic) >= everythingRecords })
	p.waitFor(t, "its registry served", func() bool { return registryServed(httpAddr) })
	out := runPython(t, "consume", strings.Join(brokers, ","), topic, "http://"+httpAddr, strconv.Itoa(everythingRecords), "60")
	p.stop(t)

	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != everythingRecords {
		t.Fatalf("the Python client read %d records, want %d:\n%s", len(got), everythingRecords, out)
	}
	for i, line := range got {
		var rec struct {
			Offset   int64
			SchemaID int `json:"schema_id"`
			Schema   json.RawMessage
			Value    any
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("record %d: %v: %s", i, err, line)
		}
		if i == 0 {
			t.Logf("the writer schema the Python client got from Sluice's registry (id %d): %s", rec.SchemaID, rec.Schema)
		}
		want := pythonTagged(avroEverythingSchema, avroEverything(i))
		if gotValue := normalisePython(rec.Value); !reflect.DeepEqual(gotValue, normaliseExpected(want)) {
			g, _ := json.Marshal(gotValue)
			w, _ := json.Marshal(normaliseExpected(want))
			t.Errorf("record %d (offset %d): the Python client read\n%s\nwant\n%s", i, rec.Offset, g, w)
		}
	}
}

// pythonTagged is what avro_interop.py prints for value v of schema s, as fastavro decodes what the avro
// codec writes: integers (int8 and int16 included) as ints, floats as Python floats (a float32 widened),
// decimals with their scale, Date as date, Time (millis) and MicroTime as time, Timestamp and
// MicroTimestamp as UTC datetime, Uuid as UUID, maps with string keys and structs as dicts, other maps as
// lists of {key, value} records.
func pythonTagged(s *stream.Schema, v any) any {
	if v == nil {
		return nil
	}
	switch s.Name {
	case stream.DecimalName:
		return map[string]any{"decimal": v.(stream.Decimal).String()}
	case stream.DateName:
		return map[string]any{"date": v.(time.Time).UTC().Format("2006-01-02")}
	case stream.TimeName:
		return map[string]any{"time": pythonTime(v.(time.Time).UTC())}
	case stream.TimestampName:
		return map[string]any{"datetime": pythonDateTime(v.(time.Time).UTC())}
	case avro.MicroTimestampName:
		return map[string]any{"datetime": pythonDateTime(time.UnixMicro(v.(int64)).UTC())}
	case avro.MicroTimeName:
		return map[string]any{"time": pythonTime(time.UnixMicro(v.(int64)).UTC())}
	case avro.UUIDName:
		return map[string]any{"uuid": strings.ToLower(v.(string))}
	}
	switch s.Type {
	case stream.TypeInt8, stream.TypeInt16, stream.TypeInt32, stream.TypeInt64:
		return map[string]any{"int": fmt.Sprint(v)}
	case stream.TypeFloat32:
		return map[string]any{"float": floatBits(float64(v.(float32)))}
	case stream.TypeFloat64:
		return map[string]any{"float": floatBits(v.(float64))}
	case stream.TypeBytes:
		return map[string]any{"bytes": base64.StdEncoding.EncodeToString(v.([]byte))}
	case stream.TypeArray:
		items := []any{}
		for _, item := range v.([]any) {
			items = append(items, pythonTagged(s.Items, item))
		}
		return items
	case stream.TypeMap:
		if m, ok := v.(map[string]any); ok {
			obj := map[string]any{}
			for k, val := range m {
				obj[k] = pythonTagged(s.Value, val)
			}
			return map[string]any{"object": obj}
		}
		entries := []any{}
		for k, val := range v.(map[any]any) {
			entries = append(entries, map[string]any{"object": map[string]any{
				"key": pythonTagged(s.Key, k), "value": pythonTagged(s.Value, val)}})
		}
		return entries
	case stream.TypeStruct:
		st := v.(*stream.Struct)
		obj := map[string]any{}
		for _, f := range s.Fields {
			obj[f.Name] = pythonTagged(f.Schema, st.Get(f.Name))
		}
		return map[string]any{"object": obj}
	}
	return v // bool, string
}

// pythonTime is datetime.time.isoformat(): HH:MM:SS, then .ffffff when there are microseconds.
func pythonTime(t time.Time) string {
	s := t.Format("15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s
}

// pythonDateTime is datetime.isoformat() of a UTC datetime.
func pythonDateTime(t time.Time) string {
	return t.Format("2006-01-02") + "T" + pythonTime(t) + "+00:00"
}

// floatBits names a float64 exactly: the hex of its IEEE bits.
func floatBits(f float64) string { return "0x" + strconv.FormatUint(math.Float64bits(f), 16) }

// normalisePython turns the Python client's {"float": repr} into {"float": bits} and sorts lists of map
// entries ({key, value} records), whose order is the writer's map order.
func normalisePython(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if r, ok := x["float"].(string); ok && len(x) == 1 {
			f, err := strconv.ParseFloat(r, 64)
			if err != nil {
				return x
			}
			return map[string]any{"float": floatBits(f)}
		}
		out := map[string]any{}
		for k, val := range x {
			out[k] = normalisePython(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = normalisePython(item)
		}
		return sortEntries(out)
	}
	return v
}

// normaliseExpected gives an expected value the form a decoded JSON value has (and sorted map entries).
func normaliseExpected(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return normalisePython(out)
}

// sortEntries sorts a list of {"object": {"key", "value"}} records by their JSON text; other lists stay.
func sortEntries(items []any) []any {
	for _, item := range items {
		m, ok := item.(map[string]any)
		if !ok || len(m) != 1 {
			return items
		}
		obj, ok := m["object"].(map[string]any)
		if !ok || len(obj) != 2 {
			return items
		}
		if _, ok := obj["key"]; !ok {
			return items
		}
	}
	slices.SortFunc(items, func(a, b any) int {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return bytes.Compare(ja, jb)
	})
	return items
}

// TestInteropSluiceReadsPythonAvroSerializerTopic: Confluent's Python client writes a topic with its
// AvroSerializer (its own schema: decimal, date, timestamp-micros and uuid logical types, a nested record,
// an array, a map and a nullable union), registering the schema in the embedded registry of a running
// pipeline; that pipeline's flow reads the topic (ValueCodec("avro")) into a file sink, and the file holds
// the values the client wrote.
func TestInteropSluiceReadsPythonAvroSerializerTopic(t *testing.T) {
	requireInterop(t)
	pythonClient(t)
	brokers := testkit.Brokers(t, 1)
	httpAddr := testkit.FreeAddr(t)
	testkit.CreateTopic(t, brokers, "payments", 1) // the Python client's topic exists before it writes

	out := filepath.Join(t.TempDir(), "payments.jsonl")
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	top := topology.New("avro-in")
	payments := top.Topic("payments", topology.ValueCodec("avro"))
	top.Flow("to-file").From(payments).To(sink)

	p := startPipeline(t, top, brokers, httpAddr)
	p.waitFor(t, "its registry served", func() bool { return registryServed(httpAddr) })
	id := strings.TrimSpace(runPython(t, "produce", strings.Join(brokers, ","), payments.Name(), "http://"+httpAddr))
	t.Logf("the Python client registered its schema as id %s", id)
	var got []string
	p.waitFor(t, "the file complete", func() bool { got = fileLines(out); return len(got) >= len(wantPayments) })
	p.stop(t)

	if len(got) != len(wantPayments) {
		t.Fatalf("the file sink holds %d lines, want %d:\n%s", len(got), len(wantPayments), strings.Join(got, "\n"))
	}
	for i := range wantPayments {
		if got[i] != wantPayments[i] {
			t.Errorf("payment %d: the flow wrote\n%s\nwant\n%s", i+1, got[i], wantPayments[i])
		}
	}
}

// wantPayments are the file sink's lines for avro_interop.py's PAYMENTS: fields in the writer schema's
// order; decimals with every digit and their scale (Java's BigDecimal notation, so -0.000000001 is -1E-9);
// date as days since 1970-01-01 and timestamp-micros as microseconds since the epoch (the json codec writes
// logical types as their Avro/Connect encodings); uuid as its text; bytes as base64; the float (rate) in
// its shortest float32 text, negative zero kept; map keys sorted.
var wantPayments = []string{
	`{"id":1,"amount":12345678901234567890123456789.123456789,"booked":20787,"at":1796074480123456,` +
		`"ref":"0b7e6a52-8a4e-4c39-9a6b-1f2d3c4b5a69","payer":{"name":"Ada Lovelace","country":"GB","score":0.1},` +
		`"tags":["card","eur"],"limits":{"daily":1000,"monthly":9223372036854775807},"memo":"first – Grüße",` +
		`"rate":1.5,"active":true,"blob":"AAH/"}`,
	`{"id":2,"amount":-1E-9,"booked":-1,"at":-1,"ref":"00000000-0000-0000-0000-000000000000",` +
		`"payer":{"name":"","country":"JP","score":-2.5E-300},"tags":[],"limits":{},"memo":null,"rate":-0.0,` +
		`"active":false,"blob":""}`,
	`{"id":3,"amount":99999999999999999999999999999.999999999,"booked":2932896,"at":2147483648000001,` +
		`"ref":"ffffffff-ffff-ffff-ffff-ffffffffffff","payer":{"name":"日本","country":"","score":1.0E300},` +
		`"tags":["x"],"limits":{"":-1},"memo":"","rate":3.4028235E38,"active":true,"blob":"Ynl0ZXM="}`,
}

// fileLines returns the lines of a file; none while it does not exist.
func fileLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
