package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in       string
		unscaled string
		scale    int32
		str      string // String()
		java     string // JavaString(), BigDecimal.toString
	}{
		{"0", "0", 0, "0", "0"},
		{"1.56", "156", 2, "1.56", "1.56"},
		{"-1.5600", "-15600", 4, "-1.5600", "-1.5600"},
		{"+7", "7", 0, "7", "7"},
		{".5", "5", 1, "0.5", "0.5"},
		{"5.", "5", 0, "5", "5"},
		{"0.000001", "1", 6, "0.000001", "0.000001"},
		{"0.0000001", "1", 7, "0.0000001", "1E-7"},
		{"-0.00000012", "-12", 8, "-0.00000012", "-1.2E-7"},
		{"1E+3", "1", -3, "1000", "1E+3"},
		{"1.23e5", "123", -3, "123000", "1.23E+5"},
		{"12.5e-1", "125", 2, "1.25", "1.25"},
		{"0E-10", "0", 10, "0.0000000000", "0E-10"},
		{"-999999999.999999999", "-999999999999999999", 9, "-999999999.999999999", "-999999999.999999999"},     // 18 digits: the int64 path
		{"9999999999.999999999", "9999999999999999999", 9, "9999999999.999999999", "9999999999.999999999"},     // 19 digits: big.Int
		{"-0009223372036854775808", "-9223372036854775808", 0, "-9223372036854775808", "-9223372036854775808"}, // leading zeros
		{"12345678901234567890123456789012345.123456789012345678901234567890",
			"12345678901234567890123456789012345123456789012345678901234567890", 30,
			"12345678901234567890123456789012345.123456789012345678901234567890",
			"12345678901234567890123456789012345.123456789012345678901234567890"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseDecimal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Unscaled.String() != tt.unscaled || d.Scale != tt.scale {
				t.Errorf("ParseDecimal(%q) = %s×10^-%d, want %s×10^-%d", tt.in, d.Unscaled, d.Scale, tt.unscaled, tt.scale)
			}
			if got := d.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := d.JavaString(); got != tt.java {
				t.Errorf("JavaString() = %q, want %q", got, tt.java)
			}
			back, err := ParseDecimal(d.JavaString())
			if err != nil || !back.Equal(d) {
				t.Errorf("ParseDecimal(JavaString()) = %v, %v; want %v", back, err, d)
			}
		})
	}
}

func TestParseDecimalErrors(t *testing.T) {
	for _, in := range []string{"", "-", ".", "1..2", "1.2.3", "abc", "1e", "1e+", "1e++2", "1e+-2", "0x10", "1 ", "1e99999", "1e-99999"} {
		if d, err := ParseDecimal(in); err == nil {
			t.Errorf("ParseDecimal(%q) = %v, want error", in, d)
		} else if !errors.Is(err, strconv.ErrSyntax) && !errors.Is(err, strconv.ErrRange) {
			t.Errorf("ParseDecimal(%q) error %v wraps neither ErrSyntax nor ErrRange", in, err)
		}
	}
}

func TestDecimalZeroValue(t *testing.T) {
	var d Decimal
	if d.String() != "0" || !d.Equal(NewDecimal(0, 0)) || d.Cmp(NewDecimal(0, 5)) != 0 {
		t.Errorf("zero Decimal is not 0: %q", d.String())
	}
}

