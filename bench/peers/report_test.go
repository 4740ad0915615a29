package peers

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// measurement is one (round, phase, tool): what results.json holds per entry.
type measurement struct {
	Round int    `json:"round"`
	Phase Phase  `json:"phase"`
	Tool  string `json:"tool"`
	Name  string `json:"name"` // RunSpec.Name
	Table string `json:"table"`
	Topic string `json:"topic,omitempty"`
	Index string `json:"index,omitempty"` // end-to-end: the search index
	// Rows is the number of rows the figure is about: snapshot rows, row changes, or measured end-to-end rows.
	Rows     int64   `json:"rows"`
	Expected int64   `json:"expected_records,omitempty"` // non-null records the topic must hold
	Counted  int64   `json:"counted_records,omitempty"`
	StartupS float64 `json:"startup_s,omitempty"` // Start -> first record on the topic (or first document)
	// DurationS is first record -> the topic holding every record; Rate = Rows / DurationS.
	DurationS   float64 `json:"duration_s,omitempty"`
	Rate        float64 `json:"rows_per_s,omitempty"`
	CPUS        float64 `json:"cpu_s,omitempty"`               // the tool's CPU over DurationS
	CPUPer1000  float64 `json:"cpu_s_per_1000_rows,omitempty"` // CPUS per 1,000 Rows
	CPUTotalS   float64 `json:"cpu_total_s,omitempty"`         // the processes' whole CPU, start-up included
	PeakRSSMB   float64 `json:"peak_rss_mb,omitempty"`
	MariaDBRate float64 `json:"mariadb_write_rows_per_s,omitempty"` // streaming: how fast MariaDB took the changes
	P50Ms       float64 `json:"p50_ms,omitempty"`
	P99Ms       float64 `json:"p99_ms,omitempty"`
	MaxMs       float64 `json:"max_ms,omitempty"`
	NotFound    int     `json:"not_found,omitempty"`
	Error       string  `json:"error,omitempty"` // non-empty: the figure does not count and the run fails
}

// toolReport is what the results say about one tool besides its measurements.
type toolReport struct {
	Name         string           `json:"name"`
	Description  Description      `json:"description"`
	PrepareS     float64          `json:"prepare_s"`
	PrepareError string           `json:"prepare_error,omitempty"`
	Unsupported  map[Phase]string `json:"unsupported,omitempty"` // phase -> why not
}

// runReport is a whole run: results.json.
type runReport struct {
	Started      time.Time     `json:"started"`
	WallS        float64       `json:"wall_s"`
	Command      string        `json:"command"`
	Machine      machineInfo   `json:"machine"`
	Settings     benchSettings `json:"settings"`
	SnapshotLoad string        `json:"snapshot_load,omitempty"` // how long loading the snapshot table took
	Tools        []toolReport  `json:"tools"`
	Measurements []measurement `json:"measurements"`
	Failures     []string      `json:"failures,omitempty"`
}

func (r *runReport) tool(name string) *toolReport {
	for i := range r.Tools {
		if r.Tools[i].Name == name {
			return &r.Tools[i]
		}
	}
	return nil
}

// okOf returns the successful measurements of tool in phase, by round.
func (r *runReport) okOf(tool string, phase Phase) []measurement {
	var out []measurement
	for _, m := range r.Measurements {
		if m.Tool == tool && m.Phase == phase && m.Error == "" {
			out = append(out, m)
		}
	}
	return out
}

func (r *runReport) failedOf(tool string, phase Phase) []measurement {
	var out []measurement
	for _, m := range r.Measurements {
		if m.Tool == tool && m.Phase == phase && m.Error != "" {
			out = append(out, m)
		}
	}
	return out
}

// field extracts one figure of a measurement.
type field func(measurement) float64

func values(ms []measurement, f field) []float64 {
	out := make([]float64, len(ms))
	for i, m := range ms {
		out[i] = f(m)
	}
	return out
}

