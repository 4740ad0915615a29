// Command benchtable runs the benchmarks that README.md quotes, each -count times in one `go test` run,
// and writes their numbers into the README's Benchmarks table (between the lines <!-- bench:start --> and
// <!-- bench:end -->): per benchmark the median of its per-run ratio against the baseline measured in the
// same run, the spread (min–max) over the runs, the median rates, and the command that reproduces the row.
// It prints the same table on standard output. `make bench` runs it (BENCH_COUNT sets -count).
//
// Each benchmark reports two ratios: of its rates (wall clock) and of its CPU times. A ratio whose runs are not
// all within ±15% of their median is reported on standard error as not reproducible and marked in the table;
// the table is written anyway, with its spread, so that the README never shows a single best run. With -readme "" nothing is written.
//
//	go run ./internal/benchtable -count 3 -readme README.md
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchmark is one row of the README's table.
type benchmark struct {
	Name      string // function name, e.g. BenchmarkFileKafkaFile
	Pkg       string // package directory, e.g. ./topology
	What      string // what it compares, as the README says it
	Benchtime string // -benchtime: iterations per run, chosen so that a run takes seconds
	Ratio     string // the metric unit of the ratio of rates (subject / baseline) the benchmark reports
	CPURatio  string // the metric unit of the ratio of CPU times (baseline / subject) it reports
	Baseline  string // the metric unit of the baseline's rate
	Subject   string // the metric unit of the measured thing's rate
	RateUnit  string // how the rates read in the table, e.g. "records/s"
}

// benchmarks are the rows of the README's table, in its order.
var benchmarks = []benchmark{
	{
		Name: "BenchmarkFileKafkaFile", Pkg: "./topology", Benchtime: "8x",
		What:  "file -> Kafka -> file, Sluice vs hand-written sarama (no positions, no commits)",
		Ratio: "sluice/sarama", CPURatio: "sluice/sarama-cpu", Baseline: "sarama-records/s", Subject: "sluice-records/s", RateUnit: "records/s",
	},
	{
		Name: "BenchmarkFusedStages", Pkg: "./topology", Benchtime: "8x",
		What:  "a flow with five stateless stages vs none",
		Ratio: "five/none", CPURatio: "five/none-cpu", Baseline: "no-stages-records/s", Subject: "five-stages-records/s", RateUnit: "records/s",
	},
	{
		Name: "BenchmarkSinkVsRawBulk", Pkg: "./sinks/elasticsearch", Benchtime: "2x",
		What:  "Elasticsearch sink vs a raw loader posting pre-serialised bulks of the same shape, each into a fresh embedded server, timed until searchable",
		Ratio: "sink/raw", CPURatio: "sink/raw-cpu", Baseline: "raw-docs/s", Subject: "sink-docs/s", RateUnit: "docs/s",
	},
}

const (
	startMarker = "<!-- bench:start -->"
	endMarker   = "<!-- bench:end -->"
	// tolerance is how far from its median a run's ratio may be for the benchmark to count as reproducible.
	tolerance = 0.15
)

func main() {
	count := flag.Int("count", 3, "runs of each benchmark (go test -count)")
	readme := flag.String("readme", "README.md", `file whose table to rewrite ("" writes nothing)`)
	timeout := flag.Duration("timeout", 8*time.Minute, "deadline for each benchmark's go test")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *count < 1 {
		log.Error("benchtable: -count must be at least 1", "count", *count)
		os.Exit(2)
	}
	// SIGINT or SIGTERM stops the running go test.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	loadBefore := loadAverage()
	started := time.Now().UTC()
	var rows []row
	for _, bm := range benchmarks {
		log.Info("benchtable: running", "benchmark", bm.Name, "package", bm.Pkg, "count", *count, "load average", loadAverage())
		out, err := runBenchmark(ctx, bm, *count, *timeout)
		if err != nil {
			log.Error("benchtable: benchmark failed", "benchmark", bm.Name, "command", bm.command(*count), "err", err)
			os.Exit(1)
		}
		runs, err := parseRuns(out, bm)
		if err != nil {
			log.Error("benchtable: cannot read the benchmark's output", "benchmark", bm.Name, "err", err)
			os.Exit(1)
		}
		r := summarise(bm, runs)
		if !reproducible(r.Ratio) {
			log.Warn("benchtable: ratio of rates not reproducible within ±15% of the median", "benchmark", bm.Name,
				"ratios", fmt.Sprint(r.Ratios), "median", r.Ratio.Median)
		}
		if !reproducible(r.CPURatio) {
			log.Warn("benchtable: ratio of CPU times not reproducible within ±15% of the median", "benchmark", bm.Name,
				"ratios", fmt.Sprint(r.CPURatios), "median", r.CPURatio.Median)
		}
		rows = append(rows, r)
	}
	table := render(rows, *count, started, loadBefore, loadAverage())
	fmt.Print(table)
	if *readme == "" {
		return
	}
	if err := rewriteFile(*readme, table); err != nil {
		log.Error("benchtable: cannot write the table", "file", *readme, "err", err)
		os.Exit(1)
	}
	log.Info("benchtable: table written", "file", *readme)
}

// command is the shell command that reproduces the row.
func (bm benchmark) command(count int) string {
	return fmt.Sprintf("go test -run '^$' -bench '^%s$' -benchtime %s -count %d %s", bm.Name, bm.Benchtime, count, bm.Pkg)
}