func TestDecimalCmpEqualRescale(t *testing.T) {
	a, b := dec(t, "1.5"), dec(t, "1.50")
	if a.Equal(b) || a.Cmp(b) != 0 {
		t.Errorf("1.5 vs 1.50: Equal %v (want false), Cmp %d (want 0)", a.Equal(b), a.Cmp(b))
	}
	if dec(t, "-2").Cmp(dec(t, "1.99")) != -1 || dec(t, "1E+2").Cmp(dec(t, "99.9")) != 1 {
		t.Error("Cmp orders wrongly")
	}
	up, err := a.Rescale(4)
	if err != nil || up.String() != "1.5000" {
		t.Errorf("Rescale(4) = %v, %v", up, err)
	}
	down, err := dec(t, "1.500").Rescale(1)
	if err != nil || down.String() != "1.5" {
		t.Errorf("Rescale(1) = %v, %v", down, err)
	}
	if _, err := dec(t, "1.55").Rescale(1); !errors.Is(err, ErrSchemaMismatch) {
		t.Errorf("lossy Rescale error = %v, want ErrSchemaMismatch", err)
	}
	if _, err := a.Rescale(maxDecimalScale + 1); !errors.Is(err, ErrSchemaMismatch) {
		t.Errorf("huge Rescale error = %v, want ErrSchemaMismatch", err)
	}
}

// Java's BigInteger.toByteArray: minimal two's complement, big-endian.
func TestTwosComplement(t *testing.T) {
	tests := []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0}},
		{1, []byte{1}},
		{127, []byte{0x7f}},
		{128, []byte{0, 0x80}},
		{156, []byte{0, 0x9c}}, // Connect's test: "AJw="
		{255, []byte{0, 0xff}},
		{256, []byte{1, 0}},
		{-1, []byte{0xff}},
		{-128, []byte{0x80}},
		{-129, []byte{0xff, 0x7f}},
		{-256, []byte{0xff, 0x00}},
		{-32768, []byte{0x80, 0x00}},
		{-32769, []byte{0xff, 0x7f, 0xff}},
	}
	for _, tt := range tests {
		got := twosComplement(big.NewInt(tt.v))
		if !bytes.Equal(got, tt.want) {
			t.Errorf("twosComplement(%d) = %x, want %x", tt.v, got, tt.want)
		}
		if back := fromTwosComplement(got); back.Int64() != tt.v {
			t.Errorf("fromTwosComplement(%x) = %s, want %d", got, back, tt.v)
		}
	}
	for _, s := range []string{"-12345678901234567890123456789012345678901234567890", "98765432109876543210987654321098765432109876543210"} {
		v, _ := new(big.Int).SetString(s, 10)
		if back := fromTwosComplement(twosComplement(v)); back.Cmp(v) != 0 {
			t.Errorf("round trip of %s gave %s", v, back)
		}
	}
}

// encoding/json writes a Decimal as its number and reads it back with its scale, also from a string and
// from the object form it wrote before Decimal had MarshalJSON.
func TestDecimalJSON(t *testing.T) {
	v := map[string]any{"amount": NewDecimal(200, 2), "tiny": NewDecimal(1, 30), "big": dec(t, "18446744073709551615")}
	b, err := json.Marshal(v)
	if err != nil || string(b) != `{"amount":2.00,"big":18446744073709551615,"tiny":1E-30}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	for in, want := range map[string]Decimal{
		`2.00`:                          NewDecimal(200, 2),
		`"-1.5E+3"`:                     NewDecimal(-15, -2),
		`{"Unscaled":12345,"Scale":3}`:  NewDecimal(12345, 3),
		` 18446744073709551615 `:        dec(t, "18446744073709551615"),
		`{"Unscaled":-7,"Scale":-2}   `: NewDecimal(-7, -2),
	} {
		var d Decimal
		if err := json.Unmarshal([]byte(in), &d); err != nil || !d.Equal(want) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", in, d, err, want)
		}
	}
	d := NewDecimal(5, 0)
	if err := json.Unmarshal([]byte(`null`), &d); err != nil || !d.Equal(NewDecimal(5, 0)) {
		t.Errorf("null changed the decimal to %v (%v)", d, err)
	}
	for _, bad := range []string{`"x"`, `true`, `{"Unscaled":"x"}`, `1e99999`} {
		var d Decimal
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("Unmarshal(%s) accepted: %v", bad, d)
		}
	}
}
