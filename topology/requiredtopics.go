package topology

import (
	"slices"

	"github.com/sluicehq/sluice/sources"
)

// validateRequiredTopics adds an error for each topic that source s requires (sources.TopicRequirer) and
// that this topology does not declare, naming what needs it.
func (t *Topology) validateRequiredTopics(s *SourceNode, add func(string, ...any)) {
	tr, ok := s.src.(sources.TopicRequirer)
	if !ok {
		return
	}
	required := tr.RequiredTopics()
	names := make([]string, 0, len(required))
	for name := range required {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.ContainsFunc(t.topics, func(tp *Topic) bool { return tp.name == name }) {
			add("source %q: topic %q is not declared (%s): declare it with Topic", s.name, name, required[name])
		}
	}
}
