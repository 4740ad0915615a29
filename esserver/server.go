package esserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Server.
type Config struct {
	// Addr is the host:port to listen on; "" or "127.0.0.1:0" picks a free port on the loopback interface.
	Addr string
	// DataDir makes the server durable: every acknowledged write is fsynced to a translog there before
	// the response is sent, and Start rebuilds the state from it. "" keeps everything in memory.
	DataDir string
	// RefreshInterval is the periodic refresh, like index.refresh_interval: 0 means the default of one
	// second, a negative value disables periodic refreshes.
	RefreshInterval time.Duration
	// Logger receives warnings (a truncated translog tail); nil discards them.
	Logger *slog.Logger
}

// Server is an in-process, Elasticsearch 8 compatible HTTP server. Its methods are safe for concurrent use.
type Server struct {
	cfg  Config
	log  *slog.Logger
	ln   net.Listener
	http *http.Server
	mux  *http.ServeMux

	mu      sync.RWMutex // guards indices and everything inside them
	indices map[string]*index
	aliases aliasTable // alias -> index -> properties (aliases.go)
	tlog    *translog  // nil without DataDir

	faults faultPlan

	connMu sync.Mutex
	conns  map[net.Conn]http.ConnState

	stop      chan struct{}
	done      sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	clusterID string

	scrolls scrollStore // open scroll contexts (scroll.go)
}

// Start recovers the state from cfg.DataDir (if set), starts listening and serves in the background
// until Close. It returns ErrDataDirLocked if another server holds the data directory.
func Start(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, indices: map[string]*index{}, stop: make(chan struct{}), clusterID: newUUID()}
	if cfg.DataDir != "" {
		t, records, err := openTranslog(cfg.DataDir, log)
		if err != nil {
			return nil, err
		}
		s.tlog = t
		if err := s.recover(records); err != nil {
			t.close()
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if s.tlog != nil {
			s.tlog.close()
		}
		return nil, fmt.Errorf("esserver: listen on %s: %w", cfg.Addr, err)
	}
	s.ln = ln
	s.mux = s.routes()
	s.http = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second,
		ConnState: s.trackConn}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		_ = s.http.Serve(ln)
	}()
	if cfg.RefreshInterval > 0 {
		s.done.Add(1)
		go s.refreshLoop(cfg.RefreshInterval)
	}
	return s, nil
}

// Serve runs a server until ctx ends, then closes it gracefully. It is meant for a command's main.
func Serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.Logger == nil {
		cfg.Logger = log
	}
	s, err := Start(cfg)
	if err != nil {
		return err
	}
	if log != nil {
		log.Info("esserver: Elasticsearch-compatible server listening", "url", s.URL(), "data_dir", cfg.DataDir)
	}
	<-ctx.Done()
	return s.Close()
}

// URL is the server's base URL, e.g. "http://127.0.0.1:9200".
func (s *Server) URL() string { return "http://" + s.Addr() }

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting requests, waits for requests in flight, and flushes and unlocks the data
// directory. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		// A final refresh releases refresh=wait_for writers, so that Shutdown does not wait for them.
		s.mu.Lock()
		for _, ix := range s.indices {
			_ = ix.refresh(time.Now())
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Shutdown waits 5s for connections that never sent a request (clients dial spares): close them.
		shut := make(chan error, 1)
		go func() { shut <- s.http.Shutdown(ctx) }()
		s.connMu.Lock()
		for c, st := range s.conns {
			if st == http.StateNew {
				c.Close()
			}
		}
		s.connMu.Unlock()
		err := <-shut
		s.done.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ix := range s.indices {
			ix.closeSearch()
		}
		if s.tlog != nil {
			if cerr := s.tlog.close(); err == nil {
				err = cerr
			}
		}
		s.closeErr = err
	})
	return s.closeErr
}

func (s *Server) trackConn(c net.Conn, st http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.conns == nil {
		s.conns = map[net.Conn]http.ConnState{}
	}
	if st == http.StateClosed || st == http.StateHijacked {
		delete(s.conns, c)
		return
	}
	s.conns[c] = st
}

func (s *Server) refreshLoop(every time.Duration) {
	defer s.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			now := time.Now()
			for _, ix := range s.indices {
				if err := ix.refresh(now); err != nil {
					s.log.Warn("esserver: periodic refresh failed", "index", ix.name, "err", err)
				}
			}
			s.mu.Unlock()
		}
	}
}

