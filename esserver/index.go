package esserver

import (
	"os"
	"path/filepath"

	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	bleveindex "github.com/blevesearch/bleve_index_api"
)

// gcDeletes is how long a delete tombstone is kept for versioning, Elasticsearch's index.gc_deletes default.
const gcDeletes = 60 * time.Second

// standardAnalyzer names the analyzer esserver uses for text fields: Unicode word segmentation and
// lowercasing, like Elasticsearch's standard analyzer (which has no stop words by default).
const standardAnalyzer = "es_standard"

// fieldNamesField is the bleve field listing the paths a document has values for; exists queries use it,
// as Elasticsearch uses its _field_names field.
const fieldNamesField = "_field_names"

// docEntry is the realtime state of one document id: the live document or its delete tombstone.
type docEntry struct {
	version   int64
	seqNo     int64
	source    json.RawMessage // nil for a tombstone
	parsed    *parsedDoc
	deletedAt time.Time // set for a tombstone
}

func (d *docEntry) live() bool { return d != nil && d.source != nil }

// searchDoc is a document as of the last refresh: what search and count see.
type searchDoc struct {
	source json.RawMessage
	parsed *parsedDoc
}

// index is one Elasticsearch index with a single primary shard. All fields are guarded by Server.mu.
type index struct {
	name    string
	uuid    string
	created time.Time
	mapping *fieldMapping

	docs      map[string]*docEntry
	nextSeqNo int64
	dirty     map[string]bool // ids written since the last refresh

	searchable map[string]*searchDoc
	bleve      bleve.Index
	bleveDir   string
	text, kw   analysis.Analyzer
	refreshed  chan struct{} // closed by the next refresh
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b[:]), "=")[:22]
}

