package peers

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/mavenjars"
)

const (
	// prepareTimeout bounds one tool's Prepare (a build or a download on a fresh machine).
	prepareTimeout = 20 * time.Minute
	// stopTimeout bounds one Running.Stop.
	stopTimeout = 3 * time.Minute
	// streamingReadyTimeout bounds the wait for a freshly started tool to stream its first marker row.
	streamingReadyTimeout = 5 * time.Minute
	// reportReserve is the time kept before the test's deadline for stopping tools and writing the report.
	reportReserve = 2 * time.Minute
)

// TestPeerBenchmarks is the peer benchmark (see doc.go): every selected tool, every phase, every round, then
// the report. It fails when any selected tool failed anywhere (prepare, a start, a stop, a count), after
// writing the report that says where.
func TestPeerBenchmarks(t *testing.T) {
	if os.Getenv(gateEnv) != "1" {
		t.Skipf("the peer benchmark takes up to 45 minutes: run `make bench-peers` (sets %s=1)", gateEnv)
	}
	began := time.Now()
	repoRoot, err := mavenjars.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadBenchSettings(repoRoot, began)
	if err != nil {
		t.Fatal(err)
	}
	selected, err := selectTools(s.Tools)
	if err != nil {
		t.Fatal(err)
	}
	if len(selected) == 0 {
		t.Fatal("peers: no tool is registered")
	}
	search := false
	for _, tool := range selected {
		if ok, _ := tool.Supports(PhaseEndToEnd); ok && slices.Contains(s.Phases, PhaseEndToEnd) {
			search = true
		}
	}
	t.Logf("peers: tools %v, phases %v, %d rounds, snapshot %d rows, streaming %d changes, end-to-end %d/s for %d s; results into %s",
		toolNames(selected), s.Phases, s.Rounds, s.SnapshotRows, s.StreamChanges, s.E2ERate, s.E2ESeconds, s.Results)
	env := startBenchEnvironment(t, repoRoot, search)
	run := &benchRun{t: t, env: env, s: s, serverID: 1000,
		report: &runReport{Started: began.UTC(), Command: reproduceCommand(), Settings: s}}
	run.deadline, run.hasDeadline = t.Deadline()
	run.report.Machine = env.describeMachine(context.Background(), began)
	if run.workDB, err = sql.Open("mysql", workloadDSN(env.mysql)); err != nil {
		t.Fatal(err)
	}
	defer run.workDB.Close()

	envs := map[string]*Env{}
	var ready []Tool
	for _, tool := range selected {
		tr := toolReport{Name: tool.Name(), Description: tool.Describe(), Unsupported: map[Phase]string{}}
		for _, ph := range s.Phases {
			if ok, why := tool.Supports(ph); !ok {
				tr.Unsupported[ph] = why
			}
		}
		tenv, err := env.toolEnv(t, tool.Name())
		if err == nil {
			ctx, cancel := run.context(prepareTimeout)
			t0 := time.Now()
			err = tool.Prepare(ctx, tenv)
			cancel()
			tr.PrepareS = time.Since(t0).Seconds()
		}
		if err != nil {
			tr.PrepareError = err.Error()
			run.fail("%s: failed to prepare: %v", tool.Name(), err)
		} else {
			t.Logf("peers: %s prepared in %.1f s", tool.Name(), tr.PrepareS)
			ready = append(ready, tool)
			envs[tool.Name()] = tenv
		}
		run.report.Tools = append(run.report.Tools, tr)
	}

	if slices.Contains(s.Phases, PhaseSnapshot) && len(ready) > 0 {
		ctx, cancel := run.context(30 * time.Minute)
		t0 := time.Now()
		err := createTable(ctx, run.workDB, snapshotTable)
		if err == nil {
			err = loadSnapshot(ctx, workloadDSN(env.mysql), snapshotTable, s.SnapshotRows, t.Logf)
		}
		cancel()
		if err != nil {
			t.Fatalf("peers: loading the snapshot table: %v", err)
		}
		run.report.SnapshotLoad = fmt.Sprintf("Loaded in %.1f s by the harness (multi-row INSERTs, 3 connections, not in the binlog).", time.Since(t0).Seconds())
	}

	for round := 1; round <= s.Rounds; round++ {
		order := rotate(ready, round-1)
		for _, phase := range s.Phases {
			for _, tool := range order {
				if _, unsupported := run.report.tool(tool.Name()).Unsupported[phase]; unsupported {
					continue
				}
				var m measurement
				switch phase {
				case PhaseSnapshot:
					m = run.snapshot(tool, envs[tool.Name()], round)
				case PhaseStreaming:
					m = run.streaming(tool, envs[tool.Name()], round)
				case PhaseEndToEnd:
					m = run.endToEnd(tool, envs[tool.Name()], round)
				}
				run.report.Measurements = append(run.report.Measurements, m)
				t.Logf("peers: %s", m.summary())
				if m.Error != "" {
					run.fail("%s round %d %s: %s", m.Tool, m.Round, m.Phase, m.Error)
				}
			}
		}
	}

	run.report.WallS = time.Since(began).Seconds()
	if err := writeRunReport(s.Results, run.report); err != nil {
		t.Errorf("peers: writing the report into %s: %v", s.Results, err)
	} else {
		t.Logf("peers: results in %s", s.Results)
		if s.InRepo {
			if err := writeLatestPointer(filepath.Dir(s.Results), s.Results, run.report); err != nil {
				t.Errorf("peers: rewriting the results pointer: %v", err)
			}
		}
	}
	for _, phase := range s.Phases {
		t.Logf("peers: %s\n%s", phaseTitles[phase], run.report.phaseTable(phase))
	}
	if len(run.report.Failures) > 0 {
		t.Errorf("peers: %d failures:\n%s", len(run.report.Failures), strings.Join(run.report.Failures, "\n"))
	}
}