// spread is "median (min–max)" of f over ms, or the single value.
func spread(ms []measurement, f field, format string) string {
	v := values(ms, f)
	if len(v) == 0 {
		return "–"
	}
	med := fmt.Sprintf(format, medianOf(v))
	if len(v) == 1 {
		return med
	}
	return fmt.Sprintf("%s ("+format+"–"+format+")", med, slices.Min(v), slices.Max(v))
}

func medianCell(ms []measurement, f field, format string) string {
	if len(ms) == 0 {
		return "–"
	}
	return fmt.Sprintf(format, medianOf(values(ms, f)))
}

// phaseTable renders one phase's markdown table.
func (r *runReport) phaseTable(phase Phase) string {
	var b strings.Builder
	switch phase {
	case PhaseEndToEnd:
		b.WriteString("| tool | version | p50 ms | p99 ms | max ms | start-up s | CPU s / 1,000 rows | peak RSS MB | rounds | notes |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	default:
		b.WriteString("| tool | version | rows/s median (min–max) | start-up s | CPU s / 1,000 rows | peak RSS MB | rounds | notes |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---|\n")
	}
	for _, tr := range r.Tools {
		version := cell(orDash(tr.Description.Version))
		if tr.PrepareError != "" {
			fmt.Fprintf(&b, "| %s | %s | not measured: failed to prepare: %s |\n", tr.Name, version, cell(tr.PrepareError))
			continue
		}
		if why, ok := tr.Unsupported[phase]; ok {
			fmt.Fprintf(&b, "| %s | %s | not measured: %s |\n", tr.Name, version, cell(why))
			continue
		}
		ok, failed := r.okOf(tr.Name, phase), r.failedOf(tr.Name, phase)
		var notes []string
		for _, m := range failed {
			notes = append(notes, fmt.Sprintf("round %d FAILED: %s", m.Round, m.Error))
		}
		if phase == PhaseStreaming && len(ok) > 0 {
			notes = append(notes, "MariaDB wrote the changes at "+spread(ok, func(m measurement) float64 { return m.MariaDBRate }, "%.0f")+" rows/s")
		}
		rounds := fmt.Sprintf("%d of %d", len(ok), len(ok)+len(failed))
		startup := medianCell(ok, func(m measurement) float64 { return m.StartupS }, "%.1f")
		cpu := medianCell(ok, func(m measurement) float64 { return m.CPUPer1000 }, "%.3f")
		rss := medianCell(ok, func(m measurement) float64 { return m.PeakRSSMB }, "%.0f")
		if phase == PhaseEndToEnd {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", tr.Name, version,
				spread(ok, func(m measurement) float64 { return m.P50Ms }, "%.1f"),
				spread(ok, func(m measurement) float64 { return m.P99Ms }, "%.1f"),
				medianCell(ok, func(m measurement) float64 { return m.MaxMs }, "%.1f"),
				startup, cpu, rss, rounds, cell(strings.Join(notes, "; ")))
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", tr.Name, version,
			spread(ok, func(m measurement) float64 { return m.Rate }, "%.0f"), startup, cpu, rss, rounds,
			cell(strings.Join(notes, "; ")))
	}
	return b.String()
}

// cell makes s safe inside a markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

var phaseTitles = map[Phase]string{
	PhaseSnapshot:  "Snapshot: the whole `snap` table into Kafka",
	PhaseStreaming: "Streaming: catching up on row changes after a restart",
	PhaseEndToEnd:  "End to end: MariaDB COMMIT -> document readable in OpenSearch",
}

