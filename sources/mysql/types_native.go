package mysql

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/stream"
)

// Debezium's names for MariaDB's UUID and the spatial types, as Debezium 3.6.1 builds them:
// MariaDbValueConverters.schemaBuilder maps UUID to io.debezium.data.Uuid (a string, version 1), and
// BinlogValueConverters.schemaBuilder maps POINT to io.debezium.data.geometry.Point and GEOMETRY,
// LINESTRING, POLYGON, MULTIPOINT, MULTILINESTRING, MULTIPOLYGON and GEOMETRYCOLLECTION to
// io.debezium.data.geometry.Geometry (debezium-connector-common's data/geometry/Point.java and
// Geometry.java; BinlogGeometry.fromBytes splits MySQL's value into SRID and WKB).
const (
	UUIDName     = "io.debezium.data.Uuid"              // string, canonical lower-case 8-4-4-4-12 text
	GeometryName = "io.debezium.data.geometry.Geometry" // struct {wkb bytes, srid optional int32}
	PointName    = "io.debezium.data.geometry.Point"    // struct {x, y float64, wkb optional bytes, srid optional int32}
)

// geometrySchema is Debezium's Geometry.builder(): version 1, doc "Geometry", always optional (the builder
// makes it optional, so a NOT NULL column's schema is optional too, as in Debezium's events).
var geometrySchema = stream.NewStruct(GeometryName).Version(1).Doc("Geometry").Optional().
	Field("wkb", stream.BytesSchema()).
	Field("srid", stream.Int32Schema().AsOptional()).
	MustBuild()

// pointSchema is Debezium's Point.builder(): version 1, doc "Geometry (POINT)", fields in its order; it is
// optional when the column is nullable.
var pointSchema = stream.NewStruct(PointName).Version(1).Doc("Geometry (POINT)").
	Field("x", stream.Float64Schema()).
	Field("y", stream.Float64Schema()).
	Field("wkb", stream.BytesSchema().AsOptional()).
	Field("srid", stream.Int32Schema().AsOptional()).
	MustBuild()

// spatialDataTypes are the information_schema DATA_TYPEs of the spatial columns (MySQL 8 spells
// GEOMETRYCOLLECTION "geomcollection").
var spatialDataTypes = map[string]bool{
	"geometry": true, "point": true, "linestring": true, "polygon": true, "multipoint": true,
	"multilinestring": true, "multipolygon": true, "geometrycollection": true, "geomcollection": true,
}

// spatialSubtypeUnknown is the COLUMN_TYPE given to a binlog GEOMETRY column whose TableMap has no
// GEOMETRY_TYPE metadata (Dolt writes none): it maps as GEOMETRY unless the current definition of the
// column (same name, a spatial type, same nullability) says which spatial type it is.
const spatialSubtypeUnknown = "geometry (no GEOMETRY_TYPE in the binlog TableMap)"

// geometryDataTypes is the DATA_TYPE of a binlog GEOMETRY column by the TableMap's GEOMETRY_TYPE metadata
// (MariaDB's and MySQL's Field::geometry_type).
var geometryDataTypes = []string{"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
	"multipolygon", "geometrycollection"}

// nativeByteLength is how many bytes MariaDB stores (and the binlog carries, as a fixed-length binary
// string) for a UUID, INET4 or INET6 value; 0 for other types.
func nativeByteLength(dataType string) int {
	switch dataType {
	case "uuid", "inet6":
		return 16
	case "inet4":
		return 4
	}
	return 0
}

// sameNativeType decides sameMapping for the types a binlog TableMap cannot name: MariaDB's UUID, INET4 and
// INET6 arrive as BINARY(16), BINARY(4) and BINARY(16), and a spatial column of a TableMap without
// GEOMETRY_TYPE metadata as a GEOMETRY of unknown subtype (spatialSubtypeUnknown). The current definition cur (information_schema)
// is taken for such a TableMap column fromTM when the byte length and nullability agree. decided is false
// for every other type (sameMapping then compares as usual). A column changed from BINARY(16) to UUID
// since a row was written decodes that row as a UUID: the TableMap cannot tell them apart.
func sameNativeType(cur, fromTM *columnType) (same, decided bool) {
	if fromTM.ColumnType == spatialSubtypeUnknown {
		// A spatial column whose TableMap lacks GEOMETRY_TYPE: every spatial type is stored alike.
		return spatialDataTypes[cur.DataType] && cur.Nullable == fromTM.Nullable, true
	}
	n := nativeByteLength(cur.DataType)
	if n == 0 {
		return false, false
	}
	return fromTM.DataType == "binary" && bitLength(fromTM.ColumnType) == n && cur.Nullable == fromTM.Nullable, true
}

