package topology

import (
	"github.com/sluicehq/sluice/stages"
)

// Table is a declared table: the latest row per key of a topic, after stages (e.g. unwrapping change
// events). Tombstones and delete events remove a row. Keys are compared as stream.KeyString gives them, so
// a one-column primary key {"id":5} is found by the foreign-key value 5. A flow reads a table with
// Flow.Join (stages.LookupJoin, stages.JoinForeignKey).
type Table struct {
	t      *Topology
	name   string
	from   *Topic
	stages []stages.Stage
}

// Table declares a table of the rows of topic from, after the stages given with Via. Like Source and Flow,
// it names what it reads at once and takes its stages from Via.
func (t *Topology) Table(name string, from *Topic) *Table {
	tb := &Table{t: t, name: name, from: from}
	t.tables = append(t.tables, tb)
	return tb
}

// Via appends stateless stages that every record of the table's topic goes through before it becomes a
// row (e.g. stages.Unwrap for change events); a record they drop changes no row. They run in the group of
// each join that reads the table.
func (tb *Table) Via(st ...stages.Stage) *Table {
	tb.stages = append(tb.stages, st...)
	return tb
}

// step is one step of a flow: a stateless stage, a join of a table, or a keyed step.
type step struct {
	stage stages.Stage
	join  *stages.Join
	table *Table // the table join reads
	keyed stages.Keyed
	// isStateful marks a Join or Keyed step, even one given a nil join or keyed step (Validate reports it).
	isStateful bool
}

func (s step) stateful() bool { return s.isStateful }

// name is the step's name, as the user gave it ("" for a nil step).
func (s step) name() string {
	switch {
	case s.join != nil:
		return s.join.Name()
	case s.keyed != nil:
		return s.keyed.Name()
	case s.stage != nil:
		return s.stage.Name()
	}
	return ""
}

// statelessStages returns the stateless stages of steps, in order.
func statelessStages(steps []step) []stages.Stage {
	var st []stages.Stage
	for _, s := range steps {
		if !s.stateful() {
			st = append(st, s.stage)
		}
	}
	return st
}

// Join appends a stateful step that joins table into each record as j describes (stages.LookupJoin,
// stages.JoinForeignKey). The join runs in a goka group of its own, named after the topology, the flow and
// j, whose loop topic is the repartition topic; the stateless stages between the previous stateful step (or
// the flow's input) and the join run in that group too, so they add no topic. Records and the table's rows
// meet by key, so the flow's input and the table's topic must have the same number of partitions (Validate
// checks it). What the join emits is what the next steps receive.
func (f *Flow) Join(table *Table, j *stages.Join) *Flow {
	f.steps = append(f.steps, step{join: j, table: table, isStateful: true})
	return f
}

// Keyed appends a stateful step that keeps state per record key (stages.Dedupe, stages.Aggregate,
// stages.Count or the user's own stages.Keyed). It runs in a goka group of its own, named after the
// topology, the flow and k, with the stateless stages before it; records are re-keyed through the group's
// loop topic, so they may come from any stage. What it emits is what the next steps receive.
func (f *Flow) Keyed(k stages.Keyed) *Flow {
	f.steps = append(f.steps, step{keyed: k, isStateful: true})
	return f
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
		}
	}
	for _, f := range t.flows {
		for i, st := range f.steps {
			if st.keyed != nil {
				if err := checkName(st.keyed.Name()); err != nil {
					add("flow %q: keyed step %q: name: %w", f.name, st.keyed.Name(), err)
				}
			}
			if !st.stateful() {
				continue
			}
			if st.join == nil && st.keyed == nil {
				if st.table != nil {
					add("flow %q: step %d: the join of table %q is nil", f.name, i, st.table.name)
				} else {
					add("flow %q: step %d: stateful step is nil", f.name, i)
				}
				continue
			}
			if st.join == nil {
				continue
			}
			j, tb := st.join, st.table
			if err := checkName(j.Name()); err != nil {
				add("flow %q: join %q: name: %w", f.name, j.Name(), err)
			}
			if tb == nil {
				add("flow %q: join %q: table is nil", f.name, j.Name())
				continue
			}
			if !tables[tb] || tb.t != t {
				add("flow %q: join %q: table %q is not declared on this topology", f.name, j.Name(), tb.name)
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
