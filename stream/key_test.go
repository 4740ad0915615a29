package stream

import "testing"

func TestKeyStringAndFieldOf(t *testing.T) {
	pk := NewStruct("pk").Field("id", Int64Schema()).MustBuild()
	one, _ := NewStructValue(pk)
	_ = one.Put("id", int64(5))
	for _, tc := range []struct {
		key  any
		want string
	}{
		{"a", "a"}, {[]byte("b"), "b"}, {int64(5), "5"}, {int32(-2), "-2"}, {float64(5), "5"}, {one, "5"},
		{map[string]any{"id": int64(5)}, "5"}, {map[string]any{"b": "x", "a": int64(1)}, "1+x"}, {NewDecimal(105, 1), "10.5"},
		{NewDecimal(200, 2), "2.00"}, {dec(t, "18446744073709551615"), "18446744073709551615"}, {NewDecimal(1, -3), "1000"},
	} {
		if got, err := KeyString(tc.key); err != nil || got != tc.want {
			t.Errorf("KeyString(%#v) = %q, %v; want %q", tc.key, got, err, tc.want)
		}
	}
	for _, bad := range []any{nil, "", []byte{}} {
		if _, err := KeyString(bad); err == nil {
			t.Errorf("KeyString(%#v) accepted", bad)
		}
	}
	nested := map[string]any{"customer": map[string]any{"id": int64(9)}, "n": int64(1)}
	if v, ok := FieldOf(nested, "customer.id"); !ok || v != int64(9) {
		t.Errorf("FieldOf nested = %v, %v", v, ok)
	}
	if _, ok := FieldOf(nested, "customer.name"); ok {
		t.Error("FieldOf found a missing field")
	}
	if v, ok := FieldOf(one, "id"); !ok || v != int64(5) {
		t.Errorf("FieldOf struct = %v, %v", v, ok)
	}
}
