package sqltable

import (
	"fmt"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

// A custom Query (a join with its own WHERE) in timestamp+incrementing mode, one task on topic TopicPrefix,
// keyed by KeyColumns, resumes at a record's position; on both databases.
func TestQuery(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn, db := b.database(t, "query")
			execSQL(t, db, "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)",
				"CREATE TABLE orders (id "+b.serial+", customer INT NOT NULL, total INT NOT NULL, updated "+b.ts+" NOT NULL)",
				"INSERT INTO customers VALUES (1, 'ada'), (2, 'bob')")
			for i := 1; i <= 12; i++ {
				execSQL(t, db, fmt.Sprintf("INSERT INTO orders (customer, total, updated) VALUES (%d, %d, '2020-01-01 00:00:%02d')", 1+i%2, i*10, i/3))
			}
			src := newSource(t, Config{DSN: dsn, Dialect: b.dialect, Mode: ModeTimestampIncrementing, TopicPrefix: "orders-wide",
				Query:              "SELECT o.id AS order_id, c.name, o.total, o.updated FROM orders o JOIN customers c ON c.id = o.customer WHERE o.total > 20",
				IncrementingColumn: "order_id", TimestampColumn: "updated", KeyColumns: []string{"order_id"}, BatchSize: 4, StopAtEnd: true})
			task := onlyTask(t, src)
			if task.Key != "sqltable:orders-wide" {
				t.Errorf("task key %q", task.Key)
			}
			all := readToEnd(t, src, task, nil)
			ids := func(recs []stream.Record) []int64 {
				var out []int64
				for _, r := range recs {
					k := r.Key.(*stream.Struct)
					id, err := k.GetInt64("order_id")
					if err != nil {
						t.Fatal(err)
					}
					if r.Topic != "orders-wide" || r.ValueSchema.Name != "" || len(r.ValueSchema.Fields) != 4 {
						t.Fatalf("topic %q, value schema %q with %d fields", r.Topic, r.ValueSchema.Name, len(r.ValueSchema.Fields))
					}
					out = append(out, id)
				}
				return out
			}
			want := []int64{3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
			if got := ids(all); !slices.Equal(got, want) {
				t.Fatalf("order ids %v, want %v", got, want)
			}
			if name := field(t, all[0], "name"); name != "bob" {
				t.Errorf("order 3's customer %v, want bob", name)
			}
			if got := ids(readToEnd(t, src, task, all[4].Position)); !slices.Equal(got, want[5:]) {
				t.Errorf("reopened at %s: %v, want %v", all[4].Position, got, want[5:])
			}
		})
	}
}
