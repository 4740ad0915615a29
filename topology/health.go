package topology

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/secret"
)

// Stall detection.
//
// Every component of a running pipeline (a flow, a source) reports to one stallTracker when it has work
// pending, what that work waits for, and when it makes progress. A component with pending work and no
// progress for Config.StallTimeout is stalled: /readyz answers 503 naming it and what it waits for, the gauge
// sluice_stalled{pipeline,component} is 1, and one warning line is logged. When it makes progress again or
// has nothing pending, the gauge returns to 0 and one info line is logged. Transitions happen only in check,
// so each is logged exactly once however many partitions or tasks the component has.

// stallTracker watches the pipeline's components for pending work that makes no progress.
type stallTracker struct {
	timeout  time.Duration
	log      *slog.Logger
	gauge    *prometheus.GaugeVec // sluice_stalled{pipeline,component}
	pipeline string

	mu         sync.Mutex
	components []*component
}

func newStallTracker(pipeline string, timeout time.Duration, log *slog.Logger, gauge *prometheus.GaugeVec) *stallTracker {
	return &stallTracker{pipeline: pipeline, timeout: timeout, log: log, gauge: gauge}
}

// component is one watched part of the pipeline. Its methods are safe for concurrent use, and do nothing
// on a nil component; progress is cheap enough for every acknowledgement.
type component struct {
	t          *stallTracker
	kind, name string
	label      string // the gauge's component label, kind/name

	lastProgress atomic.Int64 // UnixNano of the last progress, or of the moment work became pending

	mu           sync.Mutex
	waits        map[string]string // holder -> what it waits for; the component has pending work when non-empty
	stalledSince time.Time         // when check declared it stalled; zero when it is not
}

// component registers a component and returns it; its gauge starts at 0.
func (t *stallTracker) component(kind, name string) *component {
	c := &component{t: t, kind: kind, name: name, label: kind + "/" + name, waits: map[string]string{}}
	c.lastProgress.Store(time.Now().UnixNano())
	t.mu.Lock()
	t.components = append(t.components, c)
	t.mu.Unlock()
	if t.gauge != nil {
		t.gauge.WithLabelValues(t.pipeline, c.label).Set(0)
	}
	return c
}

// wait records that holder (a task, the flow's batcher) has pending work and what it waits for; calling it
// again updates the description. The no-progress clock starts when the component goes from idle to pending.
func (c *component) wait(holder, what string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.waits) == 0 {
		c.lastProgress.Store(time.Now().UnixNano())
	}
	c.waits[holder] = what
	c.mu.Unlock()
}

// done records that holder has nothing pending any more.
func (c *component) done(holder string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.waits, holder)
	c.mu.Unlock()
}

// progress records that the component moved (a batch acknowledged, records acknowledged by Kafka).
func (c *component) progress() {
	if c != nil {
		c.lastProgress.Store(time.Now().UnixNano())
	}
}

// stall is one stalled component as /readyz reports it.
type stall struct {
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Since     time.Time `json:"since"`      // last progress, or when the pending work began
	WaitsFor  []string  `json:"waits_for"`  // what each pending holder waits for
	StalledAt time.Time `json:"stalled_at"` // when it was declared stalled
}

