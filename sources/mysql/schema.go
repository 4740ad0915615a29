package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// binaryCollation is the collation id of the binary character set: a string column with it is BINARY,
// VARBINARY or a BLOB.
const binaryCollation = 63

// rowSchemas gives each rows event the schema its rows were written with, derived from the event's
// TableMap (binlog_row_metadata=FULL: names, types, lengths, precision, fsp, signedness, nullability,
// ENUM/SET values, collations, primary key), never from the table's current definition, so that an event
// written before an ALTER TABLE decodes with the columns it has. Schemas are cached by the TableMap's
// content, so a table's schema is built once per version of its definition.
type rowSchemas struct {
	prefix string
	pool   *sql.DB
	log    *slog.Logger

	byContent map[string]*table          // by TableMap fingerprint
	last      map[uint64]tableMapSchema  // by table id: the last TableMap seen and its schema
	current   map[tableName]*currentHint // information_schema definitions, for details a TableMap lacks
	latest    map[tableName]*table       // the schema each table's rows last had, to log changes
}

type tableMapSchema struct {
	tm *replication.TableMapEvent
	t  *table
}

// currentHint is a table's definition read from information_schema (nil t: it could not be read).
type currentHint struct{ t *table }

func newRowSchemas(prefix string, pool *sql.DB, log *slog.Logger) *rowSchemas {
	return &rowSchemas{prefix: prefix, pool: pool, log: log, byContent: map[string]*table{},
		last: map[uint64]tableMapSchema{}, current: map[tableName]*currentHint{}, latest: map[tableName]*table{}}
}

// forTableMap returns the schema of the rows that tm describes.
func (s *rowSchemas) forTableMap(ctx context.Context, name tableName, tm *replication.TableMapEvent) (*table, error) {
	if l, ok := s.last[tm.TableID]; ok && l.tm == tm {
		return l.t, nil
	}
	fp := tableMapFingerprint(tm)
	t := s.byContent[fp]
	if t == nil {
		var err error
		if t, err = s.build(ctx, name, tm); err != nil {
			return nil, err
		}
		s.byContent[fp] = t
	}
	s.last[tm.TableID] = tableMapSchema{tm: tm, t: t}
	if prev := s.latest[name]; prev != nil && prev != t {
		s.log.Info("binlog rows of the table have another schema (DDL)", "table", name.String(), "columns", tm.ColumnNameString())
	}
	s.latest[name] = t
	return t, nil
}

// build derives the table's schema from tm. A column whose current information_schema definition (same
// name) maps to exactly the same type, nullability and parameters takes that definition, which adds what
// a TableMap cannot say: MariaDB's JSON (a LONGTEXT with a json_valid CHECK) and COLUMN_TYPE's exact text.
func (s *rowSchemas) build(ctx context.Context, name tableName, tm *replication.TableMapEvent) (*table, error) {
	names := tm.ColumnNameString()
	if len(names) == 0 {
		return nil, fmt.Errorf("mysql source: %w: the binlog's TableMap of %s has no column names: run SET GLOBAL binlog_row_metadata = 'FULL' and add binlog_row_metadata=FULL to the [mysqld] section of my.cnf",
			ErrBinlogConfig, name)
	}
	cols, err := tableMapColumns(tm)
	if err != nil {
		return nil, fmt.Errorf("mysql source: table %s (binlog TableMap): %w", name, err)
	}
	hint := s.hint(ctx, name, names)
	t := &table{name: name}
	for _, c := range cols {
		ct, err := mapColumn(c)
		if err != nil {
			return nil, fmt.Errorf("mysql source: table %s (binlog TableMap): %w", name, err)
		}
		if h := hint.column(c.Name); h != nil && (sameMapping(h, &ct) || fillsMissingMetadata(tm, h, &ct)) {
			ct = *h
		}
		t.columns = append(t.columns, ct)
	}
	for _, i := range tm.PrimaryKey {
		if int(i) >= len(t.columns) {
			return nil, fmt.Errorf("mysql source: table %s: the binlog's TableMap names primary-key column %d of %d", name, i, len(t.columns))
		}
		t.pk = append(t.pk, int(i))
	}
	if len(t.pk) == 0 {
		t.pk = keyFromCurrent(hint, t) // flavor.go: Dolt's TableMaps carry no primary-key metadata
	}
	// No primary key in the TableMap (MariaDB names a UNIQUE index of NOT NULL columns as one when there is
	// no PRIMARY KEY) nor in the current definition: a keyless table, whose records have a null key (keyless.go).
	if err := t.buildSchemas(s.prefix); err != nil {
		return nil, err
	}
	return t, nil
}

