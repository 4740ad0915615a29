package elasticsearch

import "github.com/sluicehq/sluice/stream"

// Document is the write the sink makes for one record.
type Document struct {
	Index string // the index, the Index template resolved for the record
	ID    string // the document id
	// Delete is set for delete events and tombstones: the document is removed, Body is nil.
	Delete bool
	// Body is the document's JSON as the sink sends it (mapped by the record's schema: dates as ISO-8601
	// strings, decimals with their exact digits; see the package documentation).
	Body []byte
}

// Render returns the write that Write would make for r, without sending anything: the index, the document
// id and the body, by the same code as Write. It needs no connection (the sink need not be opened), so a
// program can compute what a pipeline writes into an index and compare it with the index (sluice verify).
// A sink that is not opened knows of no mapping conflicts in existing indices: Render writes every field by
// its schema, as Write does into an index the sink created.
func (s *Sink) Render(r *stream.Record) (Document, error) {
	a, err := s.actionFor(0, r)
	if err != nil {
		return Document{}, err
	}
	return Document{Index: a.index, ID: a.id, Delete: a.op == "delete", Body: a.body}, nil
}
