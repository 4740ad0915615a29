package stream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// maxDecimalScale bounds the scale of decimals that are parsed or rescaled, so that a hostile "1e999999999"
// cannot make the decoder allocate a billion digits. It is far beyond any database's DECIMAL scale.
const maxDecimalScale = 16384

// maxDecimalDigits bounds the digits of a parsed decimal for the same reason: converting n decimal digits to
// binary costs O(n²), so a megabyte of digits would stall a decoder for a second.
const maxDecimalDigits = 16384

// Decimal is an arbitrary-precision decimal number, the value of a Decimal schema: Unscaled × 10^-Scale, like
// Java's BigDecimal. The zero Decimal (nil Unscaled) is 0. Treat Unscaled as immutable: decoders and
// Rescale may share it between values.
type Decimal struct {
	Unscaled *big.Int
	Scale    int32
}

// NewDecimal returns unscaled × 10^-scale.
func NewDecimal(unscaled int64, scale int32) Decimal {
	return Decimal{Unscaled: big.NewInt(unscaled), Scale: scale}
}

// ParseDecimal parses a decimal number in plain ("-12.340") or exponent ("1.234E+3") notation. The scale is
// the number of digits after the point minus the exponent, as Java's BigDecimal(String) does, so "12.340"
// has scale 3 and "1E+3" scale -3. Numbers of more than 16384 digits, or whose scale is beyond ±16384, are
// refused with an error wrapping strconv.ErrRange.
func ParseDecimal(s string) (Decimal, error) {
	syntaxErr := func() (Decimal, error) {
		return Decimal{}, fmt.Errorf("stream: parse decimal %q: %w", s, strconv.ErrSyntax)
	}
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(strings.TrimPrefix(s[i+1:], "+"), 10, 32)
		if err != nil || strings.HasPrefix(s[i+1:], "+-") || strings.HasPrefix(s[i+1:], "++") {
			return syntaxErr()
		}
		mant, exp = s[:i], e
	}
	neg := false
	switch {
	case strings.HasPrefix(mant, "-"):
		neg, mant = true, mant[1:]
	case strings.HasPrefix(mant, "+"):
		mant = mant[1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	n := len(intPart) + len(frac)
	if n == 0 || !allDigits(intPart) || !allDigits(frac) {
		return syntaxErr()
	}
	if n > maxDecimalDigits {
		return Decimal{}, fmt.Errorf("stream: parse decimal of %d digits (at most %d): %w", n, maxDecimalDigits, strconv.ErrRange)
	}
	scale := int64(len(frac)) - exp
	if scale > maxDecimalScale || scale < -maxDecimalScale {
		return Decimal{}, fmt.Errorf("stream: parse decimal %q: scale %d: %w", s, scale, strconv.ErrRange)
	}
	var u *big.Int
	if n <= 18 { // fits an int64: no string concatenation, no base conversion
		var v int64
		for _, part := range [2]string{intPart, frac} {
			for i := 0; i < len(part); i++ {
				v = v*10 + int64(part[i]-'0')
			}
		}
		u = big.NewInt(v)
	} else if u, _ = new(big.Int).SetString(intPart+frac, 10); u == nil {
		return syntaxErr()
	}
	if neg {
		u.Neg(u)
	}
	return Decimal{Unscaled: u, Scale: int32(scale)}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (d Decimal) unscaled() *big.Int {
	if d.Unscaled == nil {
		return new(big.Int)
	}
	return d.Unscaled
}

// String returns d in plain notation with exactly Scale digits after the point ("1.50" for 150 with scale
// 2; "1500" for 15 with scale -2).
func (d Decimal) String() string {
	u := d.unscaled()
	digits := new(big.Int).Abs(u).String()
	var b strings.Builder
	if u.Sign() < 0 {
		b.WriteByte('-')
	}
	switch scale := int(d.Scale); {
	case scale <= 0:
		b.WriteString(digits)
		if u.Sign() != 0 {
			b.WriteString(strings.Repeat("0", -scale))
		}
	case len(digits) > scale:
		b.WriteString(digits[:len(digits)-scale])
		b.WriteByte('.')
		b.WriteString(digits[len(digits)-scale:])
	default:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", scale-len(digits)))
		b.WriteString(digits)
	}
	return b.String()
}

// JavaString formats d like Java's BigDecimal.toString, which Kafka Connect writes (JsonConverter with
// decimal.format=NUMERIC, the Cast transform): plain notation unless the scale is negative or the number is
// below 10^-6, then "1.23E-7" style exponent notation.
func (d Decimal) JavaString() string {
	u := d.unscaled()
	digits := new(big.Int).Abs(u).String()
	adjusted := -int64(d.Scale) + int64(len(digits)-1)
	if d.Scale >= 0 && adjusted >= -6 {
		return d.String()
	}
	var b strings.Builder
	if u.Sign() < 0 {
		b.WriteByte('-')
	}
	b.WriteString(digits[:1])
	if len(digits) > 1 {
		b.WriteByte('.')
		b.WriteString(digits[1:])
	}
	b.WriteByte('E')
	if adjusted > 0 {
		b.WriteByte('+')
	}
	b.WriteString(strconv.FormatInt(adjusted, 10))
	return b.String()
}

// MarshalJSON writes d as a JSON number with all its digits, in JavaString's notation ("2.00", "1E-30"), so
// that encoding/json (user code logging a schemaless value, a typed stage's state) writes the number, not
// the struct.
func (d Decimal) MarshalJSON() ([]byte, error) { return []byte(d.JavaString()), nil }

// UnmarshalJSON reads a JSON number or a string holding one, with its scale ("2.00" has scale 2), and
// also the {"Unscaled":N,"Scale":S} object encoding/json wrote for a Decimal before MarshalJSON existed
// (aggregate state stored then). JSON null leaves d unchanged.
func (d *Decimal) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case string(data) == "null":
		return nil
	case len(data) > 0 && data[0] == '{':
		var old struct {
			Unscaled *big.Int
			Scale    int32
		}
		if err := json.Unmarshal(data, &old); err != nil {
			return fmt.Errorf("stream: decimal object: %w", err)
		}
		*d = Decimal{Unscaled: old.Unscaled, Scale: old.Scale}
		return nil
	case len(data) > 0 && data[0] == '"':
		var text string
		if err := json.Unmarshal(data, &text); err != nil {
			return fmt.Errorf("stream: decimal string: %w", err)
		}
		data = []byte(text)
	}
	parsed, err := ParseDecimal(string(data))
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}

