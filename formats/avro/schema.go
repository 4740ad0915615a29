package avro

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// Names and properties shared with Confluent's AvroConverter (io.confluent.connect.avro.AvroData).
const (
	connectNamespace     = "io.confluent.connect.avro"
	connectDefaultName   = "ConnectDefault" // anonymous structs: ConnectDefault, ConnectDefault2, ...
	mapEntryName         = "MapEntry"       // entries of maps whose keys are not plain strings
	unionName            = connectNamespace + ".Union"
	propConnectType      = "connect.type"
	propConnectName      = "connect.name"
	propConnectVersion   = "connect.version"
	propConnectDoc       = "connect.doc"
	propConnectDefault   = "connect.default"
	propConnectParams    = "connect.parameters"
	precisionParameter   = "connect.decimal.precision"
	defaultDecimalDigits = 64 // AvroData's CONNECT_AVRO_DECIMAL_PRECISION_DEFAULT

	// Names of Debezium's semantic types that map onto Avro logical types.
	MicroTimestampName = "io.debezium.time.MicroTimestamp" // int64 µs since the epoch <-> long timestamp-micros
	MicroTimeName      = "io.debezium.time.MicroTime"      // int64 µs since midnight <-> long time-micros
	UUIDName           = "io.debezium.data.Uuid"           // string <-> string uuid

	// Parameters that keep what an Avro schema written by someone else has and the data model lacks, so that
	// it is written back the same way. They are not copied into connect.parameters.
	paramAvroType     = "avro.type"        // "enum" or "fixed"
	paramAvroName     = "avro.name"        // full name of a fixed that carries a Decimal
	paramAvroSymbols  = "avro.symbols"     // an enum's symbols, comma-separated
	paramAvroSize     = "avro.size"        // a fixed's size
	paramAvroLogical  = "avro.logicalType" // a logical type the data model has no type for
	paramAvroPrefix   = "avro."
	enumDefaultParam  = "avro.enum.default"
	connectTypeInt8   = "int8"
	connectTypeInt16  = "int16"
	logicalDecimal    = "decimal"
	logicalUUID       = "uuid"
	logicalDate       = "date"
	logicalTimeMillis = "time-millis"
	logicalTimeMicros = "time-micros"
	logicalTSMillis   = "timestamp-millis"
	logicalTSMicros   = "timestamp-micros"
)

// SchemaFor returns the Avro schema, in its JSON form, that the avro codec registers for values of s. The
// mapping is the package documentation's table; StreamSchema reverses it, so StreamSchema(SchemaFor(s)) is a
// schema Equal to s. It fails for a nil schema, a schema that does not pass s.Check, and for what Avro cannot
// express: struct field names that are not Avro names, two different struct schemas with the same name, map
// keys of type bytes, array or map, and defaults that are NaN or infinite.
func SchemaFor(s *stream.Schema) (string, error) {
	if s == nil {
		return "", fmt.Errorf("the avro codec needs a schema; schemaless values cannot be written as Avro")
	}
	if err := s.Check(); err != nil {
		return "", err
	}
	w := schemaWriter{named: make(map[string]string), structs: make(map[string]*stream.Schema)}
	raw, err := w.schema(s, false, "")
	if err != nil {
		return "", err
	}
	return string(raw), nil
}

// schemaWriter turns stream schemas into Avro JSON. It remembers the named types it defined, because Avro
// allows one definition per name (later uses are references by name).
type schemaWriter struct {
	named     map[string]string         // full name -> definition written
	structs   map[string]*stream.Schema // full name -> struct schema defined under it
	anonymous int                       // ConnectDefault counter
	entries   int                       // MapEntry counter
}

// object is a JSON object whose members keep their order.
type object struct {
	keys []string
	vals []any
}

func (o *object) set(k string, v any) { o.keys = append(o.keys, k); o.vals = append(o.vals, v) }

