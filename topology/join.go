package topology

import (
	"fmt"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/sluicehq/sluice/stream"
)

// How a join is compiled onto goka.
//
// The join's group reads the flow's input (the "stream"), the table's topic and its own loop topic, which is
// the repartition topic; all three and the group table have the same partitions. Both inputs only re-key
// their records onto the loop:
//   - a stream record with key K goes to state key "s\x00"+K (its home);
//   - a table row with key F goes to state key "r\x00"+F (F = stream.KeyString of the row key).
//
// At its home, a record remembers its value, its foreign key and the row it was last joined with, and it is
// the only place where that record is ever emitted, so the output holds one ordered history per key. When
// the foreign key is new, the home sends "index" to the row's state, which answers with a "refresh" carrying
// the row; the home then emits the joined record. Until that answer is in, the home emits nothing and asks
// again on every update of its record.
//
// Crashes: a message's writes (state, loopbacks, output) are acknowledged before its offset is committed,
// and offsets are committed in order (orderedCommitGroup), so a crash loses no message; it repeats the
// uncommitted ones, against a state that may already hold their effects. Unlike a keyed stage's fold (a count
// would count a repeated record twice; see keyedRunner), every update of a join's state is an overwrite or a
// set operation, so applying a message twice leaves what applying it once left: a home stores its record
// and foreign key, a row state its row, a refresh the row copy, and index/unindex add or remove one referrer.
// A replay repeats an uncommitted tail of each partition in its original order (loop records read again,
// then the inputs read again and looped anew, each in offset order), so it ends with the newest message of
// every key applied last: a home that a repeated older record version set back during the replay is set
// forward again by the same replay before anything newer arrives, and the final output per key is that of
// a run without the crash. What a replay adds is output, never a different end: older joined versions may be
// emitted again before the newest one (at-least-once; a sink that upserts by key ends equal). The crash test
// topology/internal/crashpipe checks this: after 5 SIGKILLs under load, the last output per key and the state
// per key equal those of an uncrashed run, stale referrers (below) aside.
//
// Lost effects are recovered because every message is safe to apply twice: a row state answers every
// request and re-sends its row to every referrer, a refresh that no longer matches the home's foreign key is
// dropped, and a home asks until answered. One state difference can remain: a repeated record whose home
// already moved to a new foreign key does not unindex the old one (its unindex was lost with the crash), so
// that row state keeps a stale referrer until the row next changes; the home then drops the refresh it gets
// and unindexes itself again. A stale referrer changes no output. In a foreign-key join a row's state also
// keeps the keys of the records that refer to it and, when the row changes, sends every one of them a
// refresh, which the home emits. A lookup join's home asks for the row on every update of its record
// instead, and its row states keep no referrers.

const (
	homePrefix = "s\x00"
	rowPrefix  = "r\x00"
)

type joinKind string

const (
	joinRecord  joinKind = "record"  // a stream record, to its home
	joinRow     joinKind = "row"     // a table row, to its row state
	joinIndex   joinKind = "index"   // home -> row state: this record refers to you
	joinUnindex joinKind = "unindex" // home -> row state: it no longer does
	joinRefresh joinKind = "refresh" // row state -> home: here is the row
)

type joinMessage struct {
	Kind    joinKind        `json:"kind"`
	Key     string          `json:"key,omitempty"` // the stream record's key string
	FK      string          `json:"fk,omitempty"`
	Record  *wireRecord     `json:"record,omitempty"`
	Row     wireValue       `json:"row,omitempty"`
	HasRow  bool            `json:"has_row,omitempty"`
	Headers []stream.Header `json:"headers,omitempty"`
	// RowVersion is the row's version (joinversion.go): of a table row, and in a refresh.
	RowVersion int64 `json:"row_version,omitempty"`
}

// joinState is the group table's value: a home (Record, FK, Row, Answered) or a row state (Row, Refs).
// Answered says that the row state of FK has answered the home's request (Row and HasRow are its answer).
type joinState struct {
	Record   *wireRecord     `json:"record,omitempty"`
	FK       string          `json:"fk,omitempty"`
	Row      wireValue       `json:"row,omitempty"`
	HasRow   bool            `json:"has_row,omitempty"`
	Answered bool            `json:"answered,omitempty"`
	Refs     map[string]bool `json:"refs,omitempty"`
	// RowVersion is the version of Row; RecordVersion, at a home, the version of the last record applied
	// (kept after a delete, so that older copies stay refused), and Emitted that of its last output
	// (joinversion.go).
	RowVersion    int64 `json:"row_version,omitempty"`
	RecordVersion int64 `json:"record_version,omitempty"`
	Emitted       int64 `json:"emitted,omitempty"`
}

type joinRunner struct {
	p          *pipelineRun
	spec       *joinSpec
	inStages   stageChain
	rowStages  stageChain
	proc       *goka.Processor
	envelope   stream.Codec
	plain      stream.Codec
	outTopic   goka.Stream
	tableTopic *Topic
	// joinedSchemas caches the schemas of joined struct values (see joinedValue).
	joinedSchemas joinedSchemaCache
}

