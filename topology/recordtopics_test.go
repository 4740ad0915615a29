package topology_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// multiTopicSource is a multi-topic source: one task whose records name their topics, given in order, then
// the end of its input.
type multiTopicSource struct{ topics []string }

func (multiTopicSource) Tasks(context.Context) ([]sources.Task, error) {
	return []sources.Task{{Key: "multi:0"}}, nil
}
func (s multiTopicSource) Open(_ context.Context, _ sources.Task, pos stream.Position) (sources.Reader, error) {
	var recs []stream.Record
	if pos == nil {
		for i, topic := range s.topics {
			recs = append(recs, stream.Record{Topic: topic, Key: fmt.Sprint("k", i), Value: map[string]any{"n": int64(i)},
				Position: stream.Position(fmt.Sprint(i))})
		}
	}
	return &multiTopicReader{recs: recs}, nil
}

type multiTopicReader struct{ recs []stream.Record }

func (r *multiTopicReader) Read(context.Context) ([]stream.Record, error) {
	if len(r.recs) == 0 {
		return nil, sources.ErrEndOfInput
	}
	out := r.recs
	r.recs = nil
	return out, nil
}
func (r *multiTopicReader) Close() error { return nil }

func TestValidateToRecordTopics(t *testing.T) {
	tp := topology.New("p")
	tp.Topic("a")
	tp.Source("cdc", nopSource{}).ToRecordTopics()
	if err := tp.Validate(); err != nil {
		t.Fatalf("a source with ToRecordTopics and no To: %v", err)
	}
	tp = topology.New("p")
	tp.Source("cdc", nopSource{}).ToRecordTopics().To(tp.Topic("a"))
	err := tp.Validate()
	if want := `source "cdc": both To("a") and ToRecordTopics: call one of them`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Validate = %v, want %s", err, want)
	}
}

// A source declared with ToRecordTopics sends each record to the topic it names; a record that names none
// stops the task naming the source, task and position, or goes to the dead-letter topic.
func TestSourceToRecordTopics(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	run := func(t *testing.T, name string, withDeadLetter bool) (error, context.CancelFunc) {
		tp := topology.New(name)
		tp.Topic(name + "-a")
		tp.Topic(name + "-b")
		src := tp.Source("multi", multiTopicSource{topics: []string{name + "-a", name + "-b", "", name + "-a"}}).ToRecordTopics()
		if withDeadLetter {
			src.DeadLetter(tp.Topic(name + "-dlq"))
		}
		cfg := topology.DefaultConfig()
		cfg.Brokers, cfg.HTTPAddr = brokers, "off"
		cfg.Logger = slog.New(slog.NewTextHandler(&testkit.LogBuffer{}, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		done := make(chan error, 1)
		go func() { done <- tp.RunWith(ctx, cfg) }()
		if !withDeadLetter {
			defer cancel()
			return <-done, cancel
		}
		return nil, func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("RunWith = %v", err)
			}
		}
	}

	t.Run("without dead-letter topic", func(t *testing.T) {
		err, _ := run(t, "rt-stop", false)
		t.Logf("RunWith: %v", err)
		want := `source "multi" task "multi:0": record at position 2`
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "names no topic") {
			t.Fatalf("RunWith = %v, want it to say %s ... names no topic", err, want)
		}
		if got := testkit.Values(testkit.ReadTopic(t, brokers, "rt-stop-a")); len(got) != 1 || got[0] != `{"n":0}` {
			t.Errorf("topic rt-stop-a holds %q, want the first record only", got)
		}
		if got := testkit.Values(testkit.ReadTopic(t, brokers, "rt-stop-b")); len(got) != 1 || got[0] != `{"n":1}` {
			t.Errorf("topic rt-stop-b holds %q, want the second record", got)
		}
	})
	t.Run("with dead-letter topic", func(t *testing.T) {
		_, stop := run(t, "rt-dlq", true)
		a := testkit.WaitRecords(t, brokers, "rt-dlq-a", 2, 30*time.Second)
		dl := testkit.WaitRecords(t, brokers, "rt-dlq-dlq", 1, 30*time.Second)
		stop()
		if got := testkit.Values(a); len(got) != 2 || got[0] != `{"n":0}` || got[1] != `{"n":3}` {
			t.Errorf("topic rt-dlq-a holds %q", got)
		}
		if got := testkit.Values(testkit.ReadTopic(t, brokers, "rt-dlq-b")); len(got) != 1 || got[0] != `{"n":1}` {
			t.Errorf("topic rt-dlq-b holds %q", got)
		}
		if reason, _ := dl[0].Header(topology.HeaderErrorReason); !strings.Contains(reason, "names no topic") {
			t.Errorf("dead letter's reason %q", reason)
		}
		if src, _ := dl[0].Header(topology.HeaderErrorSource); src != "multi" {
			t.Errorf("dead letter's source %q", src)
		}
	})
}