// benchRun is the state of one TestPeerBenchmarks.
type benchRun struct {
	t           *testing.T
	env         *benchEnvironment
	s           benchSettings
	report      *runReport
	workDB      *sql.DB // the harness's writes: the workload and the marker rows
	serverID    uint32
	deadline    time.Time
	hasDeadline bool
}

func (r *benchRun) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.report.Failures = append(r.report.Failures, msg)
	r.t.Logf("peers: FAILED: %s", msg)
}

// context bounds a step by d, and by the test's deadline less the time the report needs.
func (r *benchRun) context(d time.Duration) (context.Context, context.CancelFunc) {
	if r.hasDeadline {
		d = min(d, time.Until(r.deadline)-reportReserve)
	}
	return context.WithTimeout(context.Background(), d)
}

func (r *benchRun) nextServerID() uint32 {
	r.serverID++
	return r.serverID
}

// stop stops a running tool, recording a failure in m when it does not stop cleanly.
func (r *benchRun) stop(run Running, m *measurement) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := run.Stop(ctx); err != nil {
		m.addError("stop: " + err.Error())
	}
}

// dropTopic deletes a measured topic once counted, so that a long run does not fill the disk.
func (r *benchRun) dropTopic(topic string) {
	if topic == "" {
		return
	}
	if err := r.env.admin.DeleteTopic(topic); err != nil {
		r.t.Logf("peers: deleting topic %s: %v", topic, err)
	}
}

func (m *measurement) addError(e string) {
	if m.Error == "" {
		m.Error = e
	} else {
		m.Error += "; " + e
	}
}

// fillRate sets the arrival figures of m from a (Rows must be set).
func (m *measurement) fillRate(a arrival, startAt time.Time) {
	m.Counted = a.Counted
	if !a.First.IsZero() {
		m.StartupS = a.First.Sub(startAt).Seconds()
	}
	if !a.Last.IsZero() && a.Last.After(a.First) {
		m.DurationS = a.Last.Sub(a.First).Seconds()
		m.Rate = float64(m.Rows) / m.DurationS
	}
}

// await waits until counter has counted want records, the sampler's measured interval starting at the
// first one, and fills m with the rate (from startAt), the CPU time and memory, and any error.
func (m *measurement) await(ctx context.Context, counter *topicCounter, want int64, sampler *procSampler, startAt time.Time) {
	a, err := counter.waitRecords(ctx, want, sampler.mark)
	m.fillCPU(sampler.finish())
	m.fillRate(a, startAt)
	if err != nil {
		m.addError(err.Error())
	}
}

func (m *measurement) fillCPU(in, total, rss float64) {
	m.CPUS, m.CPUTotalS, m.PeakRSSMB = in, total, rss
	if m.Rows > 0 {
		m.CPUPer1000 = in / (float64(m.Rows) / 1000)
	}
}

func (m measurement) summary() string {
	head := fmt.Sprintf("round %d %s %s (%s)", m.Round, m.Phase, m.Tool, m.Name)
	var figures string
	if m.Phase == PhaseEndToEnd {
		figures = fmt.Sprintf("%d rows: p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d not found", m.Rows, m.P50Ms, m.P99Ms, m.MaxMs, m.NotFound)
	} else {
		figures = fmt.Sprintf("%d of %d records in %.1f s = %.0f rows/s", m.Counted, m.Expected, m.DurationS, m.Rate)
	}
	figures += fmt.Sprintf(", start-up %.1f s, CPU %.3f s per 1,000 rows (%.1f s in all), peak RSS %.0f MB", m.StartupS, m.CPUPer1000, m.CPUTotalS, m.PeakRSSMB)
	if m.Error != "" {
		return head + ": FAILED: " + m.Error + " (" + figures + ")"
	}
	return head + ": " + figures
}

