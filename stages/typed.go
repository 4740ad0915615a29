package stages

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/sluicehq/sluice/stream"
)

// Typed stages let user code work on its own Go types instead of the data model.
//
// Values reach the function as In: directly when the record value already is an In (a string, a
// map[string]any, a *stream.Struct), otherwise converted through JSON, so that a Go struct with the usual
// encoding/json tags receives a JSON object or a *stream.Struct value. Results of a struct type go back
// into the record as schemaless JSON objects (map[string]any), which every JSON codec writes; other results
// are stored as they are.

// MapValue makes a stage that replaces each record's value by fn's result.
func MapValue[In, Out any](name string, fn func(ctx context.Context, v In) (Out, error)) Stage {
	return oneStage{name: name, fn: func(ctx context.Context, r stream.Record) (stream.Record, bool, error) {
		in, err := valueAs[In](r)
		if err != nil {
			return r, false, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return r, false, err
		}
		if err := setValue(&r, out); err != nil {
			return r, false, err
		}
		return r, true, nil
	}}
}

// FilterValue makes a stage that keeps the records whose value keep accepts.
func FilterValue[In any](name string, keep func(v In) bool) Stage {
	return oneStage{name: name, fn: func(_ context.Context, r stream.Record) (stream.Record, bool, error) {
		in, err := valueAs[In](r)
		if err != nil {
			return r, false, err
		}
		return r, keep(in), nil
	}}
}

// FlatMapValue makes a stage that turns each record into one record per value fn returns, each keeping the
// input's key, headers and metadata.
func FlatMapValue[In, Out any](name string, fn func(ctx context.Context, v In) ([]Out, error)) Stage {
	return funcStage{name: name, fn: func(ctx context.Context, r stream.Record) ([]stream.Record, error) {
		in, err := valueAs[In](r)
		if err != nil {
			return nil, err
		}
		outs, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		recs := make([]stream.Record, 0, len(outs))
		for _, o := range outs {
			rec := r
			rec.Headers = append([]stream.Header(nil), r.Headers...)
			if err := setValue(&rec, o); err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
		return recs, nil
	}}
}

// RouteValue makes a stage that sends each record to the topic topicFor names ("" keeps its topic). The
// topology must declare every topic a record can be routed to.
func RouteValue[In any](name string, topicFor func(v In) string) Stage {
	return oneStage{name: name, fn: func(_ context.Context, r stream.Record) (stream.Record, bool, error) {
		in, err := valueAs[In](r)
		if err != nil {
			return r, false, err
		}
		if t := topicFor(in); t != "" {
			r.Topic = t
		}
		return r, true, nil
	}}
}

var jsonCodec, _ = stream.LookupCodec("json")

// valueAs gives the record's value as an In.
func valueAs[In any](r stream.Record) (In, error) {
	var in In
	if v, ok := r.Value.(In); ok {
		return v, nil
	}
	if r.Value == nil {
		return in, nil
	}
	var raw []byte
	var err error
	switch v := r.Value.(type) {
	case []byte:
		raw = v
	case string:
		raw = []byte(v)
	default:
		raw, err = jsonCodec.Encode(r.ValueSchema, v)
	}
	if err == nil {
		err = json.Unmarshal(raw, &in)
	}
	if err != nil {
		return in, fmt.Errorf("value %T does not convert to %T: %w", r.Value, in, err)
	}
	return in, nil
}

// setValue stores out as the record's value: structs as schemaless JSON objects, the rest as it is.
func setValue(r *stream.Record, out any) error {
	t := reflect.TypeOf(out)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || t == reflect.TypeFor[stream.Struct]() {
		r.Value = out
		if _, isStruct := out.(*stream.Struct); isStruct {
			r.ValueSchema = out.(*stream.Struct).Schema()
		} else {
			r.ValueSchema = nil
		}
		return nil
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("result %T: %w", out, err)
	}
	_, v, err := jsonCodec.Decode(raw)
	if err != nil {
		return fmt.Errorf("result %T: %w", out, err)
	}
	r.Value, r.ValueSchema = v, nil
	return nil
}
