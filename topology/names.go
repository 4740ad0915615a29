package topology

import (
	"fmt"
	"reflect"

	"github.com/lovoo/goka"
)

// Engine names are derived here and nowhere else; EngineNames' doc has the table of patterns.

// sourceGroup is the consumer group of a source's processor, whose table holds its tasks' positions.
func sourceGroup(pipeline, source string) string { return pipeline + "." + source }

// controlTopic is the compacted topic of a source's control messages, keyed by task key.
func controlTopic(pipeline, source string) string { return sourceGroup(pipeline, source) + ".control" }

// tableTopic is goka's group table topic of group.
func tableTopic(group string) string { return string(goka.GroupTable(goka.Group(group))) }

// loopTopic is goka's loop topic of group (the name goka.DefineGroup gives a goka.Loop edge).
func loopTopic(group string) string { return group + "-loop" }

// flowGroup is the consumer group of a flow's sink (or ToTopic) processor.
func flowGroup(pipeline, flow string) string { return pipeline + "." + flow }

// stepGroup is the consumer group of a flow's stateful step (a join or a keyed stage).
func stepGroup(pipeline, flow, step string) string { return pipeline + "." + flow + "." + step }

// stepOutputTopic is the internal topic a stateful step writes and the rest of its flow reads.
func stepOutputTopic(group string) string { return group + ".out" }

// statusTopic is the compacted topic where every replica of the pipeline publishes its status, keyed by
// replica id (see status.go).
func statusTopic(pipeline string) string { return pipeline + ".status" }

// NameKind says whether an EngineName is a consumer group or a topic: Kafka keeps the two apart, so a
// group and a topic may share a name.
type NameKind string

// The kinds of engine names.
const (
	GroupName NameKind = "consumer group"
	TopicName NameKind = "topic"
)

// EngineName is a consumer group or topic that the engine derives from the declaration (see
// Topology.EngineNames for the patterns).
type EngineName struct {
	Name string
	Kind NameKind
	// Role says what it is: "source group", "control topic", "position table", "flow group", "step group",
	// "step output", "step loop", "step table", "status topic", "commands topic" or "audit topic".
	Role string
	// Owner names the declaration it belongs to: `source "cdc"`, `flow "orders-index"`,
	// `flow "orders-index" stateful step "with-customer"` or `pipeline "shop-search"`.
	Owner string

	owner nameOwner
}

// nameOwner identifies a declaration that engine names derive from.
type nameOwner struct {
	kind  string // "source", "flow" or "pipeline"
	name  string
	step  string // a flow's stateful step, or ""
	index int    // the step's position among the flow's stages
}

func (o nameOwner) String() string {
	if o.step == "" {
		return fmt.Sprintf("%s %q", o.kind, o.name)
	}
	return fmt.Sprintf("%s %q stateful step %q (step %d)", o.kind, o.name, o.step, o.index)
}

// EngineNames returns every consumer group and topic the engine derives from the declaration, sources
// first, in declaration order, e.g. for the ACLs a pipeline needs. Declared topics (data, dead-letter and
// table topics) are not included. The patterns, with <pipeline> the name given to New:
//
//	what                                   kind   pattern                              shop-search example
//	a source's group                       group  <pipeline>.<source>                  shop-search.cdc
//	a source's control topic               topic  <pipeline>.<source>.control          shop-search.cdc.control
//	a source's position table              topic  <pipeline>.<source>-table            shop-search.cdc-table
//	a flow's group (its sink or topic)     group  <pipeline>.<flow>                    shop-search.orders-index
//	a flow's stateful step (join, keyed)   group  <pipeline>.<flow>.<step>             shop-search.orders-index.with-customer
//	the step's output topic                topic  <pipeline>.<flow>.<step>.out         shop-search.orders-index.with-customer.out
//	the step's loop (repartition) topic    topic  <pipeline>.<flow>.<step>-loop        shop-search.orders-index.with-customer-loop
//	the step's state table                 topic  <pipeline>.<flow>.<step>-table       shop-search.orders-index.with-customer-table
//	the replicas' status (last)            topic  <pipeline>.status                    shop-search.status
//	the operator's commands                topic  <pipeline>.commands                  shop-search.commands
//	the operator actions' audit records    topic  <pipeline>.audit                     shop-search.audit
//
// The "-table" and "-loop" suffixes are goka's (GroupTable and the loop edge of DefineGroup). Dead-letter
// topics, tables (a join reads its table's topic in the join's own group) and every user topic are
// declared by the user and derive nothing. Client IDs (sluice-control, sluice-admin, ...) name no Kafka
// resource and need not be unique.
//
// The names are those of earlier versions byte for byte, so the topics, groups and offsets of a deployed
// pipeline keep working. The patterns are ambiguous when a name contains '.' (flow "a" with step "b" and
// source "a.b" both give group <pipeline>.a.b), and the suffixes can meet a declared name (a user topic
// "shop-search.cdc.control"). Rather than renaming anything, Validate refuses a declaration in which two
// derived names of one kind are equal, or a derived topic equals a declared topic, naming both parties.
// Groups and topics are separate Kafka namespaces, so a group may share a topic's name. Names of two
// pipelines on one cluster can collide the same way (pipeline "a.b" with source "c", pipeline "a" with
// source "b.c"); one declaration cannot see the other, so that is the operator's to avoid.
func (t *Topology) EngineNames() []EngineName {
	var out []EngineName
	add := func(o nameOwner, kind NameKind, role, name string) {
		owner := o.String()
		if o.step != "" {
			owner = fmt.Sprintf("%s %q stateful step %q", o.kind, o.name, o.step)
		}
		out = append(out, EngineName{Name: name, Kind: kind, Role: role, Owner: owner, owner: o})
	}
	for _, s := range t.sources {
		o := nameOwner{kind: "source", name: s.name}
		group := sourceGroup(t.name, s.name)
		add(o, GroupName, "source group", group)
		add(o, TopicName, "control topic", controlTopic(t.name, s.name))
		add(o, TopicName, "position table", tableTopic(group))
	}
	for _, f := range t.flows {
		add(nameOwner{kind: "flow", name: f.name}, GroupName, "flow group", flowGroup(t.name, f.name))
		for i, st := range f.steps {
			if !st.stateful() || st.name() == "" {
				continue // a nil step: reported by Validate
			}
			o := nameOwner{kind: "flow", name: f.name, step: st.name(), index: i}
			group := stepGroup(t.name, f.name, st.name())
			add(o, GroupName, "step group", group)
			add(o, TopicName, "step output", stepOutputTopic(group))
			add(o, TopicName, "step loop", loopTopic(group))
			add(o, TopicName, "step table", tableTopic(group))
		}
	}
	add(nameOwner{kind: "pipeline", name: t.name}, TopicName, "status topic", statusTopic(t.name))
	add(nameOwner{kind: "pipeline", name: t.name}, TopicName, "commands topic", commandsTopic(t.name))
	add(nameOwner{kind: "pipeline", name: t.name}, TopicName, "audit topic", auditTopic(t.name))
	t.redriveEngineNames(add) // redrive.go
	return out
}