func newIndex(name, uuid string, created time.Time, m *fieldMapping) (*index, error) {
	im := bleve.NewIndexMapping()
	im.ScoringModel = bleveindex.BM25Scoring
	if err := im.AddCustomAnalyzer(standardAnalyzer, map[string]any{
		"type": custom.Name, "tokenizer": unicode.Name, "token_filters": []string{lowercase.Name},
	}); err != nil {
		return nil, err
	}
	im.DefaultAnalyzer = standardAnalyzer
	// Scorch, bleve's default engine, on a scratch directory: it takes batches far faster than the in-memory
	// upsidedown/gtreap index (which spent most of a bulk load merging treaps). The search index is derived
	// state, rebuilt from the documents at start-up, so the directory is removed on close.
	dir, err := os.MkdirTemp("", "esserver-search-")
	if err != nil {
		return nil, fmt.Errorf("esserver: search index for %s: %w", name, err)
	}
	idx, err := bleve.NewUsing(filepath.Join(dir, "index"), im, scorch.Name, scorch.Name, map[string]any{"unsafe_batch": true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("esserver: bleve index for %s: %w", name, err)
	}
	idx.SetName(name)
	if m == nil {
		m = newObjectMapping()
	}
	return &index{
		name: name, uuid: uuid, created: created, mapping: m,
		docs: map[string]*docEntry{}, dirty: map[string]bool{}, searchable: map[string]*searchDoc{},
		bleve: idx, bleveDir: dir, text: im.AnalyzerNamed(standardAnalyzer), kw: im.AnalyzerNamed(keyword.Name),
		refreshed: make(chan struct{}),
	}, nil
}

func (ix *index) indexMapping() mapping.IndexMapping { return ix.bleve.Mapping() }

// closeSearch closes the search index and removes its scratch directory.
func (ix *index) closeSearch() {
	_ = ix.bleve.Close()
	_ = os.RemoveAll(ix.bleveDir)
}

// current returns the entry for id, dropping a tombstone older than gcDeletes.
func (ix *index) current(id string, now time.Time) *docEntry {
	d := ix.docs[id]
	if d != nil && !d.live() && now.Sub(d.deletedAt) > gcDeletes {
		delete(ix.docs, id)
		return nil
	}
	return d
}

// applyMapping merges dynamic mapping additions found while parsing a document. It reports whether the
// mapping changed.
func (ix *index) applyMapping(added []addedField) bool {
	for _, a := range added {
		parent, name := ix.mapping, a.path
		if i := strings.LastIndexByte(a.path, '.'); i >= 0 {
			parent, name = ix.mapping.lookupPath(a.path[:i]), a.path[i+1:]
		}
		if parent == nil || !parent.isObject() {
			continue
		}
		if _, ok := parent.Properties[name]; !ok {
			parent.Properties[name] = a.m
		}
	}
	return len(added) > 0
}

// refresh makes every write since the last refresh visible to search, and wakes refresh=wait_for writers.
func (ix *index) refresh(now time.Time) error {
	if len(ix.dirty) > 0 {
		batch := ix.bleve.NewBatch()
		for id := range ix.dirty {
			d := ix.docs[id]
			if !d.live() {
				batch.Delete(id)
				delete(ix.searchable, id)
				continue
			}
			if err := batch.IndexAdvanced(ix.bleveDocument(id, d.parsed)); err != nil {
				return err
			}
			ix.searchable[id] = &searchDoc{source: d.source, parsed: d.parsed}
		}
		if err := ix.bleve.Batch(batch); err != nil {
			return fmt.Errorf("esserver: refresh %s: %w", ix.name, err)
		}
		clear(ix.dirty)
	}
	for id, d := range ix.docs {
		if !d.live() && now.Sub(d.deletedAt) > gcDeletes {
			delete(ix.docs, id)
		}
	}
	close(ix.refreshed)
	ix.refreshed = make(chan struct{})
	return nil
}

// bleveDocument builds the bleve document for a parsed source; fields are typed by the mapping, not by
// bleve's own dynamic mapping.
func (ix *index) bleveDocument(id string, pd *parsedDoc) *document.Document {
	doc := document.NewDocument(id)
	opts := bleveindex.IndexField | bleveindex.DocValues
	for _, v := range pd.Values {
		switch v.Family {
		case "text":
			doc.AddField(document.NewTextFieldCustom(v.Path, nil, []byte(v.Str),
				bleveindex.IndexField|bleveindex.IncludeTermVectors, ix.text))
		case "keyword":
			doc.AddField(document.NewTextFieldCustom(v.Path, nil, []byte(v.Str), opts, ix.kw))
		case "integer", "float":
			doc.AddField(document.NewNumericFieldWithIndexingOptions(v.Path, nil, v.Num, opts))
		case "boolean":
			doc.AddField(document.NewBooleanFieldWithIndexingOptions(v.Path, nil, v.Bool, opts))
		case "date":
			if f, err := document.NewDateTimeFieldWithIndexingOptions(v.Path, nil, v.Time, time.RFC3339Nano, opts); err == nil {
				doc.AddField(f)
			}
		}
	}
	for _, n := range pd.Names {
		doc.AddField(document.NewTextFieldCustom(fieldNamesField, nil, []byte(n), bleveindex.IndexField, ix.kw))
	}
	return doc
}

// liveCount is the number of documents visible to search.
func (ix *index) liveCount() int { return len(ix.searchable) }

func (ix *index) storeSize() int {
	n := 0
	for _, d := range ix.docs {
		n += len(d.source) + 64
	}
	return n
}

// validateIndexName applies Elasticsearch's index name rules (MetadataCreateIndexService.validateIndexOrAliasName).
func validateIndexName(name string) *esError {
	switch {
	case name == "":
		return errInvalidIndexName(name, "must not be empty")
	case name != strings.ToLower(name):
		return errInvalidIndexName(name, "must be lowercase")
	case name == "." || name == "..":
		return errInvalidIndexName(name, "must not be '.' or '..'")
	case strings.ContainsAny(name[:1], "_-+"):
		return errInvalidIndexName(name, "must not start with '_', '-', or '+'")
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return errInvalidIndexName(name, `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?]`)
	case len(name) > 255:
		return errInvalidIndexName(name, "index name is too long, ("+fmt.Sprint(len(name))+" > 255)")
	}
	return nil
}
