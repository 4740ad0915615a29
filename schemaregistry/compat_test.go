package schemaregistry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/stream"
)

func record(fields ...string) string {
	return `{"type":"record","name":"Value","namespace":"shop.orders","fields":[` + strings.Join(fields, ",") + `]}`
}

// envelope is a Debezium change event's value schema whose row (before and after) has fields.
func envelope(fields ...string) string {
	return `{"type":"record","name":"Envelope","namespace":"shop.orders","fields":[` +
		`{"name":"before","type":["null",{"type":"record","name":"Value","fields":[` + strings.Join(fields, ",") + `]}],"default":null},` +
		`{"name":"after","type":["null","Value"],"default":null},` +
		`{"name":"op","type":"string"},{"name":"ts_ms","type":["null","long"],"default":null}]}`
}

const (
	fID        = `{"name":"id","type":"long"}`
	fIDInt     = `{"name":"id","type":"int"}`
	fNote      = `{"name":"note","type":"string"}`
	fNoteDef   = `{"name":"note","type":"string","default":"x"}`
	fNoteOpt   = `{"name":"note","type":["null","string"],"default":null}`
	fStatus    = `{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}}`
	fStatus3   = `{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"]}}`
	fTags      = `{"name":"tags","type":{"type":"array","items":"string"}}`
	fTagsInt   = `{"name":"tags","type":{"type":"array","items":"int"}}`
	fCustomer  = `{"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"name","type":"string"}]}}`
	fCustomer2 = `{"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}}`
)

