package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// TestCompositeKeyChunksAndResume copies a table with a three-column primary key (INT, VARCHAR, DECIMAL)
// in chunks of 7, stopping after every second Read and reopening at the last record's position, and checks
// that every row arrives exactly once, in key order, with key structs and positions as documented.
func TestCompositeKeyChunksAndResume(t *testing.T) {
	server.CreateDatabase(t, "comp")
	server.Exec(t, `CREATE TABLE comp.items (
		shop INT NOT NULL, sku VARCHAR(20) NOT NULL, price DECIMAL(20,2) NOT NULL, qty INT,
		PRIMARY KEY (shop, sku, price))`)
	var values []string
	want := map[string]bool{}
	for shop := 1; shop <= 4; shop++ {
		for sku := 0; sku < 5; sku++ {
			for _, price := range []string{"0.10", "9007199254740993.01", "9007199254740993.02"} {
				values = append(values, fmt.Sprintf("(%d, 'sku-%d', %s, %d)", shop, sku, price, shop*sku))
				want[fmt.Sprintf("%d+sku-%d+%s", shop, sku, price)] = true
			}
		}
	}
	server.Exec(t, "INSERT INTO comp.items VALUES "+strings.Join(values, ", "))
	src := newSource(t, 7, "comp.items")
	tasks, err := src.Tasks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 || tasks[0].Key != "mysql:sluice" {
		t.Fatalf("tasks %v", tasks)
	}

	var all []stream.Record
	var pos stream.Position
	opens := 0
	for {
		recs := readTask(t, src, pos, 2)
		opens++
		if len(recs) == 0 {
			break
		}
		all = append(all, recs...)
		pos = recs[len(recs)-1].Position
		if opens > 100 {
			t.Fatal("no end")
		}
	}
	seen := map[string]bool{}
	prev := ""
	for i, rec := range all {
		k, err := stream.KeyString(rec.Key)
		if err != nil {
			t.Fatal(err)
		}
		if seen[k] {
			t.Errorf("row %s repeated", k)
		}
		seen[k] = true
		if !want[k] {
			t.Errorf("unexpected row %s", k)
		}
		if rec.Topic != "sluice.comp.items" || rec.Operation != stream.OpRead || rec.KeySchema.Name != "sluice.comp.items.Key" ||
			rec.ValueSchema.Name != "sluice.comp.items.Envelope" {
			t.Fatalf("record %d: topic %q op %v key schema %q value schema %q", i, rec.Topic, rec.Operation, rec.KeySchema.Name, rec.ValueSchema.Name)
		}
		var p Position
		if err := json.Unmarshal(rec.Position, &p); err != nil || p.Phase != PhaseSnapshot || p.Table != "comp.items" ||
			p.Start == nil || p.Start.File == "" || p.Start.Pos == 0 || len(p.LastPK) != 3 {
			t.Fatalf("position %s: %v", rec.Position, err)
		}
		if p.Done != (i == len(all)-1) {
			t.Errorf("record %d of %d: done=%v", i, len(all), p.Done)
		}
		env := rec.Value.(*stream.Struct)
		src, _ := env.GetStruct("source")
		snap, _ := src.GetString("snapshot")
		if wantSnap := map[bool]string{true: "last", false: "true"}[i == len(all)-1]; snap != wantSnap {
			t.Errorf("record %d: source.snapshot %q, want %q", i, snap, wantSnap)
		}
		prev = k
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct rows, want %d", len(seen), len(want))
	}
	t.Logf("%d rows in %d opens; last key %s; last position %s", len(all), opens, prev, pos)

	// The final position ends the task at once.
	if recs := readTask(t, src, pos, 0); len(recs) != 0 {
		t.Errorf("reopened at the done position: %d records", len(recs))
	}
}

