package topology_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// The acceptance-5 workload: a generating source that emits bpRecords records of bpValueBytes over bpKeys
// keys at ten times the rate the sink writes them (the sink sleeps 1 ms per record: 1,000 records/s).
const (
	bpRecords    = 8000
	bpKeys       = 50
	bpValueBytes = 8 << 10
	bpSourceRate = 10_000 // records/s
	bpSinkDelay  = time.Millisecond
)

// bpPolicies are the policies under test, by the name the child process is given.
var bpPolicies = map[string]topology.BackpressurePolicy{
	"BLOCK":     {Mode: topology.BackpressureBlock},
	"ERROR":     {Mode: topology.BackpressureError, Wait: 50 * time.Millisecond},
	"DROP":      {Mode: topology.BackpressureDrop, MaxRecords: 200, MaxBytes: 1 << 20},
	"LATEST":    {Mode: topology.BackpressureLatest, MaxRecords: bpKeys},
	"BUFFER":    {Mode: topology.BackpressureBuffer, MaxRecords: 200, MaxBytes: 1 << 20, MaxDiskBytes: 256 << 20},
	"UNBOUNDED": {Mode: topology.BackpressureBuffer, MaxRecords: 100000, MaxBytes: 1 << 30, MaxDiskBytes: 256 << 20},
	// BUFFER then DROP: 8 MiB of spill files (about a thousand records) and then the newest are discarded.
	"BUFFERDROP": {Mode: topology.BackpressureBuffer, MaxRecords: 200, MaxBytes: 1 << 20, MaxDiskBytes: 8 << 20, Then: topology.BackpressureDrop},
}

// bpResult is what the child reports.
type bpResult struct {
	Written   int64            `json:"written"`
	Last      map[string]int64 `json:"last"` // key -> sequence number of the last value the sink wrote
	Dropped   int64            `json:"dropped"`
	Coalesced int64            `json:"coalesced"`
	Spilled   int64            `json:"spilled"`
	Err       string           `json:"err,omitempty"`
	ErrIsBP   bool             `json:"err_is_backpressure"`
	// Status is the flow's backpressure entry in GET /pipelines/{name}/status at the end.
	Status *opsapi.BackpressureStatus `json:"status,omitempty"`
}

func bpStatus(addr, pipeline string) *opsapi.BackpressureStatus {
	resp, err := http.Get("http://" + addr + "/pipelines/" + pipeline + "/status")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var st opsapi.Status
	if json.NewDecoder(resp.Body).Decode(&st) != nil || len(st.Replicas) != 1 || len(st.Replicas[0].Backpressure) != 1 {
		return nil
	}
	return &st.Replicas[0].Backpressure[0]
}

