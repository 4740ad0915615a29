package stream

import (
	"math"
	"testing"
)

// Expected strings are what Java 19+ Double.toString and Float.toString print.
func TestAppendJavaFloat(t *testing.T) {
	tenth, fifth := 0.1, 0.2
	doubles := []struct {
		f    float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{-1.5, "-1.5"},
		{100, "100.0"},
		{12.34, "12.34"},
		{0.001, "0.001"},
		{0.002, "0.002"},
		{0.0001, "1.0E-4"},
		{123456.789, "123456.789"},
		{9999999, "9999999.0"},
		{1e7, "1.0E7"},
		{12345678.9, "1.23456789E7"},
		{1e23, "1.0E23"},
		{tenth + fifth, "0.30000000000000004"},
		{math.MaxFloat64, "1.7976931348623157E308"},
		{math.SmallestNonzeroFloat64, "4.9E-324"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
		{math.NaN(), "NaN"},
	}
	for _, tt := range doubles {
		if got := string(appendJavaFloat(nil, tt.f, 64)); got != tt.want {
			t.Errorf("double %v: got %q, want %q", tt.f, got, tt.want)
		}
	}
	floats := []struct {
		f    float32
		want string
	}{
		{12.34, "12.34"},
		{0.1, "0.1"},
		{16777216, "1.6777216E7"},
		{math.MaxFloat32, "3.4028235E38"},
		{math.SmallestNonzeroFloat32, "1.4E-45"},
		{1e-3, "0.001"},
	}
	for _, tt := range floats {
		if got := string(appendJavaFloat(nil, float64(tt.f), 32)); got != tt.want {
			t.Errorf("float %v: got %q, want %q", tt.f, got, tt.want)
		}
	}
}

// Jackson escapes only quote, backslash and control characters, with upper-case hex.
func TestJSONStringEscaping(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\b\t\n\f\r", `"\b\t\n\f\r"`},
		{"\x00\x1f\x7f", `"\u0000\u001F` + "\x7f" + `"`},
		{"<a&b>", `"<a&b>"`},
		{"é☃😀\u2028", "\"é☃😀\u2028\""},
		{"bad\xffutf8", "\"bad\uFFFDutf8\""},
	}
	for _, tt := range tests {
		var w jsonWriter
		w.string(tt.in)
		if got := string(w.buf); got != tt.want {
			t.Errorf("string(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
