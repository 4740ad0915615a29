package stages

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"

	"github.com/sluicehq/sluice/stream"
)

// This file converts the numbers of the data model (int8..int64, float32/64, Decimal, json.Number) into the
// number types a typed stage declares, without losing digits.

// integer stores a number without fraction into the integer dst, refusing fractions and values out of
// dst's range.
func (c *inputConverter) integer(p *pathNode, src any, dst reflect.Value) error {
	var i int64
	var u uint64
	isInt, isUint := false, false // which of i and u holds the value
	switch x := src.(type) {
	case int64:
		i, isInt = x, true
	case int32:
		i, isInt = int64(x), true
	case int16:
		i, isInt = int64(x), true
	case int8:
		i, isInt = int64(x), true
	case int:
		i, isInt = int64(x), true
	case uint64:
		u, isUint = x, true
	case uint32:
		u, isUint = uint64(x), true
	case uint16:
		u, isUint = uint64(x), true
	case uint8:
		u, isUint = uint64(x), true
	case uint:
		u, isUint = uint64(x), true
	default:
		b, isNum := exactInteger(src)
		if !isNum {
			return c.mismatch(p, src, dst)
		}
		if b == nil {
			return &conversionError{p.String(), fmt.Sprintf("is %s with a fraction, want %s", describeSource(src), describeGoType(dst.Type())), ErrFieldType}
		}
		switch {
		case b.IsInt64():
			i, isInt = b.Int64(), true
		case b.IsUint64():
			u, isUint = b.Uint64(), true
		}
	}
	switch k := dst.Kind(); {
	case k >= reflect.Int && k <= reflect.Int64:
		if isUint && u <= math.MaxInt64 {
			i, isInt = int64(u), true
		}
		if isInt && !dst.OverflowInt(i) {
			dst.SetInt(i)
			return nil
		}
	default:
		if isInt && i >= 0 {
			u, isUint = uint64(i), true
		}
		if isUint && !dst.OverflowUint(u) {
			dst.SetUint(u)
			return nil
		}
	}
	return &conversionError{p.String(), fmt.Sprintf("is %s, out of the range of %s", describeSource(src), dst.Type()), ErrFieldType}
}

// exactInteger returns the integer value of a number, nil if it has a fraction; isNumber is false for a
// value that is not a number.
func exactInteger(src any) (b *big.Int, isNumber bool) {
	var d stream.Decimal
	switch x := src.(type) {
	case float64:
		return floatInteger(x), true
	case float32:
		return floatInteger(float64(x)), true
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return big.NewInt(i), true
		}
		var err error
		if d, err = stream.ParseDecimal(string(x)); err != nil {
			return nil, true
		}
	case stream.Decimal:
		d = x
	default:
		return nil, false
	}
	u := d.Unscaled
	if u == nil {
		u = new(big.Int)
	}
	if d.Scale <= 0 {
		return new(big.Int).Mul(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-d.Scale)), nil)), true
	}
	q, r := new(big.Int).QuoRem(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil), new(big.Int))
	if r.Sign() != 0 {
		return nil, true
	}
	return q, true
}

func floatInteger(f float64) *big.Int {
	if math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) {
		return nil
	}
	b, _ := big.NewFloat(f).Int(nil)
	return b
}

// float stores a number into the float dst. Digits beyond float64's precision are lost: declaring a float
// field is the user's choice of that loss.
func (c *inputConverter) float(p *pathNode, src any, dst reflect.Value) error {
	var f float64
	switch x := src.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int64:
		f = float64(x)
	case int32:
		f = float64(x)
	case int16:
		f = float64(x)
	case int8:
		f = float64(x)
	case int:
		f = float64(x)
	case json.Number, stream.Decimal:
		var text string
		if d, ok := x.(stream.Decimal); ok {
			text = d.JavaString()
		} else {
			text = string(x.(json.Number))
		}
		var err error
		if f, err = strconv.ParseFloat(text, 64); err != nil {
			return &conversionError{p.String(), fmt.Sprintf("is %s, out of the range of %s", describeSource(src), dst.Type()), ErrFieldType}
		}
	default:
		rv := reflect.ValueOf(src)
		if !rv.CanUint() {
			return c.mismatch(p, src, dst)
		}
		f = float64(rv.Uint())
	}
	if dst.OverflowFloat(f) {
		return &conversionError{p.String(), fmt.Sprintf("is %s, out of the range of %s", describeSource(src), dst.Type()), ErrFieldType}
	}
	dst.SetFloat(f)
	return nil
}

// decimalOf returns a number, or a string holding one, as an exact Decimal (a float as its shortest decimal
// form).
func decimalOf(src any) (d stream.Decimal, isNumber bool, err error) {
	switch x := src.(type) {
	case stream.Decimal:
		return x, true, nil
	case json.Number:
		d, err = stream.ParseDecimal(string(x))
		return d, true, err
	case string: // a number in a string, as encoding/json takes one into json.Number
		if d, err = stream.ParseDecimal(x); err != nil {
			return d, false, nil
		}
		return d, true, nil
	case float64, float32:
		text, err := floatText(x)
		if err != nil {
			return d, true, err
		}
		d, err = stream.ParseDecimal(text)
		return d, true, err
	}
	rv := reflect.ValueOf(src)
	switch {
	case rv.CanInt():
		return stream.NewDecimal(rv.Int(), 0), true, nil
	case rv.CanUint():
		return stream.Decimal{Unscaled: new(big.Int).SetUint64(rv.Uint())}, true, nil
	}
	return d, false, nil
}

// numberTextOf returns a number, or a string holding one, as exact JSON number text.
func numberTextOf(src any) (text string, isNumber bool, err error) {
	switch x := src.(type) {
	case json.Number:
		return string(x), true, nil
	case stream.Decimal:
		return x.JavaString(), true, nil
	case string: // a number in a string, as encoding/json takes one into json.Number
		d, err := stream.ParseDecimal(x)
		if err != nil {
			return "", false, nil
		}
		return d.JavaString(), true, nil
	case float64, float32:
		text, err = floatText(x)
		return text, true, err
	}
	rv := reflect.ValueOf(src)
	switch {
	case rv.CanInt():
		return strconv.FormatInt(rv.Int(), 10), true, nil
	case rv.CanUint():
		return strconv.FormatUint(rv.Uint(), 10), true, nil
	}
	return "", false, nil
}

// floatText returns the shortest decimal text that reads back as the same float.
func floatText(f any) (string, error) {
	v, bits := 0.0, 64
	switch x := f.(type) {
	case float64:
		v = x
	case float32:
		v, bits = float64(x), 32
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return "", fmt.Errorf("%v is not a finite number", v)
	}
	return strconv.FormatFloat(v, 'g', -1, bits), nil
}
