package mysql

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// TestMySQLGTIDText: a MySQL GTID event gives "uuid:gno", which a MySQL GTID set takes; an anonymous one
// (gtid_mode OFF: zero SID, GNO 0) gives no GTID.
func TestMySQLGTIDText(t *testing.T) {
	sid := []byte{0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62}
	got, err := mysqlGTID(&replication.GTIDEvent{SID: sid, GNO: 23})
	if err != nil || got != "3e11fa47-71ca-11e1-9e33-c80aa9429562:23" {
		t.Fatalf("GTID event: %q, %v", got, err)
	}
	set, err := gomysql.ParseGTIDSet(gomysql.MySQLFlavor, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-22")
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Update(got); err != nil || set.String() != "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-23" {
		t.Fatalf("set updated with %s: %s, %v", got, set, err)
	}
	if anon, err := mysqlGTID(&replication.GTIDEvent{SID: make([]byte, 16)}); err != nil || anon != "" {
		t.Fatalf("anonymous GTID event: %q, %v", anon, err)
	}
	if _, err := mysqlGTID(&replication.GTIDEvent{SID: sid[:5], GNO: 1}); err == nil {
		t.Fatal("a 5-byte server UUID was accepted")
	}
}

// TestRotateNameWithoutChecksum: the artificial Rotate event of a server that checksums its events (Dolt)
// decodes with the CRC32 at the end of the name; rotateName removes exactly that, and leaves a name without
// one alone.
func TestRotateNameWithoutChecksum(t *testing.T) {
	event := func(name string, checksum bool) *replication.BinlogEvent {
		body := binary.LittleEndian.AppendUint64(nil, 4)
		body = append(body, name...)
		raw := make([]byte, replication.EventHeaderSize)
		raw[4] = byte(replication.ROTATE_EVENT)
		raw = append(raw, body...)
		if checksum {
			raw = binary.LittleEndian.AppendUint32(raw, crc32.ChecksumIEEE(raw))
		}
		e := &replication.RotateEvent{}
		if err := e.Decode(raw[replication.EventHeaderSize:]); err != nil {
			t.Fatal(err)
		}
		return &replication.BinlogEvent{RawData: raw, Header: &replication.EventHeader{EventType: replication.ROTATE_EVENT}, Event: e}
	}
	for _, checksum := range []bool{true, false} {
		ev := event("binlog-main.000001", checksum)
		if got := rotateName(ev, ev.Event.(*replication.RotateEvent)); got != "binlog-main.000001" {
			t.Errorf("checksum %v: %q", checksum, got)
		}
	}
}

// TestGTIDFlagConn: the COM_BINLOG_DUMP_GTID request go-mysql writes (flags 0) leaves the MySQL-flavour
// dialer's connection with BINLOG_THROUGH_GTID set; every other packet, and the caller's buffer, are
// unchanged.
func TestGTIDFlagConn(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	dial := flavor{name: gomysql.MySQLFlavor}.dialer(func(_ context.Context, _, _ string) (net.Conn, error) { return client, nil })
	c, err := dial(t.Context(), "tcp", "x")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dump := []byte{11, 0, 0, 0, comBinlogDumpGTID, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0}
	query := []byte{5, 0, 0, 0, 0x03, 'S', 'E', 'L', 'E', 'C'}
	sent := append(append([]byte(nil), dump...), query...)
	go func() {
		c.Write(dump)
		c.Write(query)
	}()
	got := make([]byte, len(sent))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), sent...)
	want[5] |= binlogThroughGTID
	if !bytes.Equal(got, want) {
		t.Errorf("on the wire % x, want % x", got, want)
	}
	if dump[5] != 0 {
		t.Error("the caller's buffer was changed")
	}
	if d := (flavor{name: gomysql.MariaDBFlavor}).dialer(nil); d != nil {
		t.Error("MariaDB's dialer was wrapped")
	}
}

// TestCheckMySQLBinlog: the MySQL-only settings: binlog_row_value_options=PARTIAL_JSON fails naming the fix,
// a gtid_mode in transition is a warning that names the mode, ON, OFF and MariaDB (neither variable) pass.
func TestCheckMySQLBinlog(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if p := checkMySQLBinlog(map[string]string{}, log); len(p) != 0 {
		t.Errorf("MariaDB: %v", p)
	}
	for _, mode := range []string{"ON", "OFF"} {
		if p := checkMySQLBinlog(map[string]string{"gtid_mode": mode, "binlog_row_value_options": ""}, log); len(p) != 0 {
			t.Errorf("gtid_mode %s: %v", mode, p)
		}
	}
	p := checkMySQLBinlog(map[string]string{"gtid_mode": "ON", "binlog_row_value_options": "PARTIAL_JSON"}, log)
	if len(p) != 1 || !strings.Contains(p[0], "binlog_row_value_options is PARTIAL_JSON") || !strings.Contains(p[0], "SET GLOBAL binlog_row_value_options = ''") {
		t.Errorf("PARTIAL_JSON: %v", p)
	}
	if logs.Len() != 0 {
		t.Errorf("warnings for settings that are fine: %s", logs.String())
	}
	if p := checkMySQLBinlog(map[string]string{"gtid_mode": "ON_PERMISSIVE"}, log); len(p) != 0 {
		t.Errorf("ON_PERMISSIVE failed the checks: %v", p)
	}
	if !strings.Contains(logs.String(), "gtid_mode is ON_PERMISSIVE") || !strings.Contains(logs.String(), "SET GLOBAL gtid_mode = ON") {
		t.Errorf("ON_PERMISSIVE: log %q", logs.String())
	}
}