// hint returns the table's current definition, read again when it lacks one of names (a column added
// since it was read).
func (s *rowSchemas) hint(ctx context.Context, name tableName, names []string) *table {
	h := s.current[name]
	if h != nil && h.t != nil {
		for _, n := range names {
			if h.t.column(n) == nil {
				h = nil
				break
			}
		}
	}
	if h == nil {
		t, err := loadTable(ctx, s.pool, name, s.prefix)
		if err != nil {
			// Dropped or altered beyond recognition: the TableMap alone describes the rows.
			s.log.Debug("no current definition for binlog rows", "table", name.String(), "error", err)
			t = nil
		}
		h = &currentHint{t: t}
		s.current[name] = h
	}
	return h.t
}

// column returns the column named name, or nil (also when t is nil).
func (t *table) column(name string) *columnType {
	if t == nil {
		return nil
	}
	for i := range t.columns {
		if t.columns[i].Name == name {
			return &t.columns[i]
		}
	}
	return nil
}

// sameMapping reports whether the information_schema column cur maps as the TableMap's column fromTM does,
// JSON aside: same data type, signedness, nullability, precision, scale, fsp, length and values.
func sameMapping(cur, fromTM *columnType) bool {
	if same, decided := sameNativeType(cur, fromTM); decided { // UUID, INET4, INET6 (types_native.go)
		return same
	}
	if cur.DataType != fromTM.DataType || cur.Nullable != fromTM.Nullable || cur.Unsigned() != fromTM.Unsigned() ||
		cur.FSP != fromTM.FSP || !slices.Equal(cur.values, fromTM.values) {
		return false
	}
	if cur.DataType == "binary" && bitLength(cur.ColumnType) != bitLength(fromTM.ColumnType) {
		return false
	}
	s := cur.schema
	if cur.JSON {
		c := fromTM.Column
		c.JSON = true
		ct, err := mapColumn(c)
		if err != nil {
			return false
		}
		return s.Equal(ct.schema)
	}
	return s.Equal(fromTM.schema)
}

