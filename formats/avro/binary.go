package avro

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/stream"
)

// reader reads Avro's binary encoding from a byte slice, checking every length against what is left, so that
// hostile input can neither panic nor make it allocate more than the input's size.
type reader struct {
	data []byte
	pos  int
	// budget bounds the array and map items one decode may produce: items of zero bytes (nulls, empty
	// records) cost nothing to send.
	budget int
}

var errShort = errors.New("the data ends early")

func (r *reader) fail(what string) error {
	return fmt.Errorf("avro body byte %d: %s", r.pos, what)
}

func (r *reader) long() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.pos >= len(r.data) {
			return 0, r.fail(errShort.Error())
		}
		c := r.data[r.pos]
		r.pos++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, r.fail("varint longer than 10 bytes")
}

func (r *reader) int() (int32, error) {
	v, err := r.long()
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, r.fail(fmt.Sprintf("int %d out of range", v))
	}
	return int32(v), nil
}

func (r *reader) fixed(n int) ([]byte, error) {
	if n < 0 || n > len(r.data)-r.pos {
		return nil, r.fail(fmt.Sprintf("%d bytes needed, %d left", n, len(r.data)-r.pos))
	}
	b := r.data[r.pos : r.pos+n]
	r.pos += n
	return b, nil
}

func (r *reader) bytes() ([]byte, error) {
	n, err := r.long()
	if err != nil {
		return nil, err
	}
	if n < 0 || n > int64(len(r.data)-r.pos) {
		return nil, r.fail(fmt.Sprintf("length %d with %d bytes left", n, len(r.data)-r.pos))
	}
	return r.fixed(int(n))
}

// block reads an array or map block header: the item count (0 at the end).
func (r *reader) block() (int, error) {
	n, err := r.long()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		if n == math.MinInt64 {
			return 0, r.fail("invalid block count")
		}
		n = -n
		if _, err := r.long(); err != nil { // the block's size in bytes
			return 0, err
		}
	}
	if n > int64(r.budget) {
		return 0, r.fail(fmt.Sprintf("block of %d items is more than this message can hold", n))
	}
	r.budget -= int(n)
	return int(n), nil
}

