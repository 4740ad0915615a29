package verify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/verify"
)

const itemsTable = `CREATE TABLE vshop.items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, price DECIMAL(12,2) NOT NULL,
	qty INT NULL, created DATETIME(6) NOT NULL, seen TIMESTAMP(3) NULL, day DATE NULL, big BIGINT UNSIGNED NOT NULL,
	ratio DOUBLE NULL, note TEXT NULL)`

// loadItems inserts rows 1..n with multi-row INSERTs of 1,000 rows.
func loadItems(t *testing.T, n int) {
	t.Helper()
	for lo := 1; lo <= n; lo += 1000 {
		var b strings.Builder
		b.WriteString("INSERT INTO vshop.items VALUES ")
		for id := lo; id < lo+1000 && id <= n; id++ {
			if id > lo {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "(%d,'item %d',%d.%02d,%s,'2026-%02d-%02d 10:%02d:%02d.%06d',%s,%s,%d,%s,%s)",
				id, id, id%10000, id%100, nullOr(id%7 == 0, fmt.Sprint(id%50)), 1+id%12, 1+id%28, id%60, id%60, id%1000000,
				nullOr(id%5 == 0, fmt.Sprintf("'2026-11-30 12:00:%02d.%03d'", id%60, id%1000)),
				nullOr(id%3 == 0, fmt.Sprintf("'1999-12-%02d'", 1+id%31)), uint64(18446744073709551615)-uint64(id),
				nullOr(id%4 == 0, fmt.Sprintf("%d.25e-3", id)), nullOr(id%2 == 0, fmt.Sprintf("'note \"%d\" ü'", id)))
		}
		db.Exec(t, b.String())
	}
}

func nullOr(null bool, v string) string {
	if null {
		return "NULL"
	}
	return v
}

func verifyConfig(t *testing.T, p *pipeline, table, index string) verify.Config {
	return verify.Config{
		MySQL:         mysql.Config{DSN: db.DSN(""), Logger: quiet},
		Table:         table,
		Elasticsearch: elasticsearch.Config{URLs: []string{p.es.URL()}, Index: index},
		Logger:        testLogger(t),
	}
}

