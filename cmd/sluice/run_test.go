package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/testkit"
)

// `sluice run` moves a MariaDB table into Elasticsearch with one command: every row becomes a document
// (the snapshot), then an insert, an update and a delete made afterwards reach the index (the binlog), and
// Ctrl-C (SIGINT) stops it with status 0.
func TestRunMariaDBToElasticsearch(t *testing.T) {
	bin := buildSluice(t)
	db := mariadbtest.Start(t)
	const rows = 2000
	db.Exec(t, "CREATE DATABASE shop",
		`CREATE TABLE shop.orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, customer VARCHAR(64) NOT NULL,
			amount DECIMAL(12,2) NOT NULL, status VARCHAR(16) NOT NULL)`,
		fmt.Sprintf(`INSERT INTO shop.orders (customer, amount, status)
			SELECT CONCAT('customer ', seq), seq / 100, IF(seq %% 3 = 0, 'paid', 'new') FROM shop.seq_1_to_%d`, rows))
	es, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0", RefreshInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()

	dir := t.TempDir()
	cmd := exec.Command(bin, "run", "--name", "orders-es", "--from", "mysql", "--mysql-dsn", db.DSN(""),
		"--tables", "shop.orders", "--to", "elasticsearch", "--es-url", es.URL(), "--index", "orders")
	brokerAddr := testkit.FreeAddr(t)
	cmd.Env = append(os.Environ(), "SLUICE_DATA_DIR="+filepath.Join(dir, "data"), "SLUICE_BROKER_ADDR="+brokerAddr,
		"SLUICE_HTTP_ADDR="+testkit.FreeAddr(t))
	kafkaEnv := testkit.KafkaEnv(t, 1)
	cmd.Env = append(cmd.Env, kafkaEnv...)
	for _, kv := range kafkaEnv {
		if v, ok := strings.CutPrefix(kv, "SLUICE_BROKERS="); ok {
			brokerAddr = v
		}
	}
	stderr := &testkit.LogBuffer{}
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("sluice run's stderr:\n%s", stderr.String())
		}
	}()

	converge := func(what string) {
		t.Helper()
		want := ordersFromDB(t, db.DB())
		waitFor(t, 90*time.Second, what, func() string {
			select {
			case err := <-exited:
				t.Fatalf("sluice run exited: %v\n%s", err, stderr.String())
			default:
			}
			got, err := indexedOrders(es.URL())
			if err != nil {
				return err.Error()
			}
			return diffOrders(want, got)
		})
	}
	if n, err := estimateRows(context.Background(), db.DSN(""), []string{"shop.orders"}); err != nil || n < rows/2 || n > rows*2 {
		t.Errorf("estimated rows of shop.orders: %d, %v; want about %d (the progress bar's total)", n, err, rows)
	}
	converge(fmt.Sprintf("the %d rows as documents", rows))
	t.Logf("%d rows indexed %v after start (binary start, embedded broker, snapshot, index)", rows, time.Since(began).Round(time.Millisecond))

	// The raw change events stay in Kafka: tail decodes them with their codec (Debezium's envelope).
	r := sluice(t, bin, nil, "tail", "orders-es.shop.orders", "--codec", "json-schema", "-n", "1", "-o", "json", "--brokers", brokerAddr)
	var rec tailRecord
	if err := json.Unmarshal([]byte(r.stdout), &rec); r.code != 0 || err != nil || string(rec.Key) != `{"id":1}` ||
		!strings.Contains(string(rec.Value), `"after":{"id":1,"customer":"customer 1","amount":0.01,"status":"new"}`) ||
		!strings.Contains(string(rec.Value), `"op":"r"`) {
		t.Errorf("tail of the table's topic: %v\n%s", err, r)
	}

	db.Exec(t, "INSERT INTO shop.orders (customer, amount, status) VALUES ('late', 12.34, 'new')",
		"UPDATE shop.orders SET status = 'shipped', amount = 99.99 WHERE id = 7",
		"DELETE FROM shop.orders WHERE id = 8")
	converge("the insert, update and delete after the snapshot")

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("sluice run after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("sluice run still running 60s after SIGINT")
	}
	if !strings.Contains(stderr.String(), "sluice run: pipeline orders-es: mysql shop.orders -> elasticsearch") {
		t.Errorf("sluice run's first line is missing:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "level=ERROR") {
		t.Errorf("sluice run logged an error:\n%s", stderr.String())
	}
}

// order is a row of shop.orders as the tests compare it with its document.
type order struct {
	customer, status string
	amount           *big.Rat
}

