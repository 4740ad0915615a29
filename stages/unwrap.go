package stages

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/stream"
)

// DeleteHandling says what Unwrap makes of a delete event, a change event without an "after" image.
type DeleteHandling string

// The delete handling modes of Unwrap.
const (
	// DeleteToTombstone (the default, also spelled "") replaces a delete event by a tombstone: same key, nil
	// value and nil value schema, so that compaction removes the key.
	DeleteToTombstone DeleteHandling = "tombstone"
	// DeleteDrop drops delete events.
	DeleteDrop DeleteHandling = "drop"
	// DeleteRewrite replaces a delete event by its "before" image with UnwrapDeletedField set to "true";
	// creates, updates and reads then get UnwrapDeletedField "false" (a soft delete for the sink).
	DeleteRewrite DeleteHandling = "rewrite"
)

// Names Unwrap adds, as Debezium spells them.
const (
	// UnwrapDeletedField is the field DeleteRewrite adds to every row, "true" or "false" (a string, as in
	// Debezium).
	UnwrapDeletedField = "__deleted"
	// DefaultUnwrapPrefix is put before the names of the fields and headers of AddFields and AddHeaders
	// unless the config says otherwise.
	DefaultUnwrapPrefix = "__"
)

// UnwrapConfig configures Unwrap with the options of Debezium's ExtractNewRecordState. The zero value is
// Debezium's default, delete.tombstone.handling.mode=tombstone: deletes become tombstones, the tombstones
// Debezium writes after deletes are dropped, nothing is added.
//
// Debezium's delete.tombstone.handling.mode values map to:
//
//	drop                    DeleteHandling: DeleteDrop
//	tombstone (default)     DeleteHandling: DeleteToTombstone
//	delete-to-tombstone     DeleteHandling: DeleteToTombstone (the same here: see DeleteToTombstone)
//	rewrite                 DeleteHandling: DeleteRewrite
//	rewrite-with-tombstone  DeleteHandling: DeleteRewrite, KeepTombstones: true
//
// and the deprecated pair delete.handling.mode=none|drop|rewrite, drop.tombstones=true|false to
// DeleteToTombstone|DeleteDrop|DeleteRewrite and KeepTombstones = !drop.tombstones.
type UnwrapConfig struct {
	// DeleteHandling says what becomes of delete events; "" means DeleteToTombstone.
	DeleteHandling DeleteHandling
	// KeepTombstones passes on the tombstones (nil values) that follow deletes on a Debezium topic, as
	// drop.tombstones=false does; by default they are dropped. A kept tombstone gets Operation OpDelete.
	KeepTombstones bool

	// AddFields lists change event fields to add to each row ("add.fields"): "op", "ts_ms" and the
	// transaction's "id", "total_order" and "data_collection_order" are found at their usual places, other
	// plain names in "source" ("table" is source.table), and "struct.field" names any struct of the event
	// ("source.ts_ms", "transaction.id"). A field is looked up in the named struct, then at the top of the
	// event. It is added as prefix+name ("__op", "__table") or, for "struct.field", prefix+struct_field
	// ("__source_ts_ms"); "field:new_name" renames it (prefix+new_name). Fields the event does not have are
	// left out; a field whose struct is null (no transaction during a snapshot) is added with a nil value.
	// Added fields follow the row's own, in this order, with optional copies of their schemas.
	AddFields []string
	// AddFieldsPrefix is put before the names of added fields; nil means DefaultUnwrapPrefix.
	AddFieldsPrefix *string
	// AddHeaders lists change event fields to add as headers ("add.headers"), named like AddFields and
	// encoded like HeaderFromValue's headers ("c", "1234"; a nil field gives a nil header value). A kept
	// tombstone gets only the "op" header, with "d".
	AddHeaders []string
	// AddHeadersPrefix is put before the names of added headers; nil means DefaultUnwrapPrefix.
	AddHeadersPrefix *string
}

