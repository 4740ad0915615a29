package esserver

import (
	"net/http"
	"sync"
	"time"
)

// Faults is a fault plan for testing a client's retry and error handling. Counters start at zero when
// the plan is set with SetFaults; a zero field disables that fault. Request-level faults are checked in
// the order drop, unavailable, reject, each against the same request count.
type Faults struct {
	// RejectEvery answers every Nth request with 429 es_rejected_execution_exception, without executing it.
	RejectEvery int
	// UnavailableEvery answers every Nth request with 503 unavailable_shards_exception, without executing it.
	UnavailableEvery int
	// RejectItemEvery fails every Nth _bulk item (counted across bulk requests) with an item-level 429
	// es_rejected_execution_exception; that item is not applied, the others are.
	RejectItemEvery int
	// Latency is added before answering each request.
	Latency time.Duration
	// DropEvery closes the TCP connection of every Nth request without a response, before executing it.
	DropEvery int
}

type faultPlan struct {
	mu       sync.Mutex
	f        Faults
	requests int
	items    int
}

// SetFaults replaces the active fault plan and restarts its counters. Faults{} turns faults off.
func (s *Server) SetFaults(f Faults) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.f, s.faults.requests, s.faults.items = f, 0, 0
}

// injectFault applies the request-level faults; it reports whether the request was answered (or dropped).
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) bool {
	p := &s.faults
	p.mu.Lock()
	f := p.f
	p.requests++
	n := p.requests
	p.mu.Unlock()
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
		}
	}
	every := func(k int) bool { return k > 0 && n%k == 0 }
	switch {
	case every(f.DropEvery):
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without a response
	case every(f.UnavailableEvery):
		writeError(w, newError(http.StatusServiceUnavailable, "unavailable_shards_exception",
			"[esserver][0] primary shard is not active Timeout: [1m], request: ["+r.Method+" "+r.URL.Path+"] (esserver fault injection)"))
		return true
	case every(f.RejectEvery):
		writeError(w, errRejected(r.Method+" "+r.URL.Path))
		return true
	}
	return false
}

// rejectItem reports whether the next bulk item must be rejected by the RejectItemEvery fault.
func (s *Server) rejectItem() bool {
	p := &s.faults
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f.RejectItemEvery <= 0 {
		return false
	}
	p.items++
	return p.items%p.f.RejectItemEvery == 0
}