func ordersFromDB(t *testing.T, db *sql.DB) map[string]order {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := db.QueryContext(ctx, "SELECT id, customer, CAST(amount AS CHAR), status FROM shop.orders")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := map[string]order{}
	for rs.Next() {
		var id, customer, amount, status string
		if err := rs.Scan(&id, &customer, &amount, &status); err != nil {
			t.Fatal(err)
		}
		a, ok := new(big.Rat).SetString(amount)
		if !ok {
			t.Fatalf("amount %q", amount)
		}
		out[id] = order{customer: customer, status: status, amount: a}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// indexedOrders reads every document of the orders index (nil, nil while it does not exist).
func indexedOrders(url string) (map[string]order, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	get := func(method, path string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, url+path, nil)
		if err != nil {
			return nil, err
		}
		return http.DefaultClient.Do(req)
	}
	res, err := get(http.MethodPost, "/orders/_refresh")
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	res, err = get(http.MethodGet, "/orders/_search?size=10000")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var body struct {
		Hits struct {
			Hits []struct {
				ID     string `json:"_id"`
				Source struct {
					Customer string      `json:"customer"`
					Status   string      `json:"status"`
					Amount   json.Number `json:"amount"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	dec := json.NewDecoder(res.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("_search answered %s: %v", res.Status, err)
	}
	out := map[string]order{}
	for _, h := range body.Hits.Hits {
		a, ok := new(big.Rat).SetString(string(h.Source.Amount))
		if !ok {
			return nil, fmt.Errorf("document %s: amount %q", h.ID, h.Source.Amount)
		}
		out[h.ID] = order{customer: h.Source.Customer, status: h.Source.Status, amount: a}
	}
	return out, nil
}

// diffOrders says how got differs from want ("" when equal), naming at most a few ids.
func diffOrders(want, got map[string]order) string {
	var diffs []string
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			diffs = append(diffs, "missing "+id)
		case g.customer != w.customer || g.status != w.status || g.amount.Cmp(w.amount) != 0:
			diffs = append(diffs, fmt.Sprintf("%s is %s/%s/%s, want %s/%s/%s", id, g.customer, g.status, g.amount.FloatString(2),
				w.customer, w.status, w.amount.FloatString(2)))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, "extra "+id)
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("... (%d differences)", len(diffs)))
	}
	return fmt.Sprintf("%d documents for %d rows: %s", len(got), len(want), strings.Join(diffs, "; "))
}

// Bad settings fail before anything starts, naming the flag; a --config file sets flags by name and the
// command line wins over it.
func TestRunSettings(t *testing.T) {
	dir := t.TempDir()
	config := func(text string) string {
		path := filepath.Join(dir, fmt.Sprintf("c%d.yaml", time.Now().UnixNano()))
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--from", "file", "--path", "x", "--to", "file", "--out", "y"}, "--name is required"},
		{[]string{"run", "--name", "p", "--from", "kafka", "--to", "file"}, `--from "kafka"`},
		{[]string{"run", "--name", "p", "--from", "mysql", "--mysql-dsn", "u@tcp(h:3306)/", "--to", "file", "--out", "y"}, "--tables is required"},
		{[]string{"run", "--name", "p", "--from", "mysql", "--mysql-dsn", "u@tcp(h:3306)/", "--tables", "orders", "--to", "file", "--out", "y"}, `--tables "orders": want db.table`},
		{[]string{"run", "--name", "p", "--from", "mysql", "--mysql-dsn", "not a dsn", "--tables", "a.b", "--to", "file", "--out", "y"}, "--mysql-dsn"},
		{[]string{"run", "--name", "p", "--from", "file", "--path", "x", "--to", "elasticsearch", "--es-url", "localhost:9200"}, "--es-url"},
		{[]string{"run", "--name", "p", "--from", "file", "--path", "x", "--tables", "a.b", "--to", "file", "--out", "y"}, "--tables is for --from mysql"},
		{[]string{"run", "--name", "p", "--from", "topic", "--topic", "x", "--to", "topic", "--to-topic", "x"}, "--to-topic \"x\" is the input"},
		{[]string{"run", "--config", config("name: p\nfrom: file\npath: [a.log, b.log]\nto: file\nouts: y\n")}, `unknown setting "outs"`},
		{[]string{"run", "--config", config("name: p\nfrom: mysql\nto: file\nout: y\n")}, "--mysql-dsn is required"},
		{[]string{"run", "--config", config(`{"name": "p", "from": "mysql", "to": "file", "out": "y"}`), "--from", "file"}, "--path is required"},
		{[]string{"run", "--config", filepath.Join(dir, "missing.yaml")}, "--config"},
	} {
		_, err := run(t, context.Background(), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sluice %s: err = %v, want one containing %s", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// startRun starts `sluice run` with args on the given Kafka and returns a function that stops it with
// SIGINT and checks that it exited with status 0; its stderr is logged when the test fails.
func startRun(t *testing.T, bin string, brokers []string, args ...string) (stop func()) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	cmd.Env = append(os.Environ(), "SLUICE_BROKERS="+strings.Join(brokers, ","), "SLUICE_HTTP_ADDR="+testkit.FreeAddr(t),
		"SLUICE_DATA_DIR="+filepath.Join(t.TempDir(), "data"))
	stderr := &testkit.LogBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("sluice run %s:\n%s", strings.Join(args, " "), stderr.String())
		}
	})
	return func() {
		t.Helper()
		stopped = true
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("sluice run %s after SIGINT: %v\n%s", strings.Join(args, " "), err, stderr.String())
			}
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("sluice run %s still running 60s after SIGINT", strings.Join(args, " "))
		}
	}
}

// The other connectors of `sluice run`: a file of JSON lines into a topic (read back with `sluice tail`),
// and that topic into Elasticsearch (each line parsed into a document, ids from topic+partition+offset
// since every line of a file has the same key).
func TestRunFileToTopicToElasticsearch(t *testing.T) {
	bin := buildSluice(t)
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in := filepath.Join(dir, "events.json")
	const n = 50
	var text strings.Builder
	for i := range n {
		fmt.Fprintf(&text, `{"n":%d,"name":"event %d"}`+"\n", i, i)
	}
	if err := os.WriteFile(in, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	stopFile := startRun(t, bin, brokers, "--name", "events-in", "--from", "file", "--path", in, "--to", "topic", "--to-topic", "events")
	kafkaArgs := []string{"--brokers", strings.Join(brokers, ",")}
	waitFor(t, 60*time.Second, "the lines in topic events", func() string {
		r := sluice(t, bin, nil, append([]string{"topics", "-o", "json"}, kafkaArgs...)...)
		var topics []topicInfo
		json.Unmarshal([]byte(r.stdout), &topics)
		for _, ti := range topics {
			if ti.Name == "events" && ti.Records == n {
				return ""
			}
		}
		return r.String()
	})
	r := sluice(t, bin, nil, append([]string{"tail", "events", "--codec", "json", "--key-codec", "string", "-n", "2", "-o", "json"}, kafkaArgs...)...)
	recs := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(recs) != 2 {
		t.Fatalf("tail events:\n%s", r)
	}
	for i, l := range recs {
		var rec tailRecord
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Offset != int64(i) || string(rec.Key) != fmt.Sprintf("%q", in) ||
			string(rec.Value) != fmt.Sprintf(`{"n":%d,"name":"event %d"}`, i, i) {
			t.Errorf("tail events record %d: %s (%v)", i, l, err)
		}
	}
	stopFile()

	// An input topic that does not exist fails before the start, naming the flag.
	r = sluice(t, bin, []string{"SLUICE_BROKERS=" + strings.Join(brokers, ","), "SLUICE_HTTP_ADDR=off"}, "run", "--name", "x",
		"--from", "topic", "--topic", "nope", "--to", "file", "--out", filepath.Join(dir, "x"))
	if r.code != 1 || !strings.Contains(r.stderr, `sluice: --topic "nope": no such topic on Kafka`) {
		t.Errorf("run from a missing topic:\n%s", r)
	}

	es, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0", RefreshInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	stopES := startRun(t, bin, brokers, "--name", "events-es", "--from", "topic", "--topic", "events", "--key-codec", "string",
		"--to", "elasticsearch", "--es-url", es.URL(), "--index", "events", "--id", "offset")
	waitFor(t, 60*time.Second, "50 documents in index events", func() string {
		docs, err := searchAll(es.URL(), "events")
		if err != nil {
			return err.Error()
		}
		if len(docs) != n {
			return fmt.Sprintf("%d documents", len(docs))
		}
		for i := range n {
			d := docs[fmt.Sprintf("events+0+%d", i)]
			if d == nil || fmt.Sprint(d["n"]) != fmt.Sprint(i) || d["name"] != fmt.Sprintf("event %d", i) {
				return fmt.Sprintf("document events+0+%d is %v", i, d)
			}
		}
		return ""
	})
	stopES()
}

// searchAll returns every document of index by id (an error while the index does not exist).
func searchAll(url, index string) (map[string]map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, step := range []struct{ method, path string }{{http.MethodPost, "/" + index + "/_refresh"}, {http.MethodGet, "/" + index + "/_search?size=10000"}} {
		req, err := http.NewRequestWithContext(ctx, step.method, url+step.path, nil)
		if err != nil {
			return nil, err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s %s: %s", step.method, step.path, res.Status)
		}
		if step.method == http.MethodPost {
			continue
		}
		var body struct {
			Hits struct {
				Hits []struct {
					ID     string         `json:"_id"`
					Source map[string]any `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			return nil, err
		}
		out := map[string]map[string]any{}
		for _, h := range body.Hits.Hits {
			out[h.ID] = h.Source
		}
		return out, nil
	}
	return nil, nil
}

// The progress display counts the records that reached the sink's stages: without a total for a file, and
// for MySQL against the tables' estimated rows.
func TestProgressBar(t *testing.T) {
	out := &testkit.LogBuffer{}
	var count atomic.Int64
	stop := showProgress(context.Background(), out, runOptions{from: "file"}, &count)
	count.Store(4321)
	waitFor(t, 10*time.Second, "the count on the bar", func() string {
		if !strings.Contains(out.String(), "records (4321/-") {
			return out.String()
		}
		return ""
	})
	stop()
	stop() // a second stop is harmless
}