// maxTopicName is the longest topic name Kafka accepts.
const maxTopicName = 249

// validateNames reports derived names that collide with each other or with a declared topic (each pair of
// parties once, with the first name they share), derived topic names Kafka would refuse, two tables with
// one name, and a sink value held by pointer (to a type with state) that two flows write to (its Write
// would be called concurrently). A sink wrapped differently in each flow is not recognised as one.
func (t *Topology) validateNames(add func(string, ...any)) {
	type party struct {
		owner nameOwner
		role  string
	}
	seen := map[NameKind]map[string]party{GroupName: {}, TopicName: {}}
	declared := map[string]bool{}
	for _, tp := range t.topics {
		declared[tp.name] = true
	}
	reported := map[[2]nameOwner]bool{}
	for _, n := range t.EngineNames() {
		o := n.owner
		if n.Kind == TopicName && len(n.Name) > maxTopicName {
			add("%s: its %s %q is longer than the %d characters Kafka allows: shorten the pipeline's, %s's or the step's name",
				o, n.Role, n.Name, maxTopicName, o.kind)
		}
		if n.Kind == TopicName && declared[n.Name] {
			add("topic %q: the name of the %s of %s: rename the topic or the %s", n.Name, n.Role, o, o.kind)
		}
		prev, dup := seen[n.Kind][n.Name]
		if !dup {
			seen[n.Kind][n.Name] = party{owner: o, role: n.Role}
			continue
		}
		if prev.owner.step == "" && o.step == "" && prev.owner.name == o.name {
			continue // two declarations with one name: reported as such by Validate
		}
		pair := [2]nameOwner{prev.owner, o}
		if reported[pair] {
			continue
		}
		reported[pair] = true
		if prev.owner.kind == "flow" && o.kind == "flow" && prev.owner.name == o.name && prev.owner.step == o.step {
			add("flow %q: steps %d and %d are stateful and both named %q: they would share %s %q",
				o.name, prev.owner.index, o.index, o.step, n.Kind, n.Name)
			continue
		}
		add("%s and %s derive the same %s %q (as %s and %s): rename one of them",
			prev.owner, o, n.Kind, n.Name, prev.role, n.Role)
	}

	tables := map[string]bool{}
	for _, tb := range t.tables {
		if tables[tb.name] {
			add("table %q: declared twice (its name labels its stages' metrics and names it in errors)", tb.name)
		}
		tables[tb.name] = true
	}

	type sinkUse struct{ flow string }
	sinks := map[any]sinkUse{}
	for _, f := range t.flows {
		if f.sink == nil {
			continue
		}
		v := reflect.ValueOf(f.sink)
		if v.Kind() != reflect.Pointer || v.IsNil() || v.Type().Elem().Size() == 0 {
			// A value (no shared state), a nil pointer (its Open fails), or a pointer to a zero-size type:
			// it holds no state, and Go may give two such allocations one address.
			continue
		}
		id := v.UnsafePointer()
		key := [2]any{v.Type(), id}
		if prev, ok := sinks[key]; ok {
			add("flows %q and %q write to the same sink value: its Write would be called concurrently; give each flow a sink of its own",
				prev.flow, f.name)
			continue
		}
		sinks[key] = sinkUse{flow: f.name}
	}
}

// commandsTopic is the compacted topic of the operator's commands to every replica (target state, restart
// requests; see control.go).
func commandsTopic(pipeline string) string { return pipeline + ".commands" }

// auditTopic is the compacted topic of the audit records of operator actions, keyed by a unique id (see
// audit.go).
func auditTopic(pipeline string) string { return pipeline + ".audit" }
