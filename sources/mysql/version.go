package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/sluicehq/sluice/stream"
)

// VersionHeader ("sluice.version", stream.VersionHeader) is the record header that carries a change event's
// source-position version, a decimal int64, which sinks/elasticsearch uses as the document's external
// version. Every record the source emits carries it: snapshot rows, inserts, updates, deletes and
// tombstones.
//
// # The version
//
// A version only grows along the binlog of one server (within one MariaDB GTID domain, or one MySQL
// server UUID), so that a consumer that keeps the highest version per key (Elasticsearch with
// version_type=external) never lets a replay, a duplicate or a stale producer make a document older:
//
//   - With GTIDs (MariaDB "domain-server-seq", MySQL "uuid:seq"): seq<<24 | index, where index is the
//     record's index in its transaction: 3 × (the row's ordinal among all rows of the transaction's rows
//     events, captured tables or not) + (0, 1, 2 for the row's delete, tombstone and create records; an
//     update or insert is 0). It depends only on the binlog, so a record read again after a restart gets
//     the same version.
//   - Without GTIDs (MySQL with gtid_mode OFF): fileIndex<<47 | eventPos<<15 | index, where fileIndex is
//     the binlog file's numeric suffix (bin.000042: 42), eventPos the rows event's offset in that file and
//     index 3 × (the row's index in the event) + (0, 1, 2 as above).
//   - Snapshot rows carry the version of the snapshot's binlog position: (seq+1)<<24 - 2^16 for the GTID
//     position's highest seq (the top 2^16 versions of each transaction's range are kept for rows read
//     after it), fileIndex<<47 | pos<<15 without GTIDs. Snapshot rows are therefore newer than every
//     change the snapshot contains and older than every change streamed after it. A snapshot resumed
//     after a restart takes the version of its own (new) position, while streaming resumes at the first
//     snapshot's: the changes streamed in between are older than the rows copied after the restart, which
//     already contain them, and are refused as such. Incremental-snapshot rows take the version of their
//     chunk's closing watermark (recordVersion). Rows read again by a Rereader (sluice verify's repairs)
//     take their read position's, a little above a snapshot's of the same position (+2^15; +2^14 without
//     GTIDs), so that a repair replaces what a snapshot there wrote.
//   - Schema-change records (DDL) carry none: they describe tables, not documents.
//
// Both forms are positive and fit in 63 bits. A version grows by 2^24 per transaction, so versions are
// larger than the Kafka offsets of the topic (unless it holds more than 2^24 records per transaction of
// the server), and an Elasticsearch index written before sources set this header (versioned by offsets)
// is upgraded in place by the first change of each document.
//
// # Limits
//
//   - A transaction with more than 5,570,560 rows ((2^24 - 2^16) / 3) in the GTID form, or a rows event
//     with more than 10,922 rows (2^15 / 3) without GTIDs: the records beyond share the form's last
//     index, so a later change of the same key in that same transaction or event can lose to an earlier
//     one. (MySQL's compressed transactions count the rows of all their events at the payload's offset.)
//   - GTID seq up to 2^39-1 (about 5.5e11 transactions); file index up to 65,535, event offset below 2^32.
//     Beyond, a record gets no header (and a warning is logged once) and the sink falls back to offsets.
//   - Versions of different GTID domains (MariaDB multi-source or multi-domain replication) or different
//     server UUIDs (MySQL after a failover to a new primary, whose own seq starts at 1 again) are not
//     comparable: after a failover the new primary's changes can be refused as older. The snapshot takes
//     the highest seq of its GTID position. Reindex (topology.Rebuild) after such a change, or turn the
//     header off with Config.NoVersionHeader.
//   - A server that switches gtid_mode, or a binlog whose base name changes, changes the form or restarts
//     the file index: the same applies.
const VersionHeader = stream.VersionHeader

const (
	versionIndexBits = 24 // GTID form: the record's index within the transaction
	versionSeqBits   = 63 - versionIndexBits
	versionEventBits = 15 // file/pos form: the record's index within the rows event
	versionPosBits   = 32
	versionFileBits  = 63 - versionPosBits - versionEventBits
	recordsPerRow    = 3 // a row makes at most a delete, its tombstone and a create
	// versionReadSlots are the top versions of each transaction's range (GTID form), kept for rows read at
	// the position after it: a snapshot's at the bottom of them, a Rereader's half-way up.
	versionReadSlots = 1 << 16
)

