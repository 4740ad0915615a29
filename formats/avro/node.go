package avro

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/stream"
)

type kind uint8

const (
	kNull kind = iota
	kBoolean
	kInt
	kLong
	kFloat
	kDouble
	kString
	kBytes
	kEnum
	kFixed
	kArray
	kMap
	kMapEntries // an array of MapEntry records standing for a map whose keys are not plain strings
	kRecord
	kUnion
)

// conversion is how an Avro value becomes a value of the data model beyond its Avro type.
type conversion uint8

const (
	convNone conversion = iota
	convInt8
	convInt16
	convDecimal
	convDate
	convTimeMillis
	convTimestampMillis
)

// node is one Avro schema bound to the stream schema it maps to: it drives both the binary encoding and
// decoding, so that the two cannot disagree.
type node struct {
	kind    kind
	conv    conversion
	schema  *stream.Schema // what values of this node are in the data model (Optional for a nullable union)
	scale   int32          // convDecimal
	size    int            // kFixed
	symbols []string       // kEnum

	items       *node // kArray
	values      *node // kMap; kMapEntries: the entry's value
	key         *node // kMapEntries: the entry's key
	stringKeys  bool  // kMapEntries: keys are strings (map[string]any)
	fields      []*node
	fieldNames  []string
	branches    []*node // kUnion
	nullIndex   int     // kUnion: the "null" branch, -1 when none
	unionStruct bool    // kUnion: a union of several types, a struct named io.confluent.connect.avro.Union
	branchField []int   // kUnion with unionStruct: the struct field of each branch (-1 for null)
}

// StreamSchema returns the schema of the data model that the avro codec decodes values of the Avro schema
// avroJSON to (the package documentation's table). It reverses SchemaFor, and maps Avro schemas written by
// other serializers to the closest types: enums to strings, fixed to bytes, unions of several types to
// structs named io.confluent.connect.avro.Union, keeping what re-encoding needs in the name and parameters.
// Recursive schemas and the null type outside a union are not supported.
func StreamSchema(avroJSON string) (*stream.Schema, error) {
	n, err := parseNode(avroJSON)
	if err != nil {
		return nil, err
	}
	return n.schema, nil
}

// parseAvro parses a schema with hamba/avro in a cache of its own (hamba's default cache is global, and
// would let one schema's named types leak into the next). hamba/avro v2.31.0 panics on some invalid
// schemas (an empty union with a default): that is reported as an error.
func parseAvro(text string) (s avro.Schema, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("hamba/avro failed on it: %v", p)
		}
	}()
	return avro.ParseWithCache(text, "", &avro.SchemaCache{})
}

// parseNode parses an Avro schema with hamba/avro (which checks names, references, logical types and
// defaults) and binds it to the data model. Properties and defaults are read from the JSON text itself,
// with exact numbers.
func parseNode(avroJSON string) (*node, error) {
	hs, err := parseAvro(avroJSON)
	if err != nil {
		return nil, fmt.Errorf("avro: invalid Avro schema: %w", err)
	}
	var raw any
	dec := json.NewDecoder(strings.NewReader(avroJSON))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		raw = avroJSON // a bare type name, as hamba accepts it
	}
	b := &binder{defs: make(map[string]any), building: make(map[string]bool)}
	n, err := b.bind(hs, raw, true)
	if err != nil {
		return nil, err
	}
	if err := n.schema.Check(); err != nil {
		return nil, fmt.Errorf("avro: the Avro schema maps to an invalid schema: %w", err)
	}
	return n, nil
}

type binder struct {
	defs     map[string]any  // named type -> its JSON definition
	building map[string]bool // records being bound (recursion)
	nodes    int
}

// maxNodes bounds the schema a registry can make the decoder bind (references re-bind their definition).
const maxNodes = 100000

var (
	connectDefaultRE = regexp.MustCompile(`^ConnectDefault[0-9]*$`)
	mapEntryRE       = regexp.MustCompile(`^MapEntry[0-9]*$`)
)

func props(raw any) map[string]any {
	m, _ := raw.(map[string]any)
	return m
}

