package sqltable

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkTimestampIncrementing reads a 20,000-row table in timestamp+incrementing mode, pages of 1,000,
// records built with schemas, and reports rows/s and the ratio to a raw baseline measured in the same run:
// one SELECT of the same rows in the same order, scanned into driver values.
func BenchmarkTimestampIncrementing(b *testing.B) {
	const rows = 20000
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			dsn, db := be.database(b, "bench")
			execSQL(b, db, "CREATE TABLE items (id "+be.serial+", name VARCHAR(40) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2) NOT NULL, updated "+be.ts+" NOT NULL)",
				"CREATE INDEX items_updated ON items (updated, id)")
			for start := 0; start < rows; start += 1000 {
				var values []string
				for i := start; i < start+1000; i++ {
					values = append(values, fmt.Sprintf("('item %d', %d, %d.25, '2020-01-01 00:%02d:%02d')", i, i%100, i%1000, (i/60)%60, i%60))
				}
				execSQL(b, db, "INSERT INTO items (name, qty, price, updated) VALUES "+strings.Join(values, ", "))
			}
			src := newSource(b, Config{DSN: dsn, Dialect: be.dialect, Mode: ModeTimestampIncrementing, Tables: []string{"items"},
				TimestampColumn: "updated", BatchSize: 1000, StopAtEnd: true})
			task := onlyTask(b, src)
			var sourceTime, rawTime time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if n := len(readToEnd(b, src, task, nil)); n != rows {
					b.Fatalf("%d records, want %d", n, rows)
				}
				sourceTime += time.Since(start)

				start = time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				rs, err := db.QueryContext(ctx, "SELECT * FROM items ORDER BY updated, id")
				if err != nil {
					b.Fatal(err)
				}
				vals := make([]any, 5)
				ptrs := make([]any, 5)
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				n := 0
				for rs.Next() {
					if err := rs.Scan(ptrs...); err != nil {
						b.Fatal(err)
					}
					n++
				}
				rs.Close()
				cancel()
				if n != rows {
					b.Fatalf("raw: %d rows", n)
				}
				rawTime += time.Since(start)
			}
			b.ReportMetric(float64(rows*b.N)/sourceTime.Seconds(), "rows/s")
			b.ReportMetric(float64(rows*b.N)/rawTime.Seconds(), "raw-rows/s")
			b.ReportMetric(rawTime.Seconds()/sourceTime.Seconds(), "ratio")
		})
	}
}
