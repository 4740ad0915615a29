package topology

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// ErrShape is wrapped by the errors Validate returns for records that a stage, a join or a sink cannot
// take: a field mask after a source of text lines, a search index fed keys that identify nothing. Each
// message names the stage (or sink), what produced its input, and the fix.
var ErrShape = errors.New("records of the wrong shape")

// How shapes are checked (Validate, before anything runs).
//
// Each source's records start with the source's Shape (sources.Shaper; a source without one emits records
// of unknown shape, which nothing refuses) and go through its ETL stages; each flow's records start with
// the shape of its input topic and go through its steps to its sink or output topic; each table's rows go
// through the table's stages. At every stage that implements stages.Shaped, Accepts must take the shape
// that reaches it and Produces gives the next one. After a stage that does not implement it (Map and
// FlatMap of user functions, a user's own Stage) nothing is known (stream.Shape{}): not the kind of the
// values, nor what the keys mean (a function may have set them, as a document id), so nothing after it is
// refused on their account. A join needs structured values holding its field (when the fields are known)
// and adds its As field; a keyed step gives its Produces when it implements stages.Shaped, otherwise
// nothing is known after it either.
//
// A topic holds what its declared writers write: the sources that name it in To, the flows that end in it
// (ToTopic), and the sources whose records name their own topics (ToRecordTopics): those that implement
// sources.TopicShaper write the topics it names, with the shape it gives; the others are taken to write,
// with their Shape, the declared topics that no other source or flow writes. Writers that disagree give values of
// unknown kind; fields are those any writer has, known only when every writer's are. A topic that nothing
// declared writes holds values of unknown kind. The topic's value codec decides what a flow reading it
// gets: "string" gives strings, "bytes" bytes declared binary (see stream.Shape.Binary), the JSON codecs
// what the writers wrote. A writer's output must also suit the topic's codec: the "string" codec cannot hold
// structured values, the "bytes" codec holds bytes only.
//
// Sinks that implement sinks.ShapeChecker are asked about the shape that reaches them.

// shaped is the shape of records at one point and who made them, for messages: `source "files"`,
// `stage "fmt" of source "files"`, `topic "clicks"`.
type shaped struct {
	shape stream.Shape
	who   string
	// outside says the records come from a topic that nothing declared here writes: their origin, and so
	// what their keys mean, is unknown. A sink is then given the shape with an empty From, which
	// stream.Shape documents as knowing nothing of the producer.
	outside bool
}

// emits says what the producer emits: `source "files" emits lines of text`.
func (s shaped) emits() string {
	return fmt.Sprintf("%s emits %s", s.who, s.shape.Describe())
}

// shapeError is one refusal; it wraps ErrShape.
type shapeError struct{ msg string }

func (e *shapeError) Error() string { return e.msg }
func (e *shapeError) Unwrap() error { return ErrShape }

// shapeChecker walks the declaration with shapes. report is nil while topic shapes are computed (each
// chain is then walked again with report set, so each refusal is reported once).
type shapeChecker struct {
	t      *Topology
	topics map[*Topic]*shaped // computed topic shapes
	busy   map[*Topic]bool    // topics being computed (a cycle through flows gives unknown values)
}

// checkShapes adds an error for every stage, join or sink that cannot take the records that reach it.
func (t *Topology) checkShapes(add func(string, ...any)) {
	c := &shapeChecker{t: t, topics: map[*Topic]*shaped{}, busy: map[*Topic]bool{}}
	report := func(msg string) { add("%w", &shapeError{msg: msg}) }
	for _, s := range t.sources {
		if s.src == nil {
			continue
		}
		out := c.walkStages(fmt.Sprintf("source %q", s.name), c.sourceStart(s), s.stages, report)
		if s.to != nil {
			c.checkTopicCodec(fmt.Sprintf("source %q", s.name), out, s.to, report)
		}
	}
	for _, tb := range t.tables {
		if tb.from != nil {
			c.walkStages(fmt.Sprintf("table %q", tb.name), c.topicShape(tb.from), tb.stages, report)
		}
	}
	for _, f := range t.flows {
		if f.from == nil {
			continue
		}
		out := c.walkFlow(f, report)
		where := fmt.Sprintf("flow %q", f.name)
		if f.toTopic != nil {
			c.checkTopicCodec(where, out, f.toTopic, report)
		}
		if sc, ok := f.sink.(sinks.ShapeChecker); ok && f.toTopic == nil {
			in := out.shape
			if out.outside {
				in.From = ""
			}
			if err := sc.CheckShape(in); err != nil {
				report(fmt.Sprintf("%s: sink %s: %s; %s", where, sinkName(f.sink), err, out.emits()))
			}
		}
	}
}

// sinkName names a sink in a message: its String when it has one.
func sinkName(s sinks.Sink) string {
	if st, ok := s.(fmt.Stringer); ok {
		return fmt.Sprintf("%q", st.String())
	}
	return "of the flow"
}

// sourceStart is what a source emits before its stages.
func (c *shapeChecker) sourceStart(s *SourceNode) shaped {
	var sh stream.Shape
	if p, ok := s.src.(sources.Shaper); ok {
		sh = p.Shape()
	}
	return shaped{shape: sh, who: fmt.Sprintf("source %q", s.name)}
}