func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshal(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// schema writes s. inField says whether s is a record field's schema (whose default is the field's default);
// path names s in errors.
func (w *schemaWriter) schema(s *stream.Schema, inField bool, path string) (json.RawMessage, error) {
	inner, err := w.required(s, inField, path)
	if err != nil {
		return nil, err
	}
	if !s.Optional {
		return inner, nil
	}
	if s.Type == stream.TypeStruct && s.Name == unionName {
		return inner, nil // a union already holds "null"
	}
	if inField && s.Default != nil {
		return marshal([]json.RawMessage{inner, json.RawMessage(`"null"`)}) // the default is of the first branch
	}
	return marshal([]json.RawMessage{json.RawMessage(`"null"`), inner})
}

func at(path, elem string) string {
	if path == "" {
		return elem
	}
	return path + "." + elem
}

// required writes s without its optionality.
func (w *schemaWriter) required(s *stream.Schema, inField bool, path string) (json.RawMessage, error) {
	if s.Type == stream.TypeStruct {
		if s.Name == unionName {
			return w.union(s, path)
		}
		return w.record(s, inField, path)
	}
	o := &object{}
	params := maps.Clone(s.Parameters)
	name := s.Name
	switch s.Type {
	case stream.TypeInt8:
		o.set("type", "int")
		o.set(propConnectType, connectTypeInt8)
	case stream.TypeInt16:
		o.set("type", "int")
		o.set(propConnectType, connectTypeInt16)
	case stream.TypeInt32:
		o.set("type", "int")
		switch name {
		case stream.DateName:
			o.set("logicalType", logicalDate)
		case stream.TimeName:
			o.set("logicalType", logicalTimeMillis)
		}
	case stream.TypeInt64:
		o.set("type", "long")
		switch name {
		case stream.TimestampName:
			o.set("logicalType", logicalTSMillis)
		case MicroTimestampName:
			o.set("logicalType", logicalTSMicros)
		case MicroTimeName:
			o.set("logicalType", logicalTimeMicros)
		}
	case stream.TypeFloat32:
		o.set("type", "float")
	case stream.TypeFloat64:
		o.set("type", "double")
	case stream.TypeBoolean:
		o.set("type", "boolean")
	case stream.TypeString:
		if params[paramAvroType] == "enum" {
			return w.enum(s, path)
		}
		o.set("type", "string")
		if name == UUIDName {
			o.set("logicalType", logicalUUID)
		}
	case stream.TypeBytes:
		if params[paramAvroType] == "fixed" {
			return w.fixed(s, path)
		}
		o.set("type", "bytes")
		if name == stream.DecimalName {
			if p, s, ok := decimalDigits(params); ok {
				o.set("logicalType", logicalDecimal)
				o.set("precision", p)
				o.set("scale", s)
			}
		}
	case stream.TypeArray:
		items, err := w.schema(s.Items, false, at(path, "items"))
		if err != nil {
			return nil, err
		}
		o.set("type", "array")
		o.set("items", items)
	case stream.TypeMap:
		if plainString(s.Key) {
			values, err := w.schema(s.Value, false, at(path, "values"))
			if err != nil {
				return nil, err
			}
			o.set("type", "map")
			o.set("values", values)
		} else {
			entry, err := w.mapEntry(s, path)
			if err != nil {
				return nil, err
			}
			o.set("type", "array")
			o.set("items", entry)
		}
	default:
		return nil, fmt.Errorf("avro: %s: unknown schema type %q", orRoot(path), s.Type)
	}
	if l, ok := params[paramAvroLogical]; ok {
		o.set("logicalType", l)
	}
	if err := w.meta(o, s, name, s.Doc, params, !inField, path); err != nil {
		return nil, err
	}
	return marshal(o)
}

func orRoot(path string) string {
	if path == "" {
		return "the schema"
	}
	return "field " + strconv.Quote(path)
}

// meta writes AvroData's connect.* properties: what the data model knows of a schema and Avro has no place for.
func (w *schemaWriter) meta(o *object, s *stream.Schema, name, doc string, params map[string]string, withDefault bool, path string) error {
	if name != "" {
		o.set(propConnectName, name)
	}
	if s.Version != 0 {
		o.set(propConnectVersion, s.Version)
	}
	if doc != "" {
		o.set(propConnectDoc, doc)
	}
	if withDefault && s.Default != nil {
		d, err := defaultJSON(s, s.Default)
		if err != nil {
			return fmt.Errorf("avro: %s: default: %w", orRoot(path), err)
		}
		o.set(propConnectDefault, d)
	}
	connectParams := &object{}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if !strings.HasPrefix(k, paramAvroPrefix) {
			connectParams.set(k, params[k])
		}
	}
	if len(connectParams.keys) > 0 {
		o.set(propConnectParams, connectParams)
	}
	return nil
}

