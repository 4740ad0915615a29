package sqltable

import (
	"bytes"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// The type mapping, on each database: a row of every supported type, its schema type and logical name, and
// its Go value (see the package doc's table); NULLs in nullable columns are nil.
func TestTypes(t *testing.T) {
	ts := time.Date(2024, 5, 1, 10, 20, 30, 123456000, time.UTC)
	type want struct {
		col   string
		typ   stream.Type
		name  string
		value any
	}
	cases := []struct {
		b      backend
		create string
		insert string
		want   []want
	}{{
		b: backends[0],
		create: `CREATE TABLE t (id INT PRIMARY KEY, ti TINYINT NOT NULL, tu TINYINT UNSIGNED NOT NULL, si SMALLINT NOT NULL,
			mi MEDIUMINT NOT NULL, iu INT UNSIGNED NOT NULL, bi BIGINT NOT NULL, bu BIGINT UNSIGNED NOT NULL,
			d DECIMAL(12,3) NOT NULL, f FLOAT NOT NULL, db DOUBLE NOT NULL, b1 BIT(1) NOT NULL, c CHAR(3) NOT NULL,
			vc VARCHAR(20) NOT NULL, tx TEXT NOT NULL, bl BLOB NOT NULL, vb VARBINARY(4) NOT NULL, dt DATE NOT NULL,
			tm TIME(3) NOT NULL, dtm DATETIME(6) NOT NULL, tsp TIMESTAMP(6) NOT NULL, e ENUM('x','y') NOT NULL,
			j JSON NOT NULL, nul INT NULL)`,
		insert: `INSERT INTO t VALUES (1, -128, 255, -32768, -8388608, 4294967295, -9223372036854775808, 18446744073709551615,
			123456789.125, 1.5, 2.25, b'1', 'abc', 'héllo', 'text', x'00ff', x'0102', '2024-05-01', '10:20:30.123',
			'2024-05-01 10:20:30.123456', '2024-05-01 10:20:30.123456', 'y', '{"a": 1}', NULL)`,
		want: []want{
			{"ti", stream.TypeInt8, "", int8(-128)},
			{"tu", stream.TypeInt16, "", int16(255)},
			{"si", stream.TypeInt16, "", int16(-32768)},
			{"mi", stream.TypeInt32, "", int32(-8388608)},
			{"iu", stream.TypeInt64, "", int64(4294967295)},
			{"bi", stream.TypeInt64, "", int64(-9223372036854775808)},
			{"bu", stream.TypeBytes, stream.DecimalName, mustDecimal(t, "18446744073709551615")},
			{"d", stream.TypeBytes, stream.DecimalName, mustDecimal(t, "123456789.125")},
			{"f", stream.TypeFloat32, "", float32(1.5)},
			{"db", stream.TypeFloat64, "", 2.25},
			{"b1", stream.TypeBoolean, "", true},
			{"c", stream.TypeString, "", "abc"},
			{"vc", stream.TypeString, "", "héllo"},
			{"tx", stream.TypeString, "", "text"},
			{"bl", stream.TypeBytes, "", []byte{0, 0xff}},
			{"vb", stream.TypeBytes, "", []byte{1, 2}},
			{"dt", stream.TypeInt32, stream.DateName, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)},
			{"tm", stream.TypeInt32, stream.TimeName, time.Date(1970, 1, 1, 10, 20, 30, 123000000, time.UTC)},
			{"dtm", stream.TypeInt64, stream.TimestampName, ts},
			{"tsp", stream.TypeInt64, stream.TimestampName, ts},
			{"e", stream.TypeString, "", "y"},
			{"j", stream.TypeString, "", `{"a": 1}`},
			{"nul", stream.TypeInt32, "", nil},
		},
	}, {
		b: backends[1],
		create: `CREATE TABLE t (id INT PRIMARY KEY, si SMALLINT NOT NULL, i INT NOT NULL, bi BIGINT NOT NULL,
			n NUMERIC(12,3) NOT NULL, nu NUMERIC NOT NULL, f4 REAL NOT NULL, f8 DOUBLE PRECISION NOT NULL, b BOOLEAN NOT NULL,
			tx TEXT NOT NULL, vc VARCHAR(20) NOT NULL, ba BYTEA NOT NULL, dt DATE NOT NULL, tm TIME(3) NOT NULL,
			tsp TIMESTAMP(6) NOT NULL, tstz TIMESTAMPTZ(6) NOT NULL, u UUID NOT NULL, j JSON NOT NULL, jb JSONB NOT NULL,
			nul INT NULL)`,
		insert: `INSERT INTO t VALUES (1, -32768, -2147483648, 9223372036854775807, 123456789.125, 3.14159265358979323846,
			1.5, 2.25, true, 'text', 'héllo', '\x00ff', '2024-05-01', '10:20:30.123', '2024-05-01 10:20:30.123456',
			'2024-05-01 12:20:30.123456+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1}', '{"b": 2}', NULL)`,
		want: []want{
			{"si", stream.TypeInt16, "", int16(-32768)},
			{"i", stream.TypeInt32, "", int32(-2147483648)},
			{"bi", stream.TypeInt64, "", int64(9223372036854775807)},
			{"n", stream.TypeBytes, stream.DecimalName, mustDecimal(t, "123456789.125")},
			{"nu", stream.TypeString, "", "3.14159265358979323846"},
			{"f4", stream.TypeFloat32, "", float32(1.5)},
			{"f8", stream.TypeFloat64, "", 2.25},
			{"b", stream.TypeBoolean, "", true},
			{"tx", stream.TypeString, "", "text"},
			{"vc", stream.TypeString, "", "héllo"},
			{"ba", stream.TypeBytes, "", []byte{0, 0xff}},
			{"dt", stream.TypeInt32, stream.DateName, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)},
			{"tm", stream.TypeInt32, stream.TimeName, time.Date(1970, 1, 1, 10, 20, 30, 123000000, time.UTC)},
			{"tsp", stream.TypeInt64, stream.TimestampName, ts},
			{"tstz", stream.TypeInt64, stream.TimestampName, ts},
			{"u", stream.TypeString, "", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
			{"j", stream.TypeString, "", `{"a": 1}`},
			{"jb", stream.TypeString, "", `{"b": 2}`},
			{"nul", stream.TypeInt32, "", nil},
		},
	}}
	for _, c := range cases {
		t.Run(c.b.name, func(t *testing.T) {
			dsn, db := c.b.database(t, "types")
			execSQL(t, db, c.create, c.insert)
			src := newSource(t, Config{DSN: dsn, Dialect: c.b.dialect, Mode: ModeBulk, Tables: []string{"t"}, StopAtEnd: true})
			recs := readToEnd(t, src, onlyTask(t, src), nil)
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			rec := recs[0]
			if rec.Operation != stream.OpRead || rec.ValueSchema.Name != "t" || rec.KeySchema.Name != "t.Key" {
				t.Errorf("op %v, value schema %q, key schema %q", rec.Operation, rec.ValueSchema.Name, rec.KeySchema.Name)
			}
			// Every record encodes with the json-schema codec, as a pipeline would write it.
			codec, _ := stream.LookupCodec("json-schema")
			if _, err := codec.Encode(rec.ValueSchema, rec.Value); err != nil {
				t.Errorf("json-schema encode: %v", err)
			}
			for _, w := range c.want {
				f, ok := rec.ValueSchema.Field(w.col)
				if !ok {
					t.Errorf("%s: no field", w.col)
					continue
				}
				if f.Schema.Type != w.typ || f.Schema.Name != w.name || f.Schema.Optional != (w.col == "nul") {
					t.Errorf("%s: schema %s %q optional=%v, want %s %q", w.col, f.Schema.Type, f.Schema.Name, f.Schema.Optional, w.typ, w.name)
				}
				got := field(t, rec, w.col)
				if !sameValue(got, w.value) {
					t.Errorf("%s: %#v (%T), want %#v (%T)", w.col, got, got, w.value, w.value)
				}
			}
		})
	}
}

func mustDecimal(t *testing.T, s string) stream.Decimal {
	d, err := stream.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func sameValue(got, want any) bool {
	switch w := want.(type) {
	case stream.Decimal:
		g, ok := got.(stream.Decimal)
		return ok && g.Equal(w) && g.Scale == w.Scale
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w)
	case []byte:
		g, ok := got.([]byte)
		return ok && bytes.Equal(g, w)
	}
	return got == want
}
