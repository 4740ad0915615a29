package opsapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeReplica answers the API's routes with fixed bodies and records the last request.
type fakeReplica struct {
	method, path, query, body string
}

func (f *fakeReplica) handler() http.Handler {
	mux := http.NewServeMux()
	record := func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.method, f.path, f.query, f.body = r.Method, r.URL.Path, r.URL.RawQuery, string(b)
	}
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		reply(w, 200, Root{Version: "v1", Replica: "r1", Pipelines: []string{"p"}})
	})
	mux.HandleFunc("GET /pipelines", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		reply(w, 200, []string{"p"})
	})
	mux.HandleFunc("GET /pipelines/{name}", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if r.PathValue("name") != "p" {
			reply(w, 404, Error{ErrorCode: 404, Message: `no pipeline "` + r.PathValue("name") + `" here (this replica runs "p")`})
			return
		}
		reply(w, 200, Pipeline{Name: "p", Sources: []Source{{Name: "files", Connector: "file"}}})
	})
	mux.HandleFunc("GET /pipelines/{name}/status", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		reply(w, 200, Status{Name: "p", State: StateRunning, Tasks: []TaskStatus{{Source: "files", Task: "t", State: StateRunning, Replica: "r1"}}})
	})
	for _, a := range []string{"pause", "resume", "stop"} {
		mux.HandleFunc("PUT /pipelines/{name}/"+a, func(w http.ResponseWriter, r *http.Request) {
			record(r)
			reply(w, 202, StateChange{Name: "p", Target: strings.ToUpper(a), Message: a})
		})
	}
	mux.HandleFunc("POST /pipelines/{name}/restart", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		reply(w, 202, StateChange{Name: "p", Target: StateRunning, Message: "restarting"})
	})
	mux.HandleFunc("GET /pipelines/{name}/offsets", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		reply(w, 200, Offsets{Offsets: []Offset{{Partition: OffsetPartition{Kind: "source", Source: "files", Task: "t"}, Offset: json.RawMessage(`{"pos":3}`)}}})
	})
	mux.HandleFunc("PATCH /pipelines/{name}/offsets", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		reply(w, 409, Error{ErrorCode: 409, Message: "pipeline p is RUNNING on replica r1: stop it first"})
	})
	mux.HandleFunc("DELETE /pipelines/{name}/offsets", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		reply(w, 200, Message{Message: "offsets reset"})
	})
	return mux
}

func TestClientEndpoints(t *testing.T) {
	f := &fakeReplica{}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	c := &Client{BaseURL: srv.URL + "/"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	root, err := c.Root(ctx)
	if err != nil || root.Replica != "r1" || f.path != "/" {
		t.Fatalf("Root: %+v %v (path %q)", root, err, f.path)
	}
	names, err := c.Pipelines(ctx)
	if err != nil || len(names) != 1 || names[0] != "p" {
		t.Fatalf("Pipelines: %v %v", names, err)
	}
	pl, err := c.Pipeline(ctx, "p")
	if err != nil || pl.Sources[0].Connector != "file" {
		t.Fatalf("Pipeline: %+v %v", pl, err)
	}
	st, err := c.Status(ctx, "p")
	if err != nil || st.State != StateRunning || len(st.Tasks) != 1 || f.path != "/pipelines/p/status" {
		t.Fatalf("Status: %+v %v", st, err)
	}
	for _, call := range []struct {
		fn     func(context.Context, string) (StateChange, error)
		path   string
		target string
	}{{c.Pause, "/pipelines/p/pause", "PAUSE"}, {c.Resume, "/pipelines/p/resume", "RESUME"}, {c.Stop, "/pipelines/p/stop", "STOP"}} {
		sc, err := call.fn(ctx, "p")
		if err != nil || sc.Target != call.target || f.method != http.MethodPut || f.path != call.path {
			t.Fatalf("%s: %+v %v (%s %s)", call.path, sc, err, f.method, f.path)
		}
	}
	if _, err := c.Restart(ctx, "p", RestartTarget{Source: "files", Task: "t 1"}); err != nil || f.method != http.MethodPost || f.query != "source=files&task=t+1" {
		t.Fatalf("Restart: %v (%s ?%s)", err, f.method, f.query)
	}
	if _, err := c.Restart(ctx, "p", RestartTarget{}); err != nil || f.query != "" {
		t.Fatalf("Restart all: %v (?%s)", err, f.query)
	}
	offs, err := c.Offsets(ctx, "p")
	if err != nil || len(offs.Offsets) != 1 || string(offs.Offsets[0].Offset) != `{"pos":3}` {
		t.Fatalf("Offsets: %+v %v", offs, err)
	}
	msg, err := c.ResetOffsets(ctx, "p")
	if err != nil || msg.Message != "offsets reset" || f.method != http.MethodDelete {
		t.Fatalf("ResetOffsets: %+v %v", msg, err)
	}

	// The PATCH body is the Offsets as JSON; the 409 comes back as *Error.
	zero := int32(0)
	_, err = c.PatchOffsets(ctx, "p", Offsets{Offsets: []Offset{{Partition: OffsetPartition{Kind: "flow", Group: "g", Topic: "x", Partition: &zero}, Offset: json.RawMessage(`{"offset":0}`)}}})
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 409 || err.Error() != "409: pipeline p is RUNNING on replica r1: stop it first" {
		t.Fatalf("PatchOffsets err = %v", err)
	}
	if f.method != http.MethodPatch || !strings.Contains(f.body, `"partition":0`) || !strings.Contains(f.body, `"offset":{"offset":0}`) {
		t.Fatalf("PATCH body %s", f.body)
	}

	_, err = c.Pipeline(ctx, "nope")
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 404 || !strings.Contains(apiErr.Message, `no pipeline "nope"`) {
		t.Fatalf("unknown pipeline: %v", err)
	}
}

// A non-JSON error body (e.g. a proxy's) still becomes an *Error with the status and the body's first line.
func TestClientPlainTextError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway\nmore", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := (&Client{BaseURL: srv.URL}).Status(context.Background(), "p")
	var apiErr *Error
	if !errors.As(err, &apiErr) || err.Error() != "502: bad gateway" {
		t.Fatalf("err = %v", err)
	}
}

// A transport failure names the method and URL; a cancelled context ends the call.
func TestClientTransportErrorNamesURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := (&Client{BaseURL: url}).Pipelines(context.Background())
	if err == nil || !strings.Contains(err.Error(), "GET "+url+"/pipelines") {
		t.Fatalf("err = %v", err)
	}

	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = (&Client{BaseURL: slow.URL}).Root(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), slow.URL) {
		t.Fatalf("err = %v", err)
	}
}
