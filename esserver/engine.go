package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// writeOp is one document write: a single-document API call or one bulk item.
type writeOp struct {
	Action        string // index, create, update, delete
	Index, ID     string
	Version       int64
	HasVersion    bool
	VersionType   string // internal, external, external_gte
	IfSeqNo       int64
	IfPrimaryTerm int64
	HasIfSeqNo    bool
	HasIfTerm     bool
	Source        json.RawMessage
	Update        *updateRequest
	autoID        bool
	// itemError fails this bulk item alone (without running it), for problems Elasticsearch reports per
	// item rather than for the whole request (an empty _id, require_alias on a name that is no alias).
	itemError       *esError
	requireAlias    bool            // the bulk item's require_alias: the target must be an existing alias
	requireAliasSet bool            // the item set require_alias itself (the request's default does not apply)
	sourceSpec      json.RawMessage // a bulk update's action-line _source (see addBulkUpdateGet)
}

// updateRequest is the body of an update: a partial document to merge, with upsert options.
type updateRequest struct {
	Doc         json.RawMessage `json:"doc"`
	DocAsUpsert bool            `json:"doc_as_upsert"`
	Upsert      json.RawMessage `json:"upsert"`
	DetectNoop  *bool           `json:"detect_noop"`
	Script      json.RawMessage `json:"script"`
	// Source asks for the updated document in the response's "get" (true, false, fields, includes/excludes).
	Source json.RawMessage `json:"_source"`
}

// writeResult is the outcome of one writeOp, rendered as a single-document response or a bulk item.
type writeResult struct {
	Action  string
	Index   string
	ID      string
	Version int64
	SeqNo   int64
	Result  string // created, updated, deleted, not_found, noop
	Status  int
	Err     *esError
	ix      *index
}

// body renders the result as the index/delete/update APIs answer it.
func (r *writeResult) body() map[string]any {
	if r.Err != nil {
		return map[string]any{"_index": r.Index, "_id": r.ID, "status": r.Status, "error": r.Err.body()}
	}
	shards := map[string]int{"total": 1, "successful": 1, "failed": 0}
	if r.Result == "noop" {
		shards = map[string]int{"total": 0, "successful": 0, "failed": 0}
	}
	return map[string]any{
		"_index": r.Index, "_id": r.ID, "_version": r.Version, "result": r.Result, "_shards": shards,
		"_seq_no": r.SeqNo, "_primary_term": 1,
	}
}

// validate applies the request validation Elasticsearch does before executing (IndexRequest.validate,
// DeleteRequest.validate, UpdateRequest.validate); a failure rejects the whole request.
func (op *writeOp) validate() []string {
	var p []string
	if op.Index == "" {
		p = append(p, "index is missing")
	}
	if op.ID == "" && op.Action != "index" && op.Action != "create" {
		p = append(p, "id is missing")
	}
	if len(op.ID) > 512 {
		p = append(p, fmt.Sprintf("id [%s] is too long, must be no longer than 512 bytes but was: %d", op.ID, len(op.ID)))
	}
	switch op.VersionType {
	case "", "internal":
		op.VersionType = "internal"
	case "external", "external_gte", "force":
	default:
		p = append(p, fmt.Sprintf("No version type match [%s]", op.VersionType))
	}
	if op.HasIfSeqNo && op.HasVersion {
		p = append(p, "compare and write operations can not use versioning")
	}
	if op.HasIfSeqNo && (!op.HasIfTerm || op.IfPrimaryTerm <= 0) {
		p = append(p, fmt.Sprintf("ifSeqNo is set, but primary term is [%d]", op.IfPrimaryTerm))
	}
	if op.HasIfTerm && !op.HasIfSeqNo {
		p = append(p, "ifSeqNo is unassigned, but primary term is ["+fmt.Sprint(op.IfPrimaryTerm)+"]")
	}
	switch op.Action {
	case "create":
		if op.VersionType != "internal" {
			p = append(p, "create operations only support internal versioning. use index instead")
		}
		if op.HasIfSeqNo {
			p = append(p, "create operations do not support compare and set. use index instead")
		}
	case "update":
		if op.VersionType != "internal" || op.HasVersion {
			p = append(p, "internal versioning can not be used for optimistic concurrency control. "+
				"Please use `if_seq_no` and `if_primary_term` instead")
		}
		if op.Update == nil || (op.Update.Doc == nil && op.Update.Script == nil) {
			p = append(p, "script or doc is missing")
		}
	}
	if op.Action == "index" || op.Action == "delete" {
		if op.VersionType == "internal" && op.HasVersion {
			p = append(p, "internal versioning can not be used for optimistic concurrency control. "+
				"Please use `if_seq_no` and `if_primary_term` instead")
		}
		if op.VersionType == "force" {
			p = append(p, "version type [force] may no longer be used")
		}
		if op.VersionType != "internal" && op.VersionType != "force" && (!op.HasVersion || op.Version < 0) {
			v := op.Version
			if !op.HasVersion {
				v = -3 // Versions.MATCH_ANY
			}
			p = append(p, fmt.Sprintf("illegal version value [%d] for version type [%s]", v, upper(op.VersionType)))
		}
	}
	return p
}

