package peers

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchDatabase holds every table of the benchmark.
const benchDatabase = "bench"

// snapshotTable is the table of the snapshot phase, loaded once per run.
const snapshotTable = "snap"

// workloadSeed makes every run's rows and changes the same.
const workloadSeed = 20

// markerBaseID is the first primary key of the marker rows the harness writes to see that a tool streams;
// workload rows stay below it.
const markerBaseID = 1_000_000_000

// tableDDL is the 11-column layout every table of the benchmark has.
const tableDDL = "(id BIGINT PRIMARY KEY, c_int INT NOT NULL, c_bigint BIGINT, c_small SMALLINT, c_varchar VARCHAR(255), " +
	"c_varchar2 VARCHAR(64), c_decimal DECIMAL(12,2), c_decimal2 DECIMAL(18,6), c_datetime DATETIME(6), " +
	"c_datetime2 DATETIME(6), c_text TEXT) ENGINE=InnoDB"

const insertColumns = "(id, c_int, c_bigint, c_small, c_varchar, c_varchar2, c_decimal, c_decimal2, c_datetime, c_datetime2, c_text)"

// workloadDSN is a DSN for the bench database whose statements are interpolated on the client (one round
// trip per statement, no prepared statement per call).
func workloadDSN(m MySQL) string {
	return mysqlDSN(m) + "?charset=utf8mb4&interpolateParams=true&maxAllowedPacket=0"
}

// createTable (re)creates table in the bench database, empty.
func createTable(ctx context.Context, db *sql.DB, table string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS `"+table+"`"); err != nil {
		return fmt.Errorf("drop table %s: %w", table, err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE `"+table+"` "+tableDDL); err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	return nil
}

// textSource is the random text every string column is cut from (letters and spaces, fixed by the seed).
var textSource = func() string {
	rng := rand.New(rand.NewPCG(workloadSeed, 1))
	const letters = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b strings.Builder
	for b.Len() < 1<<16 {
		n := 2 + rng.IntN(9) // a word of 2-10 characters
		for range n {
			b.WriteByte(letters[rng.IntN(len(letters))])
		}
		b.WriteByte(' ')
	}
	return b.String()
}()

// text returns n characters of textSource from a random offset.
func text(rng *rand.Rand, n int) string {
	off := rng.IntN(len(textSource) - n)
	return textSource[off : off+n]
}

var datetimeBase = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func datetime(rng *rand.Rand) string {
	return datetimeBase.Add(time.Duration(rng.Int64N(5*365*24*3600))*time.Second + time.Duration(rng.IntN(1e6))*time.Microsecond).
		Format("2006-01-02 15:04:05.000000")
}

// rowValues are the 11 column values of row id, drawn from rng: varchar 20-200 characters, text 200-1000,
// a few NULLs in the nullable columns.
func rowValues(rng *rand.Rand, id int64) []any {
	v := make([]any, 0, 11)
	v = append(v, id, rng.Int32N(1_000_000_000))
	if rng.IntN(20) == 0 {
		v = append(v, nil)
	} else {
		v = append(v, rng.Int64N(1<<62))
	}
	v = append(v, rng.IntN(65536)-32768, text(rng, 20+rng.IntN(181)))
	if rng.IntN(20) == 0 {
		v = append(v, nil)
	} else {
		v = append(v, text(rng, 8+rng.IntN(57)))
	}
	v = append(v, fmt.Sprintf("%d.%02d", rng.Int64N(10_000_000_000), rng.IntN(100)),
		fmt.Sprintf("%d.%06d", rng.Int64N(1_000_000_000_000), rng.IntN(1_000_000)), datetime(rng))
	if rng.IntN(10) == 0 {
		v = append(v, nil)
	} else {
		v = append(v, datetime(rng))
	}
	return append(v, text(rng, 200+rng.IntN(801)))
}

// multiInsert is an INSERT of rows rows.
func multiInsert(table string, rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO `" + table + "` " + insertColumns + " VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
	}
	return b.String()
}

// snapshotChunk is the number of rows of one INSERT of the snapshot load.
const snapshotChunk = 500

