package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// flavor is the kind of server a task reads: MariaDB (GTID positions domain-server-seq, one per domain;
// BINLOG_GTID_POS; binlog_snapshot_file/position) or MySQL 8 and servers that speak its replication protocol,
// such as Dolt (GTID sets uuid:interval[:interval], @@gtid_executed and @@gtid_purged, SHOW BINARY LOG STATUS
// or SHOW MASTER STATUS, gtid_mode ON or OFF). It is detected once per Open from VERSION() and
// @@version_comment.
type flavor struct {
	// name is go-mysql's flavor: gomysql.MariaDBFlavor or gomysql.MySQLFlavor.
	name string
	// version is VERSION() as the server reports it, comment its @@version_comment.
	version, comment string
	// major, minor of a MySQL version (8, 0 for "8.0.31").
	major, minor int
	// gtidMode is @@gtid_mode on MySQL (ON, OFF, ON_PERMISSIVE, OFF_PERMISSIVE); "ON" on MariaDB, whose GTIDs
	// are always written.
	gtidMode string
}

// querier is what the flavor's queries run on: the pool, or the snapshot's connection.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// detectFlavor asks the server what it is.
func detectFlavor(ctx context.Context, q querier) (flavor, error) {
	var version, comment sql.NullString
	if err := q.QueryRowContext(ctx, "SELECT VERSION(), @@version_comment").Scan(&version, &comment); err != nil {
		return flavor{}, fmt.Errorf("mysql source: read server version: %w", err)
	}
	f := flavor{version: version.String, comment: comment.String}
	if strings.Contains(strings.ToLower(version.String+" "+comment.String), "mariadb") {
		f.name, f.gtidMode = gomysql.MariaDBFlavor, "ON"
		return f, nil
	}
	f.name = gomysql.MySQLFlavor
	parts := strings.SplitN(version.String, ".", 3)
	if len(parts) >= 2 {
		f.major, _ = strconv.Atoi(parts[0])
		f.minor, _ = strconv.Atoi(parts[1])
	}
	var mode sql.NullString
	if err := q.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_mode").Scan(&mode); err != nil {
		// MySQL before 5.6 has no GTIDs: file and offset positions only.
		mode.String = "OFF"
	}
	f.gtidMode = strings.ToUpper(mode.String)
	return f, nil
}

// mysql reports whether the server is MySQL (or speaks its replication protocol), not MariaDB.
func (f flavor) mysql() bool { return f.name == gomysql.MySQLFlavor }

// gtids reports whether positions carry GTIDs: always on MariaDB; with gtid_mode ON (or ON_PERMISSIVE, where
// the server writes GTIDs too) on MySQL.
func (f flavor) gtids() bool { return !f.mysql() || strings.HasPrefix(f.gtidMode, "ON") }

// parseGTID parses a position's GTID text in the flavor's syntax ("" is the empty set).
func (f flavor) parseGTID(s string) (gomysql.GTIDSet, error) {
	return gomysql.ParseGTIDSet(f.name, s)
}

// String names the server for messages: "MySQL 8.0.31 (Dolt)", "MySQL 8.4.2" or "MariaDB 11.4.2-MariaDB".
func (f flavor) String() string {
	if f.mysql() {
		if f.comment != "" && !strings.Contains(strings.ToLower(f.comment), "mysql") {
			return "MySQL " + f.version + " (" + f.comment + ")"
		}
		return "MySQL " + f.version
	}
	return "MariaDB " + f.version
}

// statusStatement is the statement giving the current binlog file, offset and (MySQL) Executed_Gtid_Set:
// SHOW BINARY LOG STATUS from MySQL 8.2 on (8.4 removed the old name), SHOW MASTER STATUS before.
func (f flavor) statusStatement() string {
	if f.mysql() && (f.major > 8 || f.major == 8 && f.minor >= 2) {
		return "SHOW BINARY LOG STATUS"
	}
	return "SHOW MASTER STATUS"
}

