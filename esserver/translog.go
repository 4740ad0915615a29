package esserver

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// ErrDataDirLocked is returned by Start when another server (in this or another process) holds the
// exclusive lock on Config.DataDir.
var ErrDataDirLocked = errors.New("esserver: data directory is locked by another server")

const (
	translogFile = "translog.log"
	lockFile     = "LOCK"
	recordHeader = 8 // uint32 payload length + uint32 CRC-32C of the payload, both little endian
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// logRecord is one entry of the translog. Op is create_index, delete_index, mapping, index or delete.
type logRecord struct {
	Op      string          `json:"op"`
	Index   string          `json:"index"`
	UUID    string          `json:"uuid,omitempty"`
	Created int64           `json:"created,omitempty"` // index creation, unix millis
	Mapping json.RawMessage `json:"mapping,omitempty"`
	ID      string          `json:"id,omitempty"`
	Version int64           `json:"version,omitempty"`
	SeqNo   int64           `json:"seq_no,omitempty"`
	Source  json.RawMessage `json:"source,omitempty"`
	Time    int64           `json:"time,omitempty"`    // delete time, unix millis (for gc_deletes)
	Aliases json.RawMessage `json:"aliases,omitempty"` // op "aliases": the whole alias table (aliases.go)
}

// translog is the append-only write-ahead log of a durable server, like Elasticsearch's translog with
// index.translog.durability=request: a write is acknowledged only after its record is fsynced.
type translog struct {
	dir    string
	lock   *os.File
	f      *os.File
	log    *slog.Logger
	mu     sync.Mutex
	failed error // a failed write or sync: the log may hold a partial record, so no later write may follow it
}

// fail records the first write or sync failure; every later write and sync returns it (like Elasticsearch
// failing the engine), because the log may end with a partial record that later records must not follow.
func (t *translog) fail(err error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed == nil && err != nil {
		t.failed = fmt.Errorf("translog failed: %w", err)
	}
	return t.failed
}

// openTranslog locks dir, reads every intact record and truncates a torn or corrupt tail (the remains of
// a write interrupted by a crash, which was therefore never acknowledged).
func openTranslog(dir string, log *slog.Logger) (*translog, []logRecord, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("esserver: data dir: %w", err)
	}
	lockPath := filepath.Join(dir, lockFile)
	lf, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("esserver: open %s: %w", lockPath, err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, nil, fmt.Errorf("%w: flock %s: %v", ErrDataDirLocked, lockPath, err)
	}
	t := &translog{dir: dir, lock: lf, log: log}
	path := filepath.Join(dir, translogFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.unlock()
		return nil, nil, fmt.Errorf("esserver: open translog: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		t.unlock()
		return nil, nil, fmt.Errorf("esserver: read translog: %w", err)
	}
	records, good := decodeRecords(data)
	if good < len(data) {
		log.Warn("esserver: translog has a torn or corrupt tail; discarding it",
			"path", path, "valid_bytes", good, "discarded_bytes", len(data)-good)
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			t.unlock()
			return nil, nil, fmt.Errorf("esserver: truncate translog: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			t.unlock()
			return nil, nil, fmt.Errorf("esserver: sync translog: %w", err)
		}
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		t.unlock()
		return nil, nil, err
	}
	t.f = f
	return t, records, nil
}

// decodeRecords returns the records up to the first incomplete or corrupt one, and the byte length of
// that valid prefix.
func decodeRecords(data []byte) ([]logRecord, int) {
	var out []logRecord
	off := 0
	for len(data)-off >= recordHeader {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n > len(data)-off-recordHeader {
			break
		}
		payload := data[off+recordHeader : off+recordHeader+n]
		if crc32.Checksum(payload, crcTable) != sum {
			break
		}
		var r logRecord
		if err := json.Unmarshal(payload, &r); err != nil {
			break
		}
		out = append(out, r)
		off += recordHeader + n
	}
	return out, off
}

func appendRecord(buf []byte, r *logRecord) []byte {
	payload, _ := json.Marshal(r)
	var hdr [recordHeader]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(payload, crcTable))
	return append(append(buf, hdr[:]...), payload...)
}

// write appends encoded records; callers hold the server's write lock so the log order is the apply order.
func (t *translog) write(buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	if err := t.fail(nil); err != nil {
		return err
	}
	if _, err := t.f.Write(buf); err != nil {
		return t.fail(err)
	}
	return nil
}

// sync makes every record written so far durable. One sync covers all requests that wrote before it.
func (t *translog) sync() error {
	if err := t.fail(nil); err != nil {
		return err
	}
	if err := t.f.Sync(); err != nil {
		return t.fail(err)
	}
	return nil
}

// rewrite replaces the log with records (a snapshot of the current state), atomically: write a temporary
// file, fsync it, rename it over the log, fsync the directory.
func (t *translog) rewrite(records []logRecord) error {
	var buf []byte
	for i := range records {
		buf = appendRecord(buf, &records[i])
	}
	tmp := filepath.Join(t.dir, translogFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := os.Rename(tmp, filepath.Join(t.dir, translogFile)); err != nil {
		f.Close()
		return err
	}
	if d, err := os.Open(t.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	t.f.Close()
	t.f = f
	return nil
}

func (t *translog) unlock() {
	_ = syscall.Flock(int(t.lock.Fd()), syscall.LOCK_UN)
	t.lock.Close()
}

func (t *translog) close() error {
	err := t.f.Sync()
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	t.unlock()
	return err
}