// TestBackpressurePolicies is acceptance 5: for each policy, a source ten times faster than the sink, many
// records per key, the pipeline in a child process (this test binary re-executed) whose VmRSS is sampled
// from /proc. Memory stays within each policy's bound (stated and measured in the log); DROP's and LATEST's
// counts are exact; LATEST leaves the sink with the newest value of every key; ERROR fails with
// ErrBackpressure naming the edge and record; BUFFER spills (segment files appear) and loses nothing.
func TestBackpressurePolicies(t *testing.T) {
	if mode := os.Getenv("SLUICE_BP_CHILD"); mode != "" {
		bpChild(t, mode)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	brokers := testkit.Brokers(t, 1)
	// Bounds on the peak VmRSS of the child. BLOCK and ERROR: 128 MiB, for the runtime, goka, sarama (its
	// fetch buffers) and the flow's queue and batch (3 x 100 records of 8 KiB). DROP, LATEST and BUFFER: the
	// peak BLOCK measured in the same run plus 40 MiB, for their 1 MiB (or 50 keys) of pending records held
	// as Kafka bytes, decoded values and goka's per-record context, with the GC's headroom. Everything the
	// source produces is 8,000 x 8 KiB = 62.5 MiB: UNBOUNDED (BUFFER with limits no run reaches, so all of it
	// waits in memory) is the control that must pass the bound, or the measurement proves nothing.
	const blockBound, allowance = 128.0, 40.0
	type outcome struct {
		res      bpResult
		peak     float64
		spillSaw int
		err      error
		out      string
	}
	results := map[string]*outcome{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	dir := t.TempDir()
	for mode := range bpPolicies {
		if only := os.Getenv("SLUICE_BP_ONLY"); only != "" && !strings.Contains(only, mode) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outcome{}
			mu.Lock()
			results[mode] = o
			mu.Unlock()
			resFile := filepath.Join(dir, mode+".json")
			spillDir := filepath.Join(dir, mode+"-spill")
			cmd := exec.Command(exe, "-test.run=^TestBackpressurePolicies$", "-test.v")
			cmd.Env = append(os.Environ(), "SLUICE_BP_CHILD="+mode, "SLUICE_BP_BROKERS="+strings.Join(brokers, ","),
				"SLUICE_BP_RESULT="+resFile, "SLUICE_BP_SPILL="+spillDir, "SLUICE_BP_HTTP="+testkit.FreeAddr(t))
			var buf strings.Builder
			cmd.Stdout, cmd.Stderr = &buf, &buf
			if err := cmd.Start(); err != nil {
				o.err = err
				return
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case err := <-exited:
					o.err, o.out = err, buf.String()
					if segs, _ := filepath.Glob(filepath.Join(spillDir, "spill-*.seg")); len(segs) > 0 && o.err == nil {
						o.err = fmt.Errorf("segment files left after everything was written: %v", segs)
					}
					if b, rerr := os.ReadFile(resFile); rerr == nil {
						_ = json.Unmarshal(b, &o.res)
					} else if o.err == nil {
						o.err = rerr
					}
					return
				case <-tick.C:
					if rss := vmRSSMiB(cmd.Process.Pid); rss > o.peak {
						o.peak = rss
					}
					if segs, _ := filepath.Glob(filepath.Join(spillDir, "spill-*.seg")); len(segs) > o.spillSaw {
						o.spillSaw = len(segs)
					}
				}
			}
		}()
	}
	wg.Wait()
	bounds := map[string]float64{"BLOCK": blockBound, "ERROR": blockBound}
	for _, mode := range []string{"DROP", "LATEST", "BUFFER", "BUFFERDROP", "UNBOUNDED"} {
		bounds[mode] = blockBound + allowance
		if o := results["BLOCK"]; o != nil && o.peak > 0 {
			bounds[mode] = min(bounds[mode], o.peak+allowance)
		}
	}
	for _, mode := range []string{"BLOCK", "ERROR", "DROP", "LATEST", "BUFFER", "BUFFERDROP", "UNBOUNDED"} {
		if results[mode] == nil {
			continue
		}
		o, r := results[mode], results[mode].res
		if mode == "UNBOUNDED" {
			t.Logf("%-6s peak VmRSS %.1f MiB (the control: must pass the bound %.0f MiB)", mode, o.peak, bounds[mode])
			if o.err == nil && o.peak <= bounds[mode] {
				t.Errorf("UNBOUNDED: peak VmRSS %.1f MiB within the bound %.0f MiB: the bound does not tell a bounded policy from one that holds everything", o.peak, bounds[mode])
			}
			continue
		}
		t.Logf("%-6s peak VmRSS %.1f MiB (bound %.0f MiB); written %d, dropped %d, coalesced %d, spilled %d (max %d segment files seen); err %q",
			mode, o.peak, bounds[mode], r.Written, r.Dropped, r.Coalesced, r.Spilled, o.spillSaw, r.Err)
		if o.err != nil {
			t.Errorf("%s: child: %v\n%s", mode, o.err, tail(o.out, 40))
			continue
		}
		if o.peak == 0 || o.peak > bounds[mode] {
			t.Errorf("%s: peak VmRSS %.1f MiB, bound %.0f MiB", mode, o.peak, bounds[mode])
		}
		// Offsets: every record was written, dropped or coalesced, so the flow's group committed them all (a
		// spilled record's offset only once it was written); ERROR's commit stays before the record it names.
		name := "bp-" + strings.ToLower(mode)
		committed := testkit.CommittedOffset(t, brokers, name+".slow", name, 0)
		if mode == "ERROR" {
			var at int64 = -1
			if m := regexp.MustCompile(`partition 0 offset (\d+)\)`).FindStringSubmatch(r.Err); m != nil {
				at, _ = strconv.ParseInt(m[1], 10, 64)
			}
			if at < 0 || committed > at {
				t.Errorf("ERROR: committed offset %d passes the record the error names (offset %d)", committed, at)
			}
		} else if committed != bpRecords {
			t.Errorf("%s: committed offset %d, want %d", mode, committed, bpRecords)
		}
		t.Logf("%-6s committed offset %d", mode, committed)
		if s, want := r.Status, bpPolicies[mode].Mode.String(); mode != "BLOCK" && mode != "ERROR" {
			if s == nil || s.Mode != want || s.Edge != "kafka-sink" || s.Dropped != r.Dropped || s.Coalesced != r.Coalesced || s.Spilled != r.Spilled {
				t.Errorf("%s: status backpressure %+v, want mode %s and the metrics' counts", mode, s, want)
			}
		}
		switch mode {
		case "BLOCK":
			if r.Written != bpRecords || r.Dropped+r.Coalesced+r.Spilled != 0 {
				t.Errorf("BLOCK: written %d of %d, dropped %d, coalesced %d, spilled %d", r.Written, bpRecords, r.Dropped, r.Coalesced, r.Spilled)
			}
		case "ERROR":
			if !r.ErrIsBP || !strings.Contains(r.Err, `ERROR on the edge topic "bp-error" -> `) || !strings.Contains(r.Err, "offset ") {
				t.Errorf("ERROR: pipeline error %q (errors.Is ErrBackpressure: %v), want the documented backpressure error", r.Err, r.ErrIsBP)
			}
		case "DROP":
			if r.Dropped == 0 || r.Written+r.Dropped != bpRecords {
				t.Errorf("DROP: written %d + dropped %d != produced %d (or nothing dropped)", r.Written, r.Dropped, bpRecords)
			}
		case "LATEST":
			if r.Coalesced == 0 || r.Written+r.Coalesced != bpRecords {
				t.Errorf("LATEST: written %d + coalesced %d != produced %d (or nothing coalesced)", r.Written, r.Coalesced, bpRecords)
			}
			for k := range bpKeys {
				key := fmt.Sprintf("k%03d", k)
				if want := newestSeq(k); r.Last[key] != want {
					t.Errorf("LATEST: key %s ends with value %d in the sink, want the newest %d", key, r.Last[key], want)
				}
			}
		case "BUFFERDROP":
			if r.Spilled == 0 || r.Dropped == 0 || r.Written+r.Dropped != bpRecords {
				t.Errorf("BUFFER then DROP: written %d + dropped %d != produced %d, or nothing spilled (%d) or dropped", r.Written, r.Dropped, bpRecords, r.Spilled)
			}
		case "BUFFER":
			if r.Written != bpRecords || r.Dropped != 0 {
				t.Errorf("BUFFER: written %d of %d, dropped %d", r.Written, bpRecords, r.Dropped)
			}
			if r.Spilled == 0 || o.spillSaw == 0 {
				t.Errorf("BUFFER: spilled %d records, saw %d segment files: want both > 0", r.Spilled, o.spillSaw)
			}
		}
	}
}

