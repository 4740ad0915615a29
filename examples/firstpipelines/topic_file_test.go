package firstpipelines_test

import (
	"fmt"

	"github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/topology"
)

// topicToFile appends every record of a topic to a file, one line per record value, as Kafka Connect's
// FileStreamSink. A line is written, flushed and fsynced before its offset is committed.
func topicToFile(path string) (*topology.Topology, error) {
	out, err := file.New(file.Config{Path: path})
	if err != nil {
		return nil, err
	}
	t := topology.New("events-archive")
	events := t.Topic("events", topology.ValueCodec("string")) // text as it is, JSON or not
	t.Flow("archive").From(events).To(out)
	return t, t.Validate()
}

func Example_topicToFile() {
	env := start()
	defer env.close()
	env.createTopic("events")
	env.produce("events", `{"event":"login","user":"ada"}`, "plain text is kept as it is", `{"event":"logout","user":"ada"}`)

	path := env.path("events.log")
	t, err := topicToFile(path)
	check(err)
	env.run(t, func() bool { return len(lines(path)) == 3 })
	for _, line := range lines(path) {
		fmt.Println(line)
	}
	// Output:
	// {"event":"login","user":"ada"}
	// plain text is kept as it is
	// {"event":"logout","user":"ada"}
}