// bind binds hs, whose JSON is raw. topLevel says whether a connect.default property applies (it does
// everywhere but in record fields, whose default is the field's).
func (b *binder) bind(hs avro.Schema, raw any, topLevel bool) (*node, error) {
	if b.nodes++; b.nodes > maxNodes {
		return nil, fmt.Errorf("avro: schema has more than %d types", maxNodes)
	}
	if m := props(raw); m != nil {
		switch t := m["type"].(type) {
		case map[string]any, []any:
			raw = t
		}
	}
	var (
		n   *node
		err error
	)
	switch t := hs.(type) {
	case *avro.RefSchema:
		def, ok := b.defs[t.Schema().FullName()]
		if !ok {
			def = t.Schema().FullName()
		}
		return b.bind(t.Schema(), def, topLevel)
	case *avro.NullSchema:
		return &node{kind: kNull}, nil
	case *avro.PrimitiveSchema:
		n, err = b.primitive(t, props(raw))
	case *avro.RecordSchema:
		n, err = b.record(t, raw)
	case *avro.EnumSchema:
		b.defs[t.FullName()] = raw
		n = b.enum(t, props(raw))
	case *avro.FixedSchema:
		b.defs[t.FullName()] = raw
		n = b.fixed(t, props(raw))
	case *avro.ArraySchema:
		n, err = b.array(t, props(raw))
	case *avro.MapSchema:
		var values *node
		if values, err = b.bind(t.Values(), props(raw)["values"], true); err == nil {
			if values.kind == kNull {
				return nil, errors.New("avro: a map of null values is not supported")
			}
			n = &node{kind: kMap, values: values, schema: stream.MapOf(stream.StringSchema(), values.schema)}
		}
	case *avro.UnionSchema:
		rawBranches, _ := raw.([]any)
		return b.union(t, rawBranches, topLevel)
	default:
		return nil, fmt.Errorf("avro: unsupported Avro type %s", hs.Type())
	}
	if err != nil {
		return nil, err
	}
	m := props(raw)
	if err := applyMeta(n.schema, m); err != nil {
		return nil, err
	}
	n.setConversion()
	if d, ok := m[propConnectDefault]; ok && topLevel && d != nil {
		v, err := n.fromJSON(d)
		if err != nil {
			return nil, fmt.Errorf("avro: connect.default of %s: %w", hs.Type(), err)
		}
		n.schema = n.schema.WithDefault(v)
	}
	return n, nil
}

// applyMeta copies AvroData's connect.* properties into s.
func applyMeta(s *stream.Schema, m map[string]any) error {
	if name, ok := m[propConnectName].(string); ok {
		s.Name = name
		s.Version = 0
	}
	if v, ok := m[propConnectVersion].(json.Number); ok {
		ver, err := strconv.ParseInt(string(v), 10, 32)
		if err != nil {
			return fmt.Errorf("avro: connect.version %s is not an int32", v)
		}
		s.Version = int(ver)
	}
	if doc, ok := m[propConnectDoc].(string); ok {
		s.Doc = doc
	}
	if params, ok := m[propConnectParams].(map[string]any); ok {
		if s.Type == stream.TypeBytes && s.Name == stream.DecimalName {
			delete(s.Parameters, precisionParameter) // AvroData's parameters are the whole truth
		}
		for k, v := range params {
			str, ok := v.(string)
			if !ok {
				return fmt.Errorf("avro: connect.parameters %q is not a string", k)
			}
			if s.Parameters == nil {
				s.Parameters = make(map[string]string)
			}
			s.Parameters[k] = str
		}
	}
	return nil
}

// setConversion derives the conversion from the bound stream schema, so that connect.name decides.
func (n *node) setConversion() {
	s := n.schema
	switch {
	case n.kind == kInt && s.Type == stream.TypeInt8:
		n.conv = convInt8
	case n.kind == kInt && s.Type == stream.TypeInt16:
		n.conv = convInt16
	case n.kind == kInt && s.Name == stream.DateName:
		n.conv = convDate
	case n.kind == kInt && s.Name == stream.TimeName:
		n.conv = convTimeMillis
	case n.kind == kLong && s.Name == stream.TimestampName:
		n.conv = convTimestampMillis
	case (n.kind == kBytes || n.kind == kFixed) && s.Name == stream.DecimalName:
		if scale, err := strconv.ParseInt(s.Parameters[stream.DecimalScaleParameter], 10, 32); err == nil {
			n.conv, n.scale = convDecimal, int32(scale)
		} else {
			s.Name = "" // no scale: plain bytes (Check would refuse the Decimal)
		}
	default:
		n.conv = convNone
	}
}

