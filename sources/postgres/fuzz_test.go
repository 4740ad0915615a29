package postgres

import "testing"

// FuzzConvert: any text, for any known type, converts or fails with an error; it never panics.
func FuzzConvert(f *testing.F) {
	for _, s := range []string{"t", "-1", "1.5e10", "NaN", `\x00ff`, "2024-02-29", "24:00:00.1234567", "2024-02-29 01:02:03+05:30", "12:00:00+00", ""} {
		f.Add(s)
	}
	oids := []uint32{oidBool, oidInt2, oidInt4, oidInt8, oidFloat4, oidFloat8, oidNumeric, oidBytea, oidDate, oidTime,
		oidTimestamp, oidTimestamptz, oidTimetz, oidInterval, oidJSONB, oidUUID, 25}
	f.Fuzz(func(t *testing.T, text string) {
		for _, oid := range oids {
			for _, mod := range []int32{-1, (10<<16 | 2) + 4} {
				c := mapColumn(column{Name: "c", TypeOID: oid, TypMod: mod})
				v, err := c.convert(text)
				if err == nil && v == nil {
					t.Errorf("oid %d %q: nil value without an error", oid, text)
				}
			}
		}
	})
}
