package mysql

import (
	"strconv"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
)

func mustVersion(t *testing.T, gtid string, index int, file string, pos uint64) int64 {
	t.Helper()
	v, err := recordVersion(gtid, index, file, pos)
	if err != nil {
		t.Fatalf("recordVersion(%q, %d, %q, %d): %v", gtid, index, file, pos, err)
	}
	if v <= 0 {
		t.Fatalf("recordVersion(%q, %d, %q, %d) = %d, want > 0", gtid, index, file, pos, v)
	}
	return v
}

func TestVersionGTIDMonotonic(t *testing.T) {
	// Records in binlog order: each version strictly greater than the one before, across rows, records of a
	// row and transactions, for both GTID forms.
	for _, form := range []struct {
		name string
		gtid func(seq int) string
	}{
		{"mariadb", func(seq int) string { return "0-1-" + strconv.Itoa(seq) }},
		{"mysql", func(seq int) string { return "3e11fa47-71ca-11e1-9e33-c80aa9429562:" + strconv.Itoa(seq) }},
		{"mysql-tagged", func(seq int) string { return "3e11fa47-71ca-11e1-9e33-c80aa9429562:tag:" + strconv.Itoa(seq) }},
	} {
		t.Run(form.name, func(t *testing.T) {
			var prev int64
			for _, seq := range []int{1, 2, 3, 1000, 1 << 20, 1<<39 - 1} {
				for row := range 4 {
					for k := range recordsPerRow {
						v := mustVersion(t, form.gtid(seq), row*recordsPerRow+k, "bin.000001", 400)
						if v <= prev {
							t.Fatalf("seq %d row %d record %d: version %d not above the previous %d", seq, row, k, v, prev)
						}
						prev = v
					}
				}
				// The last record of a huge transaction is still below the next transaction's first.
				if v := mustVersion(t, form.gtid(seq), 1<<30, "", 0); v <= prev {
					t.Fatalf("seq %d: clamped index version %d not above %d", seq, v, prev)
				} else {
					prev = v
				}
			}
		})
	}
	if _, err := recordVersion("0-1-"+strconv.Itoa(1<<39), 0, "", 0); err == nil {
		t.Fatal("seq 2^39: no error, want one (beyond 63 bits)")
	}
	for _, bad := range []string{"0-1", "x-1-2", "uuid:", "uuid:abc", "0-1-2-3"} {
		if _, err := recordVersion(bad, 0, "", 0); err == nil {
			t.Errorf("gtid %q: no error, want one", bad)
		}
	}
}

func TestVersionFilePosMonotonic(t *testing.T) {
	var prev int64
	for _, file := range []string{"bin.000001", "bin.000002", "mysql-bin.000999", "bin.065535"} {
		for _, pos := range []uint64{4, 400, 1 << 20, 1<<32 - 1} {
			for row := range 3 {
				for k := range recordsPerRow {
					v := mustVersion(t, "", row*recordsPerRow+k, file, pos)
					if v <= prev {
						t.Fatalf("%s:%d row %d record %d: version %d not above %d", file, pos, row, k, v, prev)
					}
					prev = v
				}
			}
		}
	}
	for _, c := range []struct {
		file string
		pos  uint64
	}{{"bin.065536", 4}, {"bin.000001", 1 << 32}, {"bin", 4}, {"bin.x", 4}} {
		if _, err := recordVersion("", 0, c.file, c.pos); err == nil {
			t.Errorf("file %q pos %d: no error, want one", c.file, c.pos)
		}
	}
}