// markdown renders results.md.
func (r *runReport) markdown() string {
	var b strings.Builder
	s := r.Settings
	fmt.Fprintf(&b, "# Peer benchmark, %s\n\n", r.Machine.Date)
	b.WriteString("Every figure below comes from this one run: same machine, same MariaDB, same Kafka broker, same rows. ")
	b.WriteString("A rate counts only when the tool delivered every row (the harness consumes the topic and counts the records with a non-null value).\n\n")
	b.WriteString("## Machine\n\n")
	for _, kv := range [][2]string{{"CPU", fmt.Sprintf("%s, %d logical CPUs", r.Machine.CPU, r.Machine.CPUs)},
		{"Memory", r.Machine.MemoryGB + " GB"}, {"Kernel", r.Machine.Kernel}, {"Go", r.Machine.Go}, {"Java", r.Machine.Java},
		{"MariaDB", r.Machine.MariaDB}, {"Kafka", r.Machine.Kafka}, {"OpenSearch", r.Machine.OpenSearch}, {"Date", r.Machine.Date}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "- %s: %s\n", kv[0], kv[1])
		}
	}
	b.WriteString("\nEverything (MariaDB, Kafka, OpenSearch, the tool under test and the harness) shares these CPUs: the figures compare the tools with each other, not with published numbers from bigger machines.\n\n")
	b.WriteString("## Workload\n\n")
	b.WriteString("Every table has the same 11 columns: `id BIGINT PRIMARY KEY, c_int INT NOT NULL, c_bigint BIGINT, c_small SMALLINT, c_varchar VARCHAR(255), c_varchar2 VARCHAR(64), c_decimal DECIMAL(12,2), c_decimal2 DECIMAL(18,6), c_datetime DATETIME(6), c_datetime2 DATETIME(6), c_text TEXT` (varchar 20-200 characters, text 200-1,000, a few NULLs; fixed seed).\n\n")
	fmt.Fprintf(&b, "- Snapshot: `%s`, %d rows, copied by a fresh start of the tool. %s\n", snapshotTable, s.SnapshotRows, r.SnapshotLoad)
	fmt.Fprintf(&b, "- Streaming: %d row changes (about 60%% inserts, 30%% updates, 10%% deletes; transactions of 1-100 changes) written while the tool is stopped, then the tool resumes and catches up.\n", s.StreamChanges)
	fmt.Fprintf(&b, "- End to end: %d single-row INSERT commits per second for %d s (after a %d s warm-up); each row's latency is from its COMMIT's return to the first poll that finds its document (a real-time _mget of the 32 oldest rows in flight every 2 ms, of all of them every 100 ms). Start-up here: Start -> the first of the marker rows (one every 2 s) readable. CPU per 1,000 rows: over the load, warm-up included.\n", s.E2ERate, s.E2ESeconds, s.E2EWarmup)
	fmt.Fprintf(&b, "- Rounds: %d, tools in a rotated order each round; figures are the median over rounds (min–max in parentheses).\n", s.Rounds)
	b.WriteString("- Start-up: Start -> first record on the topic (not in the rate). Rate: rows / (first record -> topic holds every record), from the topic's end offsets polled every 50 ms. CPU: user+system time of the tool's processes and their children over the same interval. Peak RSS: the largest sum of their resident memory, sampled every 200 ms.\n\n")
	for _, phase := range allPhases {
		if !slices.Contains(s.Phases, phase) {
			continue
		}
		fmt.Fprintf(&b, "## %s\n\n%s\n", phaseTitles[phase], r.phaseTable(phase))
	}
	b.WriteString("Charts: [snapshot rows/s](snapshot-rate.png), [streaming rows/s](streaming-rate.png), [CPU s per 1,000 rows](cpu.png), [peak RSS](memory.png), [end-to-end latency](e2e-latency.png). Raw figures per round: [results.json](results.json).\n\n")
	b.WriteString("## Tools\n\n")
	for _, tr := range r.Tools {
		d := tr.Description
		fmt.Fprintf(&b, "### %s\n\n", tr.Name)
		fmt.Fprintf(&b, "- Version: %s\n", orDash(d.Version))
		var links []string
		for _, c := range d.Config {
			links = append(links, fmt.Sprintf("[%s](%s)", c, r.relLink(c)))
		}
		fmt.Fprintf(&b, "- Configuration: %s\n", orDash(strings.Join(links, ", ")))
		fmt.Fprintf(&b, "- Delivery guarantee: %s\n", orDash(d.Guarantee))
		fmt.Fprintf(&b, "- Record format: %s\n", orDash(d.Format))
		if d.Notes != "" {
			fmt.Fprintf(&b, "- Notes: %s\n", d.Notes)
		}
		fmt.Fprintf(&b, "- Prepare (build or download, not timed in any figure): %.1f s", tr.PrepareS)
		if tr.PrepareError != "" {
			fmt.Fprintf(&b, ", FAILED: %s", tr.PrepareError)
		}
		b.WriteString("\n\n")
	}
	if len(r.Failures) > 0 {
		b.WriteString("## Failures\n\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Run\n\nWall time of the whole run: %s.\n\nReproduce with:\n\n```\n%s\n```\n",
		(time.Duration(r.WallS) * time.Second).String(), r.Command)
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// relLink is the link from the results directory to a repository path (results live in
// bench/peers/results/<date>, four levels below the root).
func (r *runReport) relLink(repoPath string) string {
	return "../../../../" + filepath.ToSlash(repoPath)
}

// writeRunReport writes results.md, results.json and the charts into dir.
func writeRunReport(dir string, r *runReport) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(r.markdown()), 0o644); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return r.writeCharts(dir)
}

