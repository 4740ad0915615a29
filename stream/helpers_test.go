package stream

import (
	"math/big"
	"testing"
)

// dec parses a decimal or fails the test.
func dec(t testing.TB, s string) Decimal {
	t.Helper()
	d, err := ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// bigDec returns a Decimal with a big unscaled value given in decimal digits.
func bigDec(t testing.TB, unscaled string, scale int32) Decimal {
	t.Helper()
	u, ok := new(big.Int).SetString(unscaled, 10)
	if !ok {
		t.Fatalf("bad unscaled value %q", unscaled)
	}
	return Decimal{Unscaled: u, Scale: scale}
}

// structOf builds a Struct of schema from field name/value pairs, failing the test on any error.
func structOf(t testing.TB, schema *Schema, kv ...any) *Struct {
	t.Helper()
	s, err := NewStructValue(schema)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		if err := s.Put(kv[i].(string), kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func mustBuild(t testing.TB, b *StructBuilder) *Schema {
	t.Helper()
	s, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