// TestCompatibilityRules registers a previous schema, then a candidate under each level, through the Go
// API a pipeline uses, and checks acceptance or the refusal's message (field, record and rule).
func TestCompatibilityRules(t *testing.T) {
	cases := []struct {
		name, level, previous, candidate string
		refusal                          string // "" = accepted
	}{
		{"add field with default", Full, record(fID), record(fID, fNoteDef), ""},
		{"add optional field", FullTransitive, record(fID), record(fID, fNoteOpt), ""},
		{"add field without default, backward", Backward, record(fID), record(fID, fNote),
			`incompatible under BACKWARD: field "note" (in record shop.orders.Value) was added without a default, so the new schema cannot read data written with the previous version 1`},
		{"add field without default, forward", Forward, record(fID), record(fID, fNote), ""},
		{"drop field without default, forward", Forward, record(fID, fNote), record(fID),
			`incompatible under FORWARD: field "note" (in record shop.orders.Value) was removed and has no default in the previous version 1`},
		{"drop field without default, backward", Backward, record(fID, fNote), record(fID), ""},
		{"drop field with default, full", Full, record(fID, fNoteDef), record(fID), ""},
		{"promote int to long, backward", Backward, record(fIDInt), record(fID), ""},
		{"promote int to long, forward", Forward, record(fIDInt), record(fID),
			`incompatible under FORWARD: field "id" (in record shop.orders.Value) has type long in the new schema and int in the previous version 1, which Avro cannot resolve`},
		{"enum symbol added, forward", Forward, record(fStatus), record(fStatus3),
			`field "status" (in record shop.orders.Value): symbol "SHIPPED" of enum shop.orders.Status in the new schema is missing in the previous version 1`},
		{"enum symbol added, backward", Backward, record(fStatus), record(fStatus3), ""},
		{"array items changed", Backward, record(fTags), record(fTagsInt),
			`the items of field "tags" (in record shop.orders.Value) has type string in the previous version 1 and int in the new schema`},
		{"nested record field added without default", Backward, record(fCustomer), record(fCustomer2),
			`field "email" (in record shop.orders.Customer) was added without a default`},
		{"nullable nested record field added without default", Backward,
			record(`{"name":"customer","type":["null",{"type":"record","name":"Customer","fields":[{"name":"name","type":"string"}]}]}`),
			record(`{"name":"customer","type":["null",{"type":"record","name":"Customer","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}]}`),
			`field "email" (in record shop.orders.Customer) was added without a default`},
		// A Debezium-style envelope: before and after are both ["null", Value], Value defined in the first
		// and referenced by name in the second; Avro resolves each union's Value branch field by field.
		{"envelope value drops a required field, forward", Forward,
			envelope(fID, fNote), envelope(fID),
			`field "note" (in record shop.orders.Value) was removed and has no default in the previous version 1`},
		{"envelope value adds an optional field, backward", Backward, envelope(fID), envelope(fID, fNoteOpt), ""},
		{"envelope value adds a required field, backward", Backward, envelope(fID), envelope(fID, fNote),
			`field "note" (in record shop.orders.Value) was added without a default`},
		{"optional made required, forward", Forward, record(fID, fNoteOpt), record(fID, fNote), ""},
		{"required made optional, forward", Forward, record(fID, fNote), record(fID, fNoteOpt),
			`field "note" (in record shop.orders.Value) has type null in the new schema and string in the previous version 1, which Avro cannot resolve`},
		{"anything goes under NONE", None, record(fID, fNote), `"string"`, ""},
		{"record renamed", Backward, record(fID), strings.Replace(record(fID), `"Value"`, `"Other"`, 1),
			`the schema is named shop.orders.Value in the previous version 1 and shop.orders.Other in the new schema (no alias)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			e, err := OpenEmbedded(ctx, NewMemoryLog(), EmbeddedOptions{DefaultCompatibility: c.level, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			subject := "shop.orders-value"
			if _, err := e.Register(ctx, subject, stream.RegisteredSchema{Schema: c.previous}); err != nil {
				t.Fatal(err)
			}
			_, err = e.Register(ctx, subject, stream.RegisteredSchema{Schema: c.candidate})
			switch {
			case c.refusal == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.refusal != "" && err == nil:
				t.Fatalf("accepted, want a refusal containing %q", c.refusal)
			case c.refusal != "":
				if !errors.Is(err, stream.ErrIncompatibleSchema) || ErrorCode(err) != CodeIncompatibleSchema {
					t.Errorf("error %v does not wrap stream.ErrIncompatibleSchema with code 409", err)
				}
				if !strings.Contains(err.Error(), c.refusal) || !strings.HasPrefix(err.Error(), fmt.Sprintf("schema for subject %q is incompatible under %s: ", subject, c.level)) {
					t.Errorf("refusal\n %s\ndoes not contain\n %s", err, c.refusal)
				}
			}
		})
	}
}

// TestCompatibilityTransitive: a chain where each step is BACKWARD-compatible with the one before, but the
// last cannot read the first; only BACKWARD_TRANSITIVE refuses it, naming version 1.
func TestCompatibilityTransitive(t *testing.T) {
	v1 := record(fID)
	v2 := record(fID, fNoteDef)
	v3 := record(fID, fNote) // reads v2 data (note present), not v1 data (note missing, no default)
	for _, level := range []string{Backward, BackwardTransitive} {
		t.Run(level, func(t *testing.T) {
			ctx := context.Background()
			e, err := OpenEmbedded(ctx, NewMemoryLog(), EmbeddedOptions{DefaultCompatibility: level, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			for _, s := range []string{v1, v2} {
				if _, err := e.Register(ctx, "s", stream.RegisteredSchema{Schema: s}); err != nil {
					t.Fatal(err)
				}
			}
			_, err = e.Register(ctx, "s", stream.RegisteredSchema{Schema: v3})
			if level == Backward && err != nil {
				t.Fatalf("BACKWARD refused: %v", err)
			}
			if level == BackwardTransitive {
				want := `field "note" (in record shop.orders.Value) was added without a default, so the new schema cannot read data written with the previous version 1`
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("BACKWARD_TRANSITIVE: got %v, want a refusal containing %q", err, want)
				}
			}
		})
	}
}