// Cmp compares the numeric values of d and o (-1, 0 or +1), whatever their scales.
func (d Decimal) Cmp(o Decimal) int {
	a, b := d.unscaled(), o.unscaled()
	switch {
	case d.Scale < o.Scale:
		a = new(big.Int).Mul(a, pow10(int64(o.Scale)-int64(d.Scale)))
	case d.Scale > o.Scale:
		b = new(big.Int).Mul(b, pow10(int64(d.Scale)-int64(o.Scale)))
	}
	return a.Cmp(b)
}

// Equal reports whether d and o have the same value and the same scale, as Java's BigDecimal.equals does
// (1.5 and 1.50 are not Equal; use Cmp to compare values).
func (d Decimal) Equal(o Decimal) bool {
	return d.Scale == o.Scale && d.unscaled().Cmp(o.unscaled()) == 0
}

// Rescale returns d with the given scale and the same value. It fails, wrapping ErrSchemaMismatch, when that
// would drop non-zero digits or when scale is beyond ±16384.
func (d Decimal) Rescale(scale int32) (Decimal, error) {
	if scale == d.Scale {
		return d, nil
	}
	if scale > maxDecimalScale || scale < -maxDecimalScale || d.Scale > maxDecimalScale || d.Scale < -maxDecimalScale {
		return Decimal{}, mismatchf("cannot rescale decimal from scale %d to %d", d.Scale, scale)
	}
	u := d.unscaled()
	if scale > d.Scale {
		return Decimal{Unscaled: new(big.Int).Mul(u, pow10(int64(scale)-int64(d.Scale))), Scale: scale}, nil
	}
	q, r := new(big.Int).QuoRem(u, pow10(int64(d.Scale)-int64(scale)), new(big.Int))
	if r.Sign() != 0 {
		return Decimal{}, mismatchf("decimal %s does not fit scale %d without rounding", d, scale)
	}
	return Decimal{Unscaled: q, Scale: scale}, nil
}

func pow10(n int64) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(n), nil)
}

// twosComplement returns the minimal big-endian two's-complement bytes of v, as Java's
// BigInteger.toByteArray does (0 is one zero byte).
func twosComplement(v *big.Int) []byte {
	if v.Sign() >= 0 {
		b := v.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// For negative v, the bytes are those of 2^(8n) + v for the smallest n that keeps the sign bit set.
	n := (new(big.Int).Not(v).BitLen())/8 + 1 // ^v = -v-1 >= 0
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
	b := m.Add(m, v).Bytes()
	for len(b) < n {
		b = append([]byte{0xff}, b...)
	}
	return b
}

// fromTwosComplement is the inverse of twosComplement, like Java's BigInteger(byte[]).
func fromTwosComplement(b []byte) *big.Int {
	v := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return v
}
