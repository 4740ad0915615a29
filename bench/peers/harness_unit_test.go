package peers

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The report, the percentile and the /proc parsers, without any server (part of make test).

func TestReportRendersMeasurements(t *testing.T) {
	r := &runReport{
		Started: time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC), WallS: 1234, Command: "make bench-peers",
		Machine:  machineInfo{CPU: "Test CPU", CPUs: 2, MemoryGB: "23.5", Date: "2026-12-01 04:00 UTC"},
		Settings: benchSettings{SnapshotRows: 1000, StreamChanges: 500, E2ESeconds: 10, E2ERate: 200, E2EWarmup: 5, Rounds: 2, Phases: allPhases},
		Tools: []toolReport{
			{Name: "alpha", Description: Description{Version: "Alpha 1.0", Config: []string{"bench/peers/config/alpha/a.yaml"}, Guarantee: "at-least-once"}, PrepareS: 3},
			{Name: "beta", Description: Description{Version: "Beta 2"}, Unsupported: map[Phase]string{PhaseEndToEnd: "no search sink"}},
			{Name: "gamma", PrepareError: "maven said no"},
		},
		Measurements: []measurement{
			{Round: 1, Phase: PhaseSnapshot, Tool: "alpha", Rows: 1000, Rate: 1000, StartupS: 2, CPUPer1000: 0.5, PeakRSSMB: 100},
			{Round: 2, Phase: PhaseSnapshot, Tool: "alpha", Rows: 1000, Rate: 3000, StartupS: 4, CPUPer1000: 0.7, PeakRSSMB: 120},
			{Round: 1, Phase: PhaseSnapshot, Tool: "beta", Rows: 1000, Rate: 500, StartupS: 1, CPUPer1000: 0.2, PeakRSSMB: 50},
			{Round: 2, Phase: PhaseSnapshot, Tool: "beta", Error: "incomplete: 900 of 1000 records"},
			{Round: 1, Phase: PhaseStreaming, Tool: "alpha", Rows: 500, Rate: 250, MariaDBRate: 9000, CPUPer1000: 1, PeakRSSMB: 90},
			{Round: 1, Phase: PhaseEndToEnd, Tool: "alpha", Rows: 2000, P50Ms: 12.5, P99Ms: 40, MaxMs: 80},
			{Round: 2, Phase: PhaseEndToEnd, Tool: "alpha", Rows: 2000, P50Ms: 14.5, P99Ms: 60, MaxMs: 90},
		},
		Failures: []string{"beta round 2 snapshot: incomplete: 900 of 1000 records"},
	}
	md := r.markdown()
	for _, want := range []string{
		"| alpha | Alpha 1.0 | 2000 (1000–3000) | 3.0 | 0.600 | 110 | 2 of 2 |",
		"| beta | Beta 2 | 500 | 1.0 | 0.200 | 50 | 1 of 2 | round 2 FAILED: incomplete: 900 of 1000 records |",
		"| gamma | – | not measured: failed to prepare: maven said no |",
		"| beta | Beta 2 | not measured: no search sink |",
		"| alpha | Alpha 1.0 | 13.5 (12.5–14.5) | 50.0 (40.0–60.0) | 85.0 |",
		"MariaDB wrote the changes at 9000 rows/s",
		"[bench/peers/config/alpha/a.yaml](../../../../bench/peers/config/alpha/a.yaml)",
		"- CPU: Test CPU, 2 logical CPUs",
		"make bench-peers",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
	dir := t.TempDir()
	if d := os.Getenv("PEERS_REPORT_TEST_DIR"); d != "" { // to look at the charts
		dir = d
	}
	if err := writeRunReport(dir, r); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"results.md", "results.json", "snapshot-rate.png", "streaming-rate.png", "cpu.png", "memory.png", "e2e-latency.png"} {
		info, err := os.Stat(filepath.Join(dir, f))
		if err != nil || info.Size() < 100 {
			t.Errorf("%s: %v (size %d)", f, err, sizeOf(info))
		}
	}
	root := t.TempDir()
	if err := writeLatestPointer(root, filepath.Join(root, "2026-12-01"), r); err != nil {
		t.Fatal(err)
	}
	if pointer, _ := os.ReadFile(filepath.Join(root, "README.md")); !strings.Contains(string(pointer), "[2026-12-01](2026-12-01/results.md)") {
		t.Errorf("results/README.md does not point at the run:\n%s", pointer)
	}
	png, _ := os.ReadFile(filepath.Join(dir, "cpu.png"))
	if !strings.HasPrefix(string(png), "\x89PNG") {
		t.Errorf("cpu.png is not a PNG")
	}
}

func sizeOf(info os.FileInfo) int64 {
	if info == nil {
		return -1
	}
	return info.Size()
}

func TestNearestRankAndMedian(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {99, 10}, {100, 10}, {10, 1}, {0, 1}} {
		if got := nearestRank(s, c.p); got != c.want {
			t.Errorf("p%v of 1..10 = %v, want %v", c.p, got, c.want)
		}
	}
	if !math.IsNaN(nearestRank(nil, 50)) {
		t.Error("p50 of nothing is not NaN")
	}
	if got := medianOf([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median of 3,1,2 = %v", got)
	}
	if got := medianOf([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median of 4,1,2,3 = %v", got)
	}
}

func TestProcParsers(t *testing.T) {
	// A command with spaces and a parenthesis, as java threads and wrapper scripts have.
	line := "4242 (java (main) x) S 4200 4242 4200 0 -1 4194560 1000 0 0 0 1234 567 10 20 20 0 30 0 987654 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != 4242 || st.PPID != 4200 || st.CPU != 1234+567 || st.Start != 987654 {
		t.Errorf("parsed %+v", st)
	}
	if _, err := parseProcStat("garbage"); err == nil {
		t.Error("garbage parsed")
	}
	status := "Name:\tjava\nVmPeak:\t 999 kB\nVmRSS:\t  204800 kB\nThreads:\t30\n"
	if got := parseVmRSS(status); got != 204800 {
		t.Errorf("VmRSS = %d", got)
	}
	tree := processTree([]int{10}, []procStat{{PID: 1}, {PID: 10, PPID: 1}, {PID: 11, PPID: 10}, {PID: 12, PPID: 11}, {PID: 13, PPID: 1}})
	var pids []int
	for _, p := range tree {
		pids = append(pids, p.PID)
	}
	if len(pids) != 3 || pids[0] != 10 || pids[1] != 11 || pids[2] != 12 {
		t.Errorf("tree of 10 = %v, want [10 11 12]", pids)
	}
}

func TestWorkloadIsDeterministic(t *testing.T) {
	a, b := multiInsert("t", 2), "INSERT INTO `t` "+insertColumns+" VALUES (?,?,?,?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?,?,?,?)"
	if a != b {
		t.Errorf("multiInsert = %s", a)
	}
	if len(textSource) < 1<<16 || markerText(7) != "peers-marker-000007" {
		t.Error("text source or marker text")
	}
	if cmd := shellWord("a b"); cmd != "'a b'" {
		t.Errorf("shellWord = %s", cmd)
	}
}