// walkStages takes in through st, reporting (when report is set) each stage that refuses what reaches it.
func (c *shapeChecker) walkStages(where string, in shaped, st []stages.Stage, report func(string)) shaped {
	for _, s := range st {
		in = c.stage(where, in, s, report)
	}
	return in
}

// stage takes in through one stage.
func (c *shapeChecker) stage(where string, in shaped, s stages.Stage, report func(string)) shaped {
	if s == nil {
		return shaped{who: where}
	}
	sh, ok := s.(stages.Shaped)
	if !ok {
		return shaped{who: fmt.Sprintf("stage %q", s.Name()), outside: in.outside}
	}
	if err := sh.Accepts(in.shape); err != nil {
		if report != nil {
			report(fmt.Sprintf("%s: stage %q %s; %s%s", where, s.Name(), shapeText(err), in.emits(), fixFor(sh, in.shape)))
		}
		// Go on with what the stage would make of records it could take, so that one mistake is reported once.
	}
	out := sh.Produces(in.shape)
	if out.Value != in.shape.Value || out.From != in.shape.From || !slices.Equal(out.Fields, in.shape.Fields) {
		return shaped{shape: out, who: fmt.Sprintf("stage %q", s.Name()), outside: in.outside}
	}
	return shaped{shape: out, who: in.who, outside: in.outside}
}

// shapeText is a stage's refusal without the sentinel's words: "needs structured values".
func shapeText(err error) string {
	return strings.TrimPrefix(err.Error(), stages.ErrShapeNeeded.Error()+": ")
}

// fixFor says how to give a stage what it needs when the stage would take the structured values that
// parsing the text it got would give (add a parse stage, or, the producer's hint, parse at the source), or
// the rows inside the change events it got (add stages.Unwrap).
func fixFor(s stages.Shaped, in stream.Shape) string {
	if in.Value == stream.StructuredValue && slices.Contains(in.Fields, "after") && slices.Contains(in.Fields, "before") &&
		s.Accepts(stream.Shape{Value: stream.StructuredValue}) == nil {
		return ": add stages.Unwrap before it, to work on the rows of the change events"
	}
	if in.Value != stream.StringValue && in.Value != stream.BytesValue {
		return ""
	}
	if s.Accepts(stream.Shape{Value: stream.StructuredValue}) != nil {
		return ""
	}
	fix := ": add stages.ParseJSON (or stages.ParseCSV) before it"
	if in.Binary {
		fix = ": give the topic the \"json\" codec, which parses JSON values"
	}
	if in.Hint != "" {
		fix += " (or " + in.Hint + ")"
	}
	return fix
}

// walkFlow takes the flow's input through its steps.
func (c *shapeChecker) walkFlow(f *Flow, report func(string)) shaped {
	where := fmt.Sprintf("flow %q", f.name)
	cur := c.topicShape(f.from)
	for _, s := range f.steps {
		switch {
		case s.join != nil:
			cur = c.join(where, cur, s, report)
		case s.keyed != nil:
			if sh, ok := s.keyed.(stages.Shaped); ok {
				if err := sh.Accepts(cur.shape); err != nil && report != nil {
					report(fmt.Sprintf("%s: step %q %s; %s", where, s.keyed.Name(), shapeText(err), cur.emits()))
				}
				cur = shaped{shape: sh.Produces(cur.shape), who: fmt.Sprintf("step %q", s.keyed.Name()), outside: cur.outside}
			} else {
				cur = shaped{who: fmt.Sprintf("step %q", s.keyed.Name()), outside: cur.outside}
			}
		case s.isStateful:
			cur = shaped{who: where, outside: cur.outside}
		default:
			cur = c.stage(where, cur, s.stage, report)
		}
	}
	return cur
}

// join checks a join's field against the records that reach it and returns what it emits.
func (c *shapeChecker) join(where string, in shaped, s step, report func(string)) shaped {
	j := s.join
	if report != nil {
		switch in.shape.Value {
		case stream.StringValue, stream.BytesValue:
			report(fmt.Sprintf("%s: join %q needs %s holding field %q; %s%s", where, j.Name(), stream.StructuredValue,
				j.Field(), in.emits(), fixFor(joinNeeds{}, in.shape)))
		case stream.StructuredValue:
			if !in.shape.MayHaveField(j.Field()) {
				report(fmt.Sprintf("%s: join %q reads field %q, which the records do not have; %s, with fields %s: name one of them in the join",
					where, j.Name(), j.Field(), in.emits(), quoteList(in.shape.Fields)))
			}
		}
	}
	out := stream.Shape{Value: stream.StructuredValue, KeysIdentify: in.shape.KeysIdentify}
	if in.shape.Fields != nil {
		out.Fields = append(slices.Clone(in.shape.Fields), j.As())
	}
	if in.shape.Value == stream.AnyValue {
		out.Value = stream.AnyValue
	}
	return shaped{shape: out, who: fmt.Sprintf("join %q", j.Name()), outside: in.outside}
}

