package topology

import (
	"cmp"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/sluicehq/sluice/internal/opsapi"
)

// The status page.
//
// GET /ui is one server-rendered HTML page: the pipeline as a graph drawn left to right (sources, their ETL
// stages, the topics they write, each flow's stages and stateful steps, the tables joins read, and each
// flow's sink or output topic), laid out here from the declaration, with no external resources. A little
// JavaScript (ui/static/app.js) reads GET /ui/data every second and updates each node in place: its rate in
// records per second (computed in the browser from two successive totals), its lag (records behind for a
// flow, bytes or seconds behind the input for a source), a flow's mean end-to-end latency, its errors (dead
// letters, sink retries, failed source commits) and a stalled marker. GET /ui/data is JSON (uiData, and
// docs/api.md): the totals of this replica's metrics per node (gathered from the pipeline's registry), the
// stalled components from the stall tracker (health.go), this replica's state, and every live replica's
// status with the tasks and partitions it runs (liveReplicas, status.go).
//
// Node ids, shared by the page (the data-node attribute) and /ui/data:
//
//	source:<source>                 a source (records read)
//	stage:source/<source>/<stage>   an ETL stage of a source (records in)
//	topic:<topic>                   a declared topic the pipeline writes or reads
//	table:<table>                   a table (records into its first stage, summed over the joins reading it)
//	stage:flow/<flow>/<stage>       a stateless stage of a flow (records in)
//	join:<flow>/<step>              a flow's join of a table
//	keyed:<flow>/<step>             a flow's keyed step (dedupe, aggregate, count)
//	sink:<flow>                     a flow's sink, or its output to a topic (records acknowledged, the
//	                                flow's lag, retries, and the flow's stall)
//
// Counters are this replica's: with several replicas, each page shows the share of the work its replica
// does, and the replicas table lists what the others run.

//go:embed ui
var uiFiles embed.FS

var uiPage = template.Must(template.ParseFS(uiFiles, "ui/page.html"))

// uiRoutes registers GET /ui (the page; /ui/ redirects to it), GET /ui/data (its live numbers) and GET
// /ui/static/ (its script and style sheet). The page refers to them by relative URLs, so it also works
// behind a proxy that serves the API under a path prefix.
func (p *pipelineRun) uiRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(uiFiles, "ui/static")
	mux.HandleFunc("GET /ui", p.serveUI)
	mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "../ui", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /ui/data", p.serveUIData)
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
}

// uiNode is one box of the graph.
type uiNode struct {
	ID     string // see the node ids above
	Kind   string // source, stage, topic, table, join, keyed, sink
	Name   string
	Detail string // what it is: the connector, the flow it belongs to, partitions and codec
	// Rated nodes have a counter the page turns into records per second; Lagged ones a consumer lag.
	Rated, Lagged bool

	layer, order int
	X, Y         int // top-left corner on the page, in pixels
}

// uiEdge joins two nodes; Path is the SVG path drawn for it.
type uiEdge struct {
	From, To string
	Path     string
}

// uiGraph is the laid-out graph of a declaration.
type uiGraph struct {
	Pipeline      string
	Nodes         []*uiNode
	Edges         []uiEdge
	Width, Height int
	// NodeWidth and NodeHeight are every node's size, for the style sheet.
	NodeWidth, NodeHeight int
}

// The geometry of the graph, in pixels.
const (
	uiNodeWidth  = 184
	uiNodeHeight = 100
	uiColumnGap  = 48
	uiRowGap     = 20
	uiMargin     = 16
)