// recordVersion returns the version of one change record (see VersionHeader). gtid is the GTID of the
// record's transaction, one GTID: MariaDB "domain-server-seq" or MySQL "uuid:seq" ("uuid:tag:seq" too).
// With a GTID, index is the record's index within the transaction; without one (gtid ""), the version is
// taken from the binlog file name, the rows event's offset eventPos in it, and index, the record's index
// within that event. An index beyond its form's range is clamped to the last one (documented limit). It
// fails for a GTID or file name it cannot read, and for a seq, file index or offset beyond the 63 bits.
//
// Incremental snapshots call it with the GTID (or file and offset) of the chunk's closing watermark and
// index 0: the chunk's rows are then newer than every change before the watermark and older than every
// change after it.
func recordVersion(gtid string, index int, file string, eventPos uint64) (int64, error) {
	if index < 0 {
		index = 0
	}
	if gtid != "" {
		seq, err := gtidSeq(gtid)
		if err != nil {
			return 0, err
		}
		return gtidVersion(seq, index)
	}
	return fileVersion(file, eventPos, index)
}

// positionVersion returns the version of rows read at a binlog position by a snapshot (reread false) or
// by a Rereader (reread true): with a GTID position (MariaDB "d-s-n,d-s-n", MySQL
// "uuid:1-42:50-60,uuid2:1-5"; gtids: the server logs GTIDs, so an empty position is seq 0), in the top
// slots of its highest seq's range, (seq+1)<<24 - 2^16 (+ 2^15 for a reread); without GTIDs, the
// file/pos form at b.File and b.Pos (+ 2^14 for a reread; rows events after the position are at larger
// offsets). Either is above every record of the changes before the position and below every one after.
func positionVersion(b BinlogPosition, gtids, reread bool) (int64, error) {
	if gtids || strings.TrimSpace(b.GTID) != "" {
		seq, err := gtidSetMaxSeq(b.GTID)
		if err != nil {
			return 0, err
		}
		if seq+1 >= 1<<versionSeqBits {
			return 0, fmt.Errorf("gtid position %q: seq %d beyond the version's %d bits", b.GTID, seq, versionSeqBits)
		}
		v := int64((seq+1)<<versionIndexBits - versionReadSlots)
		if reread {
			v += versionReadSlots / 2
		}
		return v, nil
	}
	v, err := fileVersion(b.File, b.Pos, 0)
	if err == nil && reread {
		v += 1 << (versionEventBits - 1)
	}
	return v, err
}

func gtidVersion(seq uint64, index int) (int64, error) {
	if seq >= 1<<versionSeqBits {
		return 0, fmt.Errorf("gtid seq %d beyond the version's %d bits", seq, versionSeqBits)
	}
	return int64(seq<<versionIndexBits | uint64(min(index, 1<<versionIndexBits-versionReadSlots-1))), nil
}

func fileVersion(file string, pos uint64, index int) (int64, error) {
	n, err := binlogFileIndex(file)
	if err != nil {
		return 0, err
	}
	if n >= 1<<versionFileBits {
		return 0, fmt.Errorf("binlog file %s: index %d beyond the version's %d bits", file, n, versionFileBits)
	}
	if pos >= 1<<versionPosBits {
		return 0, fmt.Errorf("binlog file %s: offset %d beyond the version's %d bits", file, pos, versionPosBits)
	}
	return int64(n<<(versionPosBits+versionEventBits) | pos<<versionEventBits | uint64(min(index, 1<<versionEventBits-1))), nil
}