func upper(s string) string { return string(bytes.ToUpper([]byte(s))) }

// apply executes one validated op against the realtime state and appends its translog records to *logBuf.
// The caller holds s.mu for writing.
func (s *Server) apply(op *writeOp, now time.Time, logBuf *[]byte) writeResult {
	res := writeResult{Action: op.Action, Index: op.Index, ID: op.ID}
	fail := func(e *esError) writeResult {
		res.Err, res.Status = e, e.Status
		return res
	}
	if op.itemError != nil {
		return fail(op.itemError)
	}
	if op.requireAlias {
		if e := s.checkRequireAlias(op.Index); e != nil { // bulkitems.go
			return fail(e)
		}
	}
	ix, ae := s.writeTarget(op.Index) // an index, or an alias's write index (aliases.go)
	if ae != nil {
		return fail(ae)
	}
	if ix != nil {
		res.Index = ix.name
	}
	if ix == nil {
		// Deletes with internal versioning do not auto-create the index (TransportBulkAction).
		if op.Action == "delete" && op.VersionType == "internal" {
			return fail(errIndexNotFound(op.Index))
		}
		var e *esError
		if ix, e = s.createIndex(op.Index, nil, now, logBuf); e != nil {
			return fail(e)
		}
	}
	res.ix = ix
	if op.autoID && op.ID == "" {
		op.ID = newUUID()[:20]
		res.ID = op.ID
	}
	cur := ix.current(op.ID, now)
	switch op.Action {
	case "update":
		return s.applyUpdate(ix, op, cur, now, logBuf, res)
	case "delete":
		version, e := checkVersion(ix, op, cur)
		if e != nil {
			return fail(e)
		}
		res.Result, res.Status = "deleted", http.StatusOK
		if !cur.live() {
			res.Result, res.Status = "not_found", http.StatusNotFound
		}
		res.Version, res.SeqNo = version, ix.nextSeqNo
		ix.nextSeqNo++
		ix.docs[op.ID] = &docEntry{version: version, seqNo: res.SeqNo, deletedAt: now}
		ix.dirty[op.ID] = true
		*logBuf = appendRecord(*logBuf, &logRecord{Op: "delete", Index: ix.name, ID: op.ID, Version: version,
			SeqNo: res.SeqNo, Time: now.UnixMilli()})
		return res
	}
	// index or create
	parsed, e := parseSource(ix.mapping, op.ID, op.Source, false)
	if e != nil {
		return fail(e)
	}
	version, e := checkVersion(ix, op, cur)
	if e != nil {
		return fail(e)
	}
	return s.store(ix, op.ID, op.Source, parsed, version, cur, now, logBuf, res)
}

// store writes a parsed document with its new version.
func (s *Server) store(ix *index, id string, source json.RawMessage, parsed *parsedDoc, version int64,
	cur *docEntry, now time.Time, logBuf *[]byte, res writeResult) writeResult {
	if ix.applyMapping(parsed.added) {
		mj, _ := json.Marshal(ix.mapping)
		*logBuf = appendRecord(*logBuf, &logRecord{Op: "mapping", Index: ix.name, Mapping: mj})
		parsed.added = nil
	}
	res.Result, res.Status = "created", http.StatusCreated
	if cur.live() {
		res.Result, res.Status = "updated", http.StatusOK
	}
	res.Version, res.SeqNo = version, ix.nextSeqNo
	ix.nextSeqNo++
	ix.docs[id] = &docEntry{version: version, seqNo: res.SeqNo, source: source, parsed: parsed}
	ix.dirty[id] = true
	*logBuf = appendRecord(*logBuf, &logRecord{Op: "index", Index: ix.name, ID: id, Version: version,
		SeqNo: res.SeqNo, Source: source})
	return res
}