// writeLatestPointer rewrites resultsRoot/README.md to point at the dated directory dir.
func writeLatestPointer(resultsRoot, dir string, r *runReport) error {
	name := filepath.Base(dir)
	text := fmt.Sprintf("# Peer benchmark results\n\nThe latest run: [%s](%s/results.md) (%s, %s).\n\n"+
		"Each dated directory holds results.md (the tables, the machine, how each tool was configured), results.json "+
		"(every round's raw figures) and the charts. `make bench-peers` writes a new one and rewrites this pointer; "+
		"see ../doc.go for the variables that size a run.\n", name, name, r.Machine.CPU, r.Machine.Date)
	return os.WriteFile(filepath.Join(resultsRoot, "README.md"), []byte(text), 0o644)
}

// chartSeries is one bar per tool.
type chartSeries struct {
	label         string
	mid, low, top []float64 // per tool; NaN: no figure
}

// seriesOf builds a series of f's median, min and max per tool over its successful rounds of phase.
func (r *runReport) seriesOf(label string, phase Phase, f field, tools []string) chartSeries {
	s := chartSeries{label: label}
	for _, t := range tools {
		v := values(r.okOf(t, phase), f)
		if len(v) == 0 {
			s.mid, s.low, s.top = append(s.mid, math.NaN()), append(s.low, math.NaN()), append(s.top, math.NaN())
			continue
		}
		s.mid, s.low, s.top = append(s.mid, medianOf(v)), append(s.low, slices.Min(v)), append(s.top, slices.Max(v))
	}
	return s
}