// plainString reports whether a map key schema is a plain string, written as an Avro map.
func plainString(k *stream.Schema) bool {
	return k.Equal(stream.StringSchema())
}

// decimalDigits returns the precision and scale of a Decimal schema's Avro decimal logical type, and false
// when Avro's decimal cannot express it (a negative scale, or a scale above the precision): the schema is
// then plain bytes carrying connect.name and the scale in connect.parameters.
func decimalDigits(params map[string]string) (precision, scale int, ok bool) {
	scale, err := strconv.Atoi(params[stream.DecimalScaleParameter])
	if err != nil || scale < 0 {
		return 0, 0, false
	}
	precision = defaultDecimalDigits
	if p, found := params[precisionParameter]; found {
		if precision, err = strconv.Atoi(p); err != nil || precision <= 0 {
			return 0, 0, false
		}
	}
	if scale > precision {
		return 0, 0, false
	}
	return precision, scale, true
}

// avroName splits a full name into Avro's name and namespace, replacing what Avro names do not allow with
// "_" (as Debezium's schema.name.adjustment.mode=avro does); changed reports a replacement.
func avroName(full string) (name, namespace string, changed bool) {
	parts := strings.Split(full, ".")
	for i, p := range parts {
		q := sanitize(p)
		changed = changed || q != p
		parts[i] = q
	}
	n := len(parts)
	return parts[n-1], strings.Join(parts[:n-1], "."), changed
}