// snapshot: a fresh start copies the snapshot table; measured until the topic holds every row.
func (r *benchRun) snapshot(tool Tool, env *Env, round int) (m measurement) {
	rows := int64(r.s.SnapshotRows)
	m = measurement{Round: round, Phase: PhaseSnapshot, Tool: tool.Name(), Name: fmt.Sprintf("r%d-snapshot-%s", round, tool.Name()),
		Table: snapshotTable, Rows: rows, Expected: rows}
	ctx, cancel := r.context(max(5*time.Minute, time.Duration(rows/2000)*time.Second) + 2*time.Minute)
	defer cancel()
	startAt := time.Now()
	run, err := tool.Start(ctx, env, RunSpec{Name: m.Name, Tables: []string{snapshotTable}, Snapshot: true, ServerID: r.nextServerID()})
	if err != nil {
		m.addError("start: " + err.Error())
		return m
	}
	m.Topic = run.Topic(snapshotTable)
	defer r.dropTopic(m.Topic)
	defer r.stop(run, &m)
	sampler := startProcSampler(run.Processes())
	counter, err := newTopicCounter(r.env.client, m.Topic, true, r.t.Logf)
	if err != nil {
		sampler.finish()
		m.addError(err.Error())
		return m
	}
	m.await(ctx, counter, rows, sampler, startAt)
	return m
}

// streaming: a tool streaming an empty table is stopped, the changes are written, and the resumed tool is
// measured until the topic holds one record per change more than at the stop.
func (r *benchRun) streaming(tool Tool, env *Env, round int) (m measurement) {
	changes := int64(r.s.StreamChanges)
	table := fmt.Sprintf("stream_r%d_%s", round, tool.Name())
	m = measurement{Round: round, Phase: PhaseStreaming, Tool: tool.Name(), Name: fmt.Sprintf("r%d-streaming-%s", round, tool.Name()),
		Table: table, Rows: changes, Expected: changes}
	ctx, cancel := r.context(streamingReadyTimeout + 2*stopTimeout + max(5*time.Minute, time.Duration(changes/1000)*time.Second))
	defer cancel()
	if err := createTable(ctx, r.workDB, table); err != nil {
		m.addError(err.Error())
		return m
	}
	spec := RunSpec{Name: m.Name, Tables: []string{table}, ServerID: r.nextServerID()}
	first, err := tool.Start(ctx, env, spec)
	if err != nil {
		m.addError("start: " + err.Error())
		return m
	}
	m.Topic = first.Topic(table)
	defer r.dropTopic(m.Topic)
	readyCtx, readyCancel := context.WithTimeout(ctx, streamingReadyTimeout)
	err = r.waitStreaming(readyCtx, table, m.Topic)
	readyCancel()
	r.stop(first, &m)
	if err != nil {
		m.addError(err.Error())
	}
	if m.Error != "" {
		return m
	}
	st, err := writeChanges(ctx, r.workDB, table, int(changes), r.t.Logf)
	if err != nil {
		m.addError(err.Error())
		return m
	}
	m.MariaDBRate = float64(st.total()) / st.Duration.Seconds()
	r.t.Logf("peers: wrote %d changes to %s in %.1f s (%.0f rows/s: %d inserts, %d updates, %d deletes, %d transactions)",
		st.total(), table, st.Duration.Seconds(), m.MariaDBRate, st.Inserts, st.Updates, st.Deletes, st.Transactions)
	counter, err := newTopicCounter(r.env.client, m.Topic, false, r.t.Logf) // the tool is stopped: its records so far are the base
	if err != nil {
		m.addError(err.Error())
		return m
	}
	spec.Resume, spec.ServerID = true, r.nextServerID()
	startAt := time.Now()
	resumed, err := tool.Start(ctx, env, spec)
	if err != nil {
		m.addError("resume: " + err.Error())
		return m
	}
	defer r.stop(resumed, &m)
	if topic := resumed.Topic(table); topic != m.Topic {
		m.addError(fmt.Sprintf("the resumed run writes topic %s, the first wrote %s", topic, m.Topic))
		return m
	}
	sampler := startProcSampler(resumed.Processes())
	m.await(ctx, counter, changes, sampler, startAt)
	return m
}