// checkVersion decides whether op may write over cur (a live document, a tombstone or nil) and returns
// the version the write gets, following InternalEngine's planning for primaries.
func checkVersion(ix *index, op *writeOp, cur *docEntry) (int64, *esError) {
	if op.Action == "create" && cur.live() {
		return 0, errVersionConflict(ix, op.ID, fmt.Sprintf("document already exists (current version [%d])", cur.version))
	}
	if op.HasIfSeqNo {
		if !cur.live() {
			return 0, errVersionConflict(ix, op.ID, fmt.Sprintf(
				"required seqNo [%d], primary term [%d]. but no document was found", op.IfSeqNo, op.IfPrimaryTerm))
		}
		if cur.seqNo != op.IfSeqNo || op.IfPrimaryTerm != 1 {
			return 0, errVersionConflict(ix, op.ID, fmt.Sprintf(
				"required seqNo [%d], primary term [%d]. current document has seqNo [%d] and primary term [1]",
				op.IfSeqNo, op.IfPrimaryTerm, cur.seqNo))
		}
	}
	switch op.VersionType {
	case "external":
		if cur != nil && op.Version <= cur.version {
			return 0, errVersionConflict(ix, op.ID, fmt.Sprintf(
				"current version [%d] is higher or equal to the one provided [%d]", cur.version, op.Version))
		}
		return op.Version, nil
	case "external_gte":
		if cur != nil && op.Version < cur.version {
			return 0, errVersionConflict(ix, op.ID, fmt.Sprintf(
				"current version [%d] is higher than the one provided [%d]", cur.version, op.Version))
		}
		return op.Version, nil
	}
	if cur == nil {
		return 1, nil
	}
	return cur.version + 1, nil
}

// applyUpdate merges a partial document (or upserts), as the update API does without scripts.
func (s *Server) applyUpdate(ix *index, op *writeOp, cur *docEntry, now time.Time, logBuf *[]byte, res writeResult) writeResult {
	fail := func(e *esError) writeResult {
		res.Err, res.Status = e, e.Status
		return res
	}
	u := op.Update
	if u.Script != nil {
		return fail(errIllegalArgument("esserver does not support scripted updates; use a partial doc"))
	}
	var source json.RawMessage
	if !cur.live() {
		switch {
		case u.Upsert != nil:
			source = u.Upsert
		case u.DocAsUpsert:
			source = u.Doc
		default:
			return fail(errDocumentMissing(ix, op.ID))
		}
	} else {
		if op.HasIfSeqNo {
			if _, e := checkVersion(ix, op, cur); e != nil {
				return fail(e)
			}
		}
		merged, changed, err := mergeSource(cur.source, u.Doc)
		if err != nil {
			return fail(newError(http.StatusBadRequest, "document_parsing_exception", "failed to parse: "+err.Error()))
		}
		if !changed && (u.DetectNoop == nil || *u.DetectNoop) {
			res.Result, res.Status, res.Version, res.SeqNo = "noop", http.StatusOK, cur.version, cur.seqNo
			return res
		}
		source = merged
	}
	parsed, e := parseSource(ix.mapping, op.ID, source, false)
	if e != nil {
		return fail(e)
	}
	version := int64(1)
	if cur != nil {
		version = cur.version + 1
	}
	return s.store(ix, op.ID, source, parsed, version, cur, now, logBuf, res)
}

// mergeSource merges patch into source like XContentHelper.update: objects merge recursively, any other
// value replaces. Existing keys keep their order, new keys are appended. changed reports whether the
// result differs from source.
func mergeSource(source, patch json.RawMessage) (json.RawMessage, bool, error) {
	base, err := decodeOrdered(source)
	if err != nil {
		return nil, false, err
	}
	p, err := decodeOrdered(patch)
	if err != nil {
		return nil, false, err
	}
	bo, ok1 := base.(*orderedObject)
	po, ok2 := p.(*orderedObject)
	if !ok1 || !ok2 {
		return nil, false, fmt.Errorf("source and doc must be objects")
	}
	changed := bo.merge(po)
	out, err := json.Marshal(bo)
	return out, changed, err
}