// binlogFileIndex is the numeric suffix of a binlog file name: "bin.000042" is 42.
func binlogFileIndex(file string) (uint64, error) {
	dot := strings.LastIndexByte(file, '.')
	if dot < 0 || dot == len(file)-1 {
		return 0, fmt.Errorf("binlog file name %q has no numeric suffix", file)
	}
	n, err := strconv.ParseUint(file[dot+1:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("binlog file name %q has no numeric suffix", file)
	}
	return n, nil
}

// gtidSeq returns the sequence number of one GTID: MariaDB "domain-server-seq" or MySQL "uuid:seq" (or
// "uuid:tag:seq", MySQL 8.4's tagged GTIDs).
func gtidSeq(gtid string) (uint64, error) {
	g := strings.TrimSpace(gtid)
	if i := strings.LastIndexByte(g, ':'); i >= 0 {
		n, err := strconv.ParseUint(g[i+1:], 10, 64)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("gtid %q is not uuid:seq", gtid)
		}
		return n, nil
	}
	domain, rest, ok1 := strings.Cut(g, "-")
	server, seq, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("gtid %q is neither domain-server-seq nor uuid:seq", gtid)
	}
	for _, p := range []string{domain, server} {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return 0, fmt.Errorf("gtid %q is not domain-server-seq", gtid)
		}
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("gtid %q is not domain-server-seq", gtid)
	}
	return n, nil
}

// gtidSetMaxSeq returns the highest sequence number of a GTID position: MariaDB's "d-s-n,d-s-n" (one GTID
// per domain) or a MySQL GTID set "uuid:1-42:50-60,uuid2:1-5" (newlines allowed, as MySQL prints them).
// An empty position is 0.
func gtidSetMaxSeq(set string) (uint64, error) {
	var max uint64
	for _, part := range strings.Split(set, ",") {
		part = strings.TrimFunc(part, unicode.IsSpace)
		if part == "" {
			continue
		}
		if !strings.Contains(part, ":") {
			n, err := gtidSeq(part)
			if err != nil {
				return 0, err
			}
			max = maxUint(max, n)
			continue
		}
		// uuid[:tag]:interval[:interval...]; an interval is n or a-b.
		fields := strings.Split(part, ":")
		for _, iv := range fields[1:] {
			hi := iv
			if dash := strings.IndexByte(iv, '-'); dash >= 0 {
				hi = iv[dash+1:]
			}
			n, err := strconv.ParseUint(hi, 10, 64)
			if err != nil {
				if len(fields) > 2 && iv == fields[1] {
					continue // a tag (MySQL 8.4: uuid:tag:interval)
				}
				return 0, fmt.Errorf("gtid set %q: interval %q is not n or a-b", set, iv)
			}
			max = maxUint(max, n)
		}
	}
	return max, nil
}

