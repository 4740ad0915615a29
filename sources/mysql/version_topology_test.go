package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// TestVersionsThroughPipelineIntoES runs MariaDB -> Kafka -> Elasticsearch (the embedded server) as the
// flagship does: customers indexed as they are, orders joined with their customer (a foreign-key join).
// Every record carries sluice.version, the sink uses it as the external version, and:
//   - the snapshot's documents have the snapshot's version; after interleaved order and customer changes
//     (single statements and one multi-row transaction), each customer document has the version of its
//     last change and each order document at least the greater of its order's and its customer's last
//     change, and both indices equal the tables;
//   - a stale producer writes old copies of every customer's changes into the customers topic: the sink
//     counts them as version conflicts (409), indexes and dead-letters none of them, and the documents
//     stay as they are until the next real change;
//   - old copies of every order's changes, then a copy of its latest one, go into the orders topic: the
//     join drops the old ones (each document moves exactly one version up, for the latest copy, and still
//     equals its row), where adopting one would have written it back.
func TestVersionsThroughPipelineIntoES(t *testing.T) {
	server.CreateDatabase(t, "f_ver")
	server.Exec(t,
		"CREATE TABLE f_ver.customers (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL)",
		"CREATE TABLE f_ver.orders (id INT PRIMARY KEY, customer_id INT NOT NULL, amount INT NOT NULL)",
		"INSERT INTO f_ver.customers VALUES (1, 'Ann'), (2, 'Bob'), (3, 'Cy')",
		"INSERT INTO f_ver.orders VALUES (10, 1, 5), (11, 1, 6), (12, 2, 7), (13, 3, 8), (14, 2, 9)")

	es, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	brokers := testkit.Brokers(t, 1)
	no := false
	src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{"f_ver.customers", "f_ver.orders"},
		TopicPrefix: "fver", SchemaChanges: &no, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	unwrap, err := stages.Unwrap("unwrap", stages.UnwrapConfig{})
	if err != nil {
		t.Fatal(err)
	}
	custSink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{es.URL()}, Index: "customers", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	orderSink, err := elasticsearch.New(elasticsearch.Config{URLs: []string{es.URL()}, Index: "orders", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	withCustomer, err := stages.JoinForeignKey("with-customer", "customer_id", "customer")
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("fver")
	changes := func(name string) *topology.Topic {
		return tp.Topic(name, topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"), topology.Partitions(2))
	}
	customers, orders := changes(src.Topic("f_ver.customers")), changes(src.Topic("f_ver.orders"))
	dlq := tp.Topic("fver.dlq", topology.ValueCodec("bytes"))
	tp.Source("cdc", src).ToRecordTopics()
	customerRows := tp.Table("customers", customers).Via(unwrap)
	tp.Flow("customers-index").From(customers).Via(unwrap).To(custSink, topology.Linger(5*time.Millisecond)).DeadLetter(dlq)
	tp.Flow("orders-index").From(orders).Via(unwrap).Join(customerRows, withCustomer).
		To(orderSink, topology.Linger(5*time.Millisecond)).DeadLetter(dlq)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.Logger = brokers, "off", quiet
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()

	// waitFor polls ok until it holds, failing after 60 s or when the pipeline stops.
	waitFor := func(what string, ok func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			good, state := ok()
			if good {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 60s: %s", what, state)
			}
			select {
			case err := <-done:
				done <- err
				t.Fatalf("%s: the pipeline stopped: %v", what, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	converged := func() (bool, string) {
		want := versionTestDocs(t)
		for id, doc := range want {
			index, docID, _ := cutIndex(id)
			got, _, found := esDoc(t, es.URL(), index, docID)
			if doc == "" && found || doc != "" && got != doc {
				return false, fmt.Sprintf("%s is %q, want %q", id, got, doc)
			}
		}
		return true, ""
	}
	waitFor("snapshot indexed", converged)

	// Snapshot documents carry the snapshot's version: one value, above every offset of these topics.
	custRecs := testkit.ReadTopic(t, brokers, customers.Name())
	snapVersion := headerVersion(t, custRecs[0])
	for _, id := range []string{"1", "2", "3"} {
		if _, v, _ := esDoc(t, es.URL(), "customers", id); v != snapVersion {
			t.Errorf("customer %s: version %d after the snapshot, want the snapshot's %d", id, v, snapVersion)
		}
	}
	if snapVersion < 1<<24-versionReadSlots {
		t.Errorf("snapshot version %d, want at least 2^24 - 2^16", snapVersion)
	}

	// Interleaved changes of both sides, then a transaction of several rows of both tables.
	server.Exec(t,
		"UPDATE f_ver.customers SET name = 'Ann 2' WHERE id = 1",
		"UPDATE f_ver.orders SET amount = 50 WHERE id = 10",
		"UPDATE f_ver.customers SET name = 'Ann 3' WHERE id = 1",
		"UPDATE f_ver.orders SET customer_id = 2 WHERE id = 11",
		"UPDATE f_ver.customers SET name = 'Bob 2' WHERE id = 2",
		"DELETE FROM f_ver.orders WHERE id = 12",
		"INSERT INTO f_ver.orders VALUES (15, 3, 11)")
	tx, err := server.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE f_ver.orders SET amount = amount + 1 WHERE customer_id = 2",
		"UPDATE f_ver.customers SET name = CONCAT(name, '!')", "UPDATE f_ver.orders SET amount = amount + 1 WHERE id = 10"} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	waitFor("changes indexed", converged)

	// Versions: per key strictly increasing along the topic; documents at the last one (customers) or at
	// least the greater of both sides' last ones (orders).
	custRecs = testkit.ReadTopic(t, brokers, customers.Name())
	orderRecs := testkit.ReadTopic(t, brokers, orders.Name())
	custLast := lastVersions(t, custRecs)
	orderLast := lastVersions(t, orderRecs)
	for id, last := range custLast {
		if _, v, _ := esDoc(t, es.URL(), "customers", id); v != last {
			t.Errorf("customer %s: document version %d, want its last change's %d", id, v, last)
		}
	}
	orderCustomer := map[string]string{"10": "1", "11": "2", "13": "3", "14": "2", "15": "3"}
	for id, cust := range orderCustomer {
		_, v, _ := esDoc(t, es.URL(), "orders", id)
		if want := max(orderLast[id], custLast[cust]); v < want {
			t.Errorf("order %s: document version %d, below the greater of its order's and customer's last changes (%d)", id, v, want)
		}
	}
	t.Logf("versions: snapshot %d, customer 1 last %d, order 10 last %d", snapVersion, custLast["1"], orderLast["10"])

	// A stale producer: old copies of every customer's changes. Refused as conflicts (at least one per key:
	// the sink sends one operation per document and batch), nothing indexed or dead-lettered; then a real
	// change of every customer, behind the copies in their partitions, is indexed as usual.
	before := custSink.Stats()
	testkit.Produce(t, brokers, customers.Name(), staleCopies(custRecs, false)...)
	waitFor("stale customer copies refused", func() (bool, string) {
		st := custSink.Stats()
		return st.Conflicts-before.Conflicts >= int64(len(custLast)), fmt.Sprintf("%d conflicts", st.Conflicts-before.Conflicts)
	})
	if ok, state := converged(); !ok {
		t.Errorf("after stale customer copies: %s", state)
	}
	for id, last := range custLast {
		if _, v, _ := esDoc(t, es.URL(), "customers", id); v != last {
			t.Errorf("customer %s: version %d after the stale copies, want %d", id, v, last)
		}
	}
	server.Exec(t, "UPDATE f_ver.customers SET name = CONCAT(name, '+')")
	waitFor("customer changes after the stale copies indexed", converged)
	if st := custSink.Stats(); st.Indexed-before.Indexed != int64(len(custLast)) || st.Rejected != 0 {
		t.Errorf("stale customer copies and one change per customer: %d indexed (want %d), %d rejected, %d conflicts",
			st.Indexed-before.Indexed, len(custLast), st.Rejected, st.Conflicts-before.Conflicts)
	} else {
		t.Logf("stale customer copies: %d conflicts", st.Conflicts-before.Conflicts)
	}

	// Old copies of every order's changes, then a copy of its latest: the join drops the old ones.
	prev := map[string]int64{}
	for id := range orderCustomer {
		_, prev[id], _ = esDoc(t, es.URL(), "orders", id)
	}
	testkit.Produce(t, brokers, orders.Name(), staleCopies(orderRecs, true)...)
	waitFor("latest order copies re-joined", func() (bool, string) {
		for id := range orderCustomer {
			if _, v, _ := esDoc(t, es.URL(), "orders", id); v <= prev[id] {
				return false, fmt.Sprintf("order %s still at version %d", id, v)
			}
		}
		return true, ""
	})
	for id := range orderCustomer {
		if _, v, _ := esDoc(t, es.URL(), "orders", id); v != prev[id]+1 {
			t.Errorf("order %s: version %d after stale copies and its latest copy, want %d (one output): the join took a stale copy", id, v, prev[id]+1)
		}
	}
	if ok, state := converged(); !ok {
		t.Errorf("after stale order copies: %s", state)
	}
	if n := len(testkit.ReadTopic(t, brokers, "fver.dlq")); n != 0 {
		t.Errorf("%d records dead-lettered", n)
	}
}

// versionTestDocs returns the documents f_ver's tables call for, by "index/id" ("" for none).
func versionTestDocs(t *testing.T) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]string{"orders/12": ""}
	names := map[int]string{}
	rows, err := server.DB().QueryContext(ctx, "SELECT id, name FROM f_ver.customers")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		names[id] = name
		out[fmt.Sprintf("customers/%d", id)] = mustJSONString(map[string]any{"id": id, "name": name})
	}
	rows.Close()
	rows, err = server.DB().QueryContext(ctx, "SELECT id, customer_id, amount FROM f_ver.orders")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, cust, amount int
		if err := rows.Scan(&id, &cust, &amount); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("orders/%d", id)] = mustJSONString(map[string]any{"id": id, "customer_id": cust, "amount": amount,
			"customer": map[string]any{"id": cust, "name": names[cust]}})
	}
	return out
}

func mustJSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func cutIndex(id string) (index, docID string, ok bool) {
	for i := range id {
		if id[i] == '/' {
			return id[:i], id[i+1:], true
		}
	}
	return "", id, false
}

// esDoc GETs a document: its source re-encoded with sorted keys, its version, and whether it exists.
func esDoc(t *testing.T, url, index, id string) (string, int64, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/"+index+"/_doc/"+id, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var d struct {
		Found   bool           `json:"found"`
		Version int64          `json:"_version"`
		Source  map[string]any `json:"_source"`
	}
	if res.StatusCode == http.StatusNotFound {
		return "", 0, false
	}
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/_doc/%s: %d %v", index, id, res.StatusCode, err)
	}
	return mustJSONString(d.Source), d.Version, d.Found
}

func headerVersion(t *testing.T, m testkit.Message) int64 {
	t.Helper()
	h, ok := m.Header(VersionHeader)
	if !ok {
		t.Fatalf("%s/%d@%d has no %s header", m.Topic, m.Partition, m.Offset, VersionHeader)
	}
	v, err := strconv.ParseInt(h, 10, 64)
	if err != nil {
		t.Fatalf("%s/%d@%d: %s=%q", m.Topic, m.Partition, m.Offset, VersionHeader, h)
	}
	return v
}