// uiGraphOf builds and lays out the graph of t's declaration.
func uiGraphOf(t *Topology) *uiGraph {
	g := &uiGraph{Pipeline: t.name, NodeWidth: uiNodeWidth, NodeHeight: uiNodeHeight}
	byID := map[string]*uiNode{}
	node := func(id, kind, name, detail string, rated, lagged bool) string {
		if _, ok := byID[id]; !ok {
			n := &uiNode{ID: id, Kind: kind, Name: name, Detail: detail, Rated: rated, Lagged: lagged}
			byID[id] = n
			g.Nodes = append(g.Nodes, n)
		}
		return id
	}
	edges := map[[2]string]bool{}
	edge := func(from, to string) {
		if from != to && !edges[[2]string{from, to}] {
			edges[[2]string{from, to}] = true
			g.Edges = append(g.Edges, uiEdge{From: from, To: to})
		}
	}
	topic := func(tp *Topic) string {
		detail := plural(int(tp.partitions), "partition") + " · " + tp.valueCodecName
		return node("topic:"+tp.name, "topic", tp.name, detail, false, false)
	}

	written := map[*Topic]bool{} // topics a source or flow writes by name
	for _, f := range t.flows {
		if f.toTopic != nil {
			written[f.toTopic] = true
		}
	}
	for _, s := range t.sources {
		if s.to != nil {
			written[s.to] = true
		}
	}
	for _, s := range t.sources {
		prev := node("source:"+s.name, "source", s.name, connectorName(s.src, "source"), true, true)
		for _, st := range s.stages {
			if st == nil {
				continue
			}
			id := node("stage:source/"+s.name+"/"+st.Name(), "stage", st.Name(), "source "+s.name, true, false)
			edge(prev, id)
			prev = id
		}
		switch {
		case s.to != nil:
			edge(prev, topic(s.to))
		case s.recordTopics:
			// Each record names its topic: draw the declared topics nothing else writes, that are not
			// dead-letter topics, as this source's.
			for _, tp := range t.topics {
				if !written[tp] && !t.isDeadLetterTopic(tp) {
					edge(prev, topic(tp))
				}
			}
			for _, nt := range s.newTopics { // created at run time (newtopics.go): one node "prefix*"
				edge(prev, topic(nt.template))
			}
		}
	}
	for _, tb := range t.tables {
		detail := "latest row per key"
		if len(tb.stages) > 0 {
			detail = "rows via " + stageNames(tb.stages)
		}
		id := node("table:"+tb.name, "table", tb.name, detail, len(tb.stages) > 0, false)
		if tb.from != nil {
			edge(topic(tb.from), id)
		}
	}
	for _, f := range t.flows {
		var prev string
		if f.from != nil {
			prev = topic(f.from)
		}
		for _, s := range f.steps {
			var id string
			switch {
			case s.join != nil:
				id = node("join:"+f.name+"/"+s.name(), "join", s.name(), "flow "+f.name, false, true)
				if s.table != nil {
					edge("table:"+s.table.name, id)
				}
			case s.keyed != nil:
				id = node("keyed:"+f.name+"/"+s.name(), "keyed", s.name(), "flow "+f.name, false, true)
			case s.stage != nil:
				id = node("stage:flow/"+f.name+"/"+s.name(), "stage", s.name(), "flow "+f.name, true, false)
			default:
				continue
			}
			if prev != "" {
				edge(prev, id)
			}
			prev = id
		}
		detail := connectorName(f.sink, "sink")
		if f.toTopic != nil {
			detail = "to topic " + f.toTopic.name
		}
		id := node("sink:"+f.name, "sink", f.name, detail, true, true)
		if prev != "" {
			edge(prev, id)
		}
		if f.toTopic != nil {
			edge(id, topic(f.toTopic))
		}
	}
	g.layout(byID)
	return g
}

// layout places nodes in columns by their longest path from a node without inputs (back edges of a cycle
// are ignored), orders each column by the mean row of its inputs, and draws the edges as curves.
func (g *uiGraph) layout(byID map[string]*uiNode) {
	in := map[string][]string{}
	for _, e := range g.Edges {
		in[e.To] = append(in[e.To], e.From)
	}
	state := map[string]int{} // 1 visiting, 2 done
	var depth func(id string) int
	depth = func(id string) int {
		n := byID[id]
		switch state[id] {
		case 1:
			return -1 // a cycle: this edge does not push the node right
		case 2:
			return n.layer
		}
		state[id] = 1
		for _, from := range in[id] {
			n.layer = max(n.layer, depth(from)+1)
		}
		state[id] = 2
		return n.layer
	}
	columns := map[int][]*uiNode{}
	layers := 0
	for _, n := range g.Nodes {
		depth(n.ID)
	}
	for _, n := range g.Nodes {
		n.order = len(columns[n.layer])
		columns[n.layer] = append(columns[n.layer], n)
		layers = max(layers, n.layer+1)
	}
	for pass := 0; pass < 2; pass++ {
		for l := 1; l < layers; l++ {
			col := columns[l]
			mean := map[*uiNode]float64{}
			for _, n := range col {
				sum, k := 0.0, 0
				for _, from := range in[n.ID] {
					if f := byID[from]; f.layer < l {
						sum += float64(f.order)
						k++
					}
				}
				mean[n] = float64(n.order)
				if k > 0 {
					mean[n] = sum / float64(k)
				}
			}
			slices.SortStableFunc(col, func(a, b *uiNode) int { return cmp.Compare(mean[a], mean[b]) })
			for i, n := range col {
				n.order = i
			}
		}
	}
	rows := 0
	for _, col := range columns {
		rows = max(rows, len(col))
	}
	tallest := rows*uiNodeHeight + max(rows-1, 0)*uiRowGap
	for l := 0; l < layers; l++ {
		col := columns[l]
		height := len(col)*uiNodeHeight + max(len(col)-1, 0)*uiRowGap
		for i, n := range col {
			n.X = uiMargin + l*(uiNodeWidth+uiColumnGap)
			n.Y = uiMargin + (tallest-height)/2 + i*(uiNodeHeight+uiRowGap)
		}
	}
	g.Width = 2*uiMargin + layers*uiNodeWidth + max(layers-1, 0)*uiColumnGap
	g.Height = 2*uiMargin + tallest
	for i, e := range g.Edges {
		a, b := byID[e.From], byID[e.To]
		x1, y1 := a.X+uiNodeWidth, a.Y+uiNodeHeight/2
		x2, y2 := b.X, b.Y+uiNodeHeight/2
		bend := max((x2-x1)/2, 40)
		g.Edges[i].Path = fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, x1+bend, y1, x2-bend, y2, x2, y2)
	}
}