func (r *runReport) writeCharts(dir string) error {
	var tools []string
	for _, t := range r.Tools {
		tools = append(tools, t.Name)
	}
	rate := func(m measurement) float64 { return m.Rate }
	cpu := func(m measurement) float64 { return m.CPUPer1000 }
	rss := func(m measurement) float64 { return m.PeakRSSMB }
	charts := []struct {
		file, title, unit string
		series            []chartSeries
	}{
		{"snapshot-rate.png", "Snapshot into Kafka (median, min–max)", "rows/s", []chartSeries{r.seriesOf("snapshot", PhaseSnapshot, rate, tools)}},
		{"streaming-rate.png", "Streaming catch-up into Kafka (median, min–max)", "rows/s", []chartSeries{r.seriesOf("streaming", PhaseStreaming, rate, tools)}},
		{"cpu.png", "CPU per 1,000 rows (median)", "CPU seconds", []chartSeries{r.seriesOf("snapshot", PhaseSnapshot, cpu, tools),
			r.seriesOf("streaming", PhaseStreaming, cpu, tools)}},
		{"memory.png", "Peak resident memory of the tool's processes (median)", "MB", []chartSeries{r.seriesOf("snapshot", PhaseSnapshot, rss, tools),
			r.seriesOf("streaming", PhaseStreaming, rss, tools)}},
		{"e2e-latency.png", "COMMIT -> readable in OpenSearch (median over rounds)", "ms", []chartSeries{
			r.seriesOf("p50", PhaseEndToEnd, func(m measurement) float64 { return m.P50Ms }, tools),
			r.seriesOf("p99", PhaseEndToEnd, func(m measurement) float64 { return m.P99Ms }, tools)}},
	}
	for _, c := range charts {
		if err := barChart(filepath.Join(dir, c.file), c.title, c.unit, tools, c.series); err != nil {
			return fmt.Errorf("chart %s: %w", c.file, err)
		}
	}
	return nil
}

// minMaxBars are whiskers from each bar's min to its max (plotter.YErrorBars' input).
type minMaxBars struct{ x, mid, low, top []float64 }

func (m minMaxBars) Len() int                        { return len(m.x) }
func (m minMaxBars) XY(i int) (float64, float64)     { return m.x[i], m.mid[i] }
func (m minMaxBars) YError(i int) (float64, float64) { return m.mid[i] - m.low[i], m.top[i] - m.mid[i] }
func (m minMaxBars) add(x, mid, low, top float64) minMaxBars {
	m.x, m.mid, m.low, m.top = append(m.x, x), append(m.mid, mid), append(m.low, low), append(m.top, top)
	return m
}

// barChart writes a PNG bar chart: one group per tool, one bar per series; a single series gets min–max
// whiskers. A tool without a figure has no bar ("n/a" under its name).
func barChart(path, title, unit string, tools []string, series []chartSeries) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = unit
	p.Add(plotter.NewGrid())
	labels := slices.Clone(tools)
	top := 0.0
	for _, s := range series {
		for i := range s.mid {
			for _, v := range []float64{s.mid[i], s.top[i]} {
				if !math.IsNaN(v) {
					top = max(top, v)
				}
			}
		}
	}
	barWidth := vg.Points(float64(300 / max(1, len(tools)*len(series))))
	barWidth = min(barWidth, vg.Points(60))
	for si, s := range series {
		vals := make(plotter.Values, len(tools))
		for i, v := range s.mid {
			if math.IsNaN(v) {
				vals[i] = 0
				if si == 0 {
					labels[i] = tools[i] + " (n/a)"
				}
				continue
			}
			vals[i] = v
		}
		bars, err := plotter.NewBarChart(vals, barWidth)
		if err != nil {
			return err
		}
		bars.LineStyle.Width = vg.Length(0)
		bars.Color = plotutil.Color(si)
		bars.Offset = barWidth * vg.Length(float64(si)-float64(len(series)-1)/2)
		p.Add(bars)
		if len(series) > 1 {
			p.Legend.Add(s.label, bars)
		}
		if len(series) == 1 {
			var wh minMaxBars
			for i := range tools {
				if !math.IsNaN(s.mid[i]) && s.top[i] > s.low[i] {
					wh = wh.add(float64(i), s.mid[i], s.low[i], s.top[i])
				}
			}
			if wh.Len() > 0 {
				eb, err := plotter.NewYErrorBars(wh)
				if err != nil {
					return err
				}
				eb.LineStyle.Color = color.Black
				eb.LineStyle.Width = vg.Points(1.5)
				p.Add(eb)
			}
		}
	}
	p.Legend.Top = true
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.5, float64(len(tools))-0.5
	p.Y.Min, p.Y.Max = 0, 1
	if top > 0 {
		p.Y.Max = top * 1.2 // room for the legend
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