// TestCompressedTransaction: a transaction compressed by MySQL 8.0.27 (binlog_transaction_compression=ON:
// its GTID event, then a TRANSACTION_PAYLOAD_EVENT holding BEGIN, three rows events and the XID; recorded
// bytes, see testdata/mysql8027-transaction-payload.README) is read as if uncompressed: its three rows
// events are counted as the transaction's events in order, and its XID, inside the payload, ends the
// transaction, so the GTID set grows by it and the reader is between transactions at the payload's end.
func TestCompressedTransaction(t *testing.T) {
	payload, err := os.ReadFile("testdata/mysql8027-transaction-payload.zst")
	if err != nil {
		t.Fatal(err)
	}
	header := func(typ replication.EventType, size, logPos int) []byte {
		h := make([]byte, replication.EventHeaderSize)
		binary.LittleEndian.PutUint32(h[0:], 1700000000)
		h[4] = byte(typ)
		binary.LittleEndian.PutUint32(h[5:], 1)
		binary.LittleEndian.PutUint32(h[9:], uint32(size))
		binary.LittleEndian.PutUint32(h[13:], uint32(logPos))
		return h
	}
	withCRC := func(b []byte) []byte { return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b)) }
	// The format description of the server that wrote it (go-mysql's test gives the same values).
	lengths := []byte{0x38, 0xd, 0x0, 0x8, 0x0, 0x12, 0x0, 0x4, 0x4, 0x4, 0x4, 0x12, 0x0, 0x0, 0x5c, 0x0, 0x4, 0x1a, 0x8, 0x0,
		0x0, 0x0, 0x8, 0x8, 0x8, 0x2, 0x0, 0x0, 0x0, 0xa, 0xa, 0xa, 0x19, 0x19, 0x0, 0x12, 0x34, 0x0, 0xa, 0x28, 0x0}
	fdeBody := binary.LittleEndian.AppendUint16(nil, 4)
	fdeBody = append(fdeBody, append([]byte("8.0.27"), make([]byte, 44)...)...)
	fdeBody = append(fdeBody, 0, 0, 0, 0, replication.EventHeaderSize)
	fdeBody = append(append(fdeBody, lengths...), byte(replication.BINLOG_CHECKSUM_ALG_CRC32))
	fde := withCRC(append(header(replication.FORMAT_DESCRIPTION_EVENT, replication.EventHeaderSize+len(fdeBody)+4, 126), fdeBody...))
	body := []byte{replication.OTW_PAYLOAD_SIZE_FIELD, 2, byte(len(payload)), byte(len(payload) >> 8),
		replication.OTW_PAYLOAD_COMPRESSION_TYPE_FIELD, 1, replication.ZSTD,
		replication.OTW_PAYLOAD_UNCOMPRESSED_SIZE_FIELD, 3, 0xfc, 0x8a, 0x09, replication.OTW_PAYLOAD_HEADER_END_MARK}
	body = append(body, payload...)
	const payloadStart = 1000
	size := replication.EventHeaderSize + len(body) + 4
	raw := withCRC(append(header(replication.TRANSACTION_PAYLOAD_EVENT, size, payloadStart+size), body...))

	p := replication.NewBinlogParser()
	p.SetFlavor(gomysql.MySQLFlavor)
	if _, err := p.Parse(fde); err != nil {
		t.Fatalf("format description: %v", err)
	}
	ev, err := p.Parse(raw)
	if err != nil {
		t.Fatalf("payload event: %v", err)
	}
	pe, ok := ev.Event.(*replication.TransactionPayloadEvent)
	if !ok || len(pe.Events) != 8 {
		t.Fatalf("decoded %T with %d inner events", ev.Event, len(pe.Events))
	}

	sid := []byte{0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62}
	gtidEvent := &replication.BinlogEvent{Header: &replication.EventHeader{EventType: replication.GTID_EVENT, LogPos: payloadStart, EventSize: 79},
		Event: &replication.GTIDEvent{SID: sid, GNO: 8}}
	set, _ := gomysql.ParseGTIDSet(gomysql.MySQLFlavor, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-7")
	r := &binlogReader{flavor: flavor{name: gomysql.MySQLFlavor}, gtid: set, trackGTID: true, file: "binlog.000003", lag: new(binlogLag),
		include: map[tableName]bool{}, databases: map[string]bool{}}
	// Skip the rows events as a reopened task skips those it emitted: the rows need no table definitions.
	r.skip = &Position{Phase: PhaseStream, EventsSkip: 3}
	if _, err := r.handle(t.Context(), gtidEvent, nil); err != nil {
		t.Fatal(err)
	}
	if !r.inTrx || r.trxGTID != "3e11fa47-71ca-11e1-9e33-c80aa9429562:8" || r.trxPos != payloadStart-79 {
		t.Fatalf("after the GTID event: inTrx %v gtid %q pos %d", r.inTrx, r.trxGTID, r.trxPos)
	}
	var seen []string
	for i, inner := range pe.Events {
		// The same path as the payload event takes, one inner event at a time, to watch the counts.
		one := *pe
		one.Events = pe.Events[i : i+1]
		if _, err := r.handle(t.Context(), &replication.BinlogEvent{Header: ev.Header, Event: &one}, nil); err != nil {
			t.Fatalf("inner event %d (%s): %v", i, inner.Header.EventType, err)
		}
		seen = append(seen, fmt.Sprintf("%s:%d", inner.Header.EventType, r.rowsEvents))
	}
	want := "QueryEvent:0 TableMapEvent:0 WriteRowsEventV2:1 TableMapEvent:1 UpdateRowsEventV2:2 TableMapEvent:2 DeleteRowsEventV2:3 XIDEvent:0"
	if strings.Join(seen, " ") != want {
		t.Errorf("inner events and rows events counted:\n got  %s\n want %s", strings.Join(seen, " "), want)
	}
	if r.inTrx || r.gtid.String() != "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-8" || r.logPos != uint64(payloadStart+size) {
		t.Errorf("after the payload: inTrx %v, gtid set %s, offset %d (want between transactions, :1-8, %d)", r.inTrx, r.gtid, r.logPos, payloadStart+size)
	}
	// The whole payload event at once ends in the same state.
	set, _ = gomysql.ParseGTIDSet(gomysql.MySQLFlavor, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-7")
	whole := &binlogReader{flavor: flavor{name: gomysql.MySQLFlavor}, gtid: set, trackGTID: true, file: "binlog.000003", lag: new(binlogLag),
		include: map[tableName]bool{}, databases: map[string]bool{}, skip: &Position{Phase: PhaseStream, EventsSkip: 3}}
	for _, e := range []*replication.BinlogEvent{gtidEvent, ev} {
		if _, err := whole.handle(t.Context(), e, nil); err != nil {
			t.Fatal(err)
		}
	}
	if whole.inTrx || whole.gtid.String() != r.gtid.String() || whole.logPos != r.logPos {
		t.Errorf("whole payload: inTrx %v, gtid set %s, offset %d", whole.inTrx, whole.gtid, whole.logPos)
	}
}

// TestFillsMissingMetadata: a current definition stands in for a binlog column only where the TableMap
// lacks the metadata that tells them apart (Dolt: no signedness, no character sets), and only for the
// difference that metadata would have told.
func TestFillsMissingMetadata(t *testing.T) {
	col := func(dataType, columnType string) *columnType {
		ct, err := mapColumn(Column{Name: "c", DataType: dataType, ColumnType: columnType, Nullable: true, Precision: 10})
		if err != nil {
			t.Fatal(err)
		}
		return &ct
	}
	dolt := &replication.TableMapEvent{ColumnCount: 2, ColumnType: []byte{gomysql.MYSQL_TYPE_LONG, gomysql.MYSQL_TYPE_VARCHAR}, ColumnMeta: []uint16{0, 40}}
	mysql := &replication.TableMapEvent{ColumnCount: 2, ColumnType: []byte{gomysql.MYSQL_TYPE_LONG, gomysql.MYSQL_TYPE_VARCHAR}, ColumnMeta: []uint16{0, 40},
		SignednessBitmap: []byte{0}, ColumnCharset: []uint64{255}}
	for _, c := range []struct {
		tm           *replication.TableMapEvent
		server       string
		current, tm2 *columnType
		want         bool
	}{
		{dolt, "dolt", col("int", "int unsigned"), col("int", "int"), true},
		{dolt, "dolt", col("varbinary", "varbinary(40)"), col("varchar", "varchar(40)"), true},
		{dolt, "dolt", col("binary", "binary(8)"), col("char", "char(4)"), false},
		{dolt, "dolt", col("bigint", "bigint"), col("int", "int"), false},
		{dolt, "dolt", col("varchar", "varchar(40)"), col("varchar", "varchar(40)"), false},
		{mysql, "mysql", col("int", "int unsigned"), col("int", "int"), false},
		{mysql, "mysql", col("varbinary", "varbinary(40)"), col("varchar", "varchar(40)"), false},
	} {
		if got := fillsMissingMetadata(c.tm, c.current, c.tm2); got != c.want {
			t.Errorf("%s: current %s for binlog %s: %v, want %v", c.server, c.current.ColumnType, c.tm2.ColumnType, got, c.want)
		}
	}
}