// TestResumeSeesNewSnapshot checks the documented resume semantics: rows after last_pk come from a new
// snapshot (an insert made while the task was stopped is read), rows before it are not read again, and the
// position keeps the first snapshot's binlog position.
func TestResumeSeesNewSnapshot(t *testing.T) {
	server.CreateDatabase(t, "resume")
	server.Exec(t, "CREATE TABLE resume.t (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(10))")
	var values []string
	for i := 1; i <= 10; i++ {
		values = append(values, fmt.Sprintf("(%d, 'v%d')", uint64(1)<<63+uint64(i), i))
	}
	server.Exec(t, "INSERT INTO resume.t VALUES "+strings.Join(values, ", "))
	src := newSource(t, 4, "resume.t")
	first := readTask(t, src, nil, 1)
	if len(first) != 4 {
		t.Fatalf("first chunk: %d rows", len(first))
	}
	server.Exec(t, "INSERT INTO resume.t VALUES (1, 'before'), (18446744073709551615, 'max')")
	rest := readTask(t, src, first[3].Position, 0)
	var ids []string
	for _, r := range rest {
		id, _ := after(t, r).GetDecimal("id")
		ids = append(ids, id.String())
	}
	if len(rest) != 7 || ids[0] != "9223372036854775813" || ids[6] != "18446744073709551615" {
		t.Errorf("after resume: %v", ids)
	}
	var p0, p1 Position
	json.Unmarshal(first[0].Position, &p0)
	json.Unmarshal(rest[len(rest)-1].Position, &p1)
	if *p0.Start != *p1.Start {
		t.Errorf("position binlog moved on resume: %+v then %+v", p0, p1)
	}
	srcBlock, _ := rest[0].Value.(*stream.Struct).GetStruct("source")
	if pos, _ := srcBlock.GetInt64("pos"); uint64(pos) == p0.Start.Pos {
		t.Errorf("source.pos %d after resume is the old snapshot's; want the new snapshot's", pos)
	}
}

// TestEmptyTableAndCancel: an empty table ends at once, and is passed over among other tables; a cancelled
// context stops a Read with ctx.Err().
func TestEmptyTableAndCancel(t *testing.T) {
	server.CreateDatabase(t, "empty")
	server.Exec(t, "CREATE TABLE empty.t (id INT PRIMARY KEY)", "CREATE TABLE empty.u (id INT PRIMARY KEY)", "INSERT INTO empty.u VALUES (1)")
	if recs := readTask(t, newSource(t, 10, "empty.t"), nil, 0); len(recs) != 0 {
		t.Errorf("empty table: %d records", len(recs))
	}
	src := newSource(t, 10, "empty.*")
	if recs := readTask(t, src, nil, 0); len(recs) != 1 || recs[0].Topic != "sluice.empty.u" {
		t.Errorf("empty.t and empty.u: %d records, want u's one", len(recs))
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := src.Open(ctx, sources.Task{Key: src.TaskKey()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := r.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestSnapshotThroughput copies 20,000 rows and compares with a raw SELECT * loop over the same table on the
// same server, in the same run.
func TestSnapshotThroughput(t *testing.T) {
	const n = 20_000
	server.CreateDatabase(t, "bench")
	server.Exec(t, `CREATE TABLE bench.orders (id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(12,2),
		status ENUM('new','paid','shipped'), note VARCHAR(100), created DATETIME(6))`)
	for start := 0; start < n; start += 5000 {
		var values []string
		for i := start; i < start+5000; i++ {
			values = append(values, fmt.Sprintf("(%d, %d, %d.%02d, 'paid', 'order note number %d', '2024-01-02 03:04:05.%06d')", i, i%997, i, i%100, i, i))
		}
		server.Exec(t, "INSERT INTO bench.orders VALUES "+strings.Join(values, ", "))
	}
	server.Exec(t, "ANALYZE TABLE bench.orders")

	begin := time.Now()
	rows, err := server.DB().Query("SELECT * FROM bench.orders")
	if err != nil {
		t.Fatal(err)
	}
	raw := 0
	vals := make([]any, 6)
	ptrs := make([]any, 6)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		raw++
	}
	rows.Close()
	rawTime := time.Since(begin)

	src := newSource(t, DefaultChunkSize, "bench.orders")
	begin = time.Now()
	recs := readTask(t, src, nil, 0)
	srcTime := time.Since(begin)
	if len(recs) != n || raw != n {
		t.Fatalf("source read %d rows, raw loop %d, want %d", len(recs), raw, n)
	}
	t.Logf("snapshot: %d rows in %v = %.0f rows/s; raw SELECT * loop: %v = %.0f rows/s; ratio %.1fx",
		n, srcTime.Round(time.Millisecond), n/srcTime.Seconds(), rawTime.Round(time.Millisecond), n/rawTime.Seconds(),
		srcTime.Seconds()/rawTime.Seconds())
}
