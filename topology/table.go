package topology

import (
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// Table is a declared table: the latest row per key of a topic, after stages (e.g. unwrapping change
// events). Tombstones and delete events remove a row. Keys are compared as stream.KeyString gives them, so
// a one-column primary key {"id":5} is found by the foreign-key value 5. Join stages read tables; see
// stages.LookupJoin and stages.JoinForeignKey.
type Table struct {
	t      *Topology
	name   string
	from   *Topic
	stages []stages.Stage
}

// Table declares a table of topic's rows.
func (t *Topology) Table(name string, from *Topic, st ...stages.Stage) *Table {
	tb := &Table{t: t, name: name, from: from, stages: st}
	t.tables = append(t.tables, tb)
	return tb
}

// TableName returns the table's name.
func (tb *Table) TableName() string { return tb.name }

// joinSpec is a stateful stage of a flow (a join or a Keyed stage), compiled into its own goka group.
type joinSpec struct {
	join        *stages.Join // or
	keyed       stages.Keyed
	table       *Table
	group       string
	in          *Topic         // the flow's input (or the previous join's output)
	inStages    []stages.Stage // stateless stages before the join
	out         *Topic         // the join's output, which the rest of the flow consumes
	partitions  int32
	flowName    string
	deadLetters *Topic
}

// compileFlows splits flows at their join stages: each join becomes a goka group that reads the flow's
// input (running the stateless stages before it) and the table's topic, and writes an internal topic that
// the rest of the flow reads. It returns the joins and the flows left to run as sink flows.
func (t *Topology) compileFlows() ([]*joinSpec, []*Flow) {
	var joins []*joinSpec
	var flows []*Flow
	for _, f := range t.flows {
		in, rest := f.from, f.stages
		for {
			i := indexOfStateful(rest)
			if i < 0 {
				break
			}
			group := t.name + "." + f.name + "." + rest[i].Name()
			out := &Topic{name: group + ".out", partitions: in.partitions, keyCodecName: "string", valueCodecName: "json", internal: true}
			if _, ok := rest[i].(*stages.Join); ok {
				out.valueCodecName = "json-schema" // a joined struct keeps its schema (see joinedValue)
			}
			out.keyCodec, _ = stream.LookupCodec(out.keyCodecName)
			out.valueCodec, _ = stream.LookupCodec(out.valueCodecName)
			spec := &joinSpec{group: group, in: in, inStages: rest[:i], out: out, partitions: in.partitions, flowName: f.name, deadLetters: f.deadLetter}
			if j, ok := rest[i].(*stages.Join); ok {
				spec.join, spec.table = j, j.Table().(*Table)
			} else {
				// A keyed stage's outputs keep the key of their input record, schema included (a join's
				// outputs are keyed by the record's key string).
				spec.keyed = rest[i].(stages.Keyed)
				out.keyCodecName = "json-schema"
				out.keyCodec, _ = stream.LookupCodec(out.keyCodecName)
			}
			joins = append(joins, spec)
			in, rest = out, rest[i+1:]
		}
		if in == f.from {
			flows = append(flows, f)
			continue
		}
		tail := *f
		tail.from, tail.stages = in, rest
		flows = append(flows, &tail)
	}
	return joins, flows
}

// indexOfStateful finds the first stage that needs a goka group of its own.
func indexOfStateful(st []stages.Stage) int {
	for i, s := range st {
		if stateful(s) {
			return i
		}
	}
	return -1
}

func stateful(s stages.Stage) bool {
	switch s.(type) {
	case *stages.Join, stages.Keyed:
		return true
	}
	return false
}

// validateJoins checks tables and the joins that use them.
func (t *Topology) validateJoins(declared map[*Topic]bool, add func(string, ...any)) {
	tables := map[*Table]bool{}
	for _, tb := range t.tables {
		tables[tb] = true
		if err := checkName(tb.name); err != nil {
			add("table %q: name: %w", tb.name, err)
		}
		if tb.from == nil || !declared[tb.from] {
			add("table %q: topic not declared on this topology", tb.name)
		}
		for i, s := range tb.stages {
			if err := stages.Validate(s); err != nil {
				add("table %q: stage %d: %w", tb.name, i, err)
			}
			if stateful(s) {
				add("table %q: stage %q is stateful and cannot feed a table", tb.name, s.Name())
			}
		}
	}
	for _, s := range t.sources {
		for _, st := range s.stages {
			if stateful(st) {
				add("source %q: stage %q is stateful and cannot run before Kafka (move it to a flow)", s.name, st.Name())
			}
		}
	}
	for _, f := range t.flows {
		for _, st := range f.stages {
			j, ok := st.(*stages.Join)
			if !ok {
				continue
			}
			tb, ok := j.Table().(*Table)
			if !ok || !tables[tb] || tb.t != t {
				add("flow %q: join %q: table %q is not declared on this topology", f.name, j.Name(), j.Table().TableName())
				continue
			}
			if f.from != nil && tb.from != nil && f.from.partitions != tb.from.partitions {
				add("flow %q: join %q: topic %q has %d partitions and table %q's topic %q has %d: a join needs them equal",
					f.name, j.Name(), f.from.name, f.from.partitions, tb.name, tb.from.name, tb.from.partitions)
			}
			if f.from == tb.from {
				add("flow %q: join %q: a topic cannot be joined with itself", f.name, j.Name())
			}
		}
	}
}
