package main

import (
	"context"
	"database/sql"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/go-sql-driver/mysql" // the "mysql" database/sql driver, for the row estimate
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal (a progress bar is drawn only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// showProgress draws a progress bar of the records that reached the sink's stages on w until ctx ends or
// the returned stop is called. For a MySQL source its total is the tables' estimated row count
// (information_schema, as the source's own progress lines): the snapshot's length; past it (the binlog, a
// second run) it keeps counting. For other sources it counts without a total.
func showProgress(ctx context.Context, w io.Writer, o runOptions, count *atomic.Int64) (stop func()) {
	total := int64(-1)
	if o.from == "mysql" {
		if n, err := estimateRows(ctx, o.mysqlDSN, o.tables); err == nil && n > 0 {
			total = n
		}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("records"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("records"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
	)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-tick.C:
				n := count.Load()
				if total > 0 && n > bar.GetMax64() {
					bar.ChangeMax64(n) // past the estimate: the binlog, or an estimate that was low
				}
				bar.Set64(n)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			bar.Exit()
			io.WriteString(w, "\n")
		})
	}
}

// estimateRows sums information_schema's row estimates of the tables, within 10 seconds.
func estimateRows(ctx context.Context, dsn string, tables []string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var total int64
	for _, t := range tables {
		schema, table, _ := strings.Cut(t, ".")
		var n sql.NullInt64
		err := db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
			schema, table).Scan(&n)
		if err != nil {
			return 0, err
		}
		total += n.Int64
	}
	return total, nil
}

// clearLine writes to a terminal whose last line holds the progress bar: it erases that line first, so a log
// line replaces the bar instead of running on after it (the bar is drawn again below it on its next tick).
type clearLine struct{ w io.Writer }

func (c clearLine) Write(p []byte) (int, error) {
	if _, err := io.WriteString(c.w, "\r\x1b[K"); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
