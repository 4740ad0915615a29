package stages

import (
	"reflect"
	"strings"
	"sync"
)

// This file reads the fields of the Go struct types that typed stages convert to and from, with the names and
// options of encoding/json's struct tags.

// goStruct is what typed stages need to know about a Go struct type.
type goStruct struct {
	fields []goField
	exact  map[string]int // JSON name -> index in fields
	folded map[string]int // lower-cased JSON name -> index in fields (first field of that folded name)
}

// goField is one field of a Go struct as encoding/json sees it.
type goField struct {
	name      string       // the JSON name: the tag's name, else the Go field name
	index     []int        // reflect index path, through embedded structs
	typ       reflect.Type // the field's type
	omitEmpty bool         // `json:",omitempty"`
	omitZero  bool         // `json:",omitzero"`
	quoted    bool         // `json:",string"` on a number or boolean: written as a JSON string
	optional  bool         // may be missing or null in the input: pointer, slice, map, interface, omitempty or omitzero
}

var goStructs sync.Map // reflect.Type -> *goStruct

// goStructOf returns the fields of struct type t, computed once per type.
func goStructOf(t reflect.Type) *goStruct {
	if s, ok := goStructs.Load(t); ok {
		return s.(*goStruct)
	}
	s := &goStruct{exact: map[string]int{}, folded: map[string]int{}}
	collectGoFields(t, nil, s, map[reflect.Type]bool{})
	actual, _ := goStructs.LoadOrStore(t, s)
	return actual.(*goStruct)
}

// collectGoFields adds the fields of t as encoding/json names them: exported fields, unless tagged "-";
// fields of embedded structs without a tag name are promoted (a name already taken by a shallower or earlier
// field is skipped, where encoding/json would drop both of two equally deep untagged duplicates).
func collectGoFields(t reflect.Type, index []int, s *goStruct, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	defer delete(visiting, t)
	var embedded []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				if !f.IsExported() {
					continue // encoding/json cannot allocate an unexported embedded pointer either
				}
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, f)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, taken := s.exact[name]; taken {
			continue
		}
		gf := goField{name: name, index: append(append([]int(nil), index...), i), typ: f.Type}
		for opts != "" {
			var o string
			o, opts, _ = strings.Cut(opts, ",")
			switch o {
			case "omitempty":
				gf.omitEmpty = true
			case "omitzero":
				gf.omitZero = true
			case "string":
				switch f.Type.Kind() {
				case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
					reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
					reflect.Float32, reflect.Float64:
					gf.quoted = true
				}
			}
		}
		switch f.Type.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			gf.optional = true
		}
		gf.optional = gf.optional || gf.omitEmpty || gf.omitZero
		s.exact[name] = len(s.fields)
		if _, taken := s.folded[strings.ToLower(name)]; !taken {
			s.folded[strings.ToLower(name)] = len(s.fields)
		}
		s.fields = append(s.fields, gf)
	}
	for _, f := range embedded {
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		collectGoFields(ft, append(append([]int(nil), index...), f.Index...), s, visiting)
	}
}

// lookup returns the field named key: the field of exactly that name, else the first whose name equals key
// ignoring case (encoding/json's rule), and whether the match was exact.
func (s *goStruct) lookup(key string) (f *goField, exact bool) {
	if i, ok := s.exact[key]; ok {
		return &s.fields[i], true
	}
	if i, ok := s.folded[strings.ToLower(key)]; ok {
		return &s.fields[i], false
	}
	return nil, false
}

// fieldOf returns the field of struct value v at index, allocating nil embedded pointers on the way when
// alloc is set; ok is false if a nil embedded pointer was met without alloc.
func fieldOf(v reflect.Value, index []int, alloc bool) (reflect.Value, bool) {
	for n, i := range index {
		if n > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !alloc {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v, true
}