// isDeadLetterTopic reports whether a source or flow of t sends its dead letters to tp.
func (t *Topology) isDeadLetterTopic(tp *Topic) bool {
	for _, s := range t.sources {
		if s.deadLetter == tp {
			return true
		}
	}
	for _, f := range t.flows {
		if f.deadLetter == tp {
			return true
		}
	}
	return false
}

// connectorName names a connector by its package ("file", "elasticsearch"), or returns fallback for one
// declared in a main package or without a named type.
func connectorName(v any, fallback string) string {
	if v == nil {
		return fallback
	}
	ty := reflect.TypeOf(v)
	for ty.Kind() == reflect.Pointer {
		ty = ty.Elem()
	}
	pkg := path.Base(ty.PkgPath())
	if pkg == "" || pkg == "." || pkg == "main" {
		return fallback
	}
	return pkg + " " + fallback
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func stageNames[S interface{ Name() string }](st []S) string {
	var out string
	for i, s := range st {
		if i > 0 {
			out += ", "
		}
		out += s.Name()
	}
	return out
}

// serveUI renders the page.
func (p *pipelineRun) serveUI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := uiPage.Execute(w, uiGraphOf(p.t)); err != nil {
		p.log.Warn("status page not rendered", "err", err)
	}
}

// uiData is GET /ui/data.
type uiData struct {
	Pipeline string `json:"pipeline"`
	Replica  string `json:"replica"`
	// State is this replica's: starting, running, paused, stopped or failed (see opsapi), or stalled while
	// running with a stalled component; Error is the failure.
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// At is when the numbers were read, in Unix milliseconds: the page divides the growth of each total by
	// the time between two answers.
	At       int64                  `json:"at"`
	Nodes    map[string]*uiNodeData `json:"nodes"`
	Replicas []opsapi.ReplicaStatus `json:"replicas,omitempty"`
}

// uiNodeData is one node's numbers on this replica.
type uiNodeData struct {
	// Total counts records: read (source), into the stage (stage, table), acknowledged (sink).
	Total *float64 `json:"total,omitempty"`
	Lag   *float64 `json:"lag,omitempty"` // records behind, summed over the partitions this replica processes
	// SourceLag is how far a source's tasks on this replica are behind their input, summed, in
	// SourceLagUnit (bytes, seconds), when its reader can tell.
	SourceLag     *float64 `json:"source_lag,omitempty"`
	SourceLagUnit string   `json:"source_lag_unit,omitempty"`
	// LatencySum and LatencyCount are the totals of a flow's end-to-end latency histogram (seconds from the
	// record's source timestamp to the sink's acknowledgement): the page shows the mean over the last second.
	LatencySum   *float64 `json:"latency_sum,omitempty"`
	LatencyCount *float64 `json:"latency_count,omitempty"`
	DeadLetters  float64  `json:"dead_letters,omitempty"`
	Retries      float64  `json:"retries,omitempty"`
	// CommitErrors are saved positions a source's reader failed to commit upstream.
	CommitErrors float64  `json:"commit_errors,omitempty"`
	Tasks        *float64 `json:"tasks,omitempty"` // source tasks this replica runs
	Stalled      bool     `json:"stalled,omitempty"`
	WaitsFor     []string `json:"waits_for,omitempty"`
}

// serveUIData answers the page's JSON.
func (p *pipelineRun) serveUIData(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.uiData(time.Now()))
}

