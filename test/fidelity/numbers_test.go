package fidelity_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

var db *mariadbtest.Server

func TestMain(m *testing.M) {
	srv, err := mariadbtest.Launch()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	db = srv
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// columns of fidelity.numbers after id: every numeric type of MariaDB, signed and unsigned.
var columns = []string{"ti", "tiu", "si", "siu", "mi", "miu", "i", "iu", "bi", "biu", "d65", "d12", "f", "dbl"}

const createTable = `CREATE TABLE fidelity.numbers (id INT PRIMARY KEY,
	ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
	i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, d65 DECIMAL(65,30), d12 DECIMAL(12,2), f FLOAT, dbl DOUBLE)`

// rows are SQL literals for the columns, by id. FLOAT's largest value is written 3.402823466e38 because
// MariaDB refuses the shortest text of float32's maximum, 3.4028235e38, as out of range.
var rows = map[int][]string{
	1: {"-128", "0", "-32768", "0", "-8388608", "0", "-2147483648", "0", "-9223372036854775808", "0",
		"-99999999999999999999999999999999999.999999999999999999999999999999", "-9999999999.99", "-3.402823466e38",
		"-1.7976931348623157e308"},
	2: {"127", "255", "32767", "65535", "8388607", "16777215", "2147483647", "4294967295", "9223372036854775807",
		"18446744073709551615", "99999999999999999999999999999999999.999999999999999999999999999999", "9999999999.99",
		"3.402823466e38", "1.7976931348623157e308"},
	3: {"0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"},
	4: {"1", "1", "1", "1", "1", "1", "1", "1", "9007199254740993", "9007199254740993",
		"12345678901234567890123456789012345.123456789012345678901234567890", "2.00", "0.1", "0.1"},
	5: {"-1", "2", "-2", "3", "-3", "4", "-4", "5", "-9007199254740993", "9223372036854775808",
		"1234567890123456789.12", "-0.01", "1.17549435e-38", "1e-300"},
	6: {"42", "200", "-300", "40000", "-4000000", "9000000", "-50000000", "3000000000", "1234567890123456789",
		"12345678901234567890", "-0.000000000000000000000000000001", "0.10", "16777217", "2.2250738585072014e-308"},
	7: {"NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"},
}

func insertRow(id int, values []string) string {
	return fmt.Sprintf("INSERT INTO fidelity.numbers VALUES (%d, %s)", id, strings.Join(values, ", "))
}

func updateRow(id int, values []string) string {
	set := make([]string, len(columns))
	for i, c := range columns {
		set[i] = c + " = " + values[i]
	}
	return fmt.Sprintf("UPDATE fidelity.numbers SET %s WHERE id = %d", strings.Join(set, ", "), id)
}

// held is what MariaDB holds, per id and column, as text: CAST(col AS CHAR), except for FLOAT, whose text
// MariaDB prints with 6 significant digits only (3.40282e38): there it is the shortest text of the float32
// the column holds (read exactly as CAST(f AS DOUBLE)), which is what a float32 is written as. NULL is
// "null".
func held(t *testing.T) map[string]map[string]string {
	t.Helper()
	exprs := []string{"CAST(id AS CHAR)"}
	for _, c := range columns {
		if c == "f" {
			exprs = append(exprs, "CAST(CAST(f AS DOUBLE) AS CHAR)")
		} else {
			exprs = append(exprs, "CAST("+c+" AS CHAR)")
		}
	}
	rs, err := db.DB().Query("SELECT " + strings.Join(exprs, ", ") + " FROM fidelity.numbers")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := map[string]map[string]string{}
	for rs.Next() {
		vals := make([]sql.NullString, len(exprs))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for i, c := range columns {
			v := vals[i+1]
			switch {
			case !v.Valid:
				row[c] = "null"
			case c == "f":
				d, err := strconv.ParseFloat(v.String, 64)
				if err != nil || float64(float32(d)) != d {
					t.Fatalf("FLOAT of id %s read as %q, which is not a float32", vals[0].String, v.String)
				}
				row[c] = strconv.FormatFloat(d, 'g', -1, 32)
			default:
				row[c] = v.String
			}
		}
		out[vals[0].String] = row
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// exactColumn reports whether a column's digits must be kept with their scale (integers and DECIMAL: "2.00"
// is not "2.0"); for FLOAT and DOUBLE the decimal value of the text must be the same, in any notation
// (3.4028235E38, 3.4028235e+38, 340282350000000000000000000000000000000).
func exactColumn(c string) bool { return c != "f" && c != "dbl" }

// sameNumber compares a number as a sink wrote it (JSON number text, or a string for decimals an
// Elasticsearch mapping keeps as keyword) with what MariaDB holds. This is the documented normalisation:
// both texts are read as exact decimals (no float parsing); for integers and DECIMAL columns the digits
// and the scale must be equal, for FLOAT and DOUBLE the value.
func sameNumber(column, got, want string) bool {
	if got == want {
		return true
	}
	g, err1 := stream.ParseDecimal(got)
	w, err2 := stream.ParseDecimal(want)
	if err1 != nil || err2 != nil {
		return false
	}
	if exactColumn(column) {
		return g.Equal(w)
	}
	return g.Cmp(w) == 0
}

// parseDoc reads a JSON document with numbers as their text; strings stay strings, null is "null".
func parseDoc(data []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			out[k] = "null"
		case json.Number:
			out[k] = string(x)
		case string:
			out[k] = x
		default:
			out[k] = fmt.Sprintf("unexpected %T %v", v, v)
		}
	}
	return out, nil
}

// diff lists how docs (by id) differ from what MariaDB holds; empty when every digit is equal.
func diff(want, got map[string]map[string]string) []string {
	var out []string
	for id, row := range want {
		doc, ok := got[id]
		if !ok {
			out = append(out, fmt.Sprintf("id %s: missing", id))
			continue
		}
		for _, c := range columns {
			if !sameNumber(c, doc[c], row[c]) {
				out = append(out, fmt.Sprintf("id %s %s: got %s, MariaDB holds %s", id, c, doc[c], row[c]))
			}
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			out = append(out, fmt.Sprintf("id %s: not in MariaDB", id))
		}
	}
	sort.Strings(out)
	return out
}

// fileDocs reads the file sink's lines; a later line for an id replaces an earlier one.
func fileDocs(path string) (map[string]map[string]string, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		doc, err := parseDoc(line)
		if err != nil {
			return nil, fmt.Errorf("%s: line %q: %w", path, line, err)
		}
		out[doc["id"]] = doc
	}
	return out, nil
}

