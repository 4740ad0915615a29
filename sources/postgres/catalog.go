package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
)

// connect opens a normal (replication false) or replication=database connection, within ConnectTimeout.
func (cfg *Config) connect(ctx context.Context, replication bool) (*pgconn.PgConn, error) {
	cc, err := cfg.connConfig(replication)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("postgres source: connect to %s:%d database %s: %s", cc.Host, cc.Port, cc.Database, redact(err.Error(), cfg.DSN))
	}
	return conn, nil
}

// query runs sql with text arguments (nil: NULL) on a normal connection within QueryTimeout and returns
// the rows in text form (a nil cell is NULL).
func (cfg *Config) query(ctx context.Context, conn *pgconn.PgConn, sql string, args ...any) ([][][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.QueryTimeout)
	defer cancel()
	params := make([][]byte, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case nil:
		case string:
			params[i] = []byte(v)
		case uint32:
			params[i] = []byte(strconv.FormatUint(uint64(v), 10))
		default:
			params[i] = []byte(fmt.Sprint(v))
		}
	}
	res := conn.ExecParams(ctx, sql, params, nil, nil, nil).Read()
	return res.Rows, res.Err
}

// exec runs statements (simple protocol) within QueryTimeout.
func (cfg *Config) exec(ctx context.Context, conn *pgconn.PgConn, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.QueryTimeout)
	defer cancel()
	_, err := conn.Exec(ctx, sql).ReadAll()
	return err
}

// relationID returns the OID of table name (0: it does not exist or the user cannot see it).
func (cfg *Config) relationID(ctx context.Context, conn *pgconn.PgConn, name tableName) (uint32, error) {
	rows, err := cfg.query(ctx, conn, `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, name.Schema, name.Table)
	if err != nil {
		return 0, fmt.Errorf("postgres source: look up table %s: %w", name, err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	id, err := strconv.ParseUint(string(rows[0][0]), 10, 32)
	return uint32(id), err
}

// primaryKey returns the primary-key columns of relation relid, in key order.
func (cfg *Config) primaryKey(ctx context.Context, conn *pgconn.PgConn, relid uint32) ([]string, error) {
	rows, err := cfg.query(ctx, conn, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
		WHERE i.indrelid = $1 AND i.indisprimary
		ORDER BY array_position(i.indkey::int2[], a.attnum)`, relid)
	if err != nil {
		return nil, fmt.Errorf("postgres source: primary key of relation %d: %w", relid, err)
	}
	var names []string
	for _, r := range rows {
		names = append(names, string(r[0]))
	}
	return names, nil
}

// loadTable reads the current definition of table name from the catalog: the columns pgoutput publishes
// (not dropped, not generated), in order, and its primary key.
func (cfg *Config) loadTable(ctx context.Context, conn *pgconn.PgConn, name tableName) (*table, uint32, error) {
	relid, err := cfg.relationID(ctx, conn, name)
	if err != nil {
		return nil, 0, err
	}
	if relid == 0 {
		return nil, 0, fmt.Errorf("postgres source: table %s does not exist (or the user cannot see it)", name)
	}
	rows, err := cfg.query(ctx, conn, `SELECT attname, atttypid, atttypmod, attnotnull FROM pg_attribute
		WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`, relid)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres source: columns of %s: %w", name, err)
	}
	var cols []column
	for _, r := range rows {
		oid, _ := strconv.ParseUint(string(r[1]), 10, 32)
		mod, _ := strconv.ParseInt(string(r[2]), 10, 32)
		cols = append(cols, column{Name: string(r[0]), TypeOID: uint32(oid), TypMod: int32(mod), NotNull: string(r[3]) == "t"})
	}
	pk, err := cfg.primaryKey(ctx, conn, relid)
	if err != nil {
		return nil, 0, err
	}
	t, err := newTable(cfg.TopicPrefix, name, cols, pk)
	return t, relid, err
}

// ErrServerConfig: the server is not set up for logical replication (wal_level).
var ErrServerConfig = errors.New("server not configured for logical replication")