// waitStreaming inserts a marker row every 2 s until a record reaches topic (rows committed before the tool
// reached the binlog's end never arrive), then one last marker, and waits for it: every marker that will
// ever arrive has then arrived, so nothing written before the stop arrives after it.
func (r *benchRun) waitStreaming(ctx context.Context, table, topic string) error {
	counter, err := newTopicCounter(r.env.client, topic, false, r.t.Logf)
	if err != nil {
		return err
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last time.Time
	k := 0
	for {
		if time.Since(last) >= 2*time.Second {
			k++
			if err := insertMarker(ctx, r.workDB, table, k); err != nil {
				return fmt.Errorf("insert marker row %d: %w", k, err)
			}
			last = time.Now()
			if k%5 == 0 {
				r.t.Logf("peers: waiting for a record on %s: %d marker rows inserted into %s", topic, k, table)
			}
		}
		if ends, err := counter.endOffsets(); err == nil && counter.pending(ends) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not streaming: none of %d marker rows reached topic %s: %w", k, topic, ctx.Err())
		case <-tick.C:
		}
	}
	k++
	if err := insertMarker(ctx, r.workDB, table, k); err != nil {
		return fmt.Errorf("insert marker row %d: %w", k, err)
	}
	if err := counter.waitNeedle(ctx, markerText(k)); err != nil {
		return fmt.Errorf("the last marker row: %w", err)
	}
	return nil
}

// endToEnd: a tool streaming a table into a search index under a fixed load of single-row commits.
func (r *benchRun) endToEnd(tool Tool, env *Env, round int) (m measurement) {
	table := fmt.Sprintf("e2e_r%d_%s", round, tool.Name())
	index := fmt.Sprintf("e2e-r%d-%s", round, tool.Name())
	m = measurement{Round: round, Phase: PhaseEndToEnd, Tool: tool.Name(), Name: fmt.Sprintf("r%d-end-to-end-%s", round, tool.Name()),
		Table: table, Index: index}
	if r.env.searchURL == "" {
		m.addError("no search engine")
		return m
	}
	ctx, cancel := r.context(streamingReadyTimeout + time.Duration(r.s.E2EWarmup+r.s.E2ESeconds)*time.Second + notFoundAfter + time.Minute)
	defer cancel()
	if err := createTable(ctx, r.workDB, table); err != nil {
		m.addError(err.Error())
		return m
	}
	startAt := time.Now()
	run, err := tool.Start(ctx, env, RunSpec{Name: m.Name, Tables: []string{table}, ServerID: r.nextServerID(), Index: index})
	if err != nil {
		m.addError("start: " + err.Error())
		return m
	}
	defer r.stop(run, &m)
	sampler := startProcSampler(run.Processes())
	probe := newSearchProbe(r.env.searchURL, index)
	readyCtx, readyCancel := context.WithTimeout(ctx, streamingReadyTimeout)
	err = waitSearchMarker(readyCtx, r.workDB, table, probe, run.DocID)
	readyCancel()
	if err != nil {
		sampler.finish()
		m.addError(err.Error())
		return m
	}
	m.StartupS = time.Since(startAt).Seconds()
	sampler.mark()
	res, err := runSearchLoad(ctx, r.workDB, table, probe, run.DocID, r.s.E2ERate, r.s.E2EWarmup, r.s.E2ESeconds, r.t.Logf)
	in, total, rss := sampler.finish()
	m.Rows = int64(res.Measured)
	m.fillCPU(in, total, rss)
	if res.Committed > 0 { // CPU over the whole load, warm-up included
		m.CPUPer1000 = in / (float64(res.Committed) / 1000)
	}
	m.NotFound = res.NotFound
	m.Counted = int64(len(res.LatenciesMs))
	if len(res.LatenciesMs) > 0 {
		m.P50Ms, m.P99Ms, m.MaxMs = nearestRank(res.LatenciesMs, 50), nearestRank(res.LatenciesMs, 99), res.LatenciesMs[len(res.LatenciesMs)-1]
	}
	if err != nil {
		m.addError(err.Error())
	}
	return m
}

// rotate returns tools starting at index by (mod len).
func rotate(tools []Tool, by int) []Tool {
	if len(tools) == 0 {
		return nil
	}
	by %= len(tools)
	return append(slices.Clone(tools[by:]), tools[:by]...)
}

func toolNames(tools []Tool) []string {
	out := make([]string, len(tools))
	for i, t := range tools {
		out[i] = t.Name()
	}
	return out
}

// reproduceCommand is the command line that runs the benchmark as this run was configured.
func reproduceCommand() string {
	var vars []string
	for _, k := range []string{toolsEnv, snapshotRowsEnv, streamChangesEnv, e2eSecondsEnv, e2eRateEnv, roundsEnv, phasesEnv, resultsEnv} {
		if v := os.Getenv(k); v != "" {
			vars = append(vars, k+"="+shellWord(v))
		}
	}
	if len(vars) == 0 {
		return "make bench-peers"
	}
	return gateEnv + "=1 " + strings.Join(vars, " ") + " go test -count=1 -timeout 45m -run TestPeerBenchmarks -v ./bench/peers"
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._-/=:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