// decode reads a value of n.
func (r *reader) decode(n *node) (any, error) {
	switch n.kind {
	case kNull:
		return nil, nil
	case kBoolean:
		b, err := r.fixed(1)
		if err != nil {
			return nil, err
		}
		if b[0] > 1 {
			return nil, r.fail(fmt.Sprintf("boolean byte %d", b[0]))
		}
		return b[0] == 1, nil
	case kInt:
		v, err := r.int()
		if err != nil {
			return nil, err
		}
		return n.fromLong(int64(v))
	case kLong:
		v, err := r.long()
		if err != nil {
			return nil, err
		}
		return n.fromLong(v)
	case kFloat:
		b, err := r.fixed(4)
		if err != nil {
			return nil, err
		}
		return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
	case kDouble:
		b, err := r.fixed(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	case kString:
		b, err := r.bytes()
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(b) {
			return nil, r.fail("string is not valid UTF-8")
		}
		return string(b), nil
	case kBytes:
		b, err := r.bytes()
		if err != nil {
			return nil, err
		}
		return n.fromBytes(bytes.Clone(b))
	case kFixed:
		b, err := r.fixed(n.size)
		if err != nil {
			return nil, err
		}
		return n.fromBytes(bytes.Clone(b))
	case kEnum:
		i, err := r.int()
		if err != nil {
			return nil, err
		}
		if i < 0 || int(i) >= len(n.symbols) {
			return nil, r.fail(fmt.Sprintf("enum index %d of %d symbols", i, len(n.symbols)))
		}
		return n.symbols[i], nil
	case kArray:
		out := []any{}
		for {
			count, err := r.block()
			if err != nil || count == 0 {
				return out, err
			}
			for range count {
				v, err := r.decode(n.items)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
		}
	case kMap:
		out := map[string]any{}
		for {
			count, err := r.block()
			if err != nil || count == 0 {
				return out, err
			}
			for range count {
				k, err := r.bytes()
				if err != nil {
					return nil, err
				}
				if !utf8.Valid(k) {
					return nil, r.fail("map key is not valid UTF-8")
				}
				v, err := r.decode(n.values)
				if err != nil {
					return nil, err
				}
				out[string(k)] = v
			}
		}
	case kMapEntries:
		return r.mapEntries(n)
	case kRecord:
		st, err := stream.NewStructValue(n.schema)
		if err != nil {
			return nil, err
		}
		for i, f := range n.fields {
			v, err := r.decode(f)
			if err != nil {
				return nil, err
			}
			if v == nil {
				v = n.schema.Fields[i].Schema.Default // as for a union's null
			}
			if err := st.Put(n.fieldNames[i], v); err != nil {
				return nil, err
			}
		}
		return st, nil
	case kUnion:
		i, err := r.long()
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(n.branches)) {
			return nil, r.fail(fmt.Sprintf("union branch %d of %d", i, len(n.branches)))
		}
		v, err := r.decode(n.branches[i])
		if err == nil && v == nil {
			// A null stands for the default where there is one, as Connect's Struct.get reads it and as the
			// encoder writes a nil value.
			return n.schema.Default, nil
		}
		if err != nil || !n.unionStruct {
			return v, err
		}
		return n.unionValue(int(i), v)
	}
	return nil, fmt.Errorf("avro: unknown node kind %d", n.kind)
}

func (n *node) unionValue(branch int, v any) (any, error) {
	st, err := stream.NewStructValue(n.schema)
	if err != nil {
		return nil, err
	}
	f := n.branchField[branch]
	if err := st.Put(n.schema.Fields[f].Name, v); err != nil {
		return nil, err
	}
	return st, nil
}

func (r *reader) mapEntries(n *node) (any, error) {
	var strs map[string]any
	var anys map[any]any
	if n.stringKeys {
		strs = map[string]any{}
	} else {
		anys = map[any]any{}
	}
	for {
		count, err := r.block()
		if err != nil {
			return nil, err
		}
		if count == 0 {
			break
		}
		for range count {
			k, err := r.decode(n.key)
			if err != nil {
				return nil, err
			}
			v, err := r.decode(n.values)
			if err != nil {
				return nil, err
			}
			if n.stringKeys {
				s, ok := k.(string)
				if !ok {
					return nil, r.fail("null map key for string keys")
				}
				strs[s] = v
			} else {
				anys[k] = v
			}
		}
	}
	if n.stringKeys {
		return strs, nil
	}
	return anys, nil
}

// fromLong converts an Avro int or long to the data model.
func (n *node) fromLong(v int64) (any, error) {
	switch n.conv {
	case convInt8:
		if v < math.MinInt8 || v > math.MaxInt8 {
			return nil, fmt.Errorf("int8 value %d out of range", v)
		}
		return int8(v), nil
	case convInt16:
		if v < math.MinInt16 || v > math.MaxInt16 {
			return nil, fmt.Errorf("int16 value %d out of range", v)
		}
		return int16(v), nil
	case convDate:
		return time.Unix(v*86400, 0).UTC(), nil
	case convTimeMillis:
		if v < 0 || v >= 86400000 {
			return nil, fmt.Errorf("time-millis value %d is not in [0, 86400000)", v)
		}
		return time.UnixMilli(v).UTC(), nil
	case convTimestampMillis:
		return time.UnixMilli(v).UTC(), nil
	}
	if n.kind == kInt {
		return int32(v), nil
	}
	return v, nil
}

// fromBytes converts Avro bytes or fixed to the data model.
func (n *node) fromBytes(b []byte) (any, error) {
	if n.conv != convDecimal {
		return b, nil
	}
	u := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		u.Sub(u, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return stream.Decimal{Unscaled: u, Scale: n.scale}, nil
}

// decimalBytes returns the two's-complement big-endian bytes of d at the scale of s, as Java's
// BigInteger.toByteArray writes them (Connect's Decimal.fromLogical).
func decimalBytes(s *stream.Schema, d stream.Decimal) ([]byte, error) {
	scale, err := strconv.ParseInt(s.Parameters[stream.DecimalScaleParameter], 10, 32)
	if err != nil {
		return nil, fmt.Errorf("Decimal schema without a valid scale")
	}
	d, err = d.Rescale(int32(scale))
	if err != nil {
		return nil, err
	}
	return twosComplement(d.Unscaled), nil
}

func twosComplement(x *big.Int) []byte {
	if x == nil || x.Sign() == 0 {
		return []byte{0}
	}
	if x.Sign() > 0 {
		b := x.Bytes()
		if b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	m := new(big.Int).Add(x, big.NewInt(1))
	n := m.Abs(m).BitLen()/8 + 1
	v := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), uint(8*n)), x)
	return v.FillBytes(make([]byte, n))
}