// loadSnapshot fills table (created empty) with rows rows, ids 1..rows, in multi-row INSERTs from three
// connections, without writing them to the binlog (the snapshot phase reads the table, not the binlog, and
// the streaming phases start at the binlog's end). Chunk c's rows come from a generator seeded with c, so the
// table is the same whatever the interleaving. Progress is logged every 5 s. dsn is a workloadDSN.
func loadSnapshot(ctx context.Context, dsn string, table string, rows int, logf func(string, ...any)) error {
	// A pool of its own: its sessions have sql_log_bin=0, which must not leak into the harness's other writes.
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	chunks := (rows + snapshotChunk - 1) / snapshotChunk
	var next, loaded atomic.Int64
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	began := time.Now()
	for range 3 {
		wg.Go(func() {
			errs <- func() error {
				conn, err := db.Conn(ctx)
				if err != nil {
					return err
				}
				defer conn.Close()
				if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin=0"); err != nil {
					return fmt.Errorf("SET sql_log_bin=0: %w", err)
				}
				for {
					c := next.Add(1) - 1
					if c >= int64(chunks) {
						return nil
					}
					first := c*snapshotChunk + 1
					n := min(snapshotChunk, int64(rows)-c*snapshotChunk)
					rng := rand.New(rand.NewPCG(workloadSeed, uint64(c)+100))
					args := make([]any, 0, n*11)
					for id := first; id < first+n; id++ {
						args = append(args, rowValues(rng, id)...)
					}
					sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
					_, err := conn.ExecContext(sctx, multiInsert(table, int(n)), args...)
					cancel()
					if err != nil {
						return fmt.Errorf("insert rows %d-%d into %s: %w", first, first+n-1, table, err)
					}
					loaded.Add(n)
				}
			}()
		})
	}
	stop := make(chan struct{})
	var logWG sync.WaitGroup
	logWG.Go(func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				logf("loading %s: %d of %d rows (%s)", table, loaded.Load(), rows, time.Since(began).Round(time.Second))
			}
		}
	})
	wg.Wait()
	close(stop)
	logWG.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	d := time.Since(began)
	logf("loaded %s: %d rows in %s (%.0f rows/s)", table, rows, d.Round(time.Millisecond), float64(rows)/d.Seconds())
	return nil
}

// changeStats is what writeChanges did.
type changeStats struct {
	Inserts, Updates, Deletes, Transactions int
	Duration                                time.Duration
}

func (s changeStats) total() int { return s.Inserts + s.Updates + s.Deletes }

// writeChanges writes exactly n row changes to table (created empty) from one connection, as fast as MariaDB
// takes them: transactions of 1-100 changes (uniform), each change an INSERT (about 60%), an UPDATE (30%) or
// a DELETE (10%) of one live row (an UPDATE always changes c_int, so each is one binlog row event). The
// sequence is the same in every run (fixed seed), so every tool catches up on the same changes.
func writeChanges(ctx context.Context, db *sql.DB, table string, n int, logf func(string, ...any)) (changeStats, error) {
	rng := rand.New(rand.NewPCG(workloadSeed, 2))
	var st changeStats
	var live []int64
	nextID := int64(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return st, err
	}
	defer conn.Close()
	insert := multiInsert(table, 1)
	update := "UPDATE `" + table + "` SET c_int = c_int + 1, c_varchar = ?, c_decimal = ?, c_datetime2 = ? WHERE id = ?"
	del := "DELETE FROM `" + table + "` WHERE id = ?"
	began, lastLog := time.Now(), time.Now()
	for st.total() < n {
		size := min(1+rng.IntN(100), n-st.total())
		err := func() error {
			tctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			tx, err := conn.BeginTx(tctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			for range size {
				p := rng.Float64()
				switch {
				case len(live) == 0 || p < 0.6:
					if _, err := tx.ExecContext(tctx, insert, rowValues(rng, nextID)...); err != nil {
						return fmt.Errorf("insert id %d: %w", nextID, err)
					}
					live = append(live, nextID)
					nextID++
					st.Inserts++
				case p < 0.9:
					id := live[rng.IntN(len(live))]
					res, err := tx.ExecContext(tctx, update, text(rng, 20+rng.IntN(181)),
						fmt.Sprintf("%d.%02d", rng.Int64N(10_000_000_000), rng.IntN(100)), datetime(rng), id)
					if err := oneRow(res, err); err != nil {
						return fmt.Errorf("update id %d: %w", id, err)
					}
					st.Updates++
				default:
					i := rng.IntN(len(live))
					id := live[i]
					live[i] = live[len(live)-1]
					live = live[:len(live)-1]
					res, err := tx.ExecContext(tctx, del, id)
					if err := oneRow(res, err); err != nil {
						return fmt.Errorf("delete id %d: %w", id, err)
					}
					st.Deletes++
				}
			}
			return tx.Commit()
		}()
		if err != nil {
			return st, fmt.Errorf("writing changes to %s: %w", table, err)
		}
		st.Transactions++
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			logf("writing %s: %d of %d changes", table, st.total(), n)
		}
	}
	st.Duration = time.Since(began)
	return st, nil
}

// oneRow checks that a statement changed exactly one row.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%d rows changed, want 1", n)
	}
	return nil
}

// markerText is the c_varchar of marker row k: a string the harness finds in the record's bytes, whatever
// the tool's record format.
func markerText(k int) string { return fmt.Sprintf("peers-marker-%06d", k) }

// insertMarker inserts marker row k (id markerBaseID+k) into table.
func insertMarker(ctx context.Context, db *sql.DB, table string, k int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rng := rand.New(rand.NewPCG(workloadSeed, uint64(k)+3))
	v := rowValues(rng, int64(markerBaseID+k))
	v[4] = markerText(k)
	_, err := db.ExecContext(ctx, insert1(table), v...)
	return err
}

func insert1(table string) string { return multiInsert(table, 1) }
