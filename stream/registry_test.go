package stream

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

type namedCodec struct {
	JSONCodec
	name string
}

func (c namedCodec) Name() string { return c.name }

func TestBuiltinCodecs(t *testing.T) {
	want := []string{"bytes", "json", "json-schema", "string"}
	if got := CodecNames(); !slices.Equal(got, want) {
		t.Errorf("CodecNames() = %v, want %v", got, want)
	}
	for _, name := range want {
		c, err := LookupCodec(name)
		if err != nil || c.Name() != name {
			t.Errorf("LookupCodec(%q) = %v, %v", name, c, err)
		}
	}
}

func TestCodecsRegister(t *testing.T) {
	r := NewCodecs()
	if err := r.Register(namedCodec{name: "custom"}); err != nil {
		t.Fatal(err)
	}
	err := r.Register(namedCodec{name: "json"})
	if !errors.Is(err, ErrDuplicateCodec) || err.Error() != `stream: codec already registered: "json"` {
		t.Errorf("duplicate Register error = %v", err)
	}
	if err := r.Register(nil); err == nil {
		t.Error("Register(nil) succeeded")
	}
	if err := r.Register(namedCodec{}); err == nil {
		t.Error("Register of an unnamed codec succeeded")
	}
	_, err = r.Lookup("avro")
	want := `stream: unknown codec "avro" (registered: bytes, custom, json, json-schema, string)`
	if !errors.Is(err, ErrUnknownCodec) || err.Error() != want {
		t.Errorf("Lookup error = %v, want %s", err, want)
	}
	if slices.Contains(CodecNames(), "custom") {
		t.Error("registering in a registry changed the default registry")
	}

	var empty Codecs
	if err := empty.Register(namedCodec{name: "x"}); err != nil {
		t.Errorf("zero Codecs: %v", err)
	}
	if _, err := empty.Lookup("json"); !errors.Is(err, ErrUnknownCodec) {
		t.Errorf("zero Codecs Lookup(json) = %v", err)
	}
}

func TestRegisterCodecGlobalDuplicate(t *testing.T) {
	if err := RegisterCodec(JSONCodec{}); !errors.Is(err, ErrDuplicateCodec) {
		t.Errorf("RegisterCodec(json) error = %v, want ErrDuplicateCodec", err)
	}
}

func TestCodecsConcurrent(t *testing.T) {
	r := NewCodecs()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_ = r.Register(namedCodec{name: string(rune('a' + i))})
			_, _ = r.Lookup("json")
			_ = r.Names()
		})
	}
	wg.Wait()
	if n := len(r.Names()); n != 12 {
		t.Errorf("%d codecs registered, want 12", n)
	}
}