// writer appends Avro's binary encoding.
type writer struct{ buf []byte }

func (w *writer) long(v int64) { w.buf = binary.AppendUvarint(w.buf, uint64(v<<1)^uint64(v>>63)) }

func (w *writer) bytes(b []byte) { w.long(int64(len(b))); w.buf = append(w.buf, b...) }

// encode writes v, a value that passed validation against the user's schema, as n. A nil value stands for
// the schema's default.
func (w *writer) encode(n *node, v any) error {
	if v == nil && n.schema != nil {
		v = n.schema.Default
	}
	if n.kind == kUnion {
		return w.union(n, v)
	}
	if v == nil {
		if n.kind == kNull {
			return nil
		}
		return fmt.Errorf("nil value for a required %s", n.schema.Type)
	}
	bad := func() error { return fmt.Errorf("%s is not a value of Avro %s", stream.TypeName(v), n.kindName()) }
	switch n.kind {
	case kBoolean:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		if b {
			w.buf = append(w.buf, 1)
		} else {
			w.buf = append(w.buf, 0)
		}
	case kInt, kLong:
		x, err := n.toLong(v)
		if err != nil {
			return err
		}
		w.long(x)
	case kFloat:
		f, ok := v.(float32)
		if !ok {
			return bad()
		}
		w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(f))
	case kDouble:
		f, ok := v.(float64)
		if !ok {
			return bad()
		}
		w.buf = binary.LittleEndian.AppendUint64(w.buf, math.Float64bits(f))
	case kString:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		w.long(int64(len(s)))
		w.buf = append(w.buf, s...)
	case kEnum:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		i := slices.Index(n.symbols, s)
		if i < 0 {
			return fmt.Errorf("%q is not a symbol of enum %s", s, n.schema.Name)
		}
		w.long(int64(i))
	case kBytes, kFixed:
		b, err := n.toBytes(v)
		if err != nil {
			return err
		}
		if n.kind == kBytes {
			w.bytes(b)
		} else {
			w.buf = append(w.buf, b...)
		}
	case kArray:
		items, ok := v.([]any)
		if !ok {
			return bad()
		}
		if len(items) > 0 {
			w.long(int64(len(items)))
			for i, item := range items {
				if err := w.encode(n.items, item); err != nil {
					return fmt.Errorf("item %d: %w", i, err)
				}
			}
		}
		w.long(0)
	case kMap, kMapEntries:
		entries, err := sortedEntries(n.schema, v)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			w.long(int64(len(entries)))
			for _, e := range entries {
				if n.kind == kMap {
					w.bytes(e.keyBytes)
				} else {
					w.buf = append(w.buf, e.keyBytes...)
				}
				if err := w.encode(n.values, e.v); err != nil {
					return fmt.Errorf("map value %v: %w", e.k, err)
				}
			}
		}
		w.long(0)
	case kRecord:
		st, ok := v.(*stream.Struct)
		if !ok || st == nil {
			return bad()
		}
		for i, f := range n.fields {
			if err := w.encode(f, st.Get(n.fieldNames[i])); err != nil {
				return fmt.Errorf("field %s: %w", n.fieldNames[i], err)
			}
		}
	default:
		return fmt.Errorf("cannot write Avro %s", n.kindName())
	}
	return nil
}

