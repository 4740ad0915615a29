package stream

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file writes JSON scalars exactly as Jackson, behind Kafka Connect's JsonConverter, writes them.

// float writes f in Java's notation; NaN and infinities, which JSON numbers cannot express, are written as
// the strings "NaN", "Infinity" and "-Infinity", as Jackson does.
func (w *jsonWriter) float(f float64, bitSize int) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.buf = append(w.buf, '"')
		w.buf = appendJavaFloat(w.buf, f, bitSize)
		w.buf = append(w.buf, '"')
		return
	}
	w.buf = appendJavaFloat(w.buf, f, bitSize)
}

func (w *jsonWriter) bytes(b []byte) {
	w.buf = append(w.buf, '"')
	w.buf = base64.StdEncoding.AppendEncode(w.buf, b)
	w.buf = append(w.buf, '"')
}

// string writes s as a JSON string escaped as Jackson escapes it: quote, backslash and control characters
// only (\b \t \n \f \r short, others \u00XX); invalid UTF-8 becomes U+FFFD.
func (w *jsonWriter) string(s string) {
	const hex = "0123456789ABCDEF"
	w.buf = append(w.buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				w.buf = utf8.AppendRune(w.buf, utf8.RuneError)
			} else {
				w.buf = append(w.buf, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"', '\\':
			w.buf = append(w.buf, '\\', c)
		case '\b':
			w.buf = append(w.buf, '\\', 'b')
		case '\t':
			w.buf = append(w.buf, '\\', 't')
		case '\n':
			w.buf = append(w.buf, '\\', 'n')
		case '\f':
			w.buf = append(w.buf, '\\', 'f')
		case '\r':
			w.buf = append(w.buf, '\\', 'r')
		default:
			if c < 0x20 {
				w.buf = append(w.buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				w.buf = append(w.buf, c)
			}
		}
		i++
	}
	w.buf = append(w.buf, '"')
}

// JavaFloatString formats f as Java's Double.toString (bitSize 64) or Float.toString (32), as Kafka Connect
// writes floats: "42.0", "0.001", "1.0E7", "1.5E-4", "NaN", "-Infinity".
func JavaFloatString(f float64, bitSize int) string { return string(appendJavaFloat(nil, f, bitSize)) }

// appendJavaFloat appends f as Java's Double.toString (bitSize 64) or Float.toString (bitSize 32) writes it
// (JDK 19+, shortest representation): "1.0", "0.001", "1.0E7", "1.0E-4", "NaN", "-Infinity".
func appendJavaFloat(buf []byte, f float64, bitSize int) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, "NaN"...)
	case math.IsInf(f, 1):
		return append(buf, "Infinity"...)
	case math.IsInf(f, -1):
		return append(buf, "-Infinity"...)
	case f == 0:
		if math.Signbit(f) {
			return append(buf, "-0.0"...)
		}
		return append(buf, "0.0"...)
	}
	if f < 0 {
		buf = append(buf, '-')
		f = -f
	}
	digits, exp := shortestDigits(f, -1, bitSize)
	if len(digits) == 1 {
		// Java never writes fewer than two significant digits ("d.d"), and picks the two-digit decimal
		// closest to f: 4.9E-324, not 5.0E-324, for the smallest double. Trailing zeros are then dropped.
		digits, exp = shortestDigits(f, 1, bitSize)
		if trimmed := strings.TrimRight(digits, "0"); trimmed != "" {
			digits = trimmed
		}
	}
	if f >= 1e-3 && f < 1e7 {
		if exp >= 0 {
			if len(digits) <= exp+1 {
				buf = append(buf, digits...)
				buf = append(buf, strings.Repeat("0", exp+1-len(digits))...)
				return append(buf, ".0"...)
			}
			buf = append(buf, digits[:exp+1]...)
			buf = append(buf, '.')
			return append(buf, digits[exp+1:]...)
		}
		buf = append(buf, "0."...)
		buf = append(buf, strings.Repeat("0", -exp-1)...)
		return append(buf, digits...)
	}
	buf = append(buf, digits[0], '.')
	if len(digits) > 1 {
		buf = append(buf, digits[1:]...)
	} else {
		buf = append(buf, '0')
	}
	buf = append(buf, 'E')
	return strconv.AppendInt(buf, int64(exp), 10)
}

// shortestDigits returns the significant digits of f > 0 and the decimal exponent of the first one, with
// prec digits after the first (-1 for the shortest that reads back as f).
func shortestDigits(f float64, prec, bitSize int) (string, int) {
	mant, expText, _ := strings.Cut(strconv.FormatFloat(f, 'e', prec, bitSize), "e")
	exp, _ := strconv.Atoi(expText)
	return strings.Replace(mant, ".", "", 1), exp
}
