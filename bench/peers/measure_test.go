package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// pollInterval is how often the harness reads a topic's end offsets.
const pollInterval = 50 * time.Millisecond

// topicCounter follows one topic: the sum of its partitions' end offsets (polled), and the number of records
// with a non-null value (consumed) from a base position on. Tombstones and any other null-valued record are
// not counted.
type topicCounter struct {
	client sarama.Client
	topic  string
	next   map[int32]int64 // the next offset to consume per partition
	count  int64           // non-null records consumed from the base on
	found  map[string]bool // needles seen in consumed values (markers)
	logf   func(string, ...any)
}

// newTopicCounter starts counting at the topic's current end (every partition from 0 when the topic does not
// exist yet), or at offset 0 when fromStart is set: a topic that a tool creates for one run (the snapshot's)
// may already hold records by the time the harness first looks.
func newTopicCounter(client sarama.Client, topic string, fromStart bool, logf func(string, ...any)) (*topicCounter, error) {
	c := &topicCounter{client: client, topic: topic, next: map[int32]int64{}, found: map[string]bool{}, logf: logf}
	if fromStart {
		return c, nil
	}
	ends, err := c.endOffsets()
	if err != nil {
		return nil, err
	}
	for p, o := range ends {
		c.next[p] = o
	}
	return c, nil
}

// endOffsets returns every partition's end offset; an empty map when the topic does not exist (yet).
func (c *topicCounter) endOffsets() (map[int32]int64, error) {
	parts, err := c.client.Partitions(c.topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return map[int32]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("topic %s: partitions: %w", c.topic, err)
	}
	ends := make(map[int32]int64, len(parts))
	for _, p := range parts {
		o, err := c.client.GetOffset(c.topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("topic %s partition %d: end offset: %w", c.topic, p, err)
		}
		ends[p] = o
	}
	return ends, nil
}

func sumOffsets(m map[int32]int64) int64 {
	var s int64
	for _, o := range m {
		s += o
	}
	return s
}

// pending is the number of offsets between where counting stands and ends.
func (c *topicCounter) pending(ends map[int32]int64) int64 {
	var n int64
	for p, e := range ends {
		n += e - c.next[p]
	}
	return n
}