// check runs the start-up checks: wal_level=logical, every table exists with a primary key, and the
// publication exists with every table (created or extended when needed).
func (cfg *Config) check(ctx context.Context) error {
	conn, err := cfg.connect(ctx, false)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	rows, err := cfg.query(ctx, conn, "SELECT current_setting('wal_level')")
	if err != nil {
		return fmt.Errorf("postgres source: read wal_level: %w", err)
	}
	if level := string(rows[0][0]); level != "logical" {
		return fmt.Errorf("postgres source: %w: wal_level is %q: set wal_level = logical in postgresql.conf and restart the server", ErrServerConfig, level)
	}
	var quoted []string
	for _, n := range cfg.Tables {
		name := parseTableName(n)
		if _, _, err := cfg.loadTable(ctx, conn, name); err != nil {
			return err
		}
		quoted = append(quoted, name.quoted())
	}
	rows, err = cfg.query(ctx, conn, "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1", cfg.Publication)
	if err != nil {
		return fmt.Errorf("postgres source: read publication %s: %w", cfg.Publication, err)
	}
	exists, err := cfg.query(ctx, conn, "SELECT 1 FROM pg_publication WHERE pubname = $1", cfg.Publication)
	if err != nil {
		return fmt.Errorf("postgres source: read publication %s: %w", cfg.Publication, err)
	}
	if len(exists) == 0 {
		if err := cfg.exec(ctx, conn, "CREATE PUBLICATION "+quoteIdent(cfg.Publication)+" FOR TABLE "+strings.Join(quoted, ", ")); err != nil {
			return fmt.Errorf("postgres source: create publication %s for %s (the user must own the tables, or create it beforehand): %w",
				cfg.Publication, strings.Join(cfg.Tables, ", "), err)
		}
		cfg.Logger.Info("postgres source: publication created", "publication", cfg.Publication, "tables", cfg.Tables)
		return nil
	}
	published := map[string]bool{}
	for _, r := range rows {
		published[string(r[0])] = true
	}
	var missing []string
	for i, n := range cfg.Tables {
		if !published[n] {
			missing = append(missing, quoted[i])
		}
	}
	if len(missing) > 0 {
		if err := cfg.exec(ctx, conn, "ALTER PUBLICATION "+quoteIdent(cfg.Publication)+" ADD TABLE "+strings.Join(missing, ", ")); err != nil {
			return fmt.Errorf("postgres source: add %s to publication %s: %w", strings.Join(missing, ", "), cfg.Publication, err)
		}
		cfg.Logger.Info("postgres source: tables added to the publication", "publication", cfg.Publication, "tables", missing)
	}
	return nil
}

// slotState is a replication slot as pg_replication_slots shows it (exists false: no such slot).
type slotState struct {
	exists         bool
	plugin, db     string
	active         bool
	activePID      string
	confirmedFlush pglogrepl.LSN
}

func (cfg *Config) slot(ctx context.Context, conn *pgconn.PgConn) (slotState, error) {
	rows, err := cfg.query(ctx, conn, `SELECT plugin, database, active, active_pid, confirmed_flush_lsn
		FROM pg_replication_slots WHERE slot_name = $1`, cfg.Slot)
	if err != nil {
		return slotState{}, fmt.Errorf("postgres source: read replication slot %s: %w", cfg.Slot, err)
	}
	if len(rows) == 0 {
		return slotState{}, nil
	}
	r := rows[0]
	s := slotState{exists: true, plugin: string(r[0]), db: string(r[1]), active: string(r[2]) == "t", activePID: string(r[3])}
	if r[4] != nil {
		if s.confirmedFlush, err = pglogrepl.ParseLSN(string(r[4])); err != nil {
			return s, fmt.Errorf("postgres source: slot %s: confirmed_flush_lsn %q: %w", cfg.Slot, r[4], err)
		}
	}
	return s, nil
}

// fenceSlot makes the slot free for this task: a connection still streaming it belongs to a predecessor
// of this task (a process that lost the task, or one being replaced), since the engine runs a task in one
// place at a time; it is terminated, and fenceSlot waits (at most QueryTimeout) until the slot is inactive.
func (cfg *Config) fenceSlot(ctx context.Context, conn *pgconn.PgConn) error {
	deadline := time.Now().Add(cfg.QueryTimeout)
	for {
		s, err := cfg.slot(ctx, conn)
		if err != nil || !s.exists || !s.active {
			return err
		}
		cfg.Logger.Warn("postgres source: the replication slot is in use by another connection (a previous reader of this task): terminating it",
			"slot", cfg.Slot, "pid", s.activePID)
		if _, err := cfg.query(ctx, conn, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active", cfg.Slot); err != nil {
			return fmt.Errorf("postgres source: slot %s is in use by process %s and terminating it failed: %w", cfg.Slot, s.activePID, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres source: slot %s is still in use by process %s", cfg.Slot, s.activePID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// closeConn closes conn within a few seconds.
func closeConn(conn *pgconn.PgConn) error {
	if conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return conn.Close(ctx)
}
