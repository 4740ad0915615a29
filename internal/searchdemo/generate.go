package searchdemo

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"
)

// Dialect is one database's SQL for the load generator's five kinds of change on the demo schema.
type Dialect struct {
	Driver string // the database/sql driver name ("mysql", "pgx"), registered by the caller

	NewOrder       string // inserts an order for a random customer; Sprintf'd with the amount's units and cents (%d, %02d)
	PayOrder       string // sets a random new order's status to 'paid'
	DeleteOrder    string // deletes a random order
	NewCustomer    string // inserts a customer; Sprintf'd with the change's number twice (name, e-mail)
	RenameCustomer string // renames a random customer; Sprintf'd with the change's number
}

// statementTimeout bounds each of the generator's statements.
const statementTimeout = 10 * time.Second

// Generate commits about perSecond changes a second to dsn until ctx ends: new orders (most), order updates
// and deletes, new customers and customer renames, in d's SQL. Each statement has statementTimeout; the
// first failure is said and ends the generator.
func Generate(ctx context.Context, d Dialect, dsn string, perSecond int, say func(string, ...any)) {
	db, err := sql.Open(d.Driver, dsn)
	if err != nil {
		say("generator: %v", err)
		return
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	tick := time.NewTicker(time.Second / time.Duration(max(perSecond, 1)))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var stmt string
		switch p := rng.IntN(100); {
		case p < 55:
			stmt = fmt.Sprintf(d.NewOrder, rng.IntN(500), rng.IntN(100))
		case p < 75:
			stmt = d.PayOrder
		case p < 85:
			stmt = d.DeleteOrder
		case p < 92:
			stmt = fmt.Sprintf(d.NewCustomer, n, n)
		default:
			stmt = fmt.Sprintf(d.RenameCustomer, n)
		}
		opCtx, cancel := context.WithTimeout(ctx, statementTimeout)
		_, err := db.ExecContext(opCtx, stmt)
		cancel()
		if err != nil && ctx.Err() == nil {
			say("generator: %v", err)
			return
		}
	}
}