func (w *writer) union(n *node, v any) error {
	if v == nil {
		if n.nullIndex < 0 {
			return fmt.Errorf("nil value for a union without null")
		}
		w.long(int64(n.nullIndex))
		return nil
	}
	if !n.unionStruct {
		for i, b := range n.branches {
			if i != n.nullIndex {
				w.long(int64(i))
				return w.encode(b, v)
			}
		}
	}
	st, ok := v.(*stream.Struct)
	if !ok || st == nil {
		return fmt.Errorf("%s is not a value of an Avro union (a struct %s)", stream.TypeName(v), unionName)
	}
	for i, b := range n.branches {
		if f := n.branchField[i]; f >= 0 && i != n.nullIndex {
			if e := st.Get(n.schema.Fields[f].Name); e != nil {
				w.long(int64(i))
				return w.encode(b, e)
			}
		}
	}
	if n.nullIndex >= 0 {
		w.long(int64(n.nullIndex))
		return nil
	}
	return fmt.Errorf("union struct has no branch set")
}

func (n *node) kindName() string {
	return [...]string{"null", "boolean", "int", "long", "float", "double", "string", "bytes", "enum", "fixed",
		"array", "map", "map entries", "record", "union"}[n.kind]
}

func (n *node) toLong(v any) (int64, error) {
	switch x := v.(type) {
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		if n.kind == kInt {
			break
		}
		return x, nil
	case time.Time:
		switch n.conv {
		case convDate:
			u := x.UTC()
			return floorDiv(u.Unix(), 86400), nil
		case convTimeMillis, convTimestampMillis:
			return x.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("%s is not a value of Avro %s", stream.TypeName(v), n.kindName())
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (n *node) toBytes(v any) ([]byte, error) {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	case stream.Decimal:
		if n.conv != convDecimal {
			return nil, fmt.Errorf("Decimal is not a value of Avro %s", n.kindName())
		}
		d, err := x.Rescale(n.scale)
		if err != nil {
			return nil, err
		}
		b = twosComplement(d.Unscaled)
		if n.kind == kFixed && len(b) < n.size { // sign-extend to the fixed size
			pad := byte(0)
			if b[0]&0x80 != 0 {
				pad = 0xff
			}
			b = append(bytes.Repeat([]byte{pad}, n.size-len(b)), b...)
		}
	default:
		return nil, fmt.Errorf("%s is not a value of Avro %s", stream.TypeName(v), n.kindName())
	}
	if n.kind == kFixed && len(b) != n.size {
		return nil, fmt.Errorf("%d bytes for a fixed of size %d", len(b), n.size)
	}
	return b, nil
}

// entry is a map entry with its key's encoding, by which entries are sorted so that the encoding is canonical.
type entry struct {
	k, v     any
	keyBytes []byte
}

func sortedEntries(s *stream.Schema, m any) ([]entry, error) {
	var out []entry
	add := func(k, v any) error {
		var w writer
		if ks, ok := k.(string); ok && plainString(s.Key) {
			w.buf = []byte(ks)
		} else {
			kn, err := keyNode(s.Key)
			if err != nil {
				return err
			}
			if err := w.encode(kn, k); err != nil {
				return fmt.Errorf("map key %v: %w", k, err)
			}
		}
		out = append(out, entry{k: k, v: v, keyBytes: w.buf})
		return nil
	}
	switch x := m.(type) {
	case map[string]any:
		for k, v := range x {
			if err := add(k, v); err != nil {
				return nil, err
			}
		}
	case map[any]any:
		for k, v := range x {
			if err := add(k, v); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("%s is not a map", stream.TypeName(m))
	}
	slices.SortFunc(out, func(a, b entry) int { return bytes.Compare(a.keyBytes, b.keyBytes) })
	return out, nil
}

// keyNode binds a map key schema on its own (the MapEntry record's key field).
func keyNode(k *stream.Schema) (*node, error) {
	text, err := SchemaFor(k)
	if err != nil {
		return nil, err
	}
	return cachedNode(text)
}

// fromJSON converts an Avro default, decoded from JSON with numbers kept exact, to a value of n.
func (n *node) fromJSON(j any) (any, error) {
	bad := func() (any, error) {
		return nil, fmt.Errorf("default %v is not a value of Avro %s", j, n.kindName())
	}
	switch n.kind {
	case kNull:
		if j != nil {
			return bad()
		}
		return nil, nil
	case kUnion:
		v, err := n.branches[0].fromJSON(j)
		if err != nil || !n.unionStruct || v == nil {
			return v, err
		}
		return n.unionValue(0, v)
	case kBoolean:
		if b, ok := j.(bool); ok {
			return b, nil
		}
	case kInt, kLong:
		num, ok := j.(json.Number)
		if !ok {
			return bad()
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return bad()
		}
		if n.kind == kInt && (v < math.MinInt32 || v > math.MaxInt32) {
			return bad()
		}
		return n.fromLong(v)
	case kFloat, kDouble:
		num, ok := j.(json.Number)
		if !ok {
			return bad()
		}
		bits := 64
		if n.kind == kFloat {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(num), bits)
		if err != nil {
			return bad()
		}
		if n.kind == kFloat {
			return float32(f), nil
		}
		return f, nil
	case kString, kEnum:
		if s, ok := j.(string); ok {
			if n.kind == kEnum && !slices.Contains(n.symbols, s) {
				return bad()
			}
			return s, nil
		}
	case kBytes, kFixed:
		s, ok := j.(string)
		if !ok {
			return bad()
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 255 {
				return bad()
			}
			b = append(b, byte(r))
		}
		if n.kind == kFixed && len(b) != n.size {
			return bad()
		}
		return n.fromBytes(b)
	case kArray:
		items, ok := j.([]any)
		if !ok {
			return bad()
		}
		out := make([]any, len(items))
		for i, item := range items {
			v, err := n.items.fromJSON(item)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case kMap:
		o, ok := j.(map[string]any)
		if !ok {
			return bad()
		}
		out := make(map[string]any, len(o))
		for k, e := range o {
			v, err := n.values.fromJSON(e)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case kMapEntries:
		items, ok := j.([]any)
		if !ok {
			return bad()
		}
		strs, anys := map[string]any{}, map[any]any{}
		for _, item := range items {
			o, ok := item.(map[string]any)
			if !ok {
				return bad()
			}
			k, err := n.key.fromJSON(o["key"])
			if err != nil {
				return nil, err
			}
			v, err := n.values.fromJSON(o["value"])
			if err != nil {
				return nil, err
			}
			if n.stringKeys {
				s, ok := k.(string)
				if !ok {
					return bad()
				}
				strs[s] = v
			} else {
				anys[k] = v
			}
		}
		if n.stringKeys {
			return strs, nil
		}
		return anys, nil
	case kRecord:
		o, ok := j.(map[string]any)
		if !ok {
			return bad()
		}
		st, err := stream.NewStructValue(n.schema)
		if err != nil {
			return nil, err
		}
		for i, f := range n.fields {
			e, present := o[n.fieldNames[i]]
			if !present {
				continue // the field's own default applies
			}
			v, err := f.fromJSON(e)
			if err != nil {
				return nil, err
			}
			if err := st.Put(n.fieldNames[i], v); err != nil {
				return nil, err
			}
		}
		return st, nil
	}
	return bad()
}