// runBenchmark runs one benchmark's go test, echoing its output to standard error, and returns the output.
func runBenchmark(ctx context.Context, bm benchmark, count int, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	goTool := os.Getenv("GO")
	if goTool == "" {
		goTool = "go"
	}
	cmd := exec.CommandContext(ctx, goTool, "test", "-run", "^$", "-bench", "^"+bm.Name+"$",
		"-benchtime", bm.Benchtime, "-count", strconv.Itoa(count), "-timeout", timeout.String(), bm.Pkg)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, os.Stderr)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("no result within %s: %w", timeout, ctx.Err())
		}
		return nil, err
	}
	return out.Bytes(), nil
}

// run is one result line of a benchmark: its metrics by unit.
type run map[string]float64

// parseRuns reads the result lines of bm from go test's output ("BenchmarkX-2  3  123 ns/op  0.5 a/b ...").
// Every line must carry the ratio and both rates.
func parseRuns(out []byte, bm benchmark) ([]run, error) {
	var runs []run
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || (fields[0] != bm.Name && !strings.HasPrefix(fields[0], bm.Name+"-")) {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue // a log line that starts with the benchmark's name
		}
		r := run{}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("result line %q: value %q is not a number", sc.Text(), fields[i])
			}
			r[fields[i+1]] = v
		}
		for _, unit := range []string{bm.Ratio, bm.CPURatio, bm.Baseline, bm.Subject} {
			if _, ok := r[unit]; !ok {
				return nil, fmt.Errorf("result line %q has no %s", sc.Text(), unit)
			}
		}
		runs = append(runs, r)
	}
	if len(runs) == 0 {
		return nil, errors.New("no result line (did the benchmark run?)")
	}
	return runs, sc.Err()
}

// stat is the median and range of a set of values.
type stat struct{ Median, Min, Max float64 }

func statOf(values []float64) stat {
	s := slices.Sorted(slices.Values(values))
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stat{Median: med, Min: s[0], Max: s[n-1]}
}

// row is one benchmark's summary over its runs.
type row struct {
	bench     benchmark
	count     int
	Ratios    []float64
	CPURatios []float64
	Ratio     stat
	CPURatio  stat
	Baseline  stat
	Subject   stat
}

func summarise(bm benchmark, runs []run) row {
	var ratios, cpu, base, subj []float64
	for _, r := range runs {
		ratios = append(ratios, r[bm.Ratio])
		cpu = append(cpu, r[bm.CPURatio])
		base = append(base, r[bm.Baseline])
		subj = append(subj, r[bm.Subject])
	}
	return row{bench: bm, count: len(runs), Ratios: ratios, CPURatios: cpu, Ratio: statOf(ratios),
		CPURatio: statOf(cpu), Baseline: statOf(base), Subject: statOf(subj)}
}

// reproducible reports whether every run's value is within ±15% of the median.
func reproducible(s stat) bool {
	return s.Min >= s.Median*(1-tolerance) && s.Max <= s.Median*(1+tolerance)
}

// cell prints a ratio as median (min–max), marked when its spread is over ±15%.
func cell(s stat) string {
	c := fmt.Sprintf("%.2fx (%.2f–%.2f)", s.Median, s.Min, s.Max)
	if !reproducible(s) {
		c += " spread over ±15%"
	}
	return c
}

// render writes the table with its markers, the lines that say how and when it was measured, and a
// trailing newline.
func render(rows []row, count int, started time.Time, loadBefore, loadAfter string) string {
	var b strings.Builder
	fmt.Fprintln(&b, startMarker)
	fmt.Fprintf(&b, "Written by `make bench` (BENCH_COUNT=%d) on %s, %d cores, %s, load average %s before and %s after: "+
		"ratios against a baseline measured in the same run, median of the runs with their min–max in brackets. "+
		"Rates: the subject's rate over the baseline's. CPU: the baseline's CPU time (user + system of the "+
		"benchmark process, in-process broker or server included) over the subject's, which a busy machine "+
		"disturbs far less.\n\n",
		count, started.Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version(), loadBefore, loadAfter)
	fmt.Fprintln(&b, "| benchmark | what | rates | CPU | rates (median), subject vs baseline | reproduce |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s vs %s %s | `%s` |\n", r.bench.Name, r.bench.What,
			cell(r.Ratio), cell(r.CPURatio), rate(r.Subject.Median), rate(r.Baseline.Median),
			r.bench.RateUnit, r.bench.command(r.count))
	}
	fmt.Fprintln(&b, endMarker)
	return b.String()
}

// rate prints a throughput with k for thousands, two significant digits at least.
func rate(v float64) string {
	switch {
	case v >= 100_000:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// rewrite replaces everything from the start marker's line to the end marker's line with table.
func rewrite(doc []byte, table string) ([]byte, error) {
	start := bytes.Index(doc, []byte(startMarker))
	end := bytes.Index(doc, []byte(endMarker))
	if start < 0 || end < 0 || end < start {
		return nil, fmt.Errorf("no %s ... %s block", startMarker, endMarker)
	}
	end += len(endMarker)
	if end < len(doc) && doc[end] == '\n' {
		end++
	}
	out := append([]byte(nil), doc[:start]...)
	out = append(out, table...)
	return append(out, doc[end:]...), nil
}

// rewriteFile rewrites path's table in place (the file is re-read right before, since others may edit it).
func rewriteFile(path, table string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := rewrite(doc, table)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, info.Mode().Perm())
}

// loadAverage is the one-minute load average from /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