// joinNeeds stands for a join in fixFor: it takes structured values.
type joinNeeds struct{}

func (joinNeeds) Accepts(in stream.Shape) error { return nil }
func (joinNeeds) Produces(in stream.Shape) stream.Shape {
	return in
}

func quoteList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// topicShape returns what a flow or table reading tp gets (see the rules above).
func (c *shapeChecker) topicShape(tp *Topic) shaped {
	if s, ok := c.topics[tp]; ok {
		return *s
	}
	who := fmt.Sprintf("topic %q", tp.name)
	switch tp.valueCodecName {
	case "string", "bytes":
		w := c.writersShape(tp)
		s := shaped{shape: stream.Shape{Value: stream.StringValue, KeysIdentify: w.shape.KeysIdentify, From: `text (the topic's codec is "string")`},
			who: who, outside: w.outside}
		if tp.valueCodecName == "bytes" {
			s.shape = stream.Shape{Value: stream.BytesValue, Binary: true, KeysIdentify: w.shape.KeysIdentify, From: `binary data (the topic's codec is "bytes")`}
		}
		c.topics[tp] = &s
		return s
	}
	s := c.writersShape(tp)
	c.topics[tp] = &s
	return s
}

// writersShape merges what the declared writers of tp write into it.
func (c *shapeChecker) writersShape(tp *Topic) shaped {
	if c.busy[tp] {
		return shaped{who: fmt.Sprintf("topic %q", tp.name)}
	}
	c.busy[tp] = true
	defer delete(c.busy, tp)
	var outs []shaped
	written := func(t *Topic) bool {
		for _, s := range c.t.sources {
			if s.to == t {
				return true
			}
		}
		for _, f := range c.t.flows {
			if f.toTopic == t {
				return true
			}
		}
		return false
	}
	for _, s := range c.t.sources {
		if s.src == nil {
			continue
		}
		start := c.sourceStart(s)
		switch ts, ok := s.src.(sources.TopicShaper); {
		case s.to == tp:
		case !s.recordTopics:
			continue
		case ok:
			sh, writes := ts.TopicShape(tp.name)
			if !writes {
				continue
			}
			start.shape = sh
		case written(tp) || c.isDeadLetter(tp):
			continue
		}
		outs = append(outs, c.walkStages("", start, s.stages, nil))
	}
	for _, f := range c.t.flows {
		if f.toTopic == tp && f.from != nil {
			outs = append(outs, c.walkFlow(f, nil))
		}
	}
	switch len(outs) {
	case 0:
		return shaped{who: fmt.Sprintf("topic %q (written outside this pipeline)", tp.name), outside: true}
	case 1:
		return outs[0]
	}
	merged := outs[0].shape
	merged.From, merged.Hint = "", ""
	for _, o := range outs[1:] {
		if o.shape.Value != merged.Value {
			merged.Value = stream.AnyValue
		}
		merged.KeysIdentify = merged.KeysIdentify && o.shape.KeysIdentify
		if merged.Fields == nil || o.shape.Fields == nil {
			merged.Fields = nil
		} else {
			for _, f := range o.shape.Fields {
				if !slices.Contains(merged.Fields, f) {
					merged.Fields = append(merged.Fields, f)
				}
			}
		}
	}
	if merged.Value == stream.AnyValue {
		merged.Fields = nil
	}
	return shaped{shape: merged, who: fmt.Sprintf("topic %q (written by %d declared writers)", tp.name, len(outs))}
}

func (c *shapeChecker) isDeadLetter(tp *Topic) bool {
	for _, s := range c.t.sources {
		if s.deadLetter == tp {
			return true
		}
	}
	for _, f := range c.t.flows {
		if f.deadLetter == tp {
			return true
		}
	}
	return false
}

// checkTopicCodec reports records that the value codec of the topic they are written to cannot hold.
func (c *shapeChecker) checkTopicCodec(where string, out shaped, tp *Topic, report func(string)) {
	switch {
	case tp.valueCodecName == "string" && out.shape.Value == stream.StructuredValue:
		report(fmt.Sprintf("%s: topic %q has the \"string\" codec, which cannot hold %s; %s: add stages.FormatJSON at the end, or give the topic the \"json\" codec",
			where, tp.name, stream.StructuredValue, out.emits()))
	case tp.valueCodecName == "bytes" && (out.shape.Value == stream.StructuredValue || out.shape.Value == stream.StringValue):
		report(fmt.Sprintf("%s: topic %q has the \"bytes\" codec, which holds bytes only; %s: give the topic the \"json\" codec (or \"string\" for text)",
			where, tp.name, out.emits()))
	}
}

// valueKindName names what a record value is for error messages, in the data model's words, never a Go
// type: "a string", "bytes", "a number", "an array", "a struct", "an object".
func valueKindName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case bool:
		return "a boolean"
	case int8, int16, int32, int64, float32, float64, stream.Decimal:
		return "a number"
	case []any:
		return "an array"
	case map[string]any, map[any]any:
		return "an object"
	case *stream.Struct:
		return "a struct"
	}
	return "a value outside the data model"
}