// Validate reports the first problem with c: an unknown DeleteHandling, or an AddFields or AddHeaders entry
// that is empty or not of the form field, struct.field, field:new_name or struct.field:new_name. The error
// wraps ErrTransformConfig and names the option.
func (c UnwrapConfig) Validate() error {
	switch c.DeleteHandling {
	case "", DeleteToTombstone, DeleteDrop, DeleteRewrite:
	default:
		return invalidStageOptionf("DeleteHandling", "must be %q, %q or %q, got %q",
			DeleteToTombstone, DeleteDrop, DeleteRewrite, c.DeleteHandling)
	}
	if _, err := unwrapParseFieldRefs("AddFields", "", c.AddFields); err != nil {
		return err
	}
	_, err := unwrapParseFieldRefs("AddHeaders", "", c.AddHeaders)
	return err
}

// unwrapFieldRef is one entry of AddFields or AddHeaders.
type unwrapFieldRef struct {
	parent  string // struct holding the field ("source", "transaction"), "" for the top of the event
	field   string
	outName string // prefixed name of the added field or header
}

func unwrapParseFieldRefs(option, prefix string, entries []string) ([]unwrapFieldRef, error) {
	refs := make([]unwrapFieldRef, 0, len(entries))
	for i, entry := range entries {
		bad := func(format string, args ...any) error {
			return invalidStageOptionf(fmt.Sprintf("%s[%d]", option, i), format, args...)
		}
		path, rename, renamed := strings.Cut(strings.TrimSpace(entry), ":")
		if renamed && (rename == "" || strings.Contains(rename, ":")) {
			return nil, bad("%q: want field, struct.field, field:new_name or struct.field:new_name", entry)
		}
		parent, field, qualified := strings.Cut(path, ".")
		if !qualified {
			parent, field = unwrapDefaultParent(path), path
		}
		if field == "" || (qualified && parent == "") || strings.Contains(field, ".") {
			return nil, bad("%q: want field, struct.field, field:new_name or struct.field:new_name", entry)
		}
		ref := unwrapFieldRef{parent: parent, field: field}
		switch {
		case renamed:
			ref.outName = prefix + rename
		case qualified:
			ref.outName = prefix + parent + "_" + field
		default:
			ref.outName = prefix + field
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// unwrapDefaultParent is Debezium's FieldReference.determineStruct: where an unqualified name lives.
func unwrapDefaultParent(field string) string {
	switch field {
	case "id", "total_order", "data_collection_order":
		return "transaction"
	case "op", "ts_ms":
		return ""
	case "updateDescription":
		return "updateDescription"
	}
	return "source"
}

// Unwrap makes a stage that turns Debezium change events into the row state they carry, like Debezium's
// ExtractNewRecordState ("event flattening"), for records consumed from a Debezium topic or produced by a
// Sluice CDC source.
//
// A change event is a value with an "op" field and a "before" or "after" field: a *stream.Struct (Debezium
// with a schema) or a map[string]any (JSON without schemas), with "source" (ts_ms, db, table, ...),
// "ts_ms" and optionally "transaction" beside them. For each event Unwrap emits:
//
//   - create, update, read ("c", "u", "r"): the "after" row, plus AddFields, plus UnwrapDeletedField
//     "false" under DeleteRewrite;
//   - delete (no "after"): per DeleteHandling, a tombstone (nil value and value schema, key kept), nothing,
//     or the "before" row plus AddFields plus UnwrapDeletedField "true";
//   - truncate (neither "before" nor "after"): nothing, as Debezium drops truncate events.
//
// The output's Operation is set from "op" (OpCreate, OpUpdate, OpRead; OpDelete for deletes), its headers
// get AddHeaders, and its topic, partition, key, key schema and timestamp are the input's. A row with a
// schema gets the "after" (or "before") field's schema, or, when fields are added, a new required struct
// schema with the row schema's name, version, doc and parameters. Schemaless rows that get fields are
// copies: the event's maps are never modified.
//
// Tombstones (nil values) are dropped unless KeepTombstones is set. Any other record that is not a change
// event (heartbeats, schema changes, plain rows) passes through unchanged, as Debezium passes on records
// without an Envelope schema.
//
// Errors: cfg.Validate's, wrapped with the stage's name, at build time; on the data path, an error wrapping
// stream.ErrSchemaMismatch when fields must be added to a row that is neither a *stream.Struct (with a
// schema'd event) nor a map[string]any (with a schemaless one), or when an added field's name is taken.
func Unwrap(name string, cfg UnwrapConfig) (Stage, error) {
	if name == "" {
		return nil, wrapStageConfigError("Unwrap", name, ErrNoName)
	}
	if err := cfg.Validate(); err != nil {
		return nil, wrapStageConfigError("Unwrap", name, err)
	}
	fieldsPrefix, headersPrefix := DefaultUnwrapPrefix, DefaultUnwrapPrefix
	if cfg.AddFieldsPrefix != nil {
		fieldsPrefix = *cfg.AddFieldsPrefix
	}
	if cfg.AddHeadersPrefix != nil {
		headersPrefix = *cfg.AddHeadersPrefix
	}
	u := &unwrapStage{name: name, deletes: cfg.DeleteHandling, keepTombstones: cfg.KeepTombstones}
	if u.deletes == "" {
		u.deletes = DeleteToTombstone
	}
	u.fields, _ = unwrapParseFieldRefs("AddFields", fieldsPrefix, cfg.AddFields)
	u.headers, _ = unwrapParseFieldRefs("AddHeaders", headersPrefix, cfg.AddHeaders)
	return u, nil
}

type unwrapStage struct {
	name           string
	deletes        DeleteHandling
	keepTombstones bool
	fields         []unwrapFieldRef
	headers        []unwrapFieldRef

	// plans caches the output schema per (row schema, event schema), so that the records of one table share
	// one schema value. It is bounded like Debezium's cache: decoders may build new schema values per record.
	mu    sync.Mutex
	plans map[unwrapPlanKey]*unwrapPlan
}

const unwrapMaxPlans = 64

type unwrapPlanKey struct{ row, event *stream.Schema }

// unwrapPlan is the output schema of rows of one schema from events of one schema, and which of the
// stage's AddFields those events have.
type unwrapPlan struct {
	schema *stream.Schema
	found  []int // indexes into unwrapStage.fields
}

func (u *unwrapStage) Name() string { return u.name }

func (u *unwrapStage) Process(_ context.Context, r stream.Record) ([]stream.Record, error) {
	if r.Value == nil {
		if !u.keepTombstones {
			return nil, nil
		}
		var added []stream.Header
		for _, ref := range u.headers {
			if ref.field == "op" {
				added = append(added, stream.Header{Key: ref.outName, Value: []byte("d")})
			}
		}
		r.Headers = append(slices.Clip(r.Headers), added...)
		r.Operation = stream.OpDelete
		return []stream.Record{r}, nil
	}
	ev, ok := unwrapEventOf(r.Value)
	if !ok {
		return []stream.Record{r}, nil
	}

	added := make([]stream.Header, 0, len(u.headers))
	for _, ref := range u.headers {
		v, schema, found := ev.lookup(ref)
		if !found {
			continue
		}
		b, err := hdrValueBytes(schema, v)
		if err != nil {
			return nil, fmt.Errorf("stages: Unwrap %q: header %q: %w", u.name, ref.outName, err)
		}
		added = append(added, stream.Header{Key: ref.outName, Value: b})
	}

	after, before := ev.get("after"), ev.get("before")
	if after == nil && before == nil {
		return nil, nil // truncate
	}
	out := r
	out.Headers = append(slices.Clip(r.Headers), added...)
	if after == nil {
		out.Operation = stream.OpDelete
		switch u.deletes {
		case DeleteDrop:
			return nil, nil
		case DeleteToTombstone:
			out.Value, out.ValueSchema = nil, nil
			return []stream.Record{out}, nil
		}
		v, schema, err := u.row(ev, "before", before, "true")
		if err != nil {
			return nil, err
		}
		out.Value, out.ValueSchema = v, schema
		return []stream.Record{out}, nil
	}
	out.Operation = unwrapOperation(ev.get("op"))
	deleted := ""
	if u.deletes == DeleteRewrite {
		deleted = "false"
	}
	v, schema, err := u.row(ev, "after", after, deleted)
	if err != nil {
		return nil, err
	}
	out.Value, out.ValueSchema = v, schema
	return []stream.Record{out}, nil
}

func unwrapOperation(op any) stream.Operation {
	switch op {
	case "c":
		return stream.OpCreate
	case "u":
		return stream.OpUpdate
	case "d":
		return stream.OpDelete
	case "r":
		return stream.OpRead
	}
	return stream.OpNone
}

// row returns the row image held in field ("after" or "before") with the stage's added fields and, unless
// deleted is "", UnwrapDeletedField.
func (u *unwrapStage) row(ev unwrapEvent, field string, row any, deleted string) (any, *stream.Schema, error) {
	if ev.st != nil {
		return u.structRow(ev, field, row, deleted)
	}
	m, ok := row.(map[string]any)
	if !ok {
		if len(u.fields) > 0 {
			return nil, nil, fmt.Errorf("stages: Unwrap %q: %w: cannot add fields to a %q row that is %s; want a map with string keys (an object)",
				u.name, stream.ErrSchemaMismatch, field, stream.TypeName(row))
		}
		return row, nil, nil // Debezium adds __deleted to struct rows only
	}
	if len(u.fields) == 0 && deleted == "" {
		return m, nil, nil
	}
	out := maps.Clone(m)
	for _, ref := range u.fields {
		if v, _, found := ev.lookup(ref); found {
			out[ref.outName] = v
		}
	}
	if deleted != "" {
		out[UnwrapDeletedField] = deleted
	}
	return out, nil, nil
}

func (u *unwrapStage) structRow(ev unwrapEvent, field string, row any, deleted string) (any, *stream.Schema, error) {
	st, ok := row.(*stream.Struct)
	if !ok || (len(u.fields) == 0 && deleted == "") {
		if !ok && len(u.fields) > 0 {
			return nil, nil, fmt.Errorf("stages: Unwrap %q: %w: cannot add fields to a %q row that is %s; want a struct",
				u.name, stream.ErrSchemaMismatch, field, stream.TypeName(row))
		}
		return row, ev.st.Schema().Fields[ev.index(field)].Schema, nil
	}
	plan, err := u.plan(ev, st.Schema(), deleted != "")
	if err != nil {
		return nil, nil, err
	}
	out, err := stream.NewStructValue(plan.schema)
	if err != nil {
		return nil, nil, fmt.Errorf("stages: Unwrap %q: %w", u.name, err)
	}
	for _, f := range st.Schema().Fields {
		if err := out.Put(f.Name, st.Get(f.Name)); err != nil {
			return nil, nil, fmt.Errorf("stages: Unwrap %q: %w", u.name, err)
		}
	}
	for _, i := range plan.found {
		ref := u.fields[i]
		v, _, _ := ev.lookup(ref)
		if err := out.Put(ref.outName, v); err != nil {
			return nil, nil, fmt.Errorf("stages: Unwrap %q: %w", u.name, err)
		}
	}
	if deleted != "" {
		if err := out.Put(UnwrapDeletedField, deleted); err != nil {
			return nil, nil, fmt.Errorf("stages: Unwrap %q: %w", u.name, err)
		}
	}
	return out, plan.schema, nil
}

// plan returns the output schema for rows of schema rowSchema from events like ev, from the cache or built.
func (u *unwrapStage) plan(ev unwrapEvent, rowSchema *stream.Schema, deleted bool) (*unwrapPlan, error) {
	key := unwrapPlanKey{row: rowSchema, event: ev.st.Schema()}
	u.mu.Lock()
	p := u.plans[key]
	u.mu.Unlock()
	if p != nil {
		return p, nil
	}

	p = &unwrapPlan{schema: &stream.Schema{
		Type:       stream.TypeStruct,
		Name:       rowSchema.Name,
		Version:    rowSchema.Version,
		Doc:        rowSchema.Doc,
		Parameters: maps.Clone(rowSchema.Parameters),
		Fields:     make([]stream.Field, 0, len(rowSchema.Fields)+len(u.fields)+1),
	}}
	addField := func(name string, schema *stream.Schema) error {
		if _, taken := p.schema.Field(name); taken {
			return fmt.Errorf("stages: Unwrap %q: %w: cannot add field %q: the row already has a field of that name",
				u.name, stream.ErrSchemaMismatch, name)
		}
		p.schema.Fields = append(p.schema.Fields, stream.Field{Name: name, Index: len(p.schema.Fields), Schema: schema})
		return nil
	}
	for _, f := range rowSchema.Fields {
		p.schema.Fields = append(p.schema.Fields, stream.Field{Name: f.Name, Index: len(p.schema.Fields), Schema: f.Schema})
	}
	for i, ref := range u.fields {
		_, schema, found := ev.lookup(ref)
		if !found {
			continue
		}
		if err := addField(ref.outName, schema.AsOptional()); err != nil {
			return nil, err
		}
		p.found = append(p.found, i)
	}
	if deleted {
		if err := addField(UnwrapDeletedField, stream.StringSchema().AsOptional()); err != nil {
			return nil, err
		}
	}

	u.mu.Lock()
	if len(u.plans) >= unwrapMaxPlans || u.plans == nil {
		u.plans = make(map[unwrapPlanKey]*unwrapPlan)
	}
	u.plans[key] = p
	u.mu.Unlock()
	return p, nil
}

// unwrapEvent is a Debezium change event, with a schema (st) or without (m).
type unwrapEvent struct {
	st *stream.Struct
	m  map[string]any
}

// unwrapEventOf reports whether v is a change event: a struct or map with "op" and "before" or "after".
func unwrapEventOf(v any) (unwrapEvent, bool) {
	switch v := v.(type) {
	case *stream.Struct:
		if v == nil {
			return unwrapEvent{}, false
		}
		ev := unwrapEvent{st: v}
		return ev, ev.index("op") >= 0 && (ev.index("after") >= 0 || ev.index("before") >= 0)
	case map[string]any:
		_, hasOp := v["op"]
		_, hasAfter := v["after"]
		_, hasBefore := v["before"]
		return unwrapEvent{m: v}, hasOp && (hasAfter || hasBefore)
	}
	return unwrapEvent{}, false
}

// index is the position of the top-level field name in a schema'd event, or -1.
func (e unwrapEvent) index(name string) int {
	for i, f := range e.st.Schema().Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// get returns a top-level field of the event, nil when absent.
func (e unwrapEvent) get(name string) any {
	if e.st != nil {
		return e.st.Get(name)
	}
	return e.m[name]
}

// lookup finds ref in the event as Debezium's FieldReference does: in ref's struct, then at the top of the
// event. It returns the value, its schema (nil for schemaless events), and whether the event has the field.
// A field of a struct that is present but null is found, with a nil value.
func (e unwrapEvent) lookup(ref unwrapFieldRef) (any, *stream.Schema, bool) {
	if e.st != nil {
		schema := e.st.Schema()
		if ref.parent != "" {
			if pf, ok := schema.Field(ref.parent); ok && pf.Schema.Type == stream.TypeStruct {
				if f, ok := pf.Schema.Field(ref.field); ok {
					parent, _ := e.st.Get(ref.parent).(*stream.Struct)
					if parent == nil {
						return nil, f.Schema, true
					}
					return parent.Get(ref.field), f.Schema, true
				}
			}
		}
		if f, ok := schema.Field(ref.field); ok {
			return e.st.Get(ref.field), f.Schema, true
		}
		return nil, nil, false
	}
	parentPresent := false
	if ref.parent != "" {
		var p any
		p, parentPresent = e.m[ref.parent]
		if pm, ok := p.(map[string]any); ok {
			if v, ok := pm[ref.field]; ok {
				return v, nil, true
			}
		}
	}
	if v, ok := e.m[ref.field]; ok {
		return v, nil, true
	}
	if parentPresent && e.m[ref.parent] == nil {
		return nil, nil, true
	}
	return nil, nil, false
}
