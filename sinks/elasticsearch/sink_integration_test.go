package elasticsearch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"testing"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/stream"
)

func startServer(t testing.TB) *esserver.Server {
	t.Helper()
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newSink(t testing.TB, cfg elasticsearch.Config) *elasticsearch.Sink {
	t.Helper()
	s, err := elasticsearch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// changes makes a history of creates, updates and deletes of n documents on one partition of topic, as
// records with Kafka offsets 0, 1, 2, ...
func changes(topic string, n, events int, seed uint64) []stream.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	var recs []stream.Record
	for off := range events {
		id := fmt.Sprintf("doc-%d", rng.IntN(n))
		r := stream.Record{Topic: topic, Offset: int64(off), Key: id}
		switch rng.IntN(5) {
		case 0:
			r.Operation = stream.OpDelete
		case 1:
			r.Value = nil // tombstone
		default:
			r.Operation = stream.OpUpdate
			r.Value = map[string]any{"id": id, "n": int64(off), "name": fmt.Sprintf("v%d", off)}
		}
		recs = append(recs, r)
	}
	return recs
}

// snapshot reads every document of index through GET: id -> _source JSON (absent documents omitted).
func snapshot(t testing.TB, client *es.Client, index string, n int) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := range n {
		id := fmt.Sprintf("doc-%d", i)
		res, err := client.Get(index, id)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusNotFound {
			continue
		}
		var doc struct {
			Source json.RawMessage `json:"_source"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("GET %s/%s: %s", index, id, body)
		}
		out[id] = string(doc.Source)
	}
	return out
}

func writeAll(t testing.TB, s *elasticsearch.Sink, recs []stream.Record, batch int) {
	t.Helper()
	for i := 0; i < len(recs); i += batch {
		if err := s.Write(context.Background(), recs[i:min(i+batch, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
}

func retopic(recs []stream.Record, topic string) []stream.Record {
	out := append([]stream.Record(nil), recs...)
	for i := range out {
		out[i].Topic = topic
	}
	return out
}

// Acceptance 2: the same Kafka range delivered twice, and a range delivered out of order (older after
// newer), leave the index identical to a single in-order delivery.
func TestReplayAndReorderLeaveIndexIdentical(t *testing.T) {
	testReplayAndReorder(t, embeddedTarget(t))
}

func TestReplayAndReorderLeaveIndexIdenticalInteropOpenSearch(t *testing.T) {
	testReplayAndReorder(t, openSearchTarget(t, "once", "twice", "shuffled"))
}

func testReplayAndReorder(t *testing.T, tg target) {
	s := tg.newSink(t, elasticsearch.Config{})
	client := tg.client(t)
	const docs, events = 40, 400
	history := changes("x", docs, events, 1)

	writeAll(t, s, retopic(history, "once"), 50)

	twice := retopic(history, "twice")
	writeAll(t, s, twice, 50)
	writeAll(t, s, twice, 37) // replayed whole, with other batch boundaries

	// Out of order: newer batches first, then older ones, then a shuffled replay of single records.
	shuffled := retopic(history, "shuffled")
	for i := len(shuffled) - 50; i >= 0; i -= 50 {
		writeAll(t, s, shuffled[i:i+50], 50)
	}
	perm := rand.New(rand.NewPCG(2, 3)).Perm(len(shuffled))
	for _, i := range perm[:100] {
		writeAll(t, s, shuffled[i:i+1], 1)
	}

	want := snapshot(t, client, "once", docs)
	if len(want) == 0 || len(want) == docs {
		t.Fatalf("history left %d of %d documents; the test wants some deleted and some present", len(want), docs)
	}
	for _, index := range []string{"twice", "shuffled"} {
		got := snapshot(t, client, index, docs)
		if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
			t.Errorf("index %s differs from the in-order delivery:\n got  %v\n want %v", index, sorted(got), sorted(want))
		}
	}
	st := s.Stats()
	t.Logf("stats after replays: %+v", st)
	if st.Conflicts == 0 {
		t.Error("replays caused no version conflicts: external versioning is not in effect")
	}
}

func sorted(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Acceptance 6: delete events and tombstones remove documents; a delete replayed before its create does not
// resurrect the document.
func TestDeletesAndTombstones(t *testing.T) {
	testDeletesAndTombstones(t, embeddedTarget(t))
}

func TestDeletesAndTombstonesInteropOpenSearch(t *testing.T) {
	testDeletesAndTombstones(t, openSearchTarget(t, "people"))
}

func testDeletesAndTombstones(t *testing.T, tg target) {
	s := tg.newSink(t, elasticsearch.Config{Index: "people"})
	client := tg.client(t)
	doc := func(off int64, id string) stream.Record {
		return stream.Record{Offset: off, Key: id, Operation: stream.OpCreate, Value: map[string]any{"name": id}}
	}
	writeAll(t, s, []stream.Record{doc(1, "doc-0"), doc(2, "doc-1")}, 10)
	writeAll(t, s, []stream.Record{
		{Offset: 3, Key: "doc-0", Operation: stream.OpDelete, Value: map[string]any{"name": "doc-0"}}, // delete event with a before image
		{Offset: 4, Key: "doc-1"}, // tombstone
	}, 10)
	if got := snapshot(t, client, "people", 3); len(got) != 0 {
		t.Fatalf("after delete and tombstone: %v", got)
	}
	// The delete of doc-2 (offset 9) arrives before its create (offset 8), as after a reordered replay.
	writeAll(t, s, []stream.Record{{Offset: 9, Key: "doc-2", Operation: stream.OpDelete}}, 10)
	writeAll(t, s, []stream.Record{doc(8, "doc-2")}, 10)
	// And the old creates of doc-0 and doc-1 are replayed.
	writeAll(t, s, []stream.Record{doc(1, "doc-0"), doc(2, "doc-1")}, 10)
	if got := snapshot(t, client, "people", 3); len(got) != 0 {
		t.Fatalf("replayed creates resurrected documents: %v", got)
	}
	if st := s.Stats(); st.Conflicts != 3 {
		t.Errorf("stats %+v: want the 3 stale creates counted as conflicts", st)
	}
}

// A record that cannot become a document is rejected alone; the rest of its batch is indexed.
func TestBadRecordsAreRejectedAlone(t *testing.T) {
	testBadRecordsAreRejectedAlone(t, embeddedTarget(t))
}

func TestBadRecordsAreRejectedAloneInteropOpenSearch(t *testing.T) {
	testBadRecordsAreRejectedAlone(t, openSearchTarget(t, "orders"))
}

func testBadRecordsAreRejectedAlone(t *testing.T, tg target) {
	s := tg.newSink(t, elasticsearch.Config{Index: "orders", Refresh: "true"})
	batch := []stream.Record{
		{Offset: 0, Key: "1", Value: map[string]any{"amount": int64(10)}},
		{Offset: 1, Key: "2", Value: map[string]any{"amount": "lots"}}, // conflicts with the long mapping
		{Offset: 2, Key: nil, Value: map[string]any{"amount": int64(3)}},
		{Offset: 3, Key: "4", Value: "not json"},
		{Offset: 4, Key: "5", Value: map[string]any{"amount": int64(50)}},
	}
	// Establish the mapping first, so that record 2 conflicts deterministically.
	writeAll(t, s, batch[:1], 1)
	err := s.Write(context.Background(), batch)
	var rej *sinks.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("Write = %v, want a RejectedError", err)
	}
	reasons := map[int]string{}
	for _, r := range rej.Rejections {
		reasons[r.Index] = r.Reason.Error()
	}
	if len(reasons) != 3 || !strings.Contains(reasons[1], tg.parseError) ||
		!strings.Contains(reasons[2], "no key") || !strings.Contains(reasons[3], "not a JSON object") {
		t.Fatalf("rejections %v", reasons)
	}
	client := tg.client(t)
	res, err := client.Count(client.Count.WithIndex("orders"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"count":2`) {
		t.Fatalf("count after a batch with 3 bad records: %s, want 2", body)
	}
}

// With Update, records carry partial documents that are merged into the stored one (doc_as_upsert).
func TestPartialUpdates(t *testing.T) {
	testPartialUpdates(t, embeddedTarget(t))
}

func TestPartialUpdatesInteropOpenSearch(t *testing.T) {
	testPartialUpdates(t, openSearchTarget(t, "profiles"))
}

func testPartialUpdates(t *testing.T, tg target) {
	s := tg.newSink(t, elasticsearch.Config{Index: "profiles", Update: true})
	client := tg.client(t)
	writeAll(t, s, []stream.Record{
		{Offset: 0, Key: "doc-0", Value: map[string]any{"name": "Ann", "plan": "free"}},
		{Offset: 1, Key: "doc-0", Value: map[string]any{"plan": "pro"}}, // same batch: merged in order
	}, 10)
	writeAll(t, s, []stream.Record{{Offset: 2, Key: "doc-0", Value: map[string]any{"seats": int64(3)}}}, 10)
	got := snapshot(t, client, "profiles", 1)["doc-0"]
	var doc map[string]any
	if err := json.Unmarshal([]byte(got), &doc); err != nil || doc["name"] != "Ann" || doc["plan"] != "pro" || doc["seats"] != float64(3) {
		t.Fatalf("document after partial updates: %s", got)
	}
}
