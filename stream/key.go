package stream

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// KeyString turns a key of the data model into the string that identifies it across systems: strings and
// byte strings as they are, numbers in decimal (a Decimal in plain notation with all its digits and its
// scale, "2.00", so a BIGINT UNSIGNED key or one the json codec decoded without a schema keeps every
// digit; a float64 with an integral value without a fraction, 5 for 5.0), a struct (a primary key of several columns) as its field
// values in schema order joined by "+", a map as its values in key order joined by "+". A one-column key
// {"id":5} and the bare value 5 give the same string, so a foreign-key value finds the row it refers to.
func KeyString(key any) (string, error) {
	switch k := key.(type) {
	case nil:
		return "", errors.New("no key")
	case string:
		if k == "" {
			return "", errors.New("key is empty")
		}
		return k, nil
	case []byte:
		if len(k) == 0 {
			return "", errors.New("key is empty")
		}
		return string(k), nil
	case *Struct:
		var parts []string
		for _, f := range k.Schema().Fields {
			p, err := KeyString(k.Get(f.Name))
			if err != nil {
				return "", fmt.Errorf("key field %q: %w", f.Name, err)
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "+"), nil
	case map[string]any:
		names := make([]string, 0, len(k))
		for n := range k {
			names = append(names, n)
		}
		sort.Strings(names)
		var parts []string
		for _, n := range names {
			p, err := KeyString(k[n])
			if err != nil {
				return "", fmt.Errorf("key field %q: %w", n, err)
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "+"), nil
	case Decimal:
		return k.String(), nil
	case float64:
		if k == float64(int64(k)) {
			return fmt.Sprint(int64(k)), nil
		}
		return fmt.Sprint(k), nil
	case fmt.Stringer:
		return k.String(), nil
	default:
		return fmt.Sprint(k), nil
	}
}

// FieldOf returns the value at a dot-separated path in a struct value (*Struct) or a schemaless object
// (map[string]any), and whether it is there.
func FieldOf(value any, path string) (any, bool) {
	cur := value
	for _, name := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case *Struct:
			if _, ok := v.Schema().Field(name); !ok {
				return nil, false
			}
			cur = v.Get(name)
		case map[string]any:
			x, ok := v[name]
			if !ok {
				return nil, false
			}
			cur = x
		default:
			return nil, false
		}
	}
	return cur, true
}
