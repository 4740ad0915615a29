package stream

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

var (
	// ErrUnknownCodec means no codec is registered under the name asked for. The error names it and lists
	// the codecs that are registered.
	ErrUnknownCodec = errors.New("stream: unknown codec")
	// ErrDuplicateCodec means a codec is already registered under that name.
	ErrDuplicateCodec = errors.New("stream: codec already registered")
)

// Codecs is a registry of codecs by name, safe for concurrent use. The zero value is empty and ready to
// use; NewCodecs returns one holding the built-in codecs.
type Codecs struct {
	mu     sync.RWMutex
	byName map[string]Codec
}

// NewCodecs returns a registry holding the built-in codecs: "bytes", "json", "json-schema" and "string".
func NewCodecs() *Codecs {
	r := &Codecs{byName: make(map[string]Codec)}
	for _, c := range []Codec{BytesCodec{}, JSONCodec{}, JSONSchemaCodec{}, StringCodec{}} {
		r.byName[c.Name()] = c
	}
	return r
}

// Register adds c under c.Name(). It fails for a nil codec or an empty name, and with an error wrapping
// ErrDuplicateCodec when the name is taken.
func (r *Codecs) Register(c Codec) error {
	if c == nil {
		return errors.New("stream: register codec: nil codec")
	}
	name := c.Name()
	if name == "" {
		return errors.New("stream: register codec: empty name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byName[name]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateCodec, name)
	}
	if r.byName == nil {
		r.byName = make(map[string]Codec)
	}
	r.byName[name] = c
	return nil
}

// Lookup returns the codec registered as name, or an error wrapping ErrUnknownCodec that names it and lists
// the registered codecs.
func (r *Codecs) Lookup(name string) (Codec, error) {
	r.mu.RLock()
	c, ok := r.byName[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (registered: %s)", ErrUnknownCodec, name, strings.Join(r.Names(), ", "))
	}
	return c, nil
}

// Names returns the registered codec names, sorted.
func (r *Codecs) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.byName))
	for name := range r.byName {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// defaultCodecs is the registry behind RegisterCodec, LookupCodec and CodecNames.
var defaultCodecs = NewCodecs()

// RegisterCodec adds c to the default registry, which starts with the built-in codecs. Duplicate names are
// rejected with an error wrapping ErrDuplicateCodec. Call it from an init function or before the pipeline
// starts.
func RegisterCodec(c Codec) error { return defaultCodecs.Register(c) }

// LookupCodec returns the codec registered as name in the default registry, or an error wrapping
// ErrUnknownCodec that names it and lists the registered codecs.
func LookupCodec(name string) (Codec, error) { return defaultCodecs.Lookup(name) }

// CodecNames returns the names in the default registry, sorted.
func CodecNames() []string { return defaultCodecs.Names() }