func (p *pipelineRun) uiData(now time.Time) uiData {
	d := uiData{Pipeline: p.t.name, Replica: p.replicaID, State: "starting", At: now.UnixMilli(), Nodes: map[string]*uiNodeData{}}
	g := uiGraphOf(p.t)
	known := map[string]bool{}
	for _, n := range g.Nodes {
		known[n.ID] = true
		d.Nodes[n.ID] = &uiNodeData{}
	}
	at := func(id string) *uiNodeData {
		if known[id] {
			return d.Nodes[id]
		}
		return nil
	}
	add := func(field **float64, v float64) {
		if *field == nil {
			*field = new(float64)
		}
		**field += v
	}
	// Every rated node shows 0 until its counter has a series.
	for _, n := range g.Nodes {
		if n.Rated {
			add(&d.Nodes[n.ID].Total, 0)
		}
	}
	groups := map[string]string{} // consumer group -> node id of what it runs
	for _, f := range p.t.flows {
		groups[flowGroup(p.t.name, f.name)] = "sink:" + f.name
		for _, s := range f.steps {
			switch {
			case s.join != nil:
				groups[stepGroup(p.t.name, f.name, s.name())] = "join:" + f.name + "/" + s.name()
			case s.keyed != nil:
				groups[stepGroup(p.t.name, f.name, s.name())] = "keyed:" + f.name + "/" + s.name()
			}
		}
	}
	fams, err := p.metrics.Gatherer.Gather()
	if err != nil {
		p.log.Debug("status page: some metrics not gathered", "err", err)
	}
	for _, fam := range fams {
		for _, m := range fam.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["pipeline"] != p.t.name {
				continue
			}
			v := metricValue(m)
			switch fam.GetName() {
			case "sluice_source_records_total":
				if n := at("source:" + l["source"]); n != nil {
					add(&n.Total, v)
				}
			case "sluice_source_tasks_running":
				if n := at("source:" + l["source"]); n != nil {
					add(&n.Tasks, v)
				}
			case "sluice_source_commit_errors_total":
				if n := at("source:" + l["source"]); n != nil {
					n.CommitErrors += v
				}
			case "sluice_stage_records_in_total":
				switch {
				case l["source"] != "":
					if n := at("stage:source/" + l["source"] + "/" + l["stage"]); n != nil {
						add(&n.Total, v)
					}
				case l["table"] != "":
					if tb := p.t.table(l["table"]); tb != nil && len(tb.stages) > 0 && tb.stages[0] != nil && tb.stages[0].Name() == l["stage"] {
						if n := at("table:" + l["table"]); n != nil {
							add(&n.Total, v)
						}
					}
				default:
					if n := at("stage:flow/" + l["flow"] + "/" + l["stage"]); n != nil {
						add(&n.Total, v)
					}
				}
			case "sluice_source_lag":
				if n := at("source:" + l["source"]); n != nil {
					add(&n.SourceLag, v)
					n.SourceLagUnit = l["unit"]
				}
			case "sluice_end_to_end_seconds":
				if n := at("sink:" + l["flow"]); n != nil && m.Histogram != nil {
					add(&n.LatencySum, m.Histogram.GetSampleSum())
					add(&n.LatencyCount, float64(m.Histogram.GetSampleCount()))
				}
			case "sluice_sink_records_total":
				if n := at("sink:" + l["sink"]); n != nil {
					add(&n.Total, v)
				}
			case "sluice_sink_retries_total":
				if n := at("sink:" + l["sink"]); n != nil {
					n.Retries += v
				}
			case "sluice_consumer_lag":
				if n := at(groups[l["group"]]); n != nil {
					add(&n.Lag, v)
				}
			case "sluice_dead_letter_records_total":
				// At the stage that refused the record; at the source or sink for one that could not be
				// decoded or produced.
				n := at("stage:flow/" + l["flow"] + "/" + l["stage"])
				if l["flow"] == "" {
					n = at("stage:source/" + l["source"] + "/" + l["stage"])
				}
				if n == nil {
					n = cmp.Or(at("sink:"+l["flow"]), at("source:"+l["source"]))
				}
				if n != nil {
					n.DeadLetters += v
				}
			}
		}
	}
	stalled := p.stalls.check(now)
	for _, s := range stalled {
		id := "source:" + s.Name
		if s.Kind == "flow" {
			id = "sink:" + s.Name
		}
		if n := at(id); n != nil {
			n.Stalled, n.WaitsFor = true, s.WaitsFor
		}
	}
	d.State = strings.ToLower(p.replicaState())
	if err := p.failure.Load(); err != nil {
		d.Error = (*err).Error()
	}
	if d.State == "running" && len(stalled) > 0 {
		d.State = "stalled"
	}
	d.Replicas = p.liveReplicas()
	return d
}

// table returns the declared table named name, or nil.
func (t *Topology) table(name string) *Table {
	for _, tb := range t.tables {
		if tb.name == name {
			return tb
		}
	}
	return nil
}

// metricValue is a counter's or gauge's value (0 for other kinds).
func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}