func TestVersionSnapshotBelowStream(t *testing.T) {
	for _, c := range []struct {
		pos        BinlogPosition
		gtids      bool
		contained  []string // transactions in the snapshot: their records are <= the snapshot's version
		afterwards string   // the next transaction: its first record is above it
	}{
		{BinlogPosition{GTID: "0-1-42", File: "bin.000003", Pos: 1234}, true, []string{"0-1-42", "0-1-1"}, "0-1-43"},
		{BinlogPosition{GTID: "", File: "bin.000001", Pos: 4}, true, nil, "0-1-1"}, // a fresh MariaDB server
		{BinlogPosition{GTID: "0-1-42,1-2-7", File: "bin.000003", Pos: 1234}, true, []string{"1-2-7"}, "0-1-43"},
		{BinlogPosition{GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-42", File: "binlog.000001", Pos: 9000}, true,
			[]string{"3e11fa47-71ca-11e1-9e33-c80aa9429562:42"}, "3e11fa47-71ca-11e1-9e33-c80aa9429562:43"},
		{BinlogPosition{GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-42,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3",
			File: "binlog.000001", Pos: 9000}, true, []string{"3e11fa47-71ca-11e1-9e33-c80aa9429562:42"}, "3e11fa47-71ca-11e1-9e33-c80aa9429562:43"},
	} {
		snap, err := positionVersion(c.pos, c.gtids, false)
		if err != nil {
			t.Fatalf("%+v: %v", c.pos, err)
		}
		for _, g := range c.contained {
			if v := mustVersion(t, g, 1<<30, "", 0); v > snap {
				t.Errorf("%q: a record of %s in the snapshot has version %d above the snapshot's %d", c.pos.GTID, g, v, snap)
			}
		}
		if v := mustVersion(t, c.afterwards, 0, "", 0); v <= snap {
			t.Errorf("%q: the first record of %s, streamed after the snapshot, has version %d, not above the snapshot's %d",
				c.pos.GTID, c.afterwards, v, snap)
		}
		// A Rereader's rows at the same position: above the snapshot's, still below the next change.
		reread, err := positionVersion(c.pos, c.gtids, true)
		if err != nil {
			t.Fatal(err)
		}
		if next := mustVersion(t, c.afterwards, 0, "", 0); reread <= snap || reread >= next {
			t.Errorf("%q: reread version %d not between the snapshot's %d and the next change's %d", c.pos.GTID, reread, snap, next)
		}
	}
	// Without GTIDs: the file/pos form; rows events after the snapshot's position are above it, those
	// before below.
	snap, err := positionVersion(BinlogPosition{File: "bin.000007", Pos: 5000}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if v := mustVersion(t, "", 1<<20, "bin.000007", 4900); v >= snap {
		t.Errorf("record before the snapshot: %d >= %d", v, snap)
	}
	if v := mustVersion(t, "", 0, "bin.000007", 5100); v <= snap {
		t.Errorf("record after the snapshot: %d <= %d", v, snap)
	}
	if v := mustVersion(t, "", 0, "bin.000008", 4); v <= snap {
		t.Errorf("record in the next file: %d <= %d", v, snap)
	}
	reread, err := positionVersion(BinlogPosition{File: "bin.000007", Pos: 5000}, false, true)
	if err != nil {
		t.Fatal(err)
	}
	// The next rows event after the position is at least a GTID (or anonymous GTID) event further on.
	if next := mustVersion(t, "", 0, "bin.000007", 5019); reread <= snap || reread >= next {
		t.Errorf("file/pos reread version %d not between the snapshot's %d and the next change's %d", reread, snap, next)
	}
	if _, err := positionVersion(BinlogPosition{GTID: "3e11fa47:1-x"}, true, false); err == nil || !strings.Contains(err.Error(), "1-x") {
		t.Errorf("bad gtid set: %v, want an error naming the interval", err)
	}
}

func TestBinlogVersionsCountRowsPerTransaction(t *testing.T) {
	r := &binlogReader{file: "bin.000001", trxGTID: "0-1-5", trxFile: "bin.000001", trxPos: 100}
	event := func(pos uint32, rows int) (*replication.BinlogEvent, *replication.RowsEvent) {
		return &replication.BinlogEvent{Header: &replication.EventHeader{LogPos: pos + 50, EventSize: 50}},
			&replication.RowsEvent{Rows: make([][]any, rows)}
	}
	check := func(what string, got rowsVersionBase, trxRow, eventRow int) {
		t.Helper()
		if got.trxRow != trxRow || got.eventRow != eventRow {
			t.Fatalf("%s: trxRow %d eventRow %d, want %d and %d", what, got.trxRow, got.eventRow, trxRow, eventRow)
		}
	}
	check("first event", r.rowsEvent(event(200, 10)), 0, 0)
	check("second event", r.rowsEvent(event(300, 3)), 10, 0)
	// Inner events of a compressed transaction share the payload's offset: their rows are counted on.
	check("first inner event", r.rowsEvent(event(400, 2)), 13, 0)
	check("second inner event", r.rowsEvent(event(400, 2)), 15, 2)
	r.trxGTID, r.trxPos = "0-1-6", 900
	check("next transaction", r.rowsEvent(event(1000, 3)), 0, 0)
}