// currentPosition returns the server's current binlog position: the status statement's file and offset,
// and the GTID position there (MariaDB: BINLOG_GTID_POS; MySQL with gtid_mode ON: Executed_Gtid_Set; with
// gtid_mode OFF: none).
func (f flavor) currentPosition(ctx context.Context, q querier) (BinlogPosition, error) {
	var b BinlogPosition
	stmt := f.statusStatement()
	rows, err := q.QueryContext(ctx, stmt)
	if err != nil {
		return b, fmt.Errorf("mysql source: %s: %w", stmt, err)
	}
	cols, _ := rows.Columns()
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	executed := ""
	if rows.Next() {
		if err := rows.Scan(ptrs...); err == nil && len(vals) >= 2 {
			b.File = vals[0].String
			b.Pos, _ = strconv.ParseUint(vals[1].String, 10, 64)
			for i, c := range cols {
				if strings.EqualFold(c, "Executed_Gtid_Set") {
					executed = vals[i].String
				}
			}
		}
	}
	if err := rows.Close(); err != nil {
		return b, fmt.Errorf("mysql source: %s: %w", stmt, err)
	}
	if b.File == "" {
		return b, fmt.Errorf("mysql source: %w: %s reports no binlog file (is log_bin on?)", ErrBinlogConfig, stmt)
	}
	if f.mysql() {
		if f.gtids() {
			b.GTID = normalizeMySQLGTID(executed)
		}
		return b, nil
	}
	var gtid sql.NullString
	if err := q.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", b.File, b.Pos).Scan(&gtid); err != nil {
		return b, fmt.Errorf("mysql source: BINLOG_GTID_POS(%s, %d): %w", b.File, b.Pos, err)
	}
	b.GTID = gtid.String
	return b, nil
}

// normalizeMySQLGTID removes the line breaks MySQL puts after the commas of a long GTID set.
func normalizeMySQLGTID(s string) string {
	return strings.Join(strings.Fields(s), "")
}

// snapshotPosition returns the binlog position that a consistent-snapshot transaction, started on conn
// between the reads of before and now, is consistent with. MySQL has no binlog_snapshot_file: when the
// position did not move while the transaction started (before equals the position read now), the snapshot
// is exactly at it; otherwise a transaction committed meanwhile may or may not be in the snapshot, and the
// earlier position is returned, so that such a change is streamed again rather than lost (at-least-once,
// like a snapshot resumed after a restart).
func (f flavor) snapshotPosition(ctx context.Context, conn querier, before BinlogPosition) (pos BinlogPosition, exact bool, err error) {
	now, err := f.currentPosition(ctx, conn)
	if err != nil {
		return before, false, err
	}
	return before, now == before, nil
}

// oldestPosition describes the oldest position the server still has: its first binlog file (SHOW BINARY
// LOGS) and the GTID position at its start (MariaDB: BINLOG_GTID_POS(file, 4)) or the GTIDs it no longer has
// (MySQL: @@gtid_purged), as `bin.000007 (gtid "0-1-42")` or `binlog.000002 (gtid_purged "uuid:1-5")`.
func (f flavor) oldestPosition(ctx context.Context, q querier) string {
	files, err := binlogFiles(ctx, q)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	if len(files) == 0 {
		return "unknown"
	}
	file := files[0]
	if f.mysql() {
		var purged sql.NullString
		if err := q.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_purged").Scan(&purged); err != nil || !f.gtids() {
			return file
		}
		return fmt.Sprintf("%s (gtid_purged %q)", file, normalizeMySQLGTID(purged.String))
	}
	var gtid sql.NullString
	if err := q.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, 4)", file).Scan(&gtid); err != nil || !gtid.Valid {
		return file
	}
	return fmt.Sprintf("%s (gtid %q)", file, gtid.String)
}

