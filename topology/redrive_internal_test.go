package topology

import (
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/opsapi"
)

// The state of each dead letter follows from the dead-letter topics and the state topic: a dead letter
// that a newer one replaces (sluice.redrive.of) failed again, and the newer one's attempts are at least one
// more than the one it replaces, whatever its header says; DONE and REPLAYING come from the state topic;
// attempts at the limit quarantine.
func TestSettleDLQ(t *testing.T) {
	msg := func(offset int64, headers ...string) *sarama.ConsumerMessage {
		m := &sarama.ConsumerMessage{Topic: "dead", Partition: 0, Offset: offset, Key: []byte("k"), Value: []byte("v")}
		for i := 0; i < len(headers); i += 2 {
			m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte(headers[i]), Value: []byte(headers[i+1])})
		}
		return m
	}
	entries := []*deadLetterEntry{
		newDeadLetterEntry(msg(0, HeaderErrorFlow, "index", HeaderErrorTopic, "in", HeaderErrorPartition, "1", HeaderErrorOffset, "7")),
		newDeadLetterEntry(msg(1, HeaderErrorFlow, "index", HeaderErrorAttempts, "1")),
		newDeadLetterEntry(msg(2, HeaderErrorFlow, "index", HeaderErrorAttempts, "1", HeaderRedriveOf, "dead/0@1")), // no raise in the header
		newDeadLetterEntry(msg(3, HeaderErrorFlow, "index", HeaderErrorAttempts, "1", HeaderErrorAttempts, "2", HeaderRedriveOf, "dead/0@2")),
		newDeadLetterEntry(msg(4, HeaderErrorFlow, "index")),
		newDeadLetterEntry(msg(5, HeaderErrorFlow, "index")),
	}
	p := &pipelineRun{cfg: Config{DLQMaxAttempts: 3}}
	p.settleDLQ(entries, map[string]dlqState{
		"dead/0@4": {State: opsapi.DeadLetterDone},
		"dead/0@5": {State: opsapi.DeadLetterReplaying},
	})
	want := []struct {
		state    string
		attempts int
	}{
		{opsapi.DeadLetterPending, 1}, {opsapi.DeadLetterFailedAgain, 1}, {opsapi.DeadLetterFailedAgain, 2},
		{opsapi.DeadLetterQuarantined, 3}, {opsapi.DeadLetterDone, 1}, {opsapi.DeadLetterReplaying, 1},
	}
	for i, e := range entries {
		if e.rec.State != want[i].state || e.rec.Attempts != want[i].attempts {
			t.Errorf("dead/0@%d: %s with %d attempts, want %s with %d", i, e.rec.State, e.rec.Attempts, want[i].state, want[i].attempts)
		}
	}
	if e := entries[0].rec; e.OriginTopic != "in" || e.OriginPartition != 1 || e.OriginOffset != 7 {
		t.Errorf("origin: %+v", e)
	}
	if entries[2].rec.SupersededBy != "dead/0@3" || entries[3].rec.Replaces != "dead/0@2" {
		t.Errorf("chain: %+v %+v", entries[2].rec, entries[3].rec)
	}
	// A re-injection carries the record's own headers, the first failure and the computed attempts, and
	// the redrive headers; none of the old failure's.
	red := redriveMessage("p.index.redrive", entries[3], "r1")
	got := map[string]string{}
	for _, h := range red.Headers {
		if _, dup := got[string(h.Key)]; dup {
			t.Errorf("header %s twice", h.Key)
		}
		got[string(h.Key)] = string(h.Value)
	}
	if got[HeaderErrorAttempts] != "3" || got[HeaderRedriveOf] != "dead/0@3" || got[HeaderRedriveID] != "r1" || got[HeaderErrorFlow] != "" {
		t.Errorf("redrive headers: %v", got)
	}
}

func TestRecordRef(t *testing.T) {
	for _, s := range []string{"a.b-c/3@42", "x/0@0"} {
		topic, part, off, ok := parseRecordRef(s)
		if !ok || formatRecordRef(topic, part, off) != s {
			t.Errorf("%q: %q %d %d %v", s, topic, part, off, ok)
		}
	}
	for _, s := range []string{"", "a", "a/1", "a@1/2", "/1@2", "a/x@1"} {
		if _, _, _, ok := parseRecordRef(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestDLQMaxAttemptsFromEnv(t *testing.T) {
	t.Setenv("SLUICE_DLQ_MAX_ATTEMPTS", "5")
	c, err := ConfigFromEnv()
	if err != nil || c.DLQMaxAttempts != 5 {
		t.Fatalf("5: %v %d", err, c.DLQMaxAttempts)
	}
	t.Setenv("SLUICE_DLQ_MAX_ATTEMPTS", "0")
	if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "SLUICE_DLQ_MAX_ATTEMPTS") {
		t.Fatalf("0: %v", err)
	}
	c = DefaultConfig()
	c.DLQMaxAttempts = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "DLQMaxAttempts (SLUICE_DLQ_MAX_ATTEMPTS)") {
		t.Fatalf("-1: %v", err)
	}
}
