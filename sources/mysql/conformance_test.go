package mysql

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/sources/sourcetest"
	"github.com/sluicehq/sluice/stream"
)

// TestConformance runs the sources conformance suite on two tables, as a bounded snapshot (initial_only)
// and as a snapshot followed by the binlog stream (initial).
func TestConformance(t *testing.T) {
	for _, mode := range []SnapshotMode{SnapshotInitialOnly, SnapshotInitial} {
		t.Run(string(mode), func(t *testing.T) {
			db := "conf_" + string(mode)
			server.CreateDatabase(t, db)
			server.Exec(t, "CREATE TABLE "+db+".a (id INT PRIMARY KEY, v VARCHAR(20))",
				"CREATE TABLE "+db+".b (id INT PRIMARY KEY, v VARCHAR(20))")
			var next atomic.Int64
			sourcetest.Run(t, sourcetest.Config{
				NewSource: func(t *testing.T) sources.Source {
					src, err := New(Config{DSN: server.DSN(""), ServerID: serverIDs.Add(1), Tables: []string{db + ".a", db + ".b"},
						SnapshotMode: mode, ChunkSize: 7, Logger: quiet})
					if err != nil {
						t.Fatal(err)
					}
					return src
				},
				Generate: func(t *testing.T, n int) {
					for range n {
						i := next.Add(1)
						server.Exec(t, fmt.Sprintf("INSERT INTO %s.a VALUES (%d, 'a%d')", db, i, i),
							fmt.Sprintf("INSERT INTO %s.b VALUES (%d, 'b%d')", db, i, i))
					}
				},
				Bounded: mode == SnapshotInitialOnly,
				ID: func(r stream.Record) string {
					k, err := stream.KeyString(r.Key)
					if err != nil {
						t.Fatal(err)
					}
					return r.Topic + "/" + k
				},
			})
		})
	}
}
