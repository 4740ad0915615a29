package postgres

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stream"
)

func TestConvertText(t *testing.T) {
	numeric := func(p, s int32) int32 { return (p<<16 | s) + 4 }
	day := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		oid    uint32
		mod    int32
		text   string
		want   any
		schema string // schema name, "" for none
	}{
		{oidBool, -1, "t", true, ""},
		{oidBool, -1, "f", false, ""},
		{oidInt2, -1, "-32768", int16(-32768), ""},
		{oidInt4, -1, "2147483647", int32(math.MaxInt32), ""},
		{oidInt8, -1, "-9223372036854775808", int64(math.MinInt64), ""},
		{oidFloat4, -1, "1.5", float32(1.5), ""},
		{oidFloat8, -1, "-Infinity", math.Inf(-1), ""},
		{oidNumeric, numeric(10, 2), "12345678.90", stream.NewDecimal(1234567890, 2), stream.DecimalName},
		{oidNumeric, -1, "3.14159265358979323846264338327950288", "3.14159265358979323846264338327950288", ""},
		{oidBytea, -1, `\x00ff10`, []byte{0, 0xff, 0x10}, ""},
		{oidDate, -1, "2024-02-29", day, stream.DateName},
		{oidTime, -1, "13:14:15.5", int64((13*3600+14*60+15)*1_000_000 + 500_000), MicroTimeName},
		{oidTime, -1, "24:00:00", int64(24 * 3600 * 1_000_000), MicroTimeName},
		{oidTimestamp, -1, "2024-02-29 01:02:03.123456", day.Add(time.Hour + 2*time.Minute + 3*time.Second + 123456*time.Microsecond).UnixMicro(), MicroTimestampName},
		{oidTimestamptz, -1, "2024-02-29 01:02:03.5+00", "2024-02-29T01:02:03.5Z", ZonedTimestampName},
		{oidTimestamptz, -1, "2024-02-29 01:02:03+05:30", "2024-02-28T19:32:03Z", ZonedTimestampName},
		{oidTimetz, -1, "01:02:03+00", "01:02:03Z", ZonedTimeName},
		{oidInterval, -1, "P1Y2M3DT4H5M6.5S", "P1Y2M3DT4H5M6.5S", IntervalName},
		{oidJSONB, -1, `{"a": 1}`, `{"a": 1}`, JSONName},
		{oidUUID, -1, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", UUIDName},
		{1007, -1, "{1,2,3}", "{1,2,3}", ""}, // int4[]: its text form
	} {
		c := mapColumn(column{Name: "c", TypeOID: tc.oid, TypMod: tc.mod})
		got, err := c.convert(tc.text)
		if err != nil {
			t.Errorf("oid %d %q: %v", tc.oid, tc.text, err)
			continue
		}
		if !stream.EqualValues(got, tc.want) {
			t.Errorf("oid %d %q: got %#v, want %#v", tc.oid, tc.text, got, tc.want)
		}
		if c.schema.Name != tc.schema {
			t.Errorf("oid %d: schema name %q, want %q", tc.oid, c.schema.Name, tc.schema)
		}
		if !c.schema.Optional {
			t.Errorf("oid %d: value schema is required; before-images may lack the column", tc.oid)
		}
	}
}

func TestConvertErrorsNameTheColumn(t *testing.T) {
	for _, tc := range []struct {
		oid  uint32
		mod  int32
		text string
	}{
		{oidInt4, -1, "x"}, {oidNumeric, (10<<16 | 2) + 4, "NaN"}, {oidBytea, -1, "abc"}, {oidDate, -1, "infinity"}, {oidBool, -1, "maybe"},
	} {
		c := mapColumn(column{Name: "price", TypeOID: tc.oid, TypMod: tc.mod})
		if _, err := c.convert(tc.text); err == nil || !containsAll(err.Error(), "price") {
			t.Errorf("oid %d %q: error %v does not name the column", tc.oid, tc.text, err)
		}
	}
}

func TestUnavailableValue(t *testing.T) {
	text := mapColumn(column{Name: "t", TypeOID: 25, TypMod: -1})
	bytea := mapColumn(column{Name: "b", TypeOID: oidBytea, TypMod: -1})
	num := mapColumn(column{Name: "n", TypeOID: oidNumeric, TypMod: (10<<16 | 2) + 4})
	if text.unavailable() != UnavailableValue || string(bytea.unavailable().([]byte)) != UnavailableValue || num.unavailable() != nil {
		t.Errorf("placeholders: %v %v %v", text.unavailable(), bytea.unavailable(), num.unavailable())
	}
}

func TestParsePosition(t *testing.T) {
	p, err := parsePosition([]byte(`{"phase":"stream","lsn":"0/16B3748","tx":"0/16B3800","skip":3}`))
	if err != nil || p.lsn != 0x16B3748 || p.tx != 0x16B3800 || p.Skip != 3 {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{`{"phase":"stream"}`, `{"phase":"snapshot","table":"public.t"}`, `{"phase":"other"}`, `not json`} {
		if _, err := parsePosition([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if p, err := parsePosition(nil); p != nil || err != nil {
		t.Errorf("nil position: %v %v", p, err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	ok := Config{DSN: "postgres://u@127.0.0.1:1/db", Tables: []string{"public.t"}, Slot: "s"}
	for _, tc := range []struct {
		change func(*Config)
		field  string
	}{
		{func(c *Config) { c.DSN = "" }, "DSN"},
		{func(c *Config) { c.Tables = nil }, "Tables"},
		{func(c *Config) { c.Tables = []string{"t"} }, "Tables[0]"},
		{func(c *Config) { c.Slot = "" }, "Slot"},
		{func(c *Config) { c.Slot = "Bad-Name" }, "Slot"},
		{func(c *Config) { c.SnapshotMode = "sometimes" }, "SnapshotMode"},
		{func(c *Config) { c.TopicPrefix = "a b" }, "TopicPrefix"},
		{func(c *Config) { c.ChunkSize = -1 }, "ChunkSize"},
	} {
		cfg := ok
		tc.change(&cfg)
		if err := cfg.Validate(); err == nil || !containsAll(err.Error(), tc.field) {
			t.Errorf("want an error naming %s, got %v", tc.field, err)
		}
	}
	cfg := ok
	if err := cfg.Validate(); err != nil || cfg.Publication != DefaultPublication || cfg.TopicPrefix != DefaultTopicPrefix {
		t.Errorf("defaults: %v %+v", err, cfg)
	}
	secret := Config{DSN: "postgres://u:hunter2@127.0.0.1:notaport/db", Tables: []string{"public.t"}, Slot: "s"}
	if err := secret.Validate(); err == nil || containsAll(err.Error(), "hunter2") {
		t.Errorf("a bad DSN's error must not print the password: %v", err)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