func (p *pipelineRun) newJoinRunner(spec *joinSpec) (*joinRunner, error) {
	envelope, err := stream.LookupCodec("json-schema")
	if err != nil {
		return nil, err
	}
	r := &joinRunner{
		p: p, spec: spec, envelope: envelope, plain: spec.out.valueCodec,
		inStages:   p.newStageChain(stageScope{flow: spec.flowName}, spec.inStages),
		rowStages:  p.newStageChain(stageScope{flow: spec.flowName, table: spec.table.name}, spec.table.stages),
		outTopic:   goka.Stream(spec.out.name),
		tableTopic: spec.table.from,
	}
	g := goka.DefineGroup(goka.Group(spec.group),
		goka.Input(goka.Stream(spec.in.name), new(codec.Bytes), withMessage(r.onStream)),
		goka.Input(goka.Stream(spec.table.from.name), new(codec.Bytes), withMessage(r.onTable)),
		goka.Loop(jsonCodec[joinMessage]{}, withMessage(r.onLoop)),
		goka.Persist(jsonCodec[joinState]{}),
		goka.Output(r.outTopic, new(codec.Bytes)),
	)
	opts := append(p.gokaOptions(storage.MemoryBuilder()), goka.WithNilHandling(goka.NilProcess))
	if r.proc, err = goka.NewProcessor(p.brokers, g, opts...); err != nil {
		return nil, fmt.Errorf("flow %q: join %q: create processor: %w", spec.flowName, spec.join.Name(), err)
	}
	p.log.Info("join ready", "flow", spec.flowName, "join", spec.join.Name(), "group", spec.group,
		"stream", spec.in.name, "table", spec.table.name, "table_topic", spec.table.from.name, "output", spec.out.name, "foreign_key", spec.join.ForeignKey())
	return r, nil
}

// onStream re-keys a stream record to its home.
func (r *joinRunner) onStream(ctx goka.Context, msg any) {
	outs, ok := r.prepare(ctx, r.spec.in, r.inStages, msg)
	if !ok {
		return
	}
	for _, o := range outs {
		m := joinMessage{Kind: joinRecord, Key: o.key}
		var err error
		if !deleted(o.rec) {
			if fk, ok := stream.FieldOf(o.rec.Value, r.spec.join.Field()); ok && fk != nil {
				if m.FK, err = stream.KeyString(fk); err != nil {
					r.fail(ctx, fmt.Errorf("record %q: foreign key %s: %w", o.key, r.spec.join.Field(), err))
					return
				}
			}
		}
		if m.Record, err = r.toWire(o.rec); err != nil {
			r.fail(ctx, err)
			return
		}
		ctx.Loopback(homePrefix+o.key, &m)
	}
}

// onTable re-keys a table row to its row state.
func (r *joinRunner) onTable(ctx goka.Context, msg any) {
	outs, ok := r.prepare(ctx, r.tableTopic, r.rowStages, msg)
	if !ok {
		return
	}
	for _, o := range outs {
		m := joinMessage{Kind: joinRow, RowVersion: recordVersion(o.rec.Headers)}
		if !deleted(o.rec) {
			var err error
			if m.Row, err = r.envelope.Encode(o.rec.ValueSchema, o.rec.Value); err != nil {
				r.fail(ctx, fmt.Errorf("table %q: encode row: %w", r.spec.table.name, err))
				return
			}
			m.HasRow = true
		}
		ctx.Loopback(rowPrefix+o.key, &m)
	}
}

func deleted(r stream.Record) bool { return r.Value == nil || r.Operation == stream.OpDelete }

