package stages_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Helpers shared by the field transform tests (ft = field transform).

// ftStruct builds a Struct of schema from field name/value pairs, failing the test on any error.
func ftStruct(t testing.TB, schema *stream.Schema, kv ...any) *stream.Struct {
	t.Helper()
	s, err := stream.NewStructValue(schema)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		if err := s.Put(kv[i].(string), kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// ftRun runs stage on r and returns the one record it must produce.
func ftRun(t testing.TB, stage stages.Stage, r stream.Record) stream.Record {
	t.Helper()
	out, err := stage.Process(context.Background(), r)
	if err != nil {
		t.Fatalf("%s: %v", stage.Name(), err)
	}
	if len(out) != 1 {
		t.Fatalf("%s: %d records, want 1", stage.Name(), len(out))
	}
	return out[0]
}

// ftRunErr runs stage on r and returns its error, which must wrap ErrTransformRecord and mention every
// string in mention.
func ftRunErr(t testing.TB, stage stages.Stage, r stream.Record, mention ...string) error {
	t.Helper()
	out, err := stage.Process(context.Background(), r)
	if err == nil {
		t.Fatalf("%s: no error, got %v", stage.Name(), out)
	}
	if !errors.Is(err, stages.ErrTransformRecord) {
		t.Errorf("%s: error %q does not wrap ErrTransformRecord", stage.Name(), err)
	}
	for _, m := range mention {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q does not mention %q", stage.Name(), err, m)
		}
	}
	return err
}

// ftConfigErr checks that a constructor failed with an error wrapping ErrTransformConfig that mentions
// every string in mention.
func ftConfigErr(t testing.TB, s stages.Stage, err error, mention ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, got stage %v", s)
	}
	if !errors.Is(err, stages.ErrTransformConfig) {
		t.Errorf("error %q does not wrap ErrTransformConfig", err)
	}
	for _, m := range mention {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
}

// ftSameValue fails the test unless got and want are equal values of the data model.
func ftSameValue(t testing.TB, what string, got, want any) {
	t.Helper()
	if !stream.EqualValues(got, want) {
		t.Errorf("%s = %v (%T), want %v (%T)", what, got, got, want, want)
	}
}

// ftSameSchema fails the test unless got and want are Equal schemas.
func ftSameSchema(t testing.TB, what string, got, want *stream.Schema) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s", what, ftDescribe(got), ftDescribe(want))
	}
}

func ftDescribe(s *stream.Schema) string {
	if s == nil {
		return "<nil>"
	}
	var b strings.Builder
	ftWriteSchema(&b, s)
	return b.String()
}

func ftWriteSchema(b *strings.Builder, s *stream.Schema) {
	b.WriteString(string(s.Type))
	if s.Name != "" {
		b.WriteString(" " + s.Name)
	}
	if s.Optional {
		b.WriteString("?")
	}
	if s.Default != nil {
		b.WriteString("=")
		fmt.Fprint(b, s.Default)
	}
	if s.Type == stream.TypeStruct {
		b.WriteString("{")
		for i, f := range s.Fields {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(f.Name + ":")
			ftWriteSchema(b, f.Schema)
		}
		b.WriteString("}")
	}
}

// TestOnKeyWorksOnTheKey checks that OnKey moves every transform to the key, leaving the value alone.
func TestOnKeyWorksOnTheKey(t *testing.T) {
	value := map[string]any{"untouched": true}
	key := map[string]any{"id": int64(7), "name": "Ada"}
	build := map[string]func() (stages.Stage, error){
		"cast": func() (stages.Stage, error) { return stages.Cast("c", "id:string", stages.OnKey()) },
		"replace": func() (stages.Stage, error) {
			return stages.ReplaceField("r", stages.ReplaceFieldConfig{Exclude: []string{"name"}}, stages.OnKey())
		},
		"mask": func() (stages.Stage, error) {
			return stages.MaskField("m", stages.MaskFieldConfig{Fields: []string{"name"}}, stages.OnKey())
		},
		"extract": func() (stages.Stage, error) {
			return stages.ExtractField("e", stages.ExtractFieldConfig{Field: "id"}, stages.OnKey())
		},
		"hoist":   func() (stages.Stage, error) { return stages.HoistField("h", "k", stages.OnKey()) },
		"flatten": func() (stages.Stage, error) { return stages.Flatten("f", "", stages.OnKey()) },
		"insert-topic": func() (stages.Stage, error) {
			return stages.InsertField("i", stages.InsertFieldConfig{TopicField: "t"}, stages.OnKey())
		},
	}
	want := map[string]any{
		"cast":         map[string]any{"id": "7", "name": "Ada"},
		"replace":      map[string]any{"id": int64(7)},
		"mask":         map[string]any{"id": int64(7), "name": ""},
		"extract":      int64(7),
		"hoist":        map[string]any{"k": key},
		"flatten":      key,
		"insert-topic": map[string]any{"id": int64(7), "name": "Ada", "t": "orders"},
	}
	for name, b := range build {
		t.Run(name, func(t *testing.T) {
			s, err := b()
			if err != nil {
				t.Fatal(err)
			}
			out := ftRun(t, s, stream.Record{Topic: "orders", Key: key, Value: value})
			ftSameValue(t, "key", out.Key, want[name])
			ftSameValue(t, "value", out.Value, value)
		})
	}
}

// TestFieldTransformsNeedAName checks that every constructor rejects an empty stage name with ErrNoName.
func TestFieldTransformsNeedAName(t *testing.T) {
	var errs []error
	add := func(_ stages.Stage, err error) { errs = append(errs, err) }
	add(stages.Cast("", "int8"))
	add(stages.ReplaceField("", stages.ReplaceFieldConfig{}))
	add(stages.InsertField("", stages.InsertFieldConfig{TopicField: "t"}))
	add(stages.MaskField("", stages.MaskFieldConfig{Fields: []string{"a"}}))
	add(stages.ExtractField("", stages.ExtractFieldConfig{Field: "a"}))
	add(stages.Flatten("", ""))
	add(stages.HoistField("", "a"))
	add(stages.ValueToKey("", []string{"a"}))
	add(stages.SetSchemaMetadata("", stages.SchemaMetadata{Name: "n"}))
	add(stages.TimestampConverter("", stages.TimestampConverterConfig{Target: stages.TimestampUnix}))
	for i, err := range errs {
		if !errors.Is(err, stages.ErrNoName) {
			t.Errorf("constructor %d: %v, want ErrNoName", i, err)
		}
	}
}

// TestFieldTransformsAreStages checks the stages have their names and pass Validate.
func TestFieldTransformsAreStages(t *testing.T) {
	s, err := stages.Flatten("flat", "_")
	if err != nil {
		t.Fatal(err)
	}
	if err := stages.Validate(s); err != nil || s.Name() != "flat" {
		t.Fatalf("Validate = %v, Name = %q", err, s.Name())
	}
}

// ftTime returns the UTC time ms milliseconds after the epoch.
func ftTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
