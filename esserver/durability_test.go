package esserver

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// startChild runs the test binary as a server on dataDir (see TestMain) and returns its URL and process.
func startChild(t *testing.T, dataDir string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dataDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		t.Fatalf("child did not start: %q %v", line, err)
	}
	return strings.TrimSpace(line), cmd
}

type ackedDoc struct {
	version int64
	deleted bool
}

// TestCrashDurability kills the server with SIGKILL right after an acknowledged bulk and checks that a
// restarted server has every acknowledged write, with its version, as index.translog.durability=request
// promises.
func TestCrashDurability(t *testing.T) {
	dir := t.TempDir()
	url, cmd := startChild(t, dir)
	es := newClient(t, url)

	// While the child runs, the data directory is locked against this process too.
	if _, err := Start(Config{DataDir: dir}); !errors.Is(err, ErrDataDirLocked) || !strings.Contains(err.Error(), "LOCK") {
		t.Fatalf("second server on a locked dir: %v", err)
	}

	expect(t, call(t, es, esapi.IndicesCreateRequest{Index: "keep", Body: body(`{"mappings":{"properties":{"k":{"type":"keyword"}}}}`)}), 200)
	acked := map[string]ackedDoc{}
	// Writes in flight at the kill go to other ids: they may or may not survive, as they were never acknowledged.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			res, err := es.Bulk(strings.NewReader(fmt.Sprintf(`{"index":{"_index":"noise","_id":"%d"}}`+"\n{}\n", i)))
			if err != nil {
				return
			}
			res.Body.Close()
		}
	}()
	for round := range 20 {
		var nd strings.Builder
		for i := range 25 {
			id := fmt.Sprintf("d%d", (round*25+i)%300)
			switch {
			case i%10 == 9:
				fmt.Fprintf(&nd, `{"delete":{"_index":"keep","_id":"%s","version":%d,"version_type":"external"}}`+"\n", id, 1000+round)
			default:
				fmt.Fprintf(&nd, `{"index":{"_index":"keep","_id":"%s","version":%d,"version_type":"external"}}`+"\n{\"k\":\"%s\",\"round\":%d}\n",
					id, 100+round, id, round)
			}
		}
		r := call(t, es, esapi.BulkRequest{Body: body(nd.String())})
		if r.status != 200 {
			t.Fatalf("bulk: %s", r.raw)
		}
		for _, it := range get(r.body, "items").([]any) {
			for action, v := range it.(map[string]any) {
				item := v.(map[string]any)
				status := get(item, "status").(int64)
				if status >= 300 && !(action == "delete" && status == 404) {
					continue // not acknowledged (e.g. a version conflict)
				}
				acked[item["_id"].(string)] = ackedDoc{version: get(item, "_version").(int64), deleted: action == "delete"}
			}
		}
	}
	// SIGKILL right after the last acknowledgement.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	close(stop)
	wg.Wait()

	// A crash in the middle of a write leaves a torn record at the tail: it must be ignored.
	f, err := os.OpenFile(filepath.Join(dir, translogFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, '{', '"'})
	f.Close()

	url, _ = startChild(t, dir)
	es = newClient(t, url)
	for id, want := range acked {
		r := call(t, es, esapi.GetRequest{Index: "keep", DocumentID: id})
		if want.deleted {
			if r.status != 404 {
				t.Fatalf("%s deleted at version %d but found: %s", id, want.version, r.raw)
			}
			// The tombstone survived too: an older external version is refused.
			r = call(t, es, esapi.IndexRequest{Index: "keep", DocumentID: id, Body: body(`{}`), Version: ptr(int(want.version) - 1), VersionType: "external"})
			expect(t, r, 409, "error.type", "version_conflict_engine_exception")
			continue
		}
		expect(t, r, 200, "found", true, "_version", want.version, "_source.k", id)
	}
	// Mappings and search state are rebuilt too.
	expect(t, call(t, es, esapi.IndicesGetMappingRequest{Index: []string{"keep"}}), 200, "keep.mappings.properties.k.type", "keyword",
		"keep.mappings.properties.round.type", "long")
	live := 0
	for _, d := range acked {
		if !d.deleted {
			live++
		}
	}
	expect(t, call(t, es, esapi.CountRequest{Index: []string{"keep"}}), 200, "count", live)
	// New writes continue the sequence numbers.
	r := call(t, es, esapi.IndexRequest{Index: "keep", DocumentID: "after", Body: body(`{}`)})
	expect(t, r, 201)
	if get(r.body, "_seq_no").(int64) < int64(len(acked)) {
		t.Fatalf("seq_no went backwards: %s", r.raw)
	}
}

func TestCleanRestartAndLock(t *testing.T) {
	dir := t.TempDir()
	s, es := start(t, Config{DataDir: dir})
	if _, err := Start(Config{DataDir: dir}); !errors.Is(err, ErrDataDirLocked) || !strings.Contains(err.Error(), filepath.Join(dir, "LOCK")) {
		t.Fatalf("want lock error naming %s/LOCK, got %v", dir, err)
	}
	expect(t, call(t, es, esapi.IndexRequest{Index: "a", DocumentID: "1", Body: body(`{"x":1}`)}), 201)
	expect(t, call(t, es, esapi.IndexRequest{Index: "a", DocumentID: "1", Body: body(`{"x":2}`)}), 200)
	expect(t, call(t, es, esapi.IndicesCreateRequest{Index: "gone"}), 200)
	expect(t, call(t, es, esapi.IndicesDeleteRequest{Index: []string{"gone"}}), 200)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, es = start(t, Config{DataDir: dir})
	expect(t, call(t, es, esapi.GetRequest{Index: "a", DocumentID: "1"}), 200, "_version", 2, "_seq_no", 1, "_source.x", 2)
	expect(t, call(t, es, esapi.IndicesExistsRequest{Index: []string{"gone"}}), 404)
	// Restart twice: the compacted log is itself a valid log.
	expect(t, call(t, es, esapi.IndexRequest{Index: "a", DocumentID: "2", Body: body(`{"x":3}`)}), 201, "_seq_no", 2)
}
