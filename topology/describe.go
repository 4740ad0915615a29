package topology

import (
	"reflect"
	"strings"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/stages"
)

// describe returns the declaration as GET /pipelines/{name} shows it: sources, flows with their steps in
// order, tables, and every topic the pipeline reads or writes (declared topics first, in declaration order,
// then the engine's topics of EngineNames). It reads only the declaration, so every replica of one binary
// answers the same.
func (t *Topology) describe() opsapi.Pipeline {
	out := opsapi.Pipeline{Name: t.name, Sources: []opsapi.Source{}, Flows: []opsapi.Flow{}, Topics: []opsapi.Topic{}}
	for _, s := range t.sources {
		src := opsapi.Source{Name: s.name, Connector: connectorPackage(s.src), Group: sourceGroup(t.name, s.name),
			Stages: stageNameList(s.stages)}
		if s.to != nil {
			src.Topic = s.to.name
		} else if s.recordTopics {
			// Each record names its topic: any declared topic may receive them.
			for _, tp := range t.topics {
				if !t.readOnlyTopic(tp) {
					src.Topics = append(src.Topics, tp.name)
				}
			}
			for _, nt := range s.newTopics { // created at run time (newtopics.go): shown as "prefix*"
				src.Topics = append(src.Topics, nt.template.name)
			}
		}
		out.Sources = append(out.Sources, src)
	}
	for _, f := range t.flows {
		fl := opsapi.Flow{Name: f.name, Group: flowGroup(t.name, f.name), Steps: []opsapi.Step{}}
		if f.from != nil {
			fl.Topic = f.from.name
		}
		for _, st := range f.steps {
			switch {
			case st.join != nil:
				s := opsapi.Step{Name: st.name(), Kind: "join", Group: stepGroup(t.name, f.name, st.name())}
				if st.table != nil {
					s.Table = st.table.name
				}
				fl.Steps = append(fl.Steps, s)
			case st.keyed != nil:
				fl.Steps = append(fl.Steps, opsapi.Step{Name: st.name(), Kind: "keyed", Group: stepGroup(t.name, f.name, st.name())})
			case st.stage != nil:
				fl.Steps = append(fl.Steps, opsapi.Step{Name: st.name(), Kind: "stage"})
			}
		}
		switch {
		case f.toTopic != nil:
			fl.ToTopic = f.toTopic.name
		case f.sink != nil:
			fl.Sink = describeSink(f, f.sink)
		}
		out.Flows = append(out.Flows, fl)
	}
	for _, tb := range t.tables {
		table := opsapi.Table{Name: tb.name, Stages: stageNameList(tb.stages)}
		if tb.from != nil {
			table.Topic = tb.from.name
		}
		out.Tables = append(out.Tables, table)
	}
	for _, tp := range t.topics {
		out.Topics = append(out.Topics, opsapi.Topic{Name: tp.name, Role: t.topicRole(tp), Codec: tp.valueCodecName})
	}
	for _, n := range t.EngineNames() {
		if n.Kind == TopicName {
			out.Topics = append(out.Topics, opsapi.Topic{Name: n.Name, Role: n.Role})
		}
	}
	return out
}

// topicRole says what a declared topic is to the pipeline, its uses joined by ", ": "source output",
// "flow input", "flow output", "dead letters", "table input"; "declared" when nothing uses it.
func (t *Topology) topicRole(tp *Topic) string {
	var roles []string
	add := func(role string) {
		for _, r := range roles {
			if r == role {
				return
			}
		}
		roles = append(roles, role)
	}
	for _, s := range t.sources {
		if s.to == tp || (s.recordTopics && !t.readOnlyTopic(tp)) {
			add("source output")
		}
		if s.deadLetter == tp {
			add("dead letters")
		}
	}
	for _, f := range t.flows {
		if f.from == tp {
			add("flow input")
		}
		if f.toTopic == tp {
			add("flow output")
		}
		if f.deadLetter == tp {
			add("dead letters")
		}
	}
	for _, tb := range t.tables {
		if tb.from == tp {
			add("table input")
		}
	}
	if len(roles) == 0 {
		return "declared"
	}
	return strings.Join(roles, ", ")
}

// readOnlyTopic reports whether a source routing records by their own topic cannot be the writer of tp
// because tp is a dead-letter topic.
func (t *Topology) readOnlyTopic(tp *Topic) bool {
	for _, s := range t.sources {
		if s.deadLetter == tp {
			return true
		}
	}
	for _, f := range t.flows {
		if f.deadLetter == tp {
			return true
		}
	}
	return false
}

// connectorPackage names a connector by its package ("file", "mysql", "elasticsearch"), or by its type
// when it is declared in a main package.
func connectorPackage(v any) string {
	if v == nil {
		return ""
	}
	ty := reflect.TypeOf(v)
	for ty.Kind() == reflect.Pointer {
		ty = ty.Elem()
	}
	pkg := ty.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	if pkg == "" || pkg == "main" {
		return ty.Name()
	}
	return pkg
}

// stageNameList returns the names of stages, in order (nil for none).
func stageNameList(st []stages.Stage) []string {
	var out []string
	for _, s := range st {
		if s != nil {
			out = append(out, s.Name())
		}
	}
	return out
}