func (b *binder) primitive(t *avro.PrimitiveSchema, m map[string]any) (*node, error) {
	logical := ""
	if l := t.Logical(); l != nil {
		logical = string(l.Type())
	}
	n := &node{schema: &stream.Schema{}}
	s := n.schema
	switch t.Type() {
	case avro.Boolean:
		n.kind, s.Type = kBoolean, stream.TypeBoolean
	case avro.Int:
		n.kind, s.Type = kInt, stream.TypeInt32
		switch m[propConnectType] {
		case connectTypeInt8:
			s.Type = stream.TypeInt8
		case connectTypeInt16:
			s.Type = stream.TypeInt16
		}
		switch logical {
		case logicalDate:
			s.Name, s.Version = stream.DateName, 1
		case logicalTimeMillis:
			s.Name, s.Version = stream.TimeName, 1
		}
	case avro.Long:
		n.kind, s.Type = kLong, stream.TypeInt64
		switch logical {
		case logicalTSMillis:
			s.Name, s.Version = stream.TimestampName, 1
		case logicalTSMicros:
			s.Name = MicroTimestampName
		case logicalTimeMicros:
			s.Name = MicroTimeName
		case "":
		default:
			s.Parameters = map[string]string{paramAvroLogical: logical}
		}
	case avro.Float:
		n.kind, s.Type = kFloat, stream.TypeFloat32
	case avro.Double:
		n.kind, s.Type = kDouble, stream.TypeFloat64
	case avro.String:
		n.kind, s.Type = kString, stream.TypeString
		if logical == logicalUUID {
			s.Name = UUIDName
		}
	case avro.Bytes:
		n.kind, s.Type = kBytes, stream.TypeBytes
		if d, ok := t.Logical().(*avro.DecimalLogicalSchema); ok {
			s.Name, s.Version = stream.DecimalName, 1
			s.Parameters = decimalParams(d)
		}
	default:
		return nil, fmt.Errorf("avro: unsupported Avro type %s", t.Type())
	}
	return n, nil
}

func decimalParams(d *avro.DecimalLogicalSchema) map[string]string {
	p := map[string]string{stream.DecimalScaleParameter: strconv.Itoa(d.Scale())}
	if d.Precision() != defaultDecimalDigits {
		p[precisionParameter] = strconv.Itoa(d.Precision())
	}
	return p
}

func (b *binder) record(t *avro.RecordSchema, raw any) (*node, error) {
	full := t.FullName()
	if b.building[full] {
		return nil, fmt.Errorf("avro: record %s is recursive; recursive schemas are not supported", full)
	}
	b.building[full] = true
	defer delete(b.building, full)
	b.defs[full] = raw
	m := props(raw)
	rawFields, _ := m["fields"].([]any)
	s := &stream.Schema{Type: stream.TypeStruct, Name: full, Doc: t.Doc()}
	if t.Namespace() == connectNamespace && connectDefaultRE.MatchString(t.Name()) {
		s.Name = ""
	}
	n := &node{kind: kRecord, schema: s}
	for i, f := range t.Fields() {
		var rf map[string]any
		if i < len(rawFields) {
			rf, _ = rawFields[i].(map[string]any)
		}
		child, err := b.bind(f.Type(), rf["type"], false)
		if err != nil {
			return nil, fmt.Errorf("%w (in field %s.%s)", err, full, f.Name())
		}
		if child.kind == kNull {
			return nil, fmt.Errorf("avro: field %s.%s has type null alone, which is not supported", full, f.Name())
		}
		fs := child.schema
		if doc := f.Doc(); doc != "" && fs.Doc == "" && fs.Type != stream.TypeStruct {
			fs = fs.WithDoc(doc)
		}
		if d, ok := rf["default"]; ok && d != nil {
			v, err := child.fromJSON(d)
			if err != nil {
				return nil, fmt.Errorf("avro: default of field %s.%s: %w", full, f.Name(), err)
			}
			fs = fs.WithDefault(v)
		}
		n.fields = append(n.fields, child)
		n.fieldNames = append(n.fieldNames, f.Name())
		s.Fields = append(s.Fields, stream.Field{Name: f.Name(), Index: i, Schema: fs})
	}
	return n, nil
}