// esDocs reads every document's _source from index, over HTTP with go-elasticsearch.
func esDocs(ctx context.Context, client *es.Client, index string) (map[string]map[string]string, error) {
	if res, err := client.Indices.Refresh(client.Indices.Refresh.WithIndex(index), client.Indices.Refresh.WithContext(ctx)); err == nil {
		res.Body.Close()
	}
	res, err := client.Search(client.Search.WithContext(ctx), client.Search.WithIndex(index), client.Search.WithSize(1000))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode == 404 {
		return map[string]map[string]string{}, nil
	}
	if res.IsError() {
		return nil, fmt.Errorf("search %s: %s", index, body)
	}
	var r struct {
		Hits struct {
			Hits []struct {
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, h := range r.Hits.Hits {
		doc, err := parseDoc(h.Source)
		if err != nil {
			return nil, fmt.Errorf("_source %s: %w", h.Source, err)
		}
		out[doc["id"]] = doc
	}
	return out, nil
}

// TestEveryNumericTypeKeepsItsDigits is acceptance 2 of issue 23: every numeric type of MariaDB (TINYINT to
// BIGINT, signed and UNSIGNED, at their minimum, maximum and zero; DECIMAL(65,30) with 35 integer and 30
// fraction digits; DECIMAL(12,2); FLOAT; DOUBLE), captured by the mysql source from the snapshot and then
// from the binlog, through each codec that carries rows (json, json-schema) into a file sink and into
// Elasticsearch (the embedded esserver server, read back over HTTP), arrives with the digits MariaDB holds.
func TestEveryNumericTypeKeepsItsDigits(t *testing.T) {
	db.CreateDatabase(t, "fidelity")
	db.Exec(t, createTable)
	for id := 1; id <= len(rows); id++ {
		db.Exec(t, insertRow(id, rows[id]))
	}
	want := held(t)
	t.Logf("MariaDB holds, as text: id 2: %v", want["2"])
	var floatText string
	if err := db.DB().QueryRow("SELECT CAST(f AS CHAR) FROM fidelity.numbers WHERE id = 2").Scan(&floatText); err == nil {
		t.Logf("MariaDB's own text of FLOAT 3.402823466e38 is %s; the float32 it holds is %s", floatText, want["2"]["f"])
	}

	srv, err := esserver.Start(esserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, err := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	no := false
	tp := topology.New("fidelity")
	type target struct{ name, path, index string }
	var targets []target
	for i, codec := range []string{"json", "json-schema"} {
		src, err := mysql.New(mysql.Config{DSN: db.DSN(""), ServerID: uint32(4100 + i), Tables: []string{"fidelity.numbers"},
			TopicPrefix: "fid-" + codec, SchemaChanges: &no, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		topic := tp.Topic(src.Topic("fidelity.numbers"), topology.KeyCodec(codec), topology.ValueCodec(codec))
		tp.Source("cdc-"+codec, src).To(topic)

		path := filepath.Join(dir, codec+".jsonl")
		fileSink, err := file.New(file.Config{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		esCfg := elasticsearch.Config{URLs: []string{srv.URL()}, Index: "numbers-" + codec, RetryTimeout: time.Minute, Logger: quiet}
		if codec == "json" {
			// Without a schema, Elasticsearch's dynamic mapping would map the BIGINT UNSIGNED column as long from
			// its first value and refuse 18446744073709551615, as Elasticsearch does: that is the mapping's
			// business, not the digits'. The documents' _source is what this test reads.
			esCfg.Mappings = json.RawMessage(`{"dynamic":false}`)
		}
		esSink, err := elasticsearch.New(esCfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, flow := range []struct {
			name string
			sink sinks.Sink
		}{{"file-" + codec, fileSink}, {"es-" + codec, esSink}} {
			unwrap, err := stages.Unwrap("unwrap", stages.UnwrapConfig{})
			if err != nil {
				t.Fatal(err)
			}
			tp.Flow(flow.name).From(topic).Via(unwrap).To(flow.sink)
		}
		targets = append(targets, target{"file sink via " + codec, path, ""}, target{"Elasticsearch via " + codec, "", esCfg.Index})
	}

	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger = testkit.Brokers(t, 1), "off", quiet
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	stopped := false
	defer func() {
		cancel()
		if !stopped {
			if err := <-done; err != nil {
				t.Errorf("RunWith: %v", err)
			}
		}
	}()

	converge := func(phase string, want map[string]map[string]string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for _, tg := range targets {
			for {
				var got map[string]map[string]string
				var err error
				if tg.path != "" {
					got, err = fileDocs(tg.path)
				} else {
					rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
					got, err = esDocs(rctx, client, tg.index)
					rcancel()
				}
				var problems []string
				if err == nil {
					problems = diff(want, got)
					if len(problems) == 0 {
						t.Logf("%s: %s: %d rows, every digit equal to MariaDB's", phase, tg.name, len(got))
						break
					}
				}
				if time.Now().After(deadline) {
					if err != nil {
						t.Fatalf("%s: %s: %v", phase, tg.name, err)
					}
					t.Fatalf("%s: %s differs from MariaDB in %d values:\n%s", phase, tg.name, len(problems), strings.Join(problems, "\n"))
				}
				select {
				case err := <-done:
					stopped = true
					t.Fatalf("%s: pipeline stopped: %v", phase, err)
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
	}
	converge("snapshot", want)
	for _, tg := range targets {
		if data, err := os.ReadFile(tg.path); err == nil && tg.path != "" {
			for _, line := range strings.Split(string(data), "\n") {
				if strings.Contains(line, `"id":2,`) || strings.Contains(line, `"id":2}`) {
					t.Logf("%s wrote id 2 as %s", tg.name, line)
				}
			}
		}
	}

	// The same values again through the binlog: inserts, and updates of rows the snapshot copied.
	var stmts []string
	for id := 1; id <= len(rows); id++ {
		stmts = append(stmts, insertRow(100+id, rows[id]))
	}
	stmts = append(stmts, updateRow(3, rows[2]), updateRow(2, rows[5]), updateRow(7, rows[1]), updateRow(1, rows[7]))
	db.Exec(t, stmts...)
	converge("binlog", held(t))
}