// ids returns the ids of the report's differences of kind k, sorted.
func ids(rep *verify.Report, k verify.Kind) []string {
	var out []string
	for _, d := range rep.Differences {
		if d.Kind == k {
			out = append(out, d.ID)
		}
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// Acceptance 3: 100,000 rows moved into an index by a real pipeline; changed behind the pipeline's back in
// the index (documents inserted, deleted, modified) and in MariaDB (rows inserted, updated, deleted with the
// binlog off), verify reports exactly those keys, while the pipeline keeps carrying live updates of other
// rows; Repair through Kafka makes the next verify clean.
func TestVerify100k(t *testing.T) {
	const rows = 100000
	db.Exec(t, "DROP DATABASE IF EXISTS vshop", "CREATE DATABASE vshop", itemsTable)
	loaded := time.Now()
	loadItems(t, rows)
	t.Logf("loaded %d rows in %v", rows, time.Since(loaded).Round(time.Millisecond))

	started := time.Now()
	p := startPipeline(t, "vshop.items", "items", 7301)
	waitCount(t, p, "items", rows, 3*time.Minute)
	t.Logf("pipeline indexed %d rows in %v", rows, time.Since(started).Round(time.Millisecond))

	ctx := context.Background()
	v, err := verify.New(ctx, verifyConfig(t, p, "vshop.items", "items"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	rep, err := v.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() || rep.Rows != rows || rep.Documents != rows {
		t.Fatalf("after the snapshot: %d rows, %d documents, differences %+v", rep.Rows, rep.Documents, rep.Differences[:min(5, len(rep.Differences))])
	}
	t.Logf("verify of %d rows, equal: %.2fs (%d candidates re-checked)", rows, rep.Seconds, rep.Rechecked)

	// Live changes the pipeline carries while verify runs: not differences.
	stopLoad := liveLoad(t, 50000, 51000)
	defer stopLoad()

	// Behind the pipeline's back, in the index ...
	for _, id := range []string{"200001", "200002", "200003"} {
		putDoc(t, p, "items", id, map[string]any{"id": id, "name": "ghost"})
	}
	for _, id := range []string{"10", "20", "30"} {
		deleteDoc(t, p, "items", id)
	}
	for _, id := range []string{"40", "50", "60"} {
		doc := getDoc(t, p, "items", id)
		doc["name"] = "tampered"
		doc["price"] = json.Number("1.5")
		putDoc(t, p, "items", id, doc)
	}
	// ... and in MariaDB, with the binlog off.
	behindBinlog(t,
		"INSERT INTO vshop.items (id, name, price, created, big) VALUES (100001, 'quiet 1', 1.00, '2026-01-01', 1), (100002, 'quiet 2', 2.00, '2026-01-01', 2), (100003, 'quiet 3', 3.00, '2026-01-01', 3)",
		"UPDATE vshop.items SET name = CONCAT(name, ' changed quietly'), price = price + 0.01 WHERE id IN (70, 80, 90)",
		"DELETE FROM vshop.items WHERE id IN (100, 110, 120)")

	rep, err = v.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verify of %d rows with 18 differences and live updates: %.2fs (%d candidates re-checked, %d changed meanwhile)", rep.Rows, rep.Seconds, rep.Rechecked, rep.Changed)
	want := map[verify.Kind][]string{
		verify.Missing:   sorted("10", "20", "30", "100001", "100002", "100003"),
		verify.Extra:     sorted("200001", "200002", "200003", "100", "110", "120"),
		verify.Different: sorted("40", "50", "60", "70", "80", "90"),
	}
	for k, w := range want {
		if got := ids(rep, k); !slices.Equal(got, w) {
			t.Errorf("%s: got %v, want %v", k, got, w)
		}
	}
	if rep.Missing != 6 || rep.Extra != 6 || rep.Different != 6 {
		t.Errorf("counts: missing %d extra %d different %d, want 6 each", rep.Missing, rep.Extra, rep.Different)
	}
	for _, d := range rep.Differences {
		if d.Kind != verify.Different {
			continue
		}
		var fields []string
		for _, f := range d.Fields {
			fields = append(fields, f.Field)
		}
		if !slices.Equal(fields, []string{"name", "price"}) {
			t.Errorf("document %s: differing fields %v, want [name price]: %+v", d.ID, fields, d.Fields)
		}
		if d.ID == "40" && (d.Fields[1].Source != "40.40" || d.Fields[1].Index != "1.5") {
			t.Errorf("document 40's price: source %s, index %s; want 40.40 and 1.5", d.Fields[1].Source, d.Fields[1].Index)
		}
	}

	res, err := v.Repair(ctx, rep, verify.RepairConfig{Brokers: p.brokers, Wait: time.Minute})
	if err != nil {
		t.Fatalf("repair: %v (%+v)", err, res)
	}
	if !res.Clean || res.Reread != 12 || res.Deleted != 6 || len(res.Unrepairable) != 0 {
		t.Errorf("repair: %+v; want clean, 12 re-read, 6 deleted", res)
	}
	t.Logf("repair sent and verified clean in %.2fs", res.Seconds)
	rep, err = v.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() {
		t.Errorf("after the repair: %+v", rep.Differences)
	}
	if rep.Rows != rows || rep.Documents != rows {
		t.Errorf("after the repair: %d rows, %d documents, want %d", rep.Rows, rep.Documents, rows)
	}
}

// liveLoad updates random rows with ids in [lo, hi) through the binlog until the returned stop is called.
func liveLoad(t *testing.T, lo, hi int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	n := 0
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			id := lo + rand.IntN(hi-lo)
			qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := db.DB().ExecContext(qctx, "UPDATE vshop.items SET qty = COALESCE(qty, 0) + 1, note = ? WHERE id = ?", fmt.Sprintf("live %d", n), id)
			qcancel()
			if err != nil && ctx.Err() == nil {
				t.Errorf("live update: %v", err)
				return
			}
			n++
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			t.Logf("live load: %d updates", n)
		})
	}
}