// binlogFiles lists the server's binlog files, oldest first (SHOW BINARY LOGS).
func binlogFiles(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("SHOW BINARY LOGS: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var files []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("SHOW BINARY LOGS: %w", err)
		}
		files = append(files, string(vals[0]))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("SHOW BINARY LOGS: %w", err)
	}
	return files, nil
}

// purged reports, before a MySQL stream starts at from, whether the server no longer has what it needs:
// with a GTID set, when @@gtid_purged has a GTID that the set lacks (the server would answer ERROR 1236);
// with a file and offset, when the file is not among SHOW BINARY LOGS. MariaDB answers 1236 by itself at the
// first event.
func (f flavor) purged(ctx context.Context, q querier, from Position) (bool, error) {
	if !f.mysql() {
		return false, nil
	}
	if from.GTID != "" {
		var text sql.NullString
		if err := q.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_purged").Scan(&text); err != nil {
			return false, fmt.Errorf("mysql source: read gtid_purged: %w", err)
		}
		have, err := f.parseGTID(from.GTID)
		if err != nil {
			return false, fmt.Errorf("mysql source: position gtid %q: %w", from.GTID, err)
		}
		gone, err := f.parseGTID(normalizeMySQLGTID(text.String))
		if err != nil {
			return false, fmt.Errorf("mysql source: the server's gtid_purged %q: %w", text.String, err)
		}
		return !have.Contain(gone), nil
	}
	files, err := binlogFiles(ctx, q)
	if err != nil {
		return false, fmt.Errorf("mysql source: %w", err)
	}
	for _, name := range files {
		if name == from.File {
			return false, nil
		}
	}
	return true, nil
}

// mysqlGTID returns the GTID of a MySQL GTID event as "uuid:gno" (or "uuid:tag:gno"), the text a MySQL GTID
// set's Update takes, and "" for an anonymous transaction (gtid_mode OFF: the SID is all zeros).
func mysqlGTID(e *replication.GTIDEvent) (string, error) {
	anonymous := true
	for _, b := range e.SID {
		anonymous = anonymous && b == 0
	}
	if anonymous || e.GNO == 0 {
		return "", nil
	}
	if len(e.SID) != 16 {
		return "", fmt.Errorf("GTID event with a server UUID of %d bytes", len(e.SID))
	}
	b := e.SID
	u := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	if tag := e.Tag.String(); tag != "" {
		return fmt.Sprintf("%s:%s:%d", u, tag, e.GNO), nil
	}
	return fmt.Sprintf("%s:%d", u, e.GNO), nil
}

// binlogThroughGTID is COM_BINLOG_DUMP_GTID's flag BINLOG_THROUGH_GTID: the request carries a GTID set.
const (
	comBinlogDumpGTID  = 0x1e
	binlogThroughGTID  = 0x04
	packetHeaderLength = 4
)

// gtidFlagConn sets BINLOG_THROUGH_GTID in the COM_BINLOG_DUMP_GTID request go-mysql writes (with flags 0).
// MySQL reads the GTID set either way; Dolt reads it only with the flag set (as MySQL's own replicas send
// it), and streams from the first binlog file without it. go-mysql writes each packet of a request that
// short with a single Write, unencrypted unless TLS is on: over TLS the request cannot be changed here (MySQL
// does not need it; Dolt over TLS would replay from its first binlog file).
type gtidFlagConn struct {
	net.Conn
}

func (c gtidFlagConn) Write(p []byte) (int, error) {
	if len(p) > packetHeaderLength+2 && p[packetHeaderLength] == comBinlogDumpGTID {
		q := append([]byte(nil), p...)
		q[packetHeaderLength+1] |= binlogThroughGTID
		return c.Conn.Write(q)
	}
	return c.Conn.Write(p)
}

// dialer wraps dial so that MySQL GTID dump requests carry BINLOG_THROUGH_GTID (see gtidFlagConn).
func (f flavor) dialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if !f.mysql() {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return gtidFlagConn{c}, nil
	}
}