// check declares components stalled or recovered as of now, logs and sets the gauge on each transition,
// and returns the stalled ones, sorted by kind and name.
func (t *stallTracker) check(now time.Time) []stall {
	t.mu.Lock()
	comps := append([]*component(nil), t.components...)
	t.mu.Unlock()
	var out []stall
	for _, c := range comps {
		if s, ok := c.check(now); ok {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func (c *component) check(now time.Time) (stall, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	since := time.Unix(0, c.lastProgress.Load())
	pending := len(c.waits) > 0
	stuck := pending && now.Sub(since) >= c.t.timeout
	t := c.t
	switch {
	case stuck && c.stalledSince.IsZero():
		c.stalledSince = now
		if t.gauge != nil {
			t.gauge.WithLabelValues(t.pipeline, c.label).Set(1)
		}
		t.log.Warn("stalled: pending work made no progress", c.kind, c.name, "no_progress_for", now.Sub(since).Round(time.Millisecond).String(),
			"waits_for", c.describe(), "stall_timeout", t.timeout.String())
	case !stuck && !c.stalledSince.IsZero():
		stalledFor := now.Sub(c.stalledSince)
		c.stalledSince = time.Time{}
		if t.gauge != nil {
			t.gauge.WithLabelValues(t.pipeline, c.label).Set(0)
		}
		t.log.Info("recovered from a stall", c.kind, c.name, "stalled_for", stalledFor.Round(time.Millisecond).String())
	}
	if !stuck {
		return stall{}, false
	}
	return stall{Kind: c.kind, Name: c.name, Since: since.UTC(), WaitsFor: c.waitList(), StalledAt: c.stalledSince.UTC()}, true
}

// waitList returns what the holders wait for, sorted and without repeats; called with mu held.
func (c *component) waitList() []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range c.waits {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return out
}

// describe joins waitList for a log line; called with mu held.
func (c *component) describe() string {
	list := c.waitList()
	if len(list) > 3 {
		list = append(list[:3:3], "...")
	}
	return strings.Join(list, "; ")
}

// run checks the components a few times per timeout until ctx ends.
func (t *stallTracker) run(ctx context.Context) {
	every := min(max(t.timeout/5, 10*time.Millisecond), time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t.check(now)
		}
	}
}

// markRunning sets p.running once every processor of the pipeline reached its running state (tables
// recovered, partitions assigned), or returns when ctx ends first.
func (p *pipelineRun) markRunning(ctx context.Context, srcs []*sourceRunner, snks []*sinkRunner, joins []processorRunner) {
	var procs []*goka.Processor
	for _, s := range srcs {
		procs = append(procs, s.proc)
	}
	for _, s := range snks {
		procs = append(procs, s.proc)
	}
	for _, j := range joins {
		procs = append(procs, j.processor())
	}
	for _, proc := range procs {
		select {
		case <-proc.StateReader().WaitForState(goka.ProcStateRunning):
		case <-ctx.Done():
			return
		}
	}
	p.running.Store(true)
	p.log.Info("pipeline ready", "processors", len(procs))
}

// serveHealthz answers whether the process is alive: 200 {"status":"alive"} unless the pipeline failed,
// then 503 {"status":"failed","error":...}. A stalled flow is still alive: see /readyz.
func (p *pipelineRun) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	body := map[string]any{"status": "alive", "pipeline": p.t.name, "replica": p.replicaID}
	code := http.StatusOK
	if err := p.failure.Load(); err != nil {
		body["status"], body["error"], code = "failed", (*err).Error(), http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

// serveReadyz answers whether the pipeline does its work: 200 {"status":"ready"} once every processor is
// running and no component is stalled; 503 {"status":"starting"} before; 503 {"status":"stalled",
// "stalled":[...]} listing each stalled component (kind, name, since, waits_for, stalled_at); 503
// {"status":"failed"} after a failure.
func (p *pipelineRun) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	body := map[string]any{"pipeline": p.t.name, "replica": p.replicaID}
	stalled := p.stalls.check(time.Now())
	switch {
	case p.failure.Load() != nil:
		body["status"] = "failed"
		body["error"] = (*p.failure.Load()).Error()
	case !p.running.Load():
		body["status"] = "starting"
	case len(stalled) > 0:
		body["status"] = "stalled"
		body["stalled"] = stalled
		body["stall_timeout"] = p.stalls.timeout.String()
	default:
		body["status"] = "ready"
		writeJSON(w, http.StatusOK, body)
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, body)
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// serveHTTP serves /metrics, /healthz, /readyz and the operator API, behind its tokens and audit log
// (apiauth.go, audit.go), over HTTPS when Config.HTTPTLSCertFile and HTTPTLSKeyFile are set. Listening,
// reading the tokens and the certificate happen here, so a taken port or a bad file fails the start, except
// DefaultHTTPAddr while SLUICE_HTTP_ADDR is unset: that falls back to a free port (see Config.HTTPAddr),
// logged in one INFO line naming both addresses.
func (p *pipelineRun) serveHTTP(addr string) (func(), error) {
	auth, err := newAPIAuth(p.cfg)
	if err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if p.cfg.HTTPTLSCertFile != "" || p.cfg.HTTPTLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(p.cfg.HTTPTLSCertFile, p.cfg.HTTPTLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("config: HTTPTLSCertFile %s / HTTPTLSKeyFile %s (SLUICE_HTTP_TLS_CERT_FILE, SLUICE_HTTP_TLS_KEY_FILE): %w",
				p.cfg.HTTPTLSCertFile, p.cfg.HTTPTLSKeyFile, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil && addr == DefaultHTTPAddr && os.Getenv("SLUICE_HTTP_ADDR") == "" {
		if free, ferr := net.Listen("tcp", "127.0.0.1:0"); ferr == nil {
			p.log.Info("default HTTP address taken (another replica?), serving on a free port instead; set SLUICE_HTTP_ADDR to choose",
				"default", addr, "addr", free.Addr().String())
			ln, err = free, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("HTTP address %s (SLUICE_HTTP_ADDR): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", p.metrics.Handler())
	mux.HandleFunc("GET /healthz", p.serveHealthz)
	mux.HandleFunc("GET /readyz", p.serveReadyz)
	p.apiRoutes(mux)      // api.go
	p.registryRoutes(mux) // schemas.go: the embedded schema registry's REST API
	p.httpAddr = ln.Addr().String()
	audit := &auditLog{p: p}
	// Every answer (API errors, status last_error, /ui data, metric labels) passes through secret.Redact.
	srv := &http.Server{Handler: secret.HTTPHandler(p.authenticate(auth, audit, mux)), ReadHeaderTimeout: 5 * time.Second, TLSConfig: tlsConfig,
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelDebug)} // TLS handshake failures and the like
	p.warnOpenAPI(auth, ln)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsConfig)
	}
	go func() { _ = srv.Serve(ln) }()
	p.log.Info("serving metrics and the operator API", "addr", p.httpAddr, "scheme", scheme, "tokens", auth.count())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		audit.close()
	}, nil
}
