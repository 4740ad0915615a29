package main

import (
	"strings"
	"testing"
	"time"
)

// Output of a real `go test -bench -count 3` run, with a log line that starts with the benchmark's name.
const benchOutput = `goos: linux
goarch: amd64
pkg: github.com/sluicehq/sluice/sinks/elasticsearch
cpu: Intel(R) Xeon(R) Processor
BenchmarkSinkVsRawBulk-2   	       3	15833550949 ns/op	      2181 raw-docs/s	      3033 sink-docs/s	         1.390 sink/raw	0.50 sink/raw-cpu
BenchmarkSinkVsRawBulk says hello
BenchmarkSinkVsRawBulk-2   	       3	25515472370 ns/op	      1367 raw-docs/s	      1862 sink-docs/s	         1.362 sink/raw	0.55 sink/raw-cpu
BenchmarkSinkVsRawBulk-2   	       3	29824034917 ns/op	      1343 raw-docs/s	      1347 sink-docs/s	         1.003 sink/raw	0.52 sink/raw-cpu
PASS
ok  	github.com/sluicehq/sluice/sinks/elasticsearch	217.867s
`

func esBenchmark(t *testing.T) benchmark {
	t.Helper()
	for _, bm := range benchmarks {
		if bm.Name == "BenchmarkSinkVsRawBulk" {
			return bm
		}
	}
	t.Fatal("BenchmarkSinkVsRawBulk is not in the table")
	return benchmark{}
}

func TestParseAndSummarise(t *testing.T) {
	bm := esBenchmark(t)
	runs, err := parseRuns([]byte(benchOutput), bm)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 {
		t.Fatalf("%d runs, want 3", len(runs))
	}
	r := summarise(bm, runs)
	if r.Ratio != (stat{Median: 1.362, Min: 1.003, Max: 1.390}) {
		t.Fatalf("ratio %+v", r.Ratio)
	}
	if r.Subject.Median != 1862 || r.Baseline.Median != 1367 {
		t.Fatalf("rates: subject %+v baseline %+v", r.Subject, r.Baseline)
	}
	if r.CPURatio != (stat{Median: 0.52, Min: 0.50, Max: 0.55}) {
		t.Fatalf("CPU ratio %+v", r.CPURatio)
	}
	if reproducible(r.Ratio) {
		t.Fatal("1.003 is more than 15% below the median 1.362, yet the ratio counts as reproducible")
	}
	if !reproducible(r.CPURatio) {
		t.Fatal("0.50-0.55 around 0.52 counts as not reproducible")
	}
}

func TestParseRefusesALineWithoutTheRatio(t *testing.T) {
	bm := esBenchmark(t)
	_, err := parseRuns([]byte("BenchmarkSinkVsRawBulk-2  3  100 ns/op  2181 raw-docs/s  3033 sink-docs/s  0.5 sink/raw-cpu\n"), bm)
	if err == nil || !strings.Contains(err.Error(), "sink/raw") {
		t.Fatalf("err %v, want one naming the missing sink/raw", err)
	}
	if _, err := parseRuns([]byte("FAIL\n"), bm); err == nil {
		t.Fatal("no result line, no error")
	}
}

func TestMedianOfEvenCount(t *testing.T) {
	if s := statOf([]float64{4, 1, 3, 2}); s != (stat{Median: 2.5, Min: 1, Max: 4}) {
		t.Fatalf("%+v", s)
	}
}

func TestRewriteReplacesOnlyTheMarkedBlock(t *testing.T) {
	bm := esBenchmark(t)
	runs, err := parseRuns([]byte(benchOutput), bm)
	if err != nil {
		t.Fatal(err)
	}
	table := render([]row{summarise(bm, runs)}, 3, time.Date(2026, 11, 30, 19, 0, 0, 0, time.UTC), "1.00", "2.00")
	doc := "# Title\n## Benchmarks\n" + startMarker + "\nold table\n" + endMarker + "\n## Metrics\n"
	out, err := rewrite([]byte(doc), table)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Title\n## Benchmarks\n" + table + "## Metrics\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	for _, s := range []string{"1.36x (1.00–1.39) spread over ±15% | 0.52x (0.50–0.55) |", "1.9k vs 1.4k docs/s",
		"`go test -run '^$' -bench '^BenchmarkSinkVsRawBulk$' -benchtime 2x -count 3 ./sinks/elasticsearch`",
		"2026-11-30 19:00 UTC", "load average 1.00 before and 2.00 after"} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %q:\n%s", s, table)
		}
	}
	// Written twice, the same table: the markers survive.
	again, err := rewrite(out, table)
	if err != nil || string(again) != want {
		t.Fatalf("second rewrite: %v\n%s", err, again)
	}
	if _, err := rewrite([]byte("# no markers\n"), table); err == nil {
		t.Fatal("a README without markers was rewritten")
	}
}
