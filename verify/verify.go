package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Kind is what is wrong with a document.
type Kind string

// The kinds of differences.
const (
	Missing   Kind = "missing"   // the row has no document
	Extra     Kind = "extra"     // the document has no row (or the pipeline writes none for its row)
	Different Kind = "different" // the document differs from what the pipeline writes for the row
)

// Difference is one document that differs, still after its re-check.
type Difference struct {
	Kind Kind `json:"kind"`
	// ID is the document id.
	ID string `json:"id"`
	// Key is the row's primary key, one value per key column; empty for an extra document whose id does
	// not split into the key.
	Key mysql.RowKey `json:"key,omitempty"`
	// Fields are the differing fields of a Different document.
	Fields []FieldDifference `json:"fields,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	Table string `json:"table"`
	Index string `json:"index"`
	// Rows is the number of rows compared; Documents the number of ids the index pass saw.
	Rows      int64 `json:"rows"`
	Documents int64 `json:"documents"`
	// Missing, Extra and Different count the Differences of each kind.
	Missing   int `json:"missing"`
	Extra     int `json:"extra"`
	Different int `json:"different"`
	// Differences, sorted by kind and id.
	Differences []Difference `json:"differences"`
	// Rechecked is how many differences were found at first sight and checked again; those not in
	// Differences had been carried by the pipeline meanwhile, or their row had changed again (Changed).
	Rechecked int `json:"rechecked"`
	// Changed counts the rows that still differed at their re-check but had changed since they were first
	// seen: a change the live pipeline is carrying, not reported.
	Changed int     `json:"changed"`
	Seconds float64 `json:"seconds"`
}

// Equal reports whether the index equals the table.
func (r *Report) Equal() bool { return len(r.Differences) == 0 }

// Verifier compares one table with one index. Create it with New; it is not safe for concurrent use.
type Verifier struct {
	cfg               Config
	rows              *mysql.Rereader
	sink              *elasticsearch.Sink
	index             *indexClient
	keyCodec, valCodc stream.Codec
	unwrap            stages.Stage // the row for Transform
	roundTrip         atomic.Bool  // every record goes through the codecs (see expect)
}

// New checks cfg, connects to MySQL and reads the table's metadata. It does not contact Elasticsearch.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg}
	v.keyCodec, _ = stream.LookupCodec(cfg.KeyCodec)
	v.valCodc, _ = stream.LookupCodec(cfg.ValueCodec)
	sinkCfg := cfg.Elasticsearch
	sinkCfg.Logger = cfg.Logger
	var err error
	if v.sink, err = elasticsearch.New(sinkCfg); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if v.index, err = newIndexClient(cfg.Elasticsearch, cfg.RequestTimeout); err != nil {
		return nil, err
	}
	if cfg.Transform != nil {
		if v.unwrap, err = stages.Unwrap("unwrap", stages.UnwrapConfig{}); err != nil {
			return nil, err
		}
	}
	if v.rows, err = mysql.NewRereader(ctx, cfg.MySQL, cfg.Table); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return v, nil
}

// Close closes the MySQL connections.
func (v *Verifier) Close() error { return v.rows.Close() }

// Topic is the source topic of the table: where Repair produces by default.
func (v *Verifier) Topic() string { return v.rows.Topic() }

// expectation is the document the pipeline writes for a row (doc nil: none, e.g. the row is filtered).
type expectation struct {
	key mysql.RowKey
	id  string
	doc any
}

// candidate is a difference found at first sight, before its re-check.
type candidate struct {
	id  string
	key mysql.RowKey // nil: unknown
	// first is the document the row made at first sight (nil: none), when known: a re-check that finds
	// the row making another one (it changed in between) does not report it.
	first any
	known bool
}

// expect returns the documents the pipeline writes into the index for one source record.
//
// Decoding a record with a schema'd codec (json-schema parses the whole schema of every message) costs
// several times what the rest does, and for most codecs and schemas gives back the record as it was. So
// sampled records (the first of each worker's share of a chunk) are rendered both through the codecs and
// directly; from the first sample whose two documents differ on, every record goes through the codecs.
func (v *Verifier) expect(ctx context.Context, rec stream.Record, sample bool) ([]expectation, error) {
	key, err := v.rows.KeyOf(rec)
	if err != nil {
		return nil, err
	}
	if !sample && !v.roundTrip.Load() {
		return v.expectFrom(ctx, key, rec)
	}
	r, err := v.throughKafka(rec)
	if err != nil {
		return nil, fmt.Errorf("verify: %s row %s: %w", v.rows.Table(), key.String(), err)
	}
	via, err := v.expectFrom(ctx, key, r)
	if err != nil || v.roundTrip.Load() {
		return via, err
	}
	if direct, err := v.expectFrom(ctx, key, rec); err != nil || !sameExpectations(direct, via) {
		v.roundTrip.Store(true)
		v.cfg.Logger.Info("verify: the topic's codecs change the documents: every row goes through them",
			"table", v.rows.Table(), "row", key.String(), "key_codec", v.keyCodec.Name(), "value_codec", v.valCodc.Name())
	}
	return via, nil
}

func sameExpectations(a, b []expectation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].id != b[i].id || !equalJSON(a[i].doc, b[i].doc) {
			return false
		}
	}
	return true
}

// expectFrom returns the documents the pipeline writes for the record r of the row with key.
func (v *Verifier) expectFrom(ctx context.Context, key mysql.RowKey, r stream.Record) ([]expectation, error) {
	where := func(err error) error {
		return fmt.Errorf("verify: %s row %s: %w", v.rows.Table(), key.String(), err)
	}
	if v.cfg.Transform != nil {
		docs, err := v.render(ctx, []stages.Stage{v.unwrap}, r)
		if err != nil {
			return nil, where(err)
		}
		if len(docs) == 0 || docs[0].doc == nil {
			return nil, nil
		}
		row, _ := docs[0].doc.(map[string]any)
		id, doc, err := v.cfg.Transform(row)
		if err != nil {
			return nil, where(fmt.Errorf("transform: %w", err))
		}
		if doc == nil {
			return nil, nil
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, where(fmt.Errorf("transform's document: %w", err))
		}
		d, err := decodeJSON(b)
		if err != nil {
			return nil, where(err)
		}
		return []expectation{{key: key, id: id, doc: d}}, nil
	}
	out, err := v.render(ctx, v.cfg.Stages, r)
	if err != nil {
		return nil, where(err)
	}
	for i := range out {
		out[i].key = key
	}
	return out, nil
}

// throughKafka encodes and decodes the record with the topic's codecs, as on its way through Kafka.
func (v *Verifier) throughKafka(rec stream.Record) (stream.Record, error) {
	kb, err := v.keyCodec.Encode(rec.KeySchema, rec.Key)
	if err != nil {
		return rec, fmt.Errorf("encode key with %s: %w", v.keyCodec.Name(), err)
	}
	vb, err := v.valCodc.Encode(rec.ValueSchema, rec.Value)
	if err != nil {
		return rec, fmt.Errorf("encode value with %s: %w", v.valCodc.Name(), err)
	}
	out := stream.Record{Topic: rec.Topic, Timestamp: rec.Timestamp}
	if out.KeySchema, out.Key, err = v.keyCodec.Decode(kb); err != nil {
		return rec, fmt.Errorf("decode key with %s: %w", v.keyCodec.Name(), err)
	}
	if out.ValueSchema, out.Value, err = v.valCodc.Decode(vb); err != nil {
		return rec, fmt.Errorf("decode value with %s: %w", v.valCodc.Name(), err)
	}
	return out, nil
}

// render runs the stages and the sink's rendering; documents for other indices are left out, deletes
// become expectations without a document.
func (v *Verifier) render(ctx context.Context, chain []stages.Stage, r stream.Record) ([]expectation, error) {
	recs := []stream.Record{r}
	for _, st := range chain {
		var next []stream.Record
		for _, in := range recs {
			out, err := st.Process(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("stage %s: %w", st.Name(), err)
			}
			next = append(next, out...)
		}
		recs = next
	}
	var out []expectation
	for i := range recs {
		d, err := v.sink.Render(&recs[i])
		if err != nil {
			return nil, fmt.Errorf("elasticsearch sink: %w", err)
		}
		if d.Index != v.index.index {
			continue
		}
		e := expectation{id: d.ID}
		if !d.Delete {
			if e.doc, err = decodeJSON(d.Body); err != nil {
				return nil, fmt.Errorf("elasticsearch sink's document: %w", err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// expectAll returns the last expectation per document id of the records. The records are rendered by
// GOMAXPROCS goroutines at once (the stages are called concurrently, as the engine calls them for
// several partitions).
func (v *Verifier) expectAll(ctx context.Context, recs []stream.Record) (map[string]expectation, error) {
	workers := min(runtime.GOMAXPROCS(0), max(1, len(recs)/64))
	parts := make([][]expectation, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(recs)/workers, (w+1)*len(recs)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, rec := range recs[lo:hi] {
				es, err := v.expect(ctx, rec, i == 0)
				if err != nil {
					errs[w] = err
					return
				}
				parts[w] = append(parts[w], es...)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make(map[string]expectation, len(recs))
	for _, part := range parts { // in record order: the last write of an id wins, as in the index
		for _, e := range part {
			out[e.id] = e
		}
	}
	return out, nil
}

// Run compares the whole table with the whole index (see the package documentation) and returns the
// differences that remain after their re-check. An error means the comparison could not be made.
func (v *Verifier) Run(ctx context.Context) (*Report, error) {
	start := time.Now()
	rep := &Report{Table: v.rows.Table(), Index: v.index.index}
	log := v.cfg.Logger.With("table", rep.Table, "index", rep.Index)
	if err := v.index.refresh(ctx); err != nil {
		return nil, err
	}
	estimated, err := v.rows.EstimatedRows(ctx)
	if err != nil {
		return nil, err
	}
	log.Info("verify: comparing", "estimated_rows", estimated, "chunk", v.cfg.ChunkSize)
	var cands []candidate
	var lastFound time.Time
	found := func(c candidate) {
		cands = append(cands, c)
		lastFound = time.Now()
	}
	sourceIDs := make(map[string]struct{}, estimated)
	cur := mysql.RereadCursor{}
	var readTime, renderTime, fetchTime time.Duration
	for !cur.Done {
		var recs []stream.Record
		t0 := time.Now()
		if recs, cur, err = v.rows.Chunk(ctx, cur, v.cfg.ChunkSize); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		t1 := time.Now()
		exp, err := v.expectAll(ctx, recs)
		if err != nil {
			return nil, err
		}
		t2 := time.Now()
		readTime, renderTime = readTime+t1.Sub(t0), renderTime+t2.Sub(t1)
		ids := make([]string, 0, len(exp))
		for id, e := range exp {
			if e.doc != nil {
				ids = append(ids, id)
				sourceIDs[id] = struct{}{}
			}
		}
		got, err := v.index.docs(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("verify: documents of rows %d to %d: %w", rep.Rows+1, rep.Rows+int64(len(recs)), err)
		}
		fetchTime += time.Since(t2)
		for _, id := range ids {
			if d := compareOne(exp[id], got); d != nil {
				found(candidate{id: id, key: exp[id].key, first: exp[id].doc, known: true})
			}
		}
		rep.Rows += int64(len(recs))
		v.progress(Progress{Phase: "rows", Done: rep.Rows, Estimated: estimated, Candidates: len(cands)})
	}
	docs, err := v.index.count(ctx)
	if err != nil {
		return nil, err
	}
	idStart := time.Now()
	after := ""
	for {
		ids, err := v.index.idsAfter(ctx, after, v.cfg.ChunkSize)
		if err != nil {
			return nil, fmt.Errorf("verify: ids of the index after %q: %w", after, err)
		}
		for _, id := range ids {
			if _, ok := sourceIDs[id]; !ok {
				found(candidate{id: id, key: v.keyOfID(id), known: true}) // no row made it at first sight
			}
		}
		rep.Documents += int64(len(ids))
		v.progress(Progress{Phase: "ids", Done: rep.Documents, Estimated: docs, Candidates: len(cands)})
		if len(ids) < v.cfg.ChunkSize {
			break
		}
		after = ids[len(ids)-1]
	}
	idTime := time.Since(idStart)
	rep.Rechecked = len(cands)
	if len(cands) > 0 {
		log.Info("verify: re-checking differences", "candidates", len(cands), "after", v.cfg.Settle)
		t := time.NewTimer(time.Until(lastFound.Add(v.cfg.Settle)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		if rep.Differences, rep.Changed, err = v.check(ctx, cands); err != nil {
			return nil, err
		}
	}
	rep.count()
	rep.Seconds = time.Since(start).Seconds()
	log.Info("verify: done", "rows", rep.Rows, "documents", rep.Documents, "missing", rep.Missing, "extra", rep.Extra,
		"different", rep.Different, "rechecked", rep.Rechecked, "changed", rep.Changed, "seconds", rep.Seconds,
		"read_rows", readTime.Round(time.Millisecond), "render_documents", renderTime.Round(time.Millisecond),
		"fetch_documents", fetchTime.Round(time.Millisecond), "id_pass", idTime.Round(time.Millisecond))
	return rep, nil
}

func (v *Verifier) progress(p Progress) {
	if v.cfg.Progress != nil {
		v.cfg.Progress(p)
	}
}

// keyOfID is the row key of a document id when the default {key} id rule made it, else nil.
func (v *Verifier) keyOfID(id string) mysql.RowKey {
	if v.cfg.Transform != nil || (v.cfg.Elasticsearch.ID != "" && v.cfg.Elasticsearch.ID != "{key}") {
		return nil
	}
	k, err := v.rows.ParseKey(id)
	if err != nil {
		return nil
	}
	return k
}

// compareOne compares an expectation with the index's documents; nil means equal.
func compareOne(e expectation, got map[string]json.RawMessage) *Difference {
	src, ok := got[e.id]
	switch {
	case e.doc == nil && !ok:
		return nil
	case e.doc == nil:
		return &Difference{Kind: Extra, ID: e.id, Key: e.key}
	case !ok:
		return &Difference{Kind: Missing, ID: e.id, Key: e.key}
	}
	doc, err := decodeJSON(src)
	if err != nil {
		return &Difference{Kind: Different, ID: e.id, Key: e.key, Fields: []FieldDifference{{Field: "", Source: jsonText(e.doc), Index: string(src)}}}
	}
	if fields := diffDocuments(e.doc, doc); len(fields) > 0 {
		return &Difference{Kind: Different, ID: e.id, Key: e.key, Fields: fields}
	}
	return nil
}

// check reads the candidates' rows and documents again (after a refresh) and returns those that still
// differ.
func (v *Verifier) check(ctx context.Context, cands []candidate) (out []Difference, changed int, err error) {
	if err := v.index.refresh(ctx); err != nil {
		return nil, 0, err
	}
	for start := 0; start < len(cands); start += v.cfg.ChunkSize {
		batch := cands[start:min(start+v.cfg.ChunkSize, len(cands))]
		var keys []mysql.RowKey
		for _, c := range batch {
			if c.key != nil {
				keys = append(keys, c.key)
			}
		}
		recs, err := v.rows.Read(ctx, keys)
		if err != nil {
			return nil, 0, fmt.Errorf("verify: re-check: %w", err)
		}
		exp, err := v.expectAll(ctx, recs)
		if err != nil {
			return nil, 0, err
		}
		ids := make([]string, len(batch))
		for i, c := range batch {
			ids[i] = c.id
		}
		got, err := v.index.docs(ctx, ids)
		if err != nil {
			return nil, 0, fmt.Errorf("verify: re-check: %w", err)
		}
		for _, c := range batch {
			e, ok := exp[c.id]
			if !ok {
				e = expectation{id: c.id} // no row, or no document for it
			}
			e.key = c.key
			d := compareOne(e, got)
			switch {
			case d == nil:
			case c.known && c.key != nil && !equalJSON(c.first, e.doc):
				changed++ // the row changed since it was first seen: the live pipeline carries that change
			default:
				out = append(out, *d)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].ID < out[j].ID
	})
	return out, changed, nil
}

func (r *Report) count() {
	r.Missing, r.Extra, r.Different = 0, 0, 0
	if r.Differences == nil {
		r.Differences = []Difference{}
	}
	for _, d := range r.Differences {
		switch d.Kind {
		case Missing:
			r.Missing++
		case Extra:
			r.Extra++
		case Different:
			r.Different++
		}
	}
}
