package postgres

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/sourcetest"
	"github.com/sluicehq/sluice/stream"
)

// TestConformance runs the sources conformance suite (acceptance 4) on two tables: a snapshot followed by
// the slot's stream, an unbounded task.
func TestConformance(t *testing.T) {
	dsn := server.CreateDatabase(t, "conformance")
	c := connect(t, dsn)
	execIn(t, c, "CREATE TABLE a (id int PRIMARY KEY, v text)", "CREATE TABLE b (id int PRIMARY KEY, v text)")
	var next atomic.Int64
	sourcetest.Run(t, sourcetest.Config{
		NewSource: func(t *testing.T) sources.Source {
			src, err := New(Config{DSN: dsn, Slot: "conformance", Tables: []string{"public.a", "public.b"}, ChunkSize: 7, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			return src
		},
		Generate: func(t *testing.T, n int) {
			for range n {
				i := next.Add(1)
				execIn(t, c, fmt.Sprintf("INSERT INTO a VALUES (%d, 'a%d')", i, i), fmt.Sprintf("INSERT INTO b VALUES (%d, 'b%d')", i, i))
			}
		},
		ID: func(r stream.Record) string {
			k, err := stream.KeyString(r.Key)
			if err != nil {
				t.Fatal(err)
			}
			return r.Topic + "/" + k
		},
	})
}