// consume reads every partition from where the last call stopped up to ends, counting non-null values and
// noting which of needles appear in them.
func (c *topicCounter) consume(ctx context.Context, ends map[int32]int64, needles ...string) error {
	var consumer sarama.Consumer
	for p, end := range ends {
		from := c.next[p]
		if end <= from {
			continue
		}
		if consumer == nil {
			var err error
			if consumer, err = sarama.NewConsumerFromClient(c.client); err != nil {
				return fmt.Errorf("topic %s: consumer: %w", c.topic, err)
			}
			defer consumer.Close()
		}
		pc, err := consumer.ConsumePartition(c.topic, p, from)
		if err != nil {
			return fmt.Errorf("topic %s partition %d: consume from offset %d: %w", c.topic, p, from, err)
		}
		err = func() error {
			defer pc.Close()
			idle := time.NewTimer(30 * time.Second)
			defer idle.Stop()
			for c.next[p] < end {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-idle.C:
					return fmt.Errorf("topic %s partition %d: no record for 30 s at offset %d (end %d)", c.topic, p, c.next[p], end)
				case err := <-pc.Errors():
					return fmt.Errorf("topic %s partition %d: %w", c.topic, p, err)
				case m := <-pc.Messages():
					idle.Reset(30 * time.Second)
					if m.Value != nil {
						c.count++
						for _, n := range needles {
							if !c.found[n] && bytes.Contains(m.Value, []byte(n)) {
								c.found[n] = true
							}
						}
					}
					c.next[p] = m.Offset + 1
				}
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// arrival is what waitRecords saw.
type arrival struct {
	First   time.Time // the first new record's end offset was seen
	Last    time.Time // the end offsets reached the last wanted record
	Counted int64     // non-null records counted from the base
	Ends    int64     // sum of end offsets at the end
}

// waitRecords polls the end offsets every 50 ms until the topic holds want non-null records past the
// counter's base, calling onFirst when the first new offset appears. Offsets include tombstones, so when they
// reach the target the new records are consumed and counted, and the target moves on by the shortfall until
// the count is reached. On ctx's end the records seen so far are counted and an error says how many.
func (c *topicCounter) waitRecords(ctx context.Context, want int64, onFirst func()) (arrival, error) {
	var a arrival
	baseSum := sumOffsets(c.next)
	target := baseSum + want
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	lastLog := time.Now()
	var consumed time.Duration
	for {
		ends, err := c.endOffsets()
		now := time.Now()
		if now.Sub(lastLog) >= 5*time.Second {
			lastLog = now
			if err != nil {
				c.logf("topic %s: %v", c.topic, err)
			} else {
				c.logf("topic %s: end offsets %d of at least %d (base %d, %d counted)", c.topic, sumOffsets(ends), target, baseSum, c.count)
			}
		}
		if err == nil {
			a.Ends = sumOffsets(ends)
			if a.First.IsZero() && a.Ends > baseSum {
				a.First = now
				if onFirst != nil {
					onFirst()
				}
			}
			if a.Ends >= target {
				a.Last = now
				t0 := time.Now()
				if err := c.consume(ctx, ends); err != nil {
					a.Counted = c.count
					return a, err
				}
				consumed += time.Since(t0)
				a.Counted = c.count
				if c.count >= want {
					c.logf("topic %s: %d records with a value counted (consuming took %.1f s)", c.topic, c.count, consumed.Seconds())
					if c.count > want {
						return a, fmt.Errorf("topic %s: %d records, want %d (%d more: duplicates)", c.topic, c.count, want, c.count-want)
					}
					return a, nil
				}
				target = a.Ends + (want - c.count)
			}
		}
		select {
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			if ends, err := c.endOffsets(); err == nil {
				a.Ends = sumOffsets(ends)
				_ = c.consume(cctx, ends)
			}
			cancel()
			a.Counted = c.count
			return a, fmt.Errorf("incomplete: %d of %d records on topic %s after the deadline (end offsets sum %d, base %d)",
				c.count, want, c.topic, a.Ends, baseSum)
		case <-tick.C:
		}
	}
}

// waitNeedle waits until a consumed value contains needle, consuming new records as they come.
func (c *topicCounter) waitNeedle(ctx context.Context, needle string) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !c.found[needle] {
		ends, err := c.endOffsets()
		if err == nil && c.pending(ends) > 0 {
			if err := c.consume(ctx, ends, needle); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no record holding %q on topic %s: %w", needle, c.topic, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on every Linux port Go
// supports).
const clockTicks = 100

// procStat is what the harness reads of /proc/<pid>/stat.
type procStat struct {
	PID, PPID int
	Start     uint64 // starttime: with the pid, names a process even when pids are reused
	CPU       uint64 // utime + stime, in clock ticks
}

// parseProcStat parses a /proc/<pid>/stat line (the command, in parentheses, may hold spaces and parentheses).
func parseProcStat(line string) (procStat, error) {
	var s procStat
	open, close := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || close < open {
		return s, fmt.Errorf("stat line without a command: %q", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return s, fmt.Errorf("stat line pid: %w", err)
	}
	f := strings.Fields(line[close+1:])
	if len(f) < 20 {
		return s, fmt.Errorf("stat line of pid %d has %d fields after the command", pid, len(f))
	}
	// After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14) ... starttime(19).
	num := func(i int) uint64 { n, _ := strconv.ParseUint(f[i], 10, 64); return n }
	s.PID, s.PPID = pid, int(num(1))
	s.CPU = num(11) + num(12)
	s.Start = num(19)
	return s, nil
}

// parseVmRSS returns VmRSS of a /proc/<pid>/status text in kB (0 when absent, as for a zombie).
func parseVmRSS(status string) int64 {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

type procKey struct {
	pid   int
	start uint64
}

// procSampler samples the CPU time and resident memory of a tool's processes and all their descendants every
// 200 ms. A process that exits keeps the CPU time of its last sample.
type procSampler struct {
	roots []int

	mu      sync.Mutex
	cpu     map[procKey]uint64 // last CPU ticks seen per process
	base    map[procKey]uint64 // at mark
	peakRSS int64              // kB
	samples int
	stop    chan struct{}
	done    chan struct{}
}

func startProcSampler(roots []int) *procSampler {
	s := &procSampler{roots: roots, cpu: map[procKey]uint64{}, stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				s.sample()
			}
		}
	}()
	return s
}

// processTree returns the roots and their descendants among stats.
func processTree(roots []int, stats []procStat) []procStat {
	children := map[int][]int{}
	byPID := map[int]procStat{}
	for _, st := range stats {
		children[st.PPID] = append(children[st.PPID], st.PID)
		byPID[st.PID] = st
	}
	var out []procStat
	seen := map[int]bool{}
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		st, ok := byPID[pid]
		if !ok || seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, st)
		queue = append(queue, children[pid]...)
	}
	return out
}

func readAllProcStats() []procStat {
	entries, _ := os.ReadDir("/proc")
	stats := make([]procStat, 0, len(entries))
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		if st, err := parseProcStat(string(data)); err == nil {
			stats = append(stats, st)
		}
	}
	return stats
}

func (s *procSampler) sample() {
	tree := processTree(s.roots, readAllProcStats())
	var rss int64
	for _, st := range tree {
		if data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(st.PID), "status")); err == nil {
			rss += parseVmRSS(string(data))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range tree {
		s.cpu[procKey{st.PID, st.Start}] = st.CPU
	}
	s.peakRSS = max(s.peakRSS, rss)
	s.samples++
}

// mark samples now and makes it the start of the measured interval.
func (s *procSampler) mark() {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base = make(map[procKey]uint64, len(s.cpu))
	for k, v := range s.cpu {
		s.base[k] = v
	}
}

// finish samples a last time and stops. It returns the CPU seconds since mark (since the processes started
// when mark was not called), the processes' whole CPU seconds, and the peak of the summed resident memory.
func (s *procSampler) finish() (interval, total float64, peakRSSMB float64) {
	s.sample()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	var in, all uint64
	for k, v := range s.cpu {
		all += v
		in += v - min(v, s.base[k])
	}
	return float64(in) / clockTicks, float64(all) / clockTicks, float64(s.peakRSS) / 1024
}

// nearestRank returns the p-th percentile (0-100) of sorted by the nearest-rank method; NaN when empty.
func nearestRank(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// medianOf returns the median of values (the mean of the middle two when even); NaN when empty.
func medianOf(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := slices.Clone(values)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