// nativeText turns the binary form of a UUID, INET4 or INET6 value, as the binlog carries it (the stored
// bytes, with trailing zero bytes dropped as for any BINARY(n)), into the text MariaDB's SELECT returns.
func (ct *columnType) nativeText(v any) (string, error) {
	b := asBytes(v)
	n := nativeByteLength(ct.DataType)
	if len(b) > n {
		return "", fmt.Errorf("%d bytes, a %s has %d", len(b), strings.ToUpper(ct.DataType), n)
	}
	b = append(b, make([]byte, n-len(b))...)
	switch ct.DataType {
	case "uuid":
		return uuidText(b), nil
	case "inet4":
		return inet4Text(b), nil
	default:
		return inet6Text(b), nil
	}
}

// uuidText is the canonical lower-case text of a 16-byte UUID in storage order: MariaDB's binlog carries
// the text's bytes in order (checked on 10.11: the index-friendly swap of UUID v1-v5 segments is not in the
// row image).
func uuidText(b []byte) string {
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func inet4Text(b []byte) string {
	return strconv.Itoa(int(b[0])) + "." + strconv.Itoa(int(b[1])) + "." + strconv.Itoa(int(b[2])) + "." + strconv.Itoa(int(b[3]))
}

// inet6Text formats a 16-byte IPv6 address as MariaDB's INET6 does (like glibc's inet_ntop, except that a
// single zero group is compressed too, unlike RFC 5952): lower-case hex groups without leading zeros; the
// longest run of zero groups, even of one (the first of equal runs), written "::"; the last 32 bits dotted when the first 96 bits are zero and the seventh group is not
// (IPv4-compatible, "::1.2.3.4") or the first 80 bits are zero and the sixth group is ffff (IPv4-mapped,
// "::ffff:1.2.3.4"). Checked against the server's own text (MariaDB 10.11): "::", "::1", "::102" for
// ::0.0.1.2, "::0.1.0.0", "::ffff:0:102:304", "2001:0:0:1::1", "1::2:3:4:5:6:7", "1:2:3:4:5:6:7::".
func inet6Text(b []byte) string {
	var words [8]uint16
	for i := range words {
		words[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	bestBase, bestLen := -1, 0
	for i := 0; i < 8; {
		if words[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && words[j] == 0 {
			j++
		}
		if j-i > bestLen {
			bestBase, bestLen = i, j-i
		}
		i = j
	}
	var s strings.Builder
	for i := 0; i < 8; i++ {
		if bestBase >= 0 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				s.WriteByte(':')
			}
			continue
		}
		if i != 0 {
			s.WriteByte(':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && words[5] == 0xffff)) {
			s.WriteString(inet4Text(b[12:]))
			return s.String()
		}
		s.WriteString(strconv.FormatUint(uint64(words[i]), 16))
	}
	if bestBase >= 0 && bestBase+bestLen == 8 {
		s.WriteByte(':')
	}
	return s.String()
}

// spatialValue turns MySQL's stored form of a spatial value (a 4-byte little-endian SRID, then the OGC
// WKB), which SELECT and the binlog both return, into Debezium's Geometry struct {wkb, srid} or, for a
// POINT column, Point {x, y, wkb, srid}. An SRID of 0 is null, as in BinlogGeometry.fromBytes. A POINT
// column's value must be a 2D point (21 bytes of WKB), as Debezium requires.
func (ct *columnType) spatialValue(v any) (any, error) {
	b := asBytes(v)
	if len(b) < 4+5 {
		return nil, fmt.Errorf("spatial value of %d bytes: not SRID + WKB", len(b))
	}
	var srid any
	if n := int32(binary.LittleEndian.Uint32(b)); n != 0 {
		srid = n
	}
	wkb := b[4:]
	if ct.kind != kindPoint {
		g := mustStruct(ct.schema)
		if err := g.Put("wkb", wkb); err != nil {
			return nil, err
		}
		if err := g.Put("srid", srid); err != nil {
			return nil, err
		}
		return g, nil
	}
	x, y, err := wkbPoint(wkb)
	if err != nil {
		return nil, err
	}
	p := mustStruct(ct.schema)
	for _, f := range []struct {
		name string
		v    any
	}{{"x", x}, {"y", y}, {"wkb", wkb}, {"srid", srid}} {
		if err := p.Put(f.name, f.v); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// wkbPoint reads a 2D point's coordinates from its WKB (Debezium's Point.parseWKBPoint).
func wkbPoint(wkb []byte) (x, y float64, err error) {
	if len(wkb) != 1+4+8+8 {
		return 0, 0, fmt.Errorf("WKB of %d bytes is not a 2D POINT (21 bytes)", len(wkb))
	}
	var order binary.ByteOrder = binary.BigEndian
	if wkb[0] != 0 {
		order = binary.LittleEndian
	}
	if typ := order.Uint32(wkb[1:]); typ != 1 {
		return 0, 0, fmt.Errorf("WKB geometry type %d is not a 2D POINT (1)", typ)
	}
	return math.Float64frombits(order.Uint64(wkb[5:])), math.Float64frombits(order.Uint64(wkb[13:])), nil
}