// onLoop applies a message to a home or a row state.
func (r *joinRunner) onLoop(ctx goka.Context, msg any) {
	m := msg.(*joinMessage)
	var st joinState
	if v := ctx.Value(); v != nil {
		st = *v.(*joinState)
	}
	switch m.Kind {
	case joinRecord: // at the record's home
		if staleRecord(&st, m.Record) { // joinversion.go: older than the record applied here
			return
		}
		prev := st.FK
		if prev != "" && prev != m.FK {
			ctx.Loopback(rowPrefix+prev, &joinMessage{Kind: joinUnindex, Key: m.Key})
		}
		if m.Record.Value == nil || m.Record.Operation == stream.OpDelete {
			_, headers := nextVersion(&st, m.Record)
			if st.RecordVersion > 0 { // keep the versions, so that an older copy of the record stays refused
				ctx.SetValue(&joinState{RecordVersion: st.RecordVersion, Emitted: st.Emitted})
			} else {
				ctx.Delete()
			}
			r.emit(ctx, m.Key, m.Record, headers, nil, false, true)
			return
		}
		st.Record = m.Record
		// A lookup join asks the row state for the current row on every update. A foreign-key join asks when
		// the foreign key changed, since its row state keeps its homes up to date, and again on every update
		// until the answer is in: the request may have been lost in a crash after this state was written
		// (a replayed record then finds its foreign key already stored), and a row state answers every request.
		// Meanwhile nothing is emitted, so the record never appears joined with no row while its row exists.
		if m.FK != prev || !r.spec.join.ForeignKey() || (m.FK != "" && !st.Answered) {
			st.FK, st.Row, st.HasRow, st.Answered, st.RowVersion = m.FK, nil, false, false, 0
			var headers []stream.Header
			if m.FK == "" {
				_, headers = nextVersion(&st, st.Record)
			}
			ctx.SetValue(&st)
			if m.FK == "" {
				r.emit(ctx, m.Key, st.Record, headers, nil, false, false)
			} else {
				ctx.Loopback(rowPrefix+m.FK, &joinMessage{Kind: joinIndex, Key: m.Key})
			}
			return
		}
		_, headers := nextVersion(&st, st.Record)
		ctx.SetValue(&st)
		r.emit(ctx, m.Key, st.Record, headers, st.Row, st.HasRow, false)
	case joinRefresh: // at the record's home
		if st.Record == nil || st.FK != m.FK {
			// The record moved on or is gone: a newer refresh or none applies. In a foreign-key join the row
			// state still counts this home among its referrers (a stale one, left by a crash that lost the
			// unindex, or an unindex still on its way): tell it again, so that stale referrers last until the
			// row's next change at most.
			if r.spec.join.ForeignKey() && m.FK != "" {
				ctx.Loopback(rowPrefix+m.FK, &joinMessage{Kind: joinUnindex, Key: m.Key})
			}
			return
		}
		st.Row, st.HasRow, st.Answered, st.RowVersion = m.Row, m.HasRow, true, m.RowVersion
		_, headers := nextVersion(&st, st.Record)
		ctx.SetValue(&st)
		r.emit(ctx, m.Key, st.Record, headers, st.Row, st.HasRow, false)
	case joinIndex: // at a row state
		if r.spec.join.ForeignKey() { // a lookup join's row state answers but keeps no referrers
			if st.Refs == nil {
				st.Refs = map[string]bool{}
			}
			st.Refs[m.Key] = true
			ctx.SetValue(&st)
		}
		ctx.Loopback(homePrefix+m.Key, &joinMessage{Kind: joinRefresh, Key: m.Key, FK: rowKey(ctx.Key()), Row: st.Row, HasRow: st.HasRow, RowVersion: st.RowVersion})
	case joinUnindex:
		delete(st.Refs, m.Key)
		ctx.SetValue(&st)
	case joinRow:
		if m.RowVersion > 0 && m.RowVersion < st.RowVersion {
			return // joinversion.go: an older copy of the row than the one applied here
		}
		st.Row, st.HasRow, st.RowVersion = m.Row, m.HasRow, m.RowVersion
		ctx.SetValue(&st)
		for key := range st.Refs { // only a foreign-key join has referrers: each is joined and sent again
			ctx.Loopback(homePrefix+key, &joinMessage{Kind: joinRefresh, Key: key, FK: rowKey(ctx.Key()), Row: st.Row, HasRow: st.HasRow, RowVersion: st.RowVersion})
		}
	}
}

func rowKey(stateKey string) string { return stateKey[len(rowPrefix):] }

// emit writes the joined record (or a tombstone) to the join's output, keyed by the record's key string,
// with headers (rec's, with the output's version: nextVersion).
func (r *joinRunner) emit(ctx goka.Context, key string, rec *wireRecord, headers []stream.Header, row wireValue, hasRow, tombstone bool) {
	var value []byte
	if !tombstone {
		_, v, err := r.envelope.Decode(rec.Value)
		if err != nil {
			r.fail(ctx, fmt.Errorf("decode stored record %q: %w", key, err))
			return
		}
		var rv any
		if hasRow {
			if _, rv, err = r.envelope.Decode(row); err != nil {
				r.fail(ctx, fmt.Errorf("decode stored row for %q: %w", key, err))
				return
			}
		}
		joined, err := r.joinedValue(v, rv)
		if err != nil {
			r.fail(ctx, fmt.Errorf("record %q: %w", key, err))
			return
		}
		if value, err = r.plain.Encode(nil, joined); err != nil {
			r.fail(ctx, fmt.Errorf("encode joined %q: %w", key, err))
			return
		}
	}
	out := goka.Headers{}
	for _, h := range headers {
		out[h.Key] = h.Value
	}
	ctx.Emit(r.outTopic, key, value, goka.WithCtxEmitHeaders(out))
}

// asObject turns a struct or JSON object value into a schemaless object.
func (r *joinRunner) asObject(v any) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok {
		out := make(map[string]any, len(m)+1)
		for k, x := range m {
			out[k] = x
		}
		return out, nil
	}
	if _, ok := v.(*stream.Struct); !ok {
		return nil, fmt.Errorf("value is %s, not a struct or JSON object", valueKindName(v))
	}
	b, err := r.plain.Encode(v.(*stream.Struct).Schema(), v)
	if err != nil {
		return nil, err
	}
	_, o, err := r.plain.Decode(b)
	if err != nil {
		return nil, err
	}
	m, ok := o.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("value is %s, not a struct or JSON object", valueKindName(o))
	}
	return m, nil
}