func (b *binder) enum(t *avro.EnumSchema, m map[string]any) *node {
	s := &stream.Schema{Type: stream.TypeString, Name: t.FullName(), Doc: t.Doc(), Parameters: map[string]string{
		paramAvroType: "enum", paramAvroSymbols: strings.Join(t.Symbols(), ","),
	}}
	if t.HasDefault() {
		s.Parameters[enumDefaultParam] = t.Default()
	}
	return &node{kind: kEnum, schema: s, symbols: t.Symbols()}
}

func (b *binder) fixed(t *avro.FixedSchema, m map[string]any) *node {
	s := &stream.Schema{Type: stream.TypeBytes, Name: t.FullName(), Parameters: map[string]string{
		paramAvroType: "fixed", paramAvroSize: strconv.Itoa(t.Size()),
	}}
	if d, ok := t.Logical().(*avro.DecimalLogicalSchema); ok {
		s.Name, s.Version = stream.DecimalName, 1
		for k, v := range decimalParams(d) {
			s.Parameters[k] = v
		}
		s.Parameters[paramAvroName] = t.FullName()
	} else if l := t.Logical(); l != nil {
		s.Parameters[paramAvroLogical] = string(l.Type())
	}
	return &node{kind: kFixed, schema: s, size: t.Size()}
}

func (b *binder) array(t *avro.ArraySchema, m map[string]any) (*node, error) {
	items, err := b.bind(t.Items(), m["items"], true)
	if err != nil {
		return nil, err
	}
	if items.kind == kNull {
		return nil, errors.New("avro: an array of null items is not supported")
	}
	if r, ok := deref(t.Items()).(*avro.RecordSchema); ok && r.Namespace() == connectNamespace &&
		mapEntryRE.MatchString(r.Name()) && len(r.Fields()) == 2 && r.Fields()[0].Name() == "key" && r.Fields()[1].Name() == "value" {
		key, value := items.schema.Fields[0].Schema, items.schema.Fields[1].Schema
		switch {
		case key.Type == stream.TypeArray || key.Type == stream.TypeMap ||
			key.Type == stream.TypeBytes && key.Name != stream.DecimalName:
			return nil, fmt.Errorf("avro: map keys of type %s are not supported", key.Type)
		}
		return &node{kind: kMapEntries, key: items.fields[0], values: items.fields[1],
			stringKeys: key.Type == stream.TypeString, schema: stream.MapOf(key, value)}, nil
	}
	return &node{kind: kArray, items: items, schema: stream.ArrayOf(items.schema)}, nil
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func (b *binder) union(t *avro.UnionSchema, raws []any, topLevel bool) (*node, error) {
	n := &node{kind: kUnion, nullIndex: -1}
	var others []int
	for i, bt := range t.Types() {
		var raw any
		if i < len(raws) {
			raw = raws[i]
		}
		bn, err := b.bind(bt, raw, topLevel)
		if err != nil {
			return nil, err
		}
		if bn.kind == kNull {
			n.nullIndex = i
		} else {
			others = append(others, i)
		}
		n.branches = append(n.branches, bn)
	}
	switch len(others) {
	case 0:
		return nil, errors.New("avro: a union of null alone is not supported")
	case 1:
		s := n.branches[others[0]].schema
		if n.nullIndex >= 0 {
			s = s.AsOptional()
		}
		n.schema = s
		return n, nil
	}
	n.unionStruct = true
	n.branchField = make([]int, len(n.branches))
	n.branchField[max(n.nullIndex, 0)] = -1
	s := &stream.Schema{Type: stream.TypeStruct, Name: unionName, Optional: n.nullIndex >= 0}
	seen := make(map[string]bool)
	for _, i := range others {
		name := branchName(t.Types()[i], false)
		if seen[name] {
			name = branchName(t.Types()[i], true)
		}
		if seen[name] {
			return nil, fmt.Errorf("avro: union branch %s appears twice", name)
		}
		seen[name] = true
		n.branchField[i] = len(s.Fields)
		s.Fields = append(s.Fields, stream.Field{Name: name, Index: len(s.Fields), Schema: n.branches[i].schema.AsOptional()})
	}
	n.schema = s
	return n, nil
}

// branchName names the field of a union struct that holds one branch: the type's name, as AvroData does.
func branchName(s avro.Schema, full bool) string {
	if named, ok := deref(s).(avro.NamedSchema); ok {
		if full {
			return named.FullName()
		}
		return named.Name()
	}
	return string(s.Type())
}
