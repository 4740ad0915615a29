package mysql

import (
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stream"
)

const allTypesDDL = `CREATE TABLE types.all_types (
	id INT PRIMARY KEY,
	ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
	mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
	d DECIMAL(65,30), d2 DECIMAL(10,2), f FLOAT, db DOUBLE,
	dt DATE, tm TIME, tm6 TIME(6), dtm DATETIME(6), dtm0 DATETIME, ts TIMESTAMP(3) NULL, yr YEAR,
	c CHAR(10), vc VARCHAR(100), tx TEXT, bn BINARY(4), vb VARBINARY(10), bl BLOB,
	j JSON, e ENUM('small','medium','large'), st SET('a','b','c'), b1 BIT(1), b10 BIT(10),
	dtnn DATE NOT NULL DEFAULT '2000-01-01', dtmnn DATETIME NOT NULL DEFAULT '2000-01-01 00:00:00',
	u UUID, i4 INET4, i6 INET6, g GEOMETRY, pt POINT, ls LINESTRING, pg POLYGON, mpt MULTIPOINT,
	mls MULTILINESTRING, mpg MULTIPOLYGON, gc GEOMETRYCOLLECTION
)`

var allTypesRows = []string{
	`(1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
	 99999999999999999999999999999999999.999999999999999999999999999999, 12345678.90, 3.14159, 2.718281828459045,
	 '9999-12-31', '838:59:59', '-00:00:00.000001', '9999-12-31 23:59:59.999999', '1000-01-01 00:00:00',
	 '2038-01-19 03:14:07.999', 2155, 'abc', '😀 emoji ünïcödé 𝄞', REPEAT('x', 3000), x'00010203', x'ff00', x'deadbeef',
	 '{"a": [1, 2, {"b": null}], "ü": "😀"}', 'large', 'a,c', b'1', b'1000000001', '0000-00-00', '0000-00-00 00:00:00',
	 'aabbccdd-eeff-1122-8344-556677889900', '10.1.2.3', '2001:db8::ff00:42:8329',
	 ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))', 4326), POINT(1.5, -2.25), ST_GeomFromText('LINESTRING(0 0,1 1,2 0)'),
	 ST_GeomFromText('POLYGON((0 0,4 0,4 4,0 4,0 0),(1 1,2 1,2 2,1 1))'), ST_GeomFromText('MULTIPOINT(1 1,2 2)'),
	 ST_GeomFromText('MULTILINESTRING((0 0,1 1),(2 2,3 3))'), ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))'),
	 ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))'))`,
	`(2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
	 -99999999999999999999999999999999999.999999999999999999999999999999, -0.01, -1.5e-10, -1e308,
	 '0000-00-00', '-838:59:59', '-838:59:58.999999', '1000-01-01 00:00:00.000001', '0000-00-00 00:00:00',
	 '1970-01-01 00:00:01.000', 1901, '', '', '', x'00000000', '', '', '[]', 'small', '', b'0', b'0',
	 '1999-12-31', '1999-12-31 23:59:59',
	 '00000000-0000-0000-0000-000000000000', '0.0.0.0', '::', POINT(0, 0), ST_GeomFromText('POINT(-180 90)', 4326),
	 ST_GeomFromText('LINESTRING(-1.5 1e300,0 -0)', 3857), ST_GeomFromText('POLYGON((0 0,1 0,0 1,0 0))', 4326),
	 ST_GeomFromText('MULTIPOINT(0 0)'), ST_GeomFromText('MULTILINESTRING((0 0,1 1))'),
	 ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)))'), ST_GeomFromText('GEOMETRYCOLLECTION EMPTY'))`,
	`(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2024-02-29', '2024-02-29 12:00:00',
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
	`(4, 0, 1, 0, 1, 0, 1, 0, 1, 0, 9223372036854775808, 0.000000000000000000000000000001, 0, 0, 0,
	 '1000-01-01', '00:00:00', '12:34:56.789', '2024-02-29 12:34:56.5', '2024-02-29 12:34:56',
	 '2024-02-29 12:34:56.123', 0, 'x', 'a\'b"c\\\\', 'tab\there', x'ff', x'00', x'00', 'null', 'medium', 'a,b,c', b'1', b'1111111111',
	 '2024-01-01', '2024-01-01 00:00:00',
	 'ffffffff-ffff-ffff-ffff-ffffffffffff', '255.255.255.255', '::ffff:1.2.3.4', ST_GeomFromText('LINESTRING(1 2,3 4)', 4326),
	 ST_GeomFromText('POINT(1e-300 -0.5)', 4326), ST_GeomFromText('LINESTRING(0 0,0 1)'), ST_GeomFromText('POLYGON((0 0,2 0,2 2,0 0))'),
	 ST_GeomFromText('MULTIPOINT(3 3,4 4,5 5)'), ST_GeomFromText('MULTILINESTRING((0 0,1 1,2 2))'),
	 ST_GeomFromText('MULTIPOLYGON(((1 1,2 1,2 2,1 1)))'), ST_GeomFromText('GEOMETRYCOLLECTION(POINT(0 0))'))`,
}

// TestAllTypes snapshots a table with every supported type, edge values included, and checks each field of
// each row against what SELECT returns for it.
func TestAllTypes(t *testing.T) {
	server.CreateDatabase(t, "types")
	server.Exec(t, allTypesDDL, "SET STATEMENT sql_mode='' FOR INSERT INTO types.all_types VALUES "+strings.Join(allTypesRows, ", "))
	src := newSource(t, 2, "types.all_types")
	recs := readTask(t, src, nil, 0)
	if len(recs) != len(allTypesRows) {
		t.Fatalf("%d records, want %d", len(recs), len(allTypesRows))
	}
	tbl, err := loadTable(t.Context(), server.DB(), tableName{"types", "all_types"}, "sluice")
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		row := after(t, rec)
		id, _ := row.GetInt32("id")
		for i := range tbl.columns {
			ct := &tbl.columns[i]
			want := selectValue(t, ct, id)
			got := canonical(t, ct, row.Get(ct.Name))
			if got != want {
				t.Errorf("row %d column %s (%s): got %q (%T %v), SELECT says %q", id, ct.Name, ct.ColumnType, got, row.Get(ct.Name), row.Get(ct.Name), want)
			}
		}
	}

	// Spot checks of exact Go values, independent of the canonical forms.
	row1 := after(t, recs[0])
	biu, _ := row1.GetDecimal("biu")
	if biu.String() != "18446744073709551615" {
		t.Errorf("BIGINT UNSIGNED max = %s", biu)
	}
	if v, _ := row1.GetString("vc"); v != "😀 emoji ünïcödé 𝄞" {
		t.Errorf("emoji = %q", v)
	}
	row2 := after(t, recs[1])
	if v, _ := row2.GetInt32("i"); v != math.MinInt32 {
		t.Errorf("INT min = %d", v)
	}
	if v, _ := row2.GetInt64("tm"); v != -(838*3600+59*60+59)*1_000_000 {
		t.Errorf("TIME -838:59:59 = %d µs", v)
	}
	if v := row2.Get("dt"); v != nil {
		t.Errorf("nullable zero DATE = %v, want nil", v)
	}
	if v, _ := row1.GetTime("dtnn"); !v.Equal(time.Unix(0, 0)) {
		t.Errorf("NOT NULL zero DATE = %v, want the epoch", v)
	}
	if v, _ := row1.GetString("ts"); v != "2038-01-19T03:14:07.999Z" {
		t.Errorf("TIMESTAMP(3) = %q", v)
	}
	if d, _ := row1.GetDecimal("d"); d.Scale != 30 || d.String() != "99999999999999999999999999999999999.999999999999999999999999999999" {
		t.Errorf("DECIMAL(65,30) = %s scale %d", d, d.Scale)
	}
	for _, name := range []string{"biu", "d", "tm", "dtm", "ts", "yr", "j", "e", "st", "b10"} {
		f, _ := tbl.valueSchema.Field(name)
		t.Logf("%-4s %-28s -> %s %s %v", name, tbl.columns[f.Index].ColumnType, f.Schema.Type, f.Schema.Name, f.Schema.Parameters)
	}
}

// selectValue returns the canonical text of column ct in row id as the server computes it ("NULL" for NULL).
func selectValue(t *testing.T, ct *columnType, id int32) string {
	t.Helper()
	col := quoteIdent(ct.Name)
	expr := col
	switch ct.kind {
	case kindFloat32:
		expr = "CAST(" + col + " AS DOUBLE)"
	case kindBytes, kindGeometry, kindPoint:
		expr = "HEX(" + col + ")" // spatial: the stored SRID + WKB
	case kindBits, kindBool:
		expr = col + " + 0"
	case kindTimestamp:
		expr = "UNIX_TIMESTAMP(" + col + ")"
	case kindDate, kindDatetime:
		// Zero dates: the source's documented mapping (nil when nullable, the epoch otherwise).
		zero := "NULL"
		if !ct.Nullable {
			zero = "'1970-01-01 00:00:00'"
			if ct.kind == kindDate {
				zero = "'1970-01-01'"
			}
		}
		expr = "IF(CAST(" + col + " AS CHAR) LIKE '0000%', " + zero + ", " + col + ")"
	}
	var v sql.NullString
	if err := server.DB().QueryRow("SELECT "+expr+" FROM types.all_types WHERE id = ?", id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if !v.Valid {
		return "NULL"
	}
	if ct.kind == kindFloat64 {
		f, _ := strconv.ParseFloat(v.String, 64)
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	if ct.kind == kindFloat32 {
		f, _ := strconv.ParseFloat(v.String, 64)
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return v.String
}

// canonical formats a value of the source in the text selectValue gets from the server.
func canonical(t *testing.T, ct *columnType, v any) string {
	t.Helper()
	if v == nil {
		return "NULL"
	}
	frac := func(fsp int) string {
		if fsp == 0 {
			return ""
		}
		return "." + strings.Repeat("0", fsp)
	}
	switch ct.kind {
	case kindInt16, kindInt32, kindInt64, kindYear:
		return fmt.Sprint(v)
	case kindUint64Decimal, kindDecimal:
		return v.(stream.Decimal).String()
	case kindFloat32:
		return strconv.FormatFloat(float64(v.(float32)), 'g', -1, 64)
	case kindFloat64:
		return strconv.FormatFloat(v.(float64), 'g', -1, 64)
	case kindString, kindNative:
		return v.(string)
	case kindGeometry, kindPoint:
		return spatialHex(t, v.(*stream.Struct))
	case kindBytes:
		return strings.ToUpper(hex.EncodeToString(v.([]byte)))
	case kindBool:
		if v.(bool) {
			return "1"
		}
		return "0"
	case kindBits:
		le := v.([]byte)
		be := make([]byte, len(le))
		for i := range le {
			be[i] = le[len(le)-1-i]
		}
		return new(big.Int).SetBytes(be).String()
	case kindDate:
		return v.(time.Time).Format("2006-01-02")
	case kindDatetime:
		return time.UnixMicro(v.(int64)).UTC().Format("2006-01-02 15:04:05" + frac(ct.FSP))
	case kindTimestamp:
		ts, err := time.Parse(time.RFC3339Nano, v.(string))
		if err != nil {
			t.Fatalf("%s: %v", ct.Name, err)
		}
		return fmt.Sprintf("%d%s", ts.Unix(), ts.Format(frac(ct.FSP))) // seconds.fraction, as UNIX_TIMESTAMP
	case kindTime:
		us := v.(int64)
		sign := ""
		if us < 0 {
			sign, us = "-", -us
		}
		s := fmt.Sprintf("%s%02d:%02d:%02d", sign, us/3_600_000_000, us/60_000_000%60, us/1_000_000%60)
		if ct.FSP > 0 {
			s += fmt.Sprintf(".%06d", us%1_000_000)[:ct.FSP+1]
		}
		return s
	}
	t.Fatalf("no canonical form for kind %d", ct.kind)
	return ""
}

// spatialHex turns a Geometry or Point struct back into the stored form's hex (SRID little-endian, then the
// WKB), as HEX(col) shows it; for a Point it also checks that x and y are the WKB's coordinates.
func spatialHex(t *testing.T, g *stream.Struct) string {
	t.Helper()
	wkb, err := g.GetBytes("wkb")
	if err != nil {
		t.Fatalf("wkb: %v", err)
	}
	var srid uint32
	if v := g.Get("srid"); v != nil {
		srid = uint32(v.(int32))
	}
	if g.Schema().Name == PointName {
		x, _ := g.GetFloat64("x")
		y, _ := g.GetFloat64("y")
		if wx, wy := math.Float64frombits(binary.LittleEndian.Uint64(wkb[5:])), math.Float64frombits(binary.LittleEndian.Uint64(wkb[13:])); wx != x || wy != y {
			t.Errorf("point x, y = %v, %v; its WKB says %v, %v", x, y, wx, wy)
		}
	}
	return strings.ToUpper(hex.EncodeToString(binary.LittleEndian.AppendUint32(nil, srid)) + hex.EncodeToString(wkb))
}