// serveHTTP is the middleware every request goes through: product header, faults, gzip request bodies.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Elastic-Product", "Elasticsearch")
	h.Set("Content-Type", "application/json")
	if s.injectFault(w, r) {
		return
	}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeError(w, newError(http.StatusBadRequest, "parse_exception", "failed to decompress gzip body: "+err.Error()))
			return
		}
		r.Body = io.NopCloser(zr)
		r.Header.Del("Content-Encoding")
	}
	if !wantsPretty(r) {
		s.mux.ServeHTTP(w, r)
		return
	}
	pw := &prettyWriter{ResponseWriter: w, status: http.StatusOK}
	s.mux.ServeHTTP(pw, r)
	pw.flush()
}

// wantsPretty reports whether a request asks for indented JSON, as Elasticsearch's ?pretty (also
// ?pretty=true; ?pretty=false does not).
func wantsPretty(r *http.Request) bool {
	q := r.URL.Query()
	if r.Method == http.MethodHead || !q.Has("pretty") {
		return false
	}
	v := q.Get("pretty")
	return v == "" || v == "true"
}

// prettyWriter holds a response back until the handler is done, then writes a JSON body indented by two
// spaces with a final newline (as Elasticsearch's ?pretty). Bodies that are not JSON (_cat text) pass
// unchanged.
type prettyWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (p *prettyWriter) WriteHeader(status int) { p.status = status }

func (p *prettyWriter) Write(b []byte) (int, error) { return p.body.Write(b) }

func (p *prettyWriter) flush() {
	out := p.body.Bytes()
	if strings.HasPrefix(p.Header().Get("Content-Type"), "application/json") && len(out) > 0 {
		var indented bytes.Buffer
		if json.Indent(&indented, out, "", "  ") == nil {
			indented.WriteByte('\n')
			out = indented.Bytes()
		}
	}
	if p.Header().Get("Content-Length") != "" {
		p.Header().Set("Content-Length", strconv.Itoa(len(out)))
	}
	p.ResponseWriter.WriteHeader(p.status)
	_, _ = p.ResponseWriter.Write(out)
}

// createIndex creates an index and logs it. The caller holds s.mu for writing.
func (s *Server) createIndex(name string, m *fieldMapping, now time.Time, logBuf *[]byte) (*index, *esError) {
	if e := validateIndexName(name); e != nil {
		return nil, e
	}
	if ix := s.indices[name]; ix != nil {
		return nil, errIndexExists(ix)
	}
	if _, isAlias := s.aliases[name]; isAlias {
		return nil, errInvalidIndexName(name, "already exists as alias")
	}
	ix, err := newIndex(name, newUUID(), now, m)
	if err != nil {
		return nil, newError(http.StatusInternalServerError, "exception", err.Error())
	}
	s.indices[name] = ix
	mj, _ := json.Marshal(ix.mapping)
	*logBuf = appendRecord(*logBuf, &logRecord{Op: "create_index", Index: name, UUID: ix.uuid,
		Created: now.UnixMilli(), Mapping: mj})
	return ix, nil
}

// commit writes logBuf to the translog under s.mu and returns a function that makes it durable; callers
// call it after releasing the lock, and only then answer.
func (s *Server) commit(logBuf []byte) (durable func() error) {
	if s.tlog == nil || len(logBuf) == 0 {
		return func() error { return nil }
	}
	if err := s.tlog.write(logBuf); err != nil {
		return func() error { return err }
	}
	return s.tlog.sync
}

// execute runs write ops in order as one request: one translog write and one fsync for all of them,
// then the refresh policy ("", "false", "true", "wait_for").
func (s *Server) execute(ctx context.Context, ops []*writeOp, refresh string) ([]writeResult, error) {
	now := time.Now()
	results := make([]writeResult, len(ops))
	var logBuf []byte
	s.mu.Lock()
	for i, op := range ops {
		results[i] = s.apply(op, now, &logBuf)
	}
	durable := s.commit(logBuf)
	touched := map[*index]bool{}
	for _, r := range results {
		if r.Err == nil && r.ix != nil && r.Result != "noop" {
			touched[r.ix] = true
		}
	}
	var waits []chan struct{}
	switch refresh {
	case "true", "":
		if refresh == "true" {
			for ix := range touched {
				_ = ix.refresh(now)
			}
		}
	case "wait_for":
		if s.cfg.RefreshInterval < 0 {
			// Nothing would ever refresh: Elasticsearch forces a refresh when it cannot park a listener.
			for ix := range touched {
				_ = ix.refresh(now)
			}
		} else {
			for ix := range touched {
				waits = append(waits, ix.refreshed)
			}
		}
	}
	s.mu.Unlock()
	if err := durable(); err != nil {
		return nil, fmt.Errorf("esserver: %w", err)
	}
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return results, nil
}

