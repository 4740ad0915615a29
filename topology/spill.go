package topology

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// spillQueue is BUFFER's overflow on disk: a FIFO of consumed Kafka records (key, value, headers, partition,
// offset, timestamp, as read) in append-only segment files spill-NNNNNN.seg in one directory, written by
// hand (no library: a segment is a sequence of length-prefixed entries, read once front to back). A
// segment is removed as soon as every entry in it was read back. Nothing survives a restart: the records'
// offsets are not committed until the sink wrote them, so Kafka delivers them again, and newSpillQueue
// clears the directory. Not safe for concurrent use (sinkEdge.mu guards it).
type spillQueue struct {
	dir     string
	segs    []*spillSegment // oldest first; the last one is being appended to
	entries int
	size    int64 // spillEntrySize of the entries not yet read
	seq     int
}

// spillSegmentBytes is the size at which the queue starts a new segment.
const spillSegmentBytes = 4 << 20

type spillSegment struct {
	path    string
	w       *os.File
	bw      *bufio.Writer
	written int64
	r       *os.File
	br      *bufio.Reader
	entries int // written and not yet read
}

func newSpillQueue(dir string) (*spillQueue, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "spill-*.seg"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return nil, err
		}
	}
	return &spillQueue{dir: dir}, nil
}

// processSpillDir returns base/pid-<this process>, after removing the pid-N directories in base of processes
// that no longer run (their records were never committed: Kafka delivers them again).
func processSpillDir(base string) (string, error) {
	entries, err := os.ReadDir(base)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "pid-"))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "pid-") || err != nil || pid <= 0 {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			if err := os.RemoveAll(filepath.Join(base, e.Name())); err != nil {
				return "", err
			}
		}
	}
	return filepath.Join(base, fmt.Sprintf("pid-%d", os.Getpid())), nil
}

func (q *spillQueue) count() int   { return q.entries }
func (q *spillQueue) bytes() int64 { return q.size }

// spillEntrySize is what an entry counts against MaxDiskBytes: its payload plus a bound of its framing.
func spillEntrySize(o origin) int64 {
	n := int64(len(o.key)+len(o.value)) + 48
	for _, h := range o.headers {
		n += int64(len(h.Key)+len(h.Value)) + 20
	}
	return n
}

// append writes o at the end of the queue.
func (q *spillQueue) append(o origin) error {
	var tail *spillSegment
	if len(q.segs) > 0 {
		tail = q.segs[len(q.segs)-1]
	}
	if tail == nil || tail.bw == nil || tail.written >= spillSegmentBytes {
		if tail != nil && tail.bw != nil {
			if err := tail.seal(); err != nil {
				return err
			}
		}
		q.seq++
		path := filepath.Join(q.dir, fmt.Sprintf("spill-%06d.seg", q.seq))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		tail = &spillSegment{path: path, w: f, bw: bufio.NewWriterSize(f, 64<<10)}
		q.segs = append(q.segs, tail)
	}
	entry := encodeSpillEntry(o)
	var head [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(head[:], uint64(len(entry)))
	if _, err := tail.bw.Write(head[:n]); err != nil {
		return err
	}
	if _, err := tail.bw.Write(entry); err != nil {
		return err
	}
	tail.written += int64(n + len(entry))
	tail.entries++
	q.entries++
	q.size += spillEntrySize(o)
	return nil
}

// seal flushes and closes the segment's writer: nothing more is appended to it.
func (s *spillSegment) seal() error {
	err := s.bw.Flush()
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	s.bw, s.w = nil, nil
	return err
}

// next reads the oldest entry and removes a segment once it was read to the end.
func (q *spillQueue) next() (origin, error) {
	if q.entries == 0 {
		return origin{}, io.EOF
	}
	head := q.segs[0]
	if head.bw != nil {
		if err := head.bw.Flush(); err != nil {
			return origin{}, err
		}
	}
	if head.r == nil {
		f, err := os.Open(head.path)
		if err != nil {
			return origin{}, err
		}
		head.r, head.br = f, bufio.NewReaderSize(f, 64<<10)
	}
	size, err := binary.ReadUvarint(head.br)
	if err != nil {
		return origin{}, fmt.Errorf("segment %s: %w", head.path, err)
	}
	entry := make([]byte, size)
	if _, err := io.ReadFull(head.br, entry); err != nil {
		return origin{}, fmt.Errorf("segment %s: %w", head.path, err)
	}
	o, err := decodeSpillEntry(entry)
	if err != nil {
		return origin{}, fmt.Errorf("segment %s: %w", head.path, err)
	}
	head.entries--
	q.entries--
	q.size -= spillEntrySize(o)
	if head.entries == 0 {
		if err := head.remove(); err != nil {
			return origin{}, err
		}
		q.segs = q.segs[1:]
	}
	return o, nil
}

func (s *spillSegment) remove() error {
	if s.bw != nil {
		_ = s.w.Close()
		s.bw, s.w = nil, nil
	}
	if s.r != nil {
		_ = s.r.Close()
		s.r, s.br = nil, nil
	}
	return os.Remove(s.path)
}

// reset removes every segment.
func (q *spillQueue) reset() {
	for _, s := range q.segs {
		_ = s.remove()
	}
	q.segs, q.entries, q.size = nil, 0, 0
}

// files is how many segment files the queue has now.
func (q *spillQueue) files() int { return len(q.segs) }

// An entry: partition, offset, timestamp (Unix ns) as varints; key and value as uvarint(len+1) then bytes
// (0: nil); uvarint header count, then each header's key and value the same way.
func encodeSpillEntry(o origin) []byte {
	b := make([]byte, 0, spillEntrySize(o))
	b = binary.AppendVarint(b, int64(o.partition))
	b = binary.AppendVarint(b, o.offset)
	b = binary.AppendVarint(b, o.timestamp.UnixNano())
	b = appendSpillBytes(b, o.key)
	b = appendSpillBytes(b, o.value)
	b = binary.AppendUvarint(b, uint64(len(o.headers)))
	for _, h := range o.headers {
		b = appendSpillBytes(b, h.Key)
		b = appendSpillBytes(b, h.Value)
	}
	return b
}

func appendSpillBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

var errSpillEntry = errors.New("corrupt spill entry")

func decodeSpillEntry(b []byte) (origin, error) {
	var o origin
	rd := spillReader{b: b}
	o.partition = int32(rd.varint())
	o.offset = rd.varint()
	o.timestamp = time.Unix(0, rd.varint())
	o.key = rd.bytes()
	o.value = rd.bytes()
	n := rd.uvarint()
	if n > uint64(len(b)) {
		return origin{}, errSpillEntry
	}
	for range n {
		o.headers = append(o.headers, sarama.RecordHeader{Key: rd.bytes(), Value: rd.bytes()})
	}
	if rd.bad || len(rd.b) != 0 {
		return origin{}, errSpillEntry
	}
	return o, nil
}

type spillReader struct {
	b   []byte
	bad bool
}

func (r *spillReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *spillReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *spillReader) bytes() []byte {
	n := r.uvarint()
	if n == 0 || r.bad {
		return nil
	}
	if n-1 > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	v := make([]byte, n-1)
	copy(v, r.b[:n-1])
	r.b = r.b[n-1:]
	return v
}