// tableMapColumns describes the TableMap's columns as information_schema would (DATA_TYPE, a COLUMN_TYPE
// with what the conversions read from it, IS_NULLABLE, NUMERIC_PRECISION and _SCALE, DATETIME_PRECISION),
// so that the snapshot's type mapping applies unchanged.
func tableMapColumns(tm *replication.TableMapEvent) ([]Column, error) {
	names := tm.ColumnNameString()
	if len(names) != int(tm.ColumnCount) {
		return nil, fmt.Errorf("%d column names for %d columns", len(names), tm.ColumnCount)
	}
	unsigned := tm.UnsignedMap()
	collations := tableMapCollations(tm) // flavor.go
	enums, sets := tm.EnumStrValueMap(), tm.SetStrValueMap()
	geometries := tm.GeometryTypeMap()
	cols := make([]Column, tm.ColumnCount)
	for i := range cols {
		c := Column{Name: names[i]}
		_, c.Nullable = tm.Nullable(i)
		meta := tm.ColumnMeta[i]
		binary := collations[i] == binaryCollation
		sign := ""
		if unsigned[i] {
			sign = " unsigned"
		}
		typ := tm.ColumnType[i]
		if typ == gomysql.MYSQL_TYPE_STRING && meta >= 256 {
			switch real := byte(meta >> 8); real {
			case gomysql.MYSQL_TYPE_ENUM, gomysql.MYSQL_TYPE_SET:
				typ = real
			}
		}
		switch typ {
		case gomysql.MYSQL_TYPE_TINY:
			c.DataType, c.ColumnType = "tinyint", "tinyint"+sign
		case gomysql.MYSQL_TYPE_SHORT:
			c.DataType, c.ColumnType = "smallint", "smallint"+sign
		case gomysql.MYSQL_TYPE_INT24:
			c.DataType, c.ColumnType = "mediumint", "mediumint"+sign
		case gomysql.MYSQL_TYPE_LONG:
			c.DataType, c.ColumnType = "int", "int"+sign
		case gomysql.MYSQL_TYPE_LONGLONG:
			c.DataType, c.ColumnType = "bigint", "bigint"+sign
		case gomysql.MYSQL_TYPE_NEWDECIMAL:
			c.Precision, c.Scale = int(meta>>8), int(meta&0xff)
			c.DataType, c.ColumnType = "decimal", fmt.Sprintf("decimal(%d,%d)%s", c.Precision, c.Scale, sign)
		case gomysql.MYSQL_TYPE_FLOAT:
			c.DataType, c.ColumnType = "float", "float"+sign
		case gomysql.MYSQL_TYPE_DOUBLE:
			c.DataType, c.ColumnType = "double", "double"+sign
		case gomysql.MYSQL_TYPE_DATE, gomysql.MYSQL_TYPE_NEWDATE:
			c.DataType, c.ColumnType = "date", "date"
		case gomysql.MYSQL_TYPE_TIME, gomysql.MYSQL_TYPE_TIME2:
			c.FSP = fsp(typ, meta, gomysql.MYSQL_TYPE_TIME2)
			c.DataType, c.ColumnType = "time", timeType("time", c.FSP)
		case gomysql.MYSQL_TYPE_DATETIME, gomysql.MYSQL_TYPE_DATETIME2:
			c.FSP = fsp(typ, meta, gomysql.MYSQL_TYPE_DATETIME2)
			c.DataType, c.ColumnType = "datetime", timeType("datetime", c.FSP)
		case gomysql.MYSQL_TYPE_TIMESTAMP, gomysql.MYSQL_TYPE_TIMESTAMP2:
			c.FSP = fsp(typ, meta, gomysql.MYSQL_TYPE_TIMESTAMP2)
			c.DataType, c.ColumnType = "timestamp", timeType("timestamp", c.FSP)
		case gomysql.MYSQL_TYPE_YEAR:
			c.DataType, c.ColumnType = "year", "year(4)"
		case gomysql.MYSQL_TYPE_STRING:
			length := int(meta)
			if meta >= 256 {
				b0, b1 := uint8(meta>>8), uint8(meta&0xff)
				if b0&0x30 != 0x30 {
					length = int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
				} else {
					length = int(b1)
				}
			}
			if binary {
				c.DataType, c.ColumnType = "binary", fmt.Sprintf("binary(%d)", length)
			} else {
				c.DataType, c.ColumnType = "char", "char"
			}
		case gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING:
			if binary {
				c.DataType = "varbinary"
			} else {
				c.DataType = "varchar"
			}
			c.ColumnType = c.DataType
		case gomysql.MYSQL_TYPE_BLOB:
			sizes := map[uint16]string{1: "tiny", 2: "", 3: "medium", 4: "long"}
			size, ok := sizes[meta]
			if !ok {
				return nil, fmt.Errorf("column %s: BLOB/TEXT with %d length bytes", c.Name, meta)
			}
			if binary {
				c.DataType = size + "blob"
			} else {
				c.DataType = size + "text"
			}
			c.ColumnType = c.DataType
		case gomysql.MYSQL_TYPE_JSON:
			c.DataType, c.ColumnType = "json", "json"
		case gomysql.MYSQL_TYPE_ENUM:
			c.DataType, c.ColumnType = "enum", valueListType("enum", enums[i])
		case gomysql.MYSQL_TYPE_SET:
			c.DataType, c.ColumnType = "set", valueListType("set", sets[i])
		case gomysql.MYSQL_TYPE_BIT:
			c.Precision = int(meta>>8)*8 + int(meta&0xff)
			c.DataType, c.ColumnType = "bit", fmt.Sprintf("bit(%d)", c.Precision)
		case gomysql.MYSQL_TYPE_GEOMETRY:
			// The GEOMETRY_TYPE metadata (binlog_row_metadata=FULL) says which spatial type; without it (Dolt's
			// TableMaps) the current definition does (types_native.go).
			c.DataType, c.ColumnType = "geometry", spatialSubtypeUnknown
			if g, ok := geometries[i]; ok && g < uint64(len(geometryDataTypes)) {
				c.DataType, c.ColumnType = geometryDataTypes[g], geometryDataTypes[g]
			}
		default:
			// Types this mapping does not know: mapColumn names the column and says the type is not supported.
			c.DataType, c.ColumnType = "binlog type "+strconv.Itoa(int(typ)), "binlog type "+strconv.Itoa(int(typ))
		}
		cols[i] = c
	}
	return cols, nil
}

// fsp is the fractional seconds precision of a temporal column: the meta of the *2 types, 0 for the old
// ones (written before MySQL 5.6 storage).
func fsp(typ byte, meta uint16, v2 byte) int {
	if typ == v2 {
		return int(meta)
	}
	return 0
}

func timeType(name string, fsp int) string {
	if fsp == 0 {
		return name
	}
	return fmt.Sprintf("%s(%d)", name, fsp)
}

// valueListType is "enum('a','b')" with quotes and backslashes escaped as COLUMN_TYPE does, so enumValues
// reads the values back.
func valueListType(kind string, values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		v = strings.ReplaceAll(v, `\`, `\\`)
		quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return kind + "(" + strings.Join(quoted, ",") + ")"
}

// tableMapFingerprint identifies the content of a TableMap that the schema derives from.
func tableMapFingerprint(tm *replication.TableMapEvent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q.%q|%x|%v|%x|%x|%v|%v|%q|%q|%q|%v", tm.Schema, tm.Table, tm.ColumnType, tm.ColumnMeta,
		tm.NullBitmap, tm.SignednessBitmap, tm.DefaultCharset, tm.ColumnCharset, tm.ColumnName, tm.EnumStrValue,
		tm.SetStrValue, tm.PrimaryKey)
	return b.String()
}