// refreshPolicy reads the refresh query parameter: "" (as "false"), "true" or "wait_for".
func refreshPolicy(r *http.Request) (string, *esError) {
	if !r.URL.Query().Has("refresh") {
		return "false", nil
	}
	switch v := r.URL.Query().Get("refresh"); v {
	case "", "true":
		return "true", nil
	case "false", "wait_for":
		return v, nil
	default:
		return "", errIllegalArgument("Unknown value for refresh: [%s].", v)
	}
}

// recover rebuilds the state from translog records and compacts the log into a snapshot of that state.
func (s *Server) recover(records []logRecord) error {
	for _, rec := range records {
		switch rec.Op {
		case "create_index", "mapping":
			m, e := parseMappings(rec.Mapping)
			if e != nil {
				return fmt.Errorf("esserver: translog mapping of %s: %w", rec.Index, e)
			}
			if rec.Op == "mapping" {
				if ix := s.indices[rec.Index]; ix != nil {
					ix.mapping = m
				}
				continue
			}
			ix, err := newIndex(rec.Index, rec.UUID, time.UnixMilli(rec.Created), m)
			if err != nil {
				return err
			}
			s.indices[rec.Index] = ix
		case "delete_index":
			if ix := s.indices[rec.Index]; ix != nil {
				ix.closeSearch()
				delete(s.indices, rec.Index)
				s.dropIndexAliases(rec.Index)
			}
		case "aliases":
			if err := s.recoverAliases(rec.Aliases); err != nil {
				return err
			}
		case "index", "delete":
			ix := s.indices[rec.Index]
			if ix == nil {
				return fmt.Errorf("esserver: translog writes to unknown index %s", rec.Index)
			}
			d := &docEntry{version: rec.Version, seqNo: rec.SeqNo}
			if rec.Op == "index" {
				pd, e := parseSource(ix.mapping, rec.ID, rec.Source, true)
				if e != nil {
					return fmt.Errorf("esserver: translog document %s/%s: %w", rec.Index, rec.ID, e)
				}
				d.source, d.parsed = rec.Source, pd
			} else {
				d.deletedAt = time.UnixMilli(rec.Time)
			}
			ix.docs[rec.ID] = d
			ix.dirty[rec.ID] = true
			ix.nextSeqNo = max(ix.nextSeqNo, rec.SeqNo+1)
		}
	}
	now := time.Now()
	var snapshot []logRecord
	for _, name := range slices.Sorted(maps.Keys(s.indices)) {
		ix := s.indices[name]
		if err := ix.refresh(now); err != nil {
			return err
		}
		mj, _ := json.Marshal(ix.mapping)
		snapshot = append(snapshot, logRecord{Op: "create_index", Index: name, UUID: ix.uuid,
			Created: ix.created.UnixMilli(), Mapping: mj})
		ids := slices.SortedFunc(maps.Keys(ix.docs), func(a, b string) int {
			return int(ix.docs[a].seqNo - ix.docs[b].seqNo)
		})
		for _, id := range ids {
			d := ix.docs[id]
			if d.live() {
				snapshot = append(snapshot, logRecord{Op: "index", Index: name, ID: id, Version: d.version,
					SeqNo: d.seqNo, Source: d.source})
			} else {
				snapshot = append(snapshot, logRecord{Op: "delete", Index: name, ID: id, Version: d.version,
					SeqNo: d.seqNo, Time: d.deletedAt.UnixMilli()})
			}
		}
	}
	if rec := s.aliasSnapshot(); rec != nil {
		snapshot = append(snapshot, *rec)
	}
	if len(records) == 0 {
		return nil
	}
	if err := s.tlog.rewrite(snapshot); err != nil {
		return fmt.Errorf("esserver: compact translog: %w", err)
	}
	return nil
}

// readBody reads a request body; "" when there is none.
func readBody(r *http.Request) ([]byte, *esError) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, newError(http.StatusBadRequest, "parse_exception", "failed to read request body: "+err.Error())
	}
	return b, nil
}
