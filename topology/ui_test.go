package topology_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/sluicehq/sluice/internal/testkit"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// chromium returns the path of Debian's Chromium, or fails the test saying how to install it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the status page test needs Chromium (chromium or chromium-browser in PATH); install it with " +
		"`apt-get install -y chromium` (bash test/deps.sh does it as root)")
	return ""
}

// artifactDir is where tests leave files for people to look at: $SLUICE_TEST_ARTIFACTS, else
// <tmp>/sluice-artifacts.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SLUICE_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "sluice-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// uiDataOf reads the status page's JSON.
func uiDataOf(t *testing.T, base string) (d struct {
	State string `json:"state"`
	Nodes map[string]struct {
		Total *float64 `json:"total"`
		Lag   *float64 `json:"lag"`
	} `json:"nodes"`
}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ui/data", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui/data: %s", res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil {
		t.Fatalf("GET /ui/data: %v", err)
	}
	return d
}

// Issue 13, acceptance 4: headless Chromium opens /ui of a running pipeline (a file source, two stages, a
// file sink); the graph shows the source, each stage and the sink by name, in order from left to right;
// a displayed rate changes while records flow; a screenshot is saved as a test artefact. Once the feed
// stops, /ui/data's totals equal the records written.
func TestStatusPage(t *testing.T) {
	dir := t.TempDir()
	brokers := testkit.Brokers(t, 1)
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	if err := os.WriteFile(in, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: []string{in}, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	email := regexp.MustCompile(`[a-z0-9.]+@[a-z0-9.]+`)
	tp := topology.New("ui-demo")
	lines := tp.Topic("signups", topology.ValueCodec("string"), topology.Partitions(2))
	tp.Source("signup-log", src).To(lines)
	tp.Flow("archive").From(lines).Via(
		stages.Map("trim", func(r stream.Record) (stream.Record, error) {
			r.Value = strings.TrimSpace(r.Value.(string))
			return r, nil
		}),
		stages.Map("mask-email", func(r stream.Record) (stream.Record, error) {
			r.Value = email.ReplaceAllString(r.Value.(string), "***")
			return r, nil
		}),
	).To(sink, topology.BatchSize(50), topology.Linger(5*time.Millisecond))

	cfg := topology.DefaultConfig()
	cfg.Brokers = brokers
	cfg.HTTPAddr = testkit.FreeAddr(t)
	base := "http://" + cfg.HTTPAddr
	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(runCtx, cfg) }()
	defer func() {
		stopRun()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
	}()

	// The feed: lines appended at perTick lines every 20ms until stopFeed.
	var perTick atomic.Int64
	perTick.Store(3)
	var fed atomic.Int64
	feedCtx, stopFeed := context.WithCancel(context.Background())
	var feeding sync.WaitGroup
	feeding.Add(1)
	go func() {
		defer feeding.Done()
		f, err := os.OpenFile(in, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-feedCtx.Done():
				return
			case <-tick.C:
			}
			var b strings.Builder
			for range perTick.Load() {
				n := fed.Add(1)
				fmt.Fprintf(&b, "  signup %d from user%d@example.com  \n", n, n)
			}
			if _, err := f.WriteString(b.String()); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { stopFeed(); feeding.Wait() }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	page := openBrowser(t, ctx, chromium(t), filepath.Join(dir, "chromium"))

	openPage(t, ctx, page, base, "sink:archive")
	if res, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/ui/"); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusOK || res.Request.URL.Path != "/ui" {
		t.Errorf("GET /ui/ ended at %s with %s, want /ui, 200", res.Request.URL, res.Status)
	}

	// The graph: each node by name, left to right in pipeline order.
	type node struct {
		ID, Name, Kind string
		X              float64
	}
	nodes, err := chromedp.Run(page, chromedp.Evaluate[[]node](`[...document.querySelectorAll("[data-node]")].map(e => ({
		ID: e.dataset.node, Name: e.querySelector(".name").textContent, Kind: e.querySelector(".kind").textContent,
		X: e.getBoundingClientRect().left}))`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"source:signup-log", "topic:signups", "stage:flow/archive/trim", "stage:flow/archive/mask-email", "sink:archive"}
	wantNames := []string{"signup-log", "signups", "trim", "mask-email", "archive"}
	if len(nodes) != len(want) {
		t.Fatalf("graph nodes %+v, want %v", nodes, want)
	}
	for i, n := range nodes {
		j := slices.Index(want, n.ID)
		if j < 0 || n.Name != wantNames[j] {
			t.Fatalf("graph node %+v: want one of %v named as %v", n, want, wantNames)
		}
		if i > 0 && n.X <= nodes[i-1].X {
			t.Errorf("node %s (x=%.0f) is not right of %s (x=%.0f)", n.ID, n.X, nodes[i-1].ID, nodes[i-1].X)
		}
	}
	edges, err := chromedp.Run(page, chromedp.Evaluate[int](`document.querySelectorAll("path.edge").length`))
	if err != nil {
		t.Fatal(err)
	}
	if edges != 4 {
		t.Errorf("%d edges drawn, want 4 (source -> topic -> trim -> mask-email -> sink)", edges)
	}

	// A rate, read twice from the DOM while records flow: the feed speeds up after the first reading.
	rates := func() map[string]string {
		r, err := chromedp.Run(page, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll("[data-field=rate]")].map(
			e => [e.closest("[data-node]").dataset.node, e.textContent]))`))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	perSecond := func(text string) float64 {
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSuffix(text, " rec/s"), "k"), 64)
		if err != nil {
			return -1 // not shown yet ("– rec/s")
		}
		if strings.HasSuffix(strings.TrimSuffix(text, " rec/s"), "k") {
			v *= 1000
		}
		return v
	}
	var first map[string]string
	pollUntil(t, ctx, "every node shows a rate above 0", func() (bool, string) {
		first = rates()
		for _, id := range []string{"source:signup-log", "stage:flow/archive/trim", "stage:flow/archive/mask-email", "sink:archive"} {
			if perSecond(first[id]) <= 0 {
				return false, fmt.Sprint(first)
			}
		}
		return true, ""
	})
	t.Logf("first reading: %v", first)
	perTick.Store(15)
	var second map[string]string
	pollUntil(t, ctx, "the sink's displayed rate changes", func() (bool, string) {
		second = rates()
		return perSecond(second["sink:archive"]) > 0 && second["sink:archive"] != first["sink:archive"], fmt.Sprint(second)
	})
	t.Logf("second reading: %v", second)

	// The screenshot, once the rates are live.
	// The replicas table lists this replica and what it runs (from the status every replica publishes).
	pollUntil(t, ctx, "the replicas table shows what this replica runs", func() (bool, string) {
		text, err := chromedp.Run(page, chromedp.Evaluate[string](`document.getElementById("replicas").hidden ? "" :
			document.querySelector("#replicas tbody").innerText`))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(text, "signup-log: 1 task") && strings.Contains(text, "archive: p0, p1") &&
			strings.Contains(text, "running"), text
	})
	saveScreenshot(t, page, base, "status-page.png")

	// After the feed stops, the page's totals equal what was fed.
	stopFeed()
	feeding.Wait()
	total := int(fed.Load())
	testkit.WaitLines(t, out, total, 30*time.Second)
	pollUntil(t, ctx, "/ui/data's totals equal the records fed", func() (bool, string) {
		d := uiDataOf(t, base)
		var got []string
		ok := true
		for _, id := range []string{"source:signup-log", "stage:flow/archive/trim", "stage:flow/archive/mask-email", "sink:archive"} {
			n := d.Nodes[id]
			if n.Total == nil || int(*n.Total) != total {
				ok = false
			}
			if n.Total != nil {
				got = append(got, fmt.Sprintf("%s=%.0f", id, *n.Total))
			}
		}
		return ok, fmt.Sprintf("want %d each, have %v", total, got)
	})
	t.Logf("%d records fed; the page's totals agree", total)
}

// openBrowser starts headless Chromium (the executable at path, with its profile in profile) for as long
// as ctx lasts and returns the context of a tab.
func openBrowser(t *testing.T, ctx context.Context, path, profile string) context.Context {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path), chromedp.WindowSize(1280, 560), chromedp.UserDataDir(profile))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	page, cancelPage := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelPage)
	return page
}

// openPage waits until base/ui answers (the HTTP server listens before the pipeline starts its
// processors), opens it in page and waits until the node with id node is visible.
func openPage(t *testing.T, ctx, page context.Context, base, node string) {
	t.Helper()
	pollUntil(t, ctx, "the status page answers", func() (bool, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ui", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK, res.Status
	})
	if err := chromedp.Do(page, chromedp.Navigate(base+"/ui"), chromedp.WaitVisible(chromedp.CSS(`[data-node="`+node+`"]`))); err != nil {
		t.Fatalf("open %s/ui in Chromium: %v", base, err)
	}
}

// saveScreenshot saves what page shows as a PNG named name in artifactDir, and logs where.
func saveScreenshot(t *testing.T, page context.Context, base, name string) {
	t.Helper()
	png, err := chromedp.Run(page, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of %s/ui: %s", base, shot)
}

// pollUntil calls cond every 100ms until it reports true, and fails naming what and cond's last word when
// ctx ends first.
func pollUntil(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting until %s: %v; last: %s", what, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// blockingSink acknowledges nothing: each Write waits until release is closed (or its context ends).
type blockingSink struct{ release chan struct{} }

func (s *blockingSink) Open(context.Context) error { return nil }
func (s *blockingSink) Close() error               { return nil }
func (s *blockingSink) Write(ctx context.Context, _ []stream.Record) error {
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The status page draws a table and the join that reads it, counts a dead letter at the stage that refused
// the record, and marks a flow whose sink write makes no progress as stalled (the node, with a rate of 0, and
// the pipeline's state); a second screenshot shows it.
func TestStatusPageShowsStallsAndErrors(t *testing.T) {
	dir := t.TempDir()
	brokers := testkit.Brokers(t, 1)
	tp := topology.New("ui-shop")
	customers := tp.Topic("customers", topology.KeyCodec("json"))
	orders := tp.Topic("orders", topology.KeyCodec("json"))
	dlq := tp.Topic("orders.dlq", topology.ValueCodec("bytes"))
	table := tp.Table("customers", customers)
	join, err := stages.LookupJoin("with-customer", "customer_id", "customer")
	if err != nil {
		t.Fatal(err)
	}
	sink := &blockingSink{release: make(chan struct{})}
	tp.Flow("index").From(orders).Via(stages.Map("check-amount", func(r stream.Record) (stream.Record, error) {
		if amount := fmt.Sprint(r.Value.(map[string]any)["amount"]); strings.HasPrefix(amount, "-") {
			return r, fmt.Errorf("amount %s is negative", amount)
		}
		return r, nil
	})).Join(table, join).To(sink, topology.BatchSize(10)).DeadLetter(dlq)

	cfg := topology.DefaultConfig()
	cfg.Brokers = brokers
	cfg.HTTPAddr = testkit.FreeAddr(t)
	cfg.StallTimeout = 500 * time.Millisecond
	base := "http://" + cfg.HTTPAddr
	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(runCtx, cfg) }()
	defer func() {
		close(sink.release)
		stopRun()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
	}()
	testkit.Produce(t, brokers, "customers", testkit.Message{Key: []byte(`{"id":1}`), Value: []byte(`{"id":1,"name":"Ann"}`)})
	testkit.Produce(t, brokers, "orders",
		testkit.Message{Key: []byte(`{"id":10}`), Value: []byte(`{"id":10,"customer_id":1,"amount":5}`)},
		testkit.Message{Key: []byte(`{"id":11}`), Value: []byte(`{"id":11,"customer_id":1,"amount":-3}`)},
		testkit.Message{Key: []byte(`{"id":12}`), Value: []byte(`{"id":12,"customer_id":1,"amount":7}`)})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	page := openBrowser(t, ctx, chromium(t), filepath.Join(dir, "chromium"))
	openPage(t, ctx, page, base, "sink:index")

	type node struct {
		ID, Errors, Rate string
		X                float64
		Stalled, Visible bool
	}
	read := func() (map[string]node, string) {
		list, err := chromedp.Run(page, chromedp.Evaluate[[]node](`[...document.querySelectorAll("[data-node]")].map(e => ({
			ID: e.dataset.node, Errors: e.querySelector("[data-field=errors]").textContent, X: e.getBoundingClientRect().left,
			Rate: e.querySelector("[data-field=rate]")?.textContent ?? "", Stalled: e.classList.contains("stalled"),
			Visible: !e.querySelector("[data-field=stalled]").hidden}))`))
		if err != nil {
			t.Fatal(err)
		}
		state, err := chromedp.Run(page, chromedp.Evaluate[string](`document.getElementById("state").textContent`))
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]node{}
		for _, n := range list {
			byID[n.ID] = n
		}
		return byID, state
	}
	nodes, _ := read()
	order := [][2]string{ // from, to: from is drawn left of to
		{"topic:orders", "stage:flow/index/check-amount"}, {"stage:flow/index/check-amount", "join:index/with-customer"},
		{"topic:customers", "table:customers"}, {"table:customers", "join:index/with-customer"},
		{"join:index/with-customer", "sink:index"},
	}
	for _, e := range order {
		from, okFrom := nodes[e[0]]
		to, okTo := nodes[e[1]]
		if !okFrom || !okTo {
			t.Fatalf("graph lacks %s or %s: %+v", e[0], e[1], nodes)
		}
		if from.X >= to.X {
			t.Errorf("%s (x=%.0f) is not left of %s (x=%.0f)", e[0], from.X, e[1], to.X)
		}
	}
	if _, ok := nodes["topic:orders.dlq"]; ok {
		t.Errorf("the dead-letter topic, which nothing reads, is drawn: %+v", nodes)
	}
	pollUntil(t, ctx, "the refused record shows at its stage and the blocked flow shows as stalled", func() (bool, string) {
		nodes, state := read()
		check, sinkNode := nodes["stage:flow/index/check-amount"], nodes["sink:index"]
		return check.Errors == "1 dead letter" && sinkNode.Stalled && sinkNode.Visible && sinkNode.Rate == "0.0 rec/s" && state == "stalled",
			fmt.Sprintf("state %q, check-amount %+v, sink %+v", state, check, sinkNode)
	})
	saveScreenshot(t, page, base, "status-page-stalled.png")
}

// discardSink acknowledges every record.
type discardSink struct{}

func (discardSink) Open(context.Context) error                   { return nil }
func (discardSink) Close() error                                 { return nil }
func (discardSink) Write(context.Context, []stream.Record) error { return nil }

// With two replicas of a pipeline, the page of either lists both in its replicas table, each with the
// partitions it processes, and marks its own.
func TestStatusPageListsReplicas(t *testing.T) {
	dir := t.TempDir()
	brokers := testkit.Brokers(t, 1)
	build := func() *topology.Topology {
		tp := topology.New("ui-pair")
		events := tp.Topic("events", topology.Partitions(2))
		tp.Flow("count").From(events).To(discardSink{})
		return tp
	}
	var bases []string
	for i := range 2 {
		cfg := topology.DefaultConfig()
		cfg.Brokers = brokers
		cfg.HTTPAddr = testkit.FreeAddr(t)
		cfg.SessionTimeout = 7 * time.Second
		bases = append(bases, "http://"+cfg.HTTPAddr)
		runCtx, stopRun := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- build().RunWith(runCtx, cfg) }()
		defer func() {
			stopRun()
			if err := <-done; err != nil {
				t.Errorf("replica %d: %v", i+1, err)
			}
		}()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	page := openBrowser(t, ctx, chromium(t), filepath.Join(dir, "chromium"))
	openPage(t, ctx, page, bases[0], "sink:count")
	type row struct{ ID, Runs, Class string }
	pollUntil(t, ctx, "the replicas table lists both replicas, each with one partition", func() (bool, string) {
		rows, err := chromedp.Run(page, chromedp.Evaluate[[]row](`[...document.querySelectorAll("#replicas tbody tr")].map(
			tr => ({ID: tr.cells[0].textContent, Runs: tr.cells[3].textContent, Class: tr.className}))`))
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		self := 0
		for _, r := range rows {
			parts = append(parts, r.Runs)
			if r.Class == "self" {
				self++
			}
		}
		slices.Sort(parts)
		return len(rows) == 2 && self == 1 && slices.Equal(parts, []string{"count: p0", "count: p1"}), fmt.Sprintf("%+v", rows)
	})
	saveScreenshot(t, page, bases[0], "status-page-replicas.png")
}