// newestSeq is the sequence number of key k's last record.
func newestSeq(k int) int64 {
	last := bpRecords - 1
	return int64(last - (last-k)%bpKeys)
}

func vmRSSMiB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// bpChild runs the pipeline under one policy until the sink has everything it will get, and reports.
func bpChild(t *testing.T, mode string) {
	pol := bpPolicies[mode]
	if pol.Mode == topology.BackpressureBuffer {
		pol.SpillDir = os.Getenv("SLUICE_BP_SPILL")
	}
	name := "bp-" + strings.ToLower(mode)
	tp := topology.New(name)
	topic := tp.Topic(name, topology.KeyCodec("string"), topology.ValueCodec("string"), topology.Partitions(1))
	tp.Source("gen", &genSource{}).To(topic)
	sink := &slowSink{last: map[string]int64{}}
	tp.Flow("slow").From(topic).To(sink, topology.BatchSize(100), topology.Backpressure(pol))

	reg := prometheus.NewRegistry()
	cfg := topology.DefaultConfig()
	cfg.Brokers = strings.Split(os.Getenv("SLUICE_BP_BROKERS"), ",")
	cfg.HTTPAddr = os.Getenv("SLUICE_BP_HTTP")
	cfg.Registerer = reg
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()

	var res bpResult
	counter := func(name string) int64 {
		fams, _ := reg.Gather()
		var n float64
		for _, f := range fams {
			if f.GetName() == name {
				for _, m := range f.GetMetric() {
					n += m.GetCounter().GetValue()
				}
			}
		}
		return int64(n)
	}
	var runErr error
	deadline := time.After(60 * time.Second)
wait:
	for {
		select {
		case runErr = <-done:
			break wait
		case <-deadline:
			runErr = errors.New("child: the sink did not account for every record within 60 s")
			cancel()
			<-done
			break wait
		case <-time.After(20 * time.Millisecond):
		}
		res.Written = sink.written()
		res.Dropped = counter("sluice_backpressure_dropped_total")
		res.Coalesced = counter("sluice_backpressure_coalesced_total")
		res.Spilled = counter("sluice_backpressure_spilled_total")
		if res.Written+res.Dropped+res.Coalesced >= bpRecords {
			// The pipeline's metrics are unregistered when it stops: the counts are read before, and the
			// status must say the same.
			res.Status = bpStatus(cfg.HTTPAddr, name)
			cancel()
			runErr = <-done
			break
		}
	}
	res.Written = sink.written()
	sink.mu.Lock()
	res.Last = sink.last
	sink.mu.Unlock()
	if runErr != nil {
		res.Err, res.ErrIsBP = runErr.Error(), errors.Is(runErr, topology.ErrBackpressure)
	}
	b, _ := json.Marshal(res)
	if err := os.WriteFile(os.Getenv("SLUICE_BP_RESULT"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// genSource is one task that emits bpRecords records, key k<seq mod bpKeys>, value "<seq>:" padded to
// bpValueBytes, at bpSourceRate records/s; its position is the sequence number of the last record.
type genSource struct{}

func (genSource) Tasks(context.Context) ([]sources.Task, error) {
	return []sources.Task{{Key: "gen"}}, nil
}

func (genSource) Open(_ context.Context, _ sources.Task, pos stream.Position) (sources.Reader, error) {
	next := 0
	if len(pos) > 0 {
		n, err := strconv.Atoi(string(pos))
		if err != nil {
			return nil, err
		}
		next = n + 1
	}
	return &genReader{next: next, start: time.Now(), from: next}, nil
}

type genReader struct {
	next, from int
	start      time.Time
}

func (r *genReader) Read(ctx context.Context) ([]stream.Record, error) {
	if r.next >= bpRecords {
		return nil, sources.ErrEndOfInput
	}
	// Pace: the batch's first record is due at (next-from)/rate after the start.
	due := r.start.Add(time.Duration(r.next-r.from) * time.Second / bpSourceRate)
	select {
	case <-time.After(time.Until(due)):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	pad := strings.Repeat("x", bpValueBytes)
	var batch []stream.Record
	for ; r.next < bpRecords && len(batch) < 10; r.next++ {
		v := strconv.Itoa(r.next) + ":"
		batch = append(batch, stream.Record{Key: fmt.Sprintf("k%03d", r.next%bpKeys), Value: v + pad[len(v):],
			Position: stream.Position(strconv.Itoa(r.next))})
	}
	return batch, nil
}

func (r *genReader) Close() error { return nil }

// slowSink sleeps bpSinkDelay per record and keeps, per key, the sequence number of the last value written.
type slowSink struct {
	mu   sync.Mutex
	n    int64
	last map[string]int64
}

func (s *slowSink) Open(context.Context) error { return nil }
func (s *slowSink) Close() error               { return nil }

func (s *slowSink) Write(ctx context.Context, batch []stream.Record) error {
	select {
	case <-time.After(time.Duration(len(batch)) * bpSinkDelay):
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range batch {
		k, _ := rec.Key.(string)
		v, _ := rec.Value.(string)
		seq, err := strconv.ParseInt(v[:strings.IndexByte(v, ':')], 10, 64)
		if err != nil {
			return fmt.Errorf("value %.20q: %w", v, err)
		}
		s.last[k] = seq
		s.n++
	}
	return nil
}

func (s *slowSink) written() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// TestBackpressureValidate: a bad policy fails Validate naming the flow and the field; good ones pass.
func TestBackpressureValidate(t *testing.T) {
	build := func(p topology.BackpressurePolicy) error {
		tp := topology.New("bp")
		in := tp.Topic("in")
		tp.Flow("orders").From(in).To(nopSink{}, topology.Backpressure(p))
		return tp.Validate()
	}
	for _, good := range []topology.BackpressurePolicy{
		{}, {Mode: topology.BackpressureError, Wait: time.Second}, {Mode: topology.BackpressureDrop, MaxRecords: 10},
		{Mode: topology.BackpressureLatest, MaxBytes: 1 << 20},
		{Mode: topology.BackpressureBuffer, Then: topology.BackpressureError, Wait: time.Second, SpillDir: "/tmp/x", MaxDiskBytes: 1 << 30},
	} {
		if err := build(good); err != nil {
			t.Errorf("%+v: %v", good, err)
		}
	}
	for _, c := range []struct {
		p    topology.BackpressurePolicy
		want string
	}{
		{topology.BackpressurePolicy{Mode: 9}, `flow "orders": Backpressure Mode: unknown mode 9`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureDrop, MaxRecords: -1}, `flow "orders": Backpressure MaxRecords: must not be negative, got -1`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureLatest, MaxBytes: -5}, `flow "orders": Backpressure MaxBytes: must not be negative`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureError, Wait: -time.Second}, `flow "orders": Backpressure Wait: must not be negative`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureDrop, Wait: time.Second}, `flow "orders": Backpressure Wait: applies to ERROR`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureDrop, Then: topology.BackpressureDrop}, `flow "orders": Backpressure Then: applies to BUFFER only, the mode is DROP`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureBuffer, Then: topology.BackpressureLatest}, `flow "orders": Backpressure Then: must be BLOCK, ERROR or DROP, got LATEST`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureLatest, SpillDir: "/x"}, `flow "orders": Backpressure SpillDir: SpillDir and MaxDiskBytes apply to BUFFER only`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureError, MaxRecords: 5}, `flow "orders": Backpressure MaxRecords: MaxRecords and MaxBytes do not apply to ERROR`},
		{topology.BackpressurePolicy{Mode: topology.BackpressureBuffer, MaxDiskBytes: -1}, `flow "orders": Backpressure MaxDiskBytes: must not be negative`},
	} {
		err := build(c.p)
		if !errors.Is(err, topology.ErrInvalidTopology) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: Validate = %v, want %q", c.p, err, c.want)
		}
	}
}