// lastVersions checks that each key's versions strictly increase along its partition and returns the
// last one per key (the key's id).
func lastVersions(t *testing.T, recs []testkit.Message) map[string]int64 {
	t.Helper()
	last := map[string]int64{}
	for _, m := range recs {
		var key struct {
			Payload struct{ ID json.Number } `json:"payload"`
		}
		if err := json.Unmarshal(m.Key, &key); err != nil {
			t.Fatalf("key %s: %v", m.Key, err)
		}
		id := key.Payload.ID.String()
		v := headerVersion(t, m)
		if v <= last[id] {
			t.Errorf("%s key %s: version %d at offset %d after %d", m.Topic, id, v, m.Offset, last[id])
		}
		last[id] = v
	}
	return last
}

// staleCopies returns copies of recs (headers included, same partitions) without each key's last record,
// followed, with latest, by a copy of each key's last record.
func staleCopies(recs []testkit.Message, latest bool) []testkit.Message {
	lastAt := map[string]int{}
	for i, m := range recs {
		lastAt[string(m.Key)] = i
	}
	var out, lasts []testkit.Message
	for i, m := range recs {
		c := testkit.Message{Partition: m.Partition, Key: m.Key, Value: m.Value, Headers: m.Headers}
		if lastAt[string(m.Key)] == i {
			lasts = append(lasts, c)
			continue
		}
		out = append(out, c)
	}
	if latest {
		out = append(out, lasts...)
	}
	return out
}