// mysqlTransaction starts a MySQL transaction at its GTID event (GTID_EVENT, or ANONYMOUS_GTID_EVENT with
// gtid_mode OFF, whose transaction has no GTID: the position is then the file and offset only). Whether it
// is one DDL statement or a BEGIN ... COMMIT transaction is told by its next Query event (ddl.go).
func (r *binlogReader) mysqlTransaction(ev *replication.BinlogEvent, e *replication.GTIDEvent) error {
	gtid, err := mysqlGTID(e)
	if err != nil {
		return fmt.Errorf("mysql source: binlog %s pos %d: %w", r.file, uint64(ev.Header.LogPos)-uint64(ev.Header.EventSize), err)
	}
	r.trxFile, r.trxPos = r.file, uint64(ev.Header.LogPos)-uint64(ev.Header.EventSize)
	r.trxGTID = gtid
	r.standalone = false
	r.rowsEvents = 0
	r.ddlTrx = ddlTrxState{}
	r.inTrx = true
	return nil
}

// payload handles a compressed transaction (MySQL 8.0.20+ with binlog_transaction_compression=ON: the
// transaction's GTID event, then one TRANSACTION_PAYLOAD_EVENT holding its Query, TableMap, rows and XID
// events, which go-mysql decompresses): its inner events are handled in order, as if they had been written
// uncompressed. The inner events have no offsets of their own in the binlog file, so each is given the
// payload event's: source.pos of its rows is the payload event's offset, and a position inside the
// transaction is, as for any transaction, its GTID event's offset plus the rows events and rows already
// emitted, so a restart inside a compressed transaction is as exact as inside an uncompressed one.
func (r *binlogReader) payload(ctx context.Context, ev *replication.BinlogEvent, e *replication.TransactionPayloadEvent, recs []stream.Record) ([]stream.Record, error) {
	for _, inner := range e.Events {
		in := *inner
		h := *inner.Header
		h.LogPos, h.EventSize = ev.Header.LogPos, ev.Header.EventSize
		if h.Timestamp == 0 {
			h.Timestamp = ev.Header.Timestamp
		}
		in.Header = &h
		var err error
		if recs, err = r.handle(ctx, &in, recs); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// positionBeforeSnapshot detects the server's flavor on the snapshot's connection and, on MySQL, reads the
// current binlog position just before the snapshot's transaction starts (see flavor.snapshotPosition).
func positionBeforeSnapshot(ctx context.Context, conn querier) (flavor, BinlogPosition, error) {
	fl, err := detectFlavor(ctx, conn)
	if err != nil || !fl.mysql() {
		return fl, BinlogPosition{}, err
	}
	before, err := fl.currentPosition(ctx, conn)
	return fl, before, err
}

// readFlavorSnapshotPosition sets the snapshot's binlog position: MariaDB's binlog_snapshot_file/position
// (readSnapshotPosition), or on MySQL flavor.snapshotPosition, logging when it is not exact.
func (r *snapshotReader) readFlavorSnapshotPosition(ctx context.Context, fl flavor, before BinlogPosition) error {
	if !fl.mysql() {
		return r.readSnapshotPosition(ctx)
	}
	pos, exact, err := fl.snapshotPosition(ctx, r.conn, before)
	if err != nil {
		return err
	}
	if !exact {
		r.log.Info("snapshot: transactions committed while the snapshot started; streaming from the position before them, so their changes may be read twice",
			"server", fl.String(), "gtid", pos.GTID, "binlog_file", pos.File, "binlog_pos", pos.Pos)
	}
	r.snap = pos
	return nil
}

// checkMySQLBinlog checks the binlog settings only MySQL has (vars: SHOW GLOBAL VARIABLES, names lower
// case, values upper case; MariaDB has neither variable): binlog_row_value_options must be empty, and a
// gtid_mode in transition (ON_PERMISSIVE, OFF_PERMISSIVE) is logged as a warning.
func checkMySQLBinlog(vars map[string]string, log *slog.Logger) []string {
	var problems []string
	if v := vars["binlog_row_value_options"]; v != "" {
		problems = append(problems, fmt.Sprintf("binlog_row_value_options is %s, must be empty (PARTIAL_JSON logs JSON updates without their full after image): run SET GLOBAL binlog_row_value_options = '' and add binlog_row_value_options= to the [mysqld] section of my.cnf", v))
	}
	switch mode := vars["gtid_mode"]; mode {
	case "ON_PERMISSIVE", "OFF_PERMISSIVE":
		if log != nil {
			target := strings.TrimSuffix(mode, "_PERMISSIVE")
			log.Warn("mysql source: gtid_mode is "+mode+": the binlog may hold transactions with and without GTIDs; the source reads both, and positions are GTID sets only while it started from one. Finish the transition: SET GLOBAL gtid_mode = "+target+" (and gtid_mode="+target+" in my.cnf)",
				"gtid_mode", mode)
		}
	case "", "ON", "OFF":
	default:
		problems = append(problems, fmt.Sprintf("gtid_mode is %s, must be ON or OFF: run SET GLOBAL gtid_mode = 'ON' (step by step: OFF_PERMISSIVE, ON_PERMISSIVE, ON) and add gtid_mode=ON and enforce_gtid_consistency=ON to the [mysqld] section of my.cnf", mode))
	}
	return problems
}

// serverIsMySQL reports whether db's server is MySQL (or speaks its protocol), not MariaDB; false when it
// cannot tell.
func serverIsMySQL(ctx context.Context, db queryer) bool {
	rows, err := db.QueryContext(ctx, "SELECT CONCAT(VERSION(), ' ', @@version_comment)")
	if err != nil {
		return false
	}
	defer rows.Close()
	var v string
	if !rows.Next() || rows.Scan(&v) != nil {
		return false
	}
	return !strings.Contains(strings.ToLower(v), "mariadb")
}

// startSnapshot is the statement that starts the snapshot's transaction: START TRANSACTION WITH CONSISTENT
// SNAPSHOT, READ ONLY on MariaDB; without READ ONLY on MySQL, because Dolt's parser refuses the two
// characteristics together (the connection only reads either way).
func (f flavor) startSnapshot() string {
	if f.mysql() {
		return "START TRANSACTION WITH CONSISTENT SNAPSHOT"
	}
	return "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
}

// keyFromCurrent returns the message key of binlog rows whose TableMap names no primary-key column: the key
// of the table's current definition (current, nil when unknown), when each of its columns is in t by name;
// else nil. MySQL and MariaDB write the primary key into FULL row metadata, so for them this only matters
// for a table that was keyless when the row was written and has a key now; Dolt writes no primary-key
// metadata at all, and its rows get their key from here.
func keyFromCurrent(current, t *table) []int {
	if current == nil || len(current.pk) == 0 {
		return nil
	}
	var key []int
	for _, i := range current.pk {
		j := -1
		for k := range t.columns {
			if t.columns[k].Name == current.columns[i].Name {
				j = k
			}
		}
		if j < 0 {
			return nil
		}
		key = append(key, j)
	}
	return key
}

// textOrBinary pairs each character type with its binary twin: the TableMap tells them apart only by the
// column's character set.
var textOrBinary = map[string]string{"char": "binary", "varchar": "varbinary", "tinytext": "tinyblob", "text": "blob",
	"mediumtext": "mediumblob", "longtext": "longblob"}

// fillsMissingMetadata reports whether cur, the current information_schema definition of a column of the
// same name, may stand for the TableMap's column fromTM although their mappings differ, because the
// TableMap lacks the metadata that tells them apart, and only by that: with no signedness bitmap although
// it has numeric columns, INT and INT UNSIGNED look alike; with no character sets although it has character
// columns, VARCHAR and VARBINARY (CHAR and BINARY of the same length, TEXT and BLOB) look alike. MySQL and
// MariaDB write both with binlog_row_metadata=FULL; Dolt writes neither. Everything else (nullability,
// fsp, ENUM and SET values) must agree; any other difference is left to sameMapping.
func fillsMissingMetadata(tm *replication.TableMapEvent, cur, fromTM *columnType) bool {
	numeric, character := false, false
	for i := 0; i < int(tm.ColumnCount); i++ {
		numeric = numeric || tm.IsNumericColumn(i)
		character = character || tm.IsCharacterColumn(i)
	}
	noSign := numeric && len(tm.SignednessBitmap) == 0
	noCharset := character && len(tm.DefaultCharset) == 0 && len(tm.ColumnCharset) == 0
	if cur.Nullable != fromTM.Nullable || cur.FSP != fromTM.FSP || !slices.Equal(cur.values, fromTM.values) {
		return false
	}
	switch {
	case noSign && cur.DataType == fromTM.DataType && cur.Unsigned() != fromTM.Unsigned():
		return true
	case noCharset && (textOrBinary[fromTM.DataType] == cur.DataType || textOrBinary[cur.DataType] == fromTM.DataType):
		if cur.DataType == "binary" || fromTM.DataType == "binary" {
			return bitLength(cur.ColumnType) == bitLength(fromTM.ColumnType)
		}
		return true
	}
	return false
}

// rotateName returns the binlog file a Rotate event names. go-mysql decodes the artificial Rotate event that
// starts a stream before it knows whether the server checksums its events (the format description comes
// next), so when the server does, as Dolt does, the name ends with the event's 4-byte CRC32: it is removed
// when the last 4 bytes of the event are the CRC32 of the bytes before them.
func rotateName(ev *replication.BinlogEvent, e *replication.RotateEvent) string {
	name := e.NextLogName
	raw := ev.RawData
	if n := len(raw); n >= 4 && len(name) >= 4 && bytes.HasSuffix(name, raw[n-4:]) &&
		crc32.ChecksumIEEE(raw[:n-4]) == binary.LittleEndian.Uint32(raw[n-4:]) {
		name = name[:len(name)-4]
	}
	return string(name)
}

// tableMapCollations returns the collation of each character column of tm (go-mysql's CollationMap). MySQL
// lists a COLUMN_CHARSET entry per character column only; Dolt lists one per column, 0 for the others, which
// go-mysql would hand to the wrong columns: such a list (as long as the columns, with fewer character
// columns) is read by column index.
func tableMapCollations(tm *replication.TableMapEvent) map[int]uint64 {
	characters := 0
	for i := 0; i < int(tm.ColumnCount); i++ {
		if tm.IsCharacterColumn(i) {
			characters++
		}
	}
	if len(tm.DefaultCharset) != 0 || len(tm.ColumnCharset) != int(tm.ColumnCount) || characters == int(tm.ColumnCount) {
		return tm.CollationMap()
	}
	out := map[int]uint64{}
	for i := 0; i < int(tm.ColumnCount); i++ {
		if tm.IsCharacterColumn(i) {
			out[i] = tm.ColumnCharset[i]
		}
	}
	return out
}

// notPurged is the error for an ERROR 1236 from a MySQL-flavour server whose gtid_purged the stream's GTID
// set contains, so that nothing it needs was purged. Dolt answers 1236 to a dump request that arrives while
// a transaction commits (its executed set already has the GTID, its available set not yet); the error is
// marked transient, so that the engine reopens the task at its position after a backoff instead of failing
// it, or when_needed re-snapshotting.
func (r *binlogReader) notPurged(err error) error {
	return sources.Transient(fmt.Errorf("mysql source: %s refused the binlog from gtid %q file %s pos %d although its gtid_purged is contained in it (a dump request during a commit): will retry: %w",
		r.flavor, r.from.GTID, r.from.File, r.from.Pos, err))
}