func maxUint(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// versionHeader is the header carrying version v.
func versionHeader(v int64) stream.Header {
	return stream.Header{Key: VersionHeader, Value: strconv.AppendInt(nil, v, 10)}
}

// setVersionHeader sets rec's VersionHeader to v, replacing one it had.
func setVersionHeader(rec *stream.Record, v int64) {
	for i := range rec.Headers {
		if rec.Headers[i].Key == VersionHeader {
			rec.Headers[i].Value = strconv.AppendInt(nil, v, 10)
			return
		}
	}
	rec.Headers = append(rec.Headers, versionHeader(v))
}

// binlogVersions gives the binlog reader's records their versions: it counts the rows of the current
// transaction's rows events (captured tables or not, skipped on resume or not, so that a record's index
// depends only on the binlog), and the rows of the events at one offset (the inner events of a MySQL
// compressed transaction all carry the payload event's offset).
type binlogVersions struct {
	trxGTID   string
	trxFile   string
	trxPos    uint64
	trxRows   int // rows of the transaction's rows events before the current one
	eventFile string
	eventPos  uint64
	eventRows int // rows of the earlier rows events at eventFile:eventPos
	warned    bool
}

// rowsVersionBase is what the versions of one rows event's records derive from.
type rowsVersionBase struct {
	gtid     string
	trxRow   int // ordinal of the event's first row in its transaction
	file     string
	eventPos uint64
	eventRow int // ordinal of the event's first row among the rows at file:eventPos
}

// rowsEvent counts the rows of rows event ev (e) of the reader's current transaction and returns the base
// of its records' versions. It is called for every rows event, captured or not.
func (r *binlogReader) rowsEvent(ev *replication.BinlogEvent, e *replication.RowsEvent) rowsVersionBase {
	v := &r.versions
	if r.trxGTID != v.trxGTID || r.trxFile != v.trxFile || r.trxPos != v.trxPos {
		v.trxGTID, v.trxFile, v.trxPos, v.trxRows = r.trxGTID, r.trxFile, r.trxPos, 0
	}
	pos := uint64(ev.Header.LogPos) - uint64(ev.Header.EventSize)
	if r.file != v.eventFile || pos != v.eventPos {
		v.eventFile, v.eventPos, v.eventRows = r.file, pos, 0
	}
	rows := len(e.Rows)
	if e.Type() == replication.EnumRowsEventTypeUpdate {
		rows /= 2
	}
	base := rowsVersionBase{gtid: r.trxGTID, trxRow: v.trxRows, file: r.file, eventPos: pos, eventRow: v.eventRows}
	v.trxRows += rows
	v.eventRows += rows
	return base
}

// setVersion gives rec the version of record k (0: the delete, update or insert; 1: a delete's tombstone;
// 2: the create of an update that changed the key) of row j of the rows event of base. A version that
// cannot be formed (see VersionHeader's limits) leaves rec without the header, with one warning per reader;
// Config.NoVersionHeader leaves every record without it.
func (r *binlogReader) setVersion(rec *stream.Record, base rowsVersionBase, j, k int) {
	if r.cfg.NoVersionHeader {
		return
	}
	index := (base.trxRow+j)*recordsPerRow + k
	if base.gtid == "" {
		index = (base.eventRow+j)*recordsPerRow + k
	}
	ver, err := recordVersion(base.gtid, index, base.file, base.eventPos)
	if err != nil {
		if !r.versions.warned {
			r.versions.warned = true
			r.log.Warn("change records get no "+VersionHeader+" header: sinks version them by Kafka offset", "gtid", base.gtid,
				"binlog_file", base.file, "binlog_pos", base.eventPos, "error", err)
		}
		return
	}
	setVersionHeader(rec, ver)
}

// snapshotVersion returns the version of the rows of a snapshot at position b (see positionVersion), or -1
// (with a warning) when it cannot be formed. Without a GTID in b it asks the server whether it logs GTIDs
// (MariaDB always does; MySQL when @@gtid_mode is ON or ON_PERMISSIVE), since streamed changes then carry
// the GTID form.
func snapshotVersion(ctx context.Context, log *slog.Logger, conn rowQueryer, b BinlogPosition) int64 {
	return readVersion(ctx, log, conn, b, false)
}

// readVersion is snapshotVersion, or with reread the version of a Rereader's rows (see positionVersion).
func readVersion(ctx context.Context, log *slog.Logger, conn rowQueryer, b BinlogPosition, reread bool) int64 {
	gtids := true
	if strings.TrimSpace(b.GTID) == "" {
		var mode sql.NullString
		// MariaDB has no gtid_mode: the query fails, and MariaDB logs GTIDs.
		if err := conn.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_mode").Scan(&mode); err == nil {
			gtids = strings.HasPrefix(strings.ToUpper(mode.String), "ON")
		}
	}
	v, err := positionVersion(b, gtids, reread)
	if err != nil {
		log.Warn("snapshot records get no "+VersionHeader+" header: sinks version them by Kafka offset",
			"gtid", b.GTID, "binlog_file", b.File, "binlog_pos", b.Pos, "error", err)
		return -1
	}
	return v
}

// setVersion gives a snapshot row the snapshot's version (see VersionHeader), unless Config.NoVersionHeader
// is set or the version could not be formed.
func (r *snapshotReader) setVersion(rec *stream.Record) {
	if r.cfg.NoVersionHeader || r.version < 0 {
		return
	}
	setVersionHeader(rec, r.version)
}

// rowQueryer is a *sql.Conn or *sql.DB.
type rowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// versionAt returns the version of rows read again at binlog position at, or -1 for none
// (Config.NoVersionHeader, or a version that cannot be formed). Rows read again and sent through the
// pipeline (sluice verify's repairs) thereby replace documents of changes up to at, snapshot rows of the
// same position included (and documents written over them behind the pipeline's back with internal
// versioning, up to 2^15 times in the GTID form, 2^14 without), and lose to changes streamed after at.
func (r *Rereader) versionAt(ctx context.Context, q rowQueryer, at BinlogPosition) int64 {
	if r.cfg.NoVersionHeader {
		return -1
	}
	log := r.cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return readVersion(ctx, log, q, at, true)
}

// setVersionAt gives rec version v (see versionAt); -1: none.
func setVersionAt(rec *stream.Record, v int64) {
	if v >= 0 {
		setVersionHeader(rec, v)
	}
}