func sanitize(s string) string {
	if validName(s) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	if b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// validName reports whether s is an Avro name: [A-Za-z_][A-Za-z0-9_]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// define records a named type's definition; it returns the name alone (a reference) when the same
// definition was written before, and fails when another definition took the name.
func (w *schemaWriter) define(full string, def json.RawMessage, path string) (json.RawMessage, error) {
	if prev, ok := w.named[full]; ok {
		if prev == string(def) {
			return marshal(full)
		}
		return nil, fmt.Errorf("avro: %s: two different schemas are both named %q; Avro needs one definition per name", orRoot(path), full)
	}
	w.named[full] = string(def)
	return def, nil
}

func (w *schemaWriter) record(s *stream.Schema, inField bool, path string) (json.RawMessage, error) {
	o := &object{}
	o.set("type", "record")
	var full, connectName string
	if s.Name == "" {
		w.anonymous++
		name := connectDefaultName
		if w.anonymous > 1 {
			name += strconv.Itoa(w.anonymous)
		}
		o.set("name", name)
		o.set("namespace", connectNamespace)
		full = connectNamespace + "." + name
	} else {
		name, ns, changed := avroName(s.Name)
		o.set("name", name)
		if ns != "" {
			o.set("namespace", ns)
			full = ns + "." + name
		} else {
			full = name
		}
		if changed {
			connectName = s.Name
		}
		// A struct met again is a reference by name; nested anonymous structs would get new names otherwise.
		plain := s.AsRequired().WithDefault(nil)
		if prev, ok := w.structs[full]; ok {
			if prev.Equal(plain) {
				return marshal(full)
			}
			return nil, fmt.Errorf("avro: %s: two different struct schemas are both named %q; Avro needs one definition per name", orRoot(path), full)
		}
		w.structs[full] = plain
	}
	if s.Doc != "" {
		o.set("doc", s.Doc)
	}
	fields := make([]*object, 0, len(s.Fields))
	for _, f := range s.Fields {
		p := at(path, f.Name)
		if !validName(f.Name) {
			return nil, fmt.Errorf("avro: field %q: %q is not an Avro field name ([A-Za-z_][A-Za-z0-9_]*)", p, f.Name)
		}
		typ, err := w.schema(f.Schema, true, p)
		if err != nil {
			return nil, err
		}
		fo := &object{}
		fo.set("name", f.Name)
		fo.set("type", typ)
		if f.Schema.Doc != "" && f.Schema.Type != stream.TypeStruct {
			fo.set("doc", f.Schema.Doc)
		}
		switch {
		case f.Schema.Default != nil:
			d, err := defaultJSON(f.Schema, f.Schema.Default)
			if err != nil {
				return nil, fmt.Errorf("avro: field %q: default: %w", p, err)
			}
			fo.set("default", d)
		case f.Schema.Optional:
			fo.set("default", nil)
		}
		fields = append(fields, fo)
	}
	o.set("fields", fields)
	if err := w.meta(o, s, connectName, "", s.Parameters, !inField, path); err != nil {
		return nil, err
	}
	def, err := marshal(o)
	if err != nil {
		return nil, err
	}
	return w.define(full, def, path)
}

// mapEntry writes the record of one entry of a map whose keys are not plain strings, as AvroData does.
func (w *schemaWriter) mapEntry(s *stream.Schema, path string) (json.RawMessage, error) {
	switch s.Key.Type {
	case stream.TypeArray, stream.TypeMap:
		return nil, fmt.Errorf("avro: %s: map keys of type %s are not supported (they are not comparable Go values)", orRoot(path), s.Key.Type)
	case stream.TypeBytes:
		if s.Key.Name != stream.DecimalName {
			return nil, fmt.Errorf("avro: %s: map keys of type bytes are not supported (they are not comparable Go values)", orRoot(path))
		}
	}
	key, err := w.schema(s.Key, true, at(path, "key"))
	if err != nil {
		return nil, err
	}
	value, err := w.schema(s.Value, true, at(path, "value"))
	if err != nil {
		return nil, err
	}
	w.entries++
	name := mapEntryName
	if w.entries > 1 {
		name += strconv.Itoa(w.entries)
	}
	o := &object{}
	o.set("type", "record")
	o.set("name", name)
	o.set("namespace", connectNamespace)
	kf, vf := &object{}, &object{}
	kf.set("name", "key")
	kf.set("type", key)
	vf.set("name", "value")
	vf.set("type", value)
	for _, f := range []struct {
		o *object
		s *stream.Schema
	}{{kf, s.Key}, {vf, s.Value}} {
		if f.s.Default != nil {
			d, err := defaultJSON(f.s, f.s.Default)
			if err != nil {
				return nil, fmt.Errorf("avro: %s: default: %w", orRoot(path), err)
			}
			f.o.set("default", d)
		} else if f.s.Optional {
			f.o.set("default", nil)
		}
	}
	o.set("fields", []*object{kf, vf})
	return marshal(o)
}

// union writes a struct named io.confluent.connect.avro.Union, which stands for an Avro union of more than
// a type and null, back as that union: one branch per field, "null" first when the struct is optional.
func (w *schemaWriter) union(s *stream.Schema, path string) (json.RawMessage, error) {
	var branches []json.RawMessage
	if s.Optional {
		branches = append(branches, json.RawMessage(`"null"`))
	}
	for _, f := range s.Fields {
		b, err := w.required(f.Schema, true, at(path, f.Name))
		if err != nil {
			return nil, err
		}
		branches = append(branches, b)
	}
	return marshal(branches)
}

func (w *schemaWriter) enum(s *stream.Schema, path string) (json.RawMessage, error) {
	name, ns, _ := avroName(s.Name)
	o := &object{}
	o.set("type", "enum")
	o.set("name", name)
	if ns != "" {
		o.set("namespace", ns)
	}
	if s.Doc != "" {
		o.set("doc", s.Doc)
	}
	o.set("symbols", strings.Split(s.Parameters[paramAvroSymbols], ","))
	if d, ok := s.Parameters[enumDefaultParam]; ok {
		o.set("default", d)
	}
	if err := w.meta(o, s, "", "", s.Parameters, false, path); err != nil {
		return nil, err
	}
	def, err := marshal(o)
	if err != nil {
		return nil, err
	}
	return w.define(s.Name, def, path)
}

func (w *schemaWriter) fixed(s *stream.Schema, path string) (json.RawMessage, error) {
	full := s.Name
	if s.Name == stream.DecimalName {
		full = s.Parameters[paramAvroName]
	}
	name, ns, _ := avroName(full)
	size, err := strconv.Atoi(s.Parameters[paramAvroSize])
	if err != nil || size < 0 {
		return nil, fmt.Errorf("avro: %s: fixed schema %q has no valid %q parameter", orRoot(path), full, paramAvroSize)
	}
	o := &object{}
	o.set("type", "fixed")
	o.set("name", name)
	if ns != "" {
		o.set("namespace", ns)
	}
	o.set("size", size)
	connectName := ""
	if s.Name == stream.DecimalName {
		if p, sc, ok := decimalDigits(s.Parameters); ok {
			o.set("logicalType", logicalDecimal)
			o.set("precision", p)
			o.set("scale", sc)
		}
		connectName = stream.DecimalName
	} else if l, ok := s.Parameters[paramAvroLogical]; ok {
		o.set("logicalType", l)
	}
	if err := w.meta(o, s, connectName, s.Doc, s.Parameters, false, path); err != nil {
		return nil, err
	}
	def, err := marshal(o)
	if err != nil {
		return nil, err
	}
	return w.define(full, def, path)
}

// defaultJSON writes v, a value of s, as an Avro default: bytes as a string of code points 0-255, logical
// types as their underlying numbers, maps with other than string keys as arrays of {"key","value"} objects,
// structs as objects.
func defaultJSON(s *stream.Schema, v any) (any, error) {
	if v == nil {
		v = s.Default
	}
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case int8, int16, int32, int64, bool, string:
		return x, nil
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("%v cannot be an Avro default", x)
		}
		return json.RawMessage(stream.JavaFloatString(float64(x), 32)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v cannot be an Avro default", x)
		}
		return x, nil
	case []byte:
		return latin1(x), nil
	case stream.Decimal:
		b, err := decimalBytes(s, x)
		if err != nil {
			return nil, err
		}
		return latin1(b), nil
	case time.Time:
		switch s.Name {
		case stream.DateName:
			return x.Unix() / 86400, nil
		case stream.TimeName:
			return x.UnixMilli(), nil
		default:
			return x.UnixMilli(), nil
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			d, err := defaultJSON(s.Items, e)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	case *stream.Struct:
		if s.Name == unionName {
			for _, f := range s.Fields {
				if e := x.Get(f.Name); e != nil {
					return defaultJSON(f.Schema, e)
				}
			}
			return nil, nil
		}
		o := &object{}
		for _, f := range s.Fields {
			d, err := defaultJSON(f.Schema, x.Get(f.Name))
			if err != nil {
				return nil, err
			}
			o.set(f.Name, d)
		}
		return o, nil
	case map[string]any, map[any]any:
		entries, err := sortedEntries(s, x)
		if err != nil {
			return nil, err
		}
		if plainString(s.Key) {
			o := &object{}
			for _, e := range entries {
				d, err := defaultJSON(s.Value, e.v)
				if err != nil {
					return nil, err
				}
				o.set(e.k.(string), d)
			}
			return o, nil
		}
		out := make([]any, 0, len(entries))
		for _, e := range entries {
			k, err := defaultJSON(s.Key, e.k)
			if err != nil {
				return nil, err
			}
			d, err := defaultJSON(s.Value, e.v)
			if err != nil {
				return nil, err
			}
			o := &object{}
			o.set("key", k)
			o.set("value", d)
			out = append(out, o)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s is not a value of the data model", stream.TypeName(v))
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
