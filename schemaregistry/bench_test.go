package schemaregistry

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

func benchSchema(n int) stream.RegisteredSchema {
	fields := `{"name":"id","type":"long"}`
	for i := 1; i < n; i++ {
		fields += fmt.Sprintf(`,{"name":"f%d","type":"string","default":""}`, i)
	}
	return stream.RegisteredSchema{Schema: `{"type":"record","name":"Value","namespace":"shop.orders","fields":[` + fields + `]}`}
}

// BenchmarkRegisterMemory is a new registration on an in-memory log (no Kafka): the registry's own cost.
func BenchmarkRegisterMemory(b *testing.B) {
	ctx := context.Background()
	e, err := OpenEmbedded(ctx, NewMemoryLog(), EmbeddedOptions{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	for i := 0; b.Loop(); i++ {
		if _, err := e.Register(ctx, fmt.Sprintf("s-%d", i), benchSchema(20)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse20Fields is parseSchema of a 20-field record.
func BenchmarkParse20Fields(b *testing.B) {
	s := benchSchema(20)
	for b.Loop() {
		if _, err := parseSchema(s); err != nil {
			b.Fatal(err)
		}
	}
}
