package schemaregistry

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// snapshot is everything a replica serves, for comparing replicas.
type snapshot struct {
	Subjects map[string][]storedVersionView
	Schemas  map[int]string
	Levels   map[string]string
}

type storedVersionView struct {
	Version, ID int
	Deleted     bool
	Text        string
}

func takeSnapshot(t testing.TB, e *Embedded) snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := snapshot{Subjects: map[string][]storedVersionView{}, Schemas: map[int]string{}, Levels: map[string]string{}}
	err := e.read(ctx, func(st *state) error {
		for name, versions := range st.subjects {
			for _, v := range versions {
				s.Subjects[name] = append(s.Subjects[name], storedVersionView{v.Version, v.ID, v.Deleted, v.parsed.Text})
			}
		}
		for id, p := range st.schemas {
			s.Schemas[id] = p.key()
		}
		s.Levels[""] = st.globalLevel()
		for k, v := range st.subjectLevel {
			s.Levels[k] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTwoEmbeddedOnOneLogAgree has two embedded registries on one log, as two replicas of a pipeline on one Kafka
// topic, register overlapping sets of schemas at the same time; they must agree on every id and version,
// and identical schema text must have one id across subjects.
func TestTwoEmbeddedOnOneLogAgree(t *testing.T) {
	runTwoReplicas(t, NewMemoryLog())
}

// runTwoReplicas is the replica agreement test on any Log (the Kafka one runs it too).
func runTwoReplicas(t *testing.T, log Log) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := OpenEmbedded(ctx, log, EmbeddedOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenEmbedded(ctx, log, EmbeddedOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()

	// Each replica registers, per subject, versions 1..n of a record growing by one defaulted field; both
	// register the same schemas in the same subjects at once, plus one subject of their own.
	schema := func(n int) string {
		fields := `{"name":"id","type":"long"}`
		for i := 1; i < n; i++ {
			fields += fmt.Sprintf(`,{"name":"f%d","type":"string","default":""}`, i)
		}
		return `{"type":"record","name":"R","fields":[` + fields + `]}`
	}
	type result struct {
		replica, subject string
		n, id            int
		err              error
	}
	results := make(chan result, 100)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for name, reg := range map[string]*Embedded{"a": a, "b": b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for n := 1; n <= 4; n++ {
				for _, subject := range []string{"shared-1", "shared-2", "own-" + name} {
					id, err := reg.Register(ctx, subject, stream.RegisteredSchema{Schema: schema(n)})
					results <- result{name, subject, n, id, err}
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	idOf := map[int]int{} // n -> id
	for r := range results {
		if r.err != nil {
			t.Fatalf("replica %s, subject %s, schema %d: %v", r.replica, r.subject, r.n, r.err)
		}
		if prev, ok := idOf[r.n]; ok && prev != r.id {
			t.Errorf("schema %d has id %d and %d", r.n, prev, r.id)
		}
		idOf[r.n] = r.id
	}
	if len(idOf) != 4 {
		t.Errorf("ids %v, want 4 distinct schemas", idOf)
	}

	// Two schemas each compatible with v1 but not with each other (field b as string, field b as int):
	// registered at once on the two replicas, the log lets exactly one become version 2.
	base := `{"type":"record","name":"C","fields":[{"name":"a","type":"int"}`
	x := base + `,{"name":"b","type":"string","default":""}]}`
	y := base + `,{"name":"b","type":"int","default":0}]}`
	if _, err := a.Register(ctx, "contest", stream.RegisteredSchema{Schema: base + "]}"}); err != nil {
		t.Fatal(err)
	}
	if err := b.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var errX, errY error
	var race sync.WaitGroup
	race.Add(2)
	go func() { defer race.Done(); _, errX = a.Register(ctx, "contest", stream.RegisteredSchema{Schema: x}) }()
	go func() { defer race.Done(); _, errY = b.Register(ctx, "contest", stream.RegisteredSchema{Schema: y}) }()
	race.Wait()
	if (errX == nil) == (errY == nil) {
		t.Errorf("both or neither of two mutually incompatible schemas registered: %v / %v", errX, errY)
	}
	for _, err := range []error{errX, errY} {
		if err != nil && ErrorCode(err) != CodeIncompatibleSchema {
			t.Errorf("the loser failed with %v, want a 409 refusal", err)
		}
	}

	// The same, past the replicas' own checks: both records reach the log, and the log's order alone
	// decides (the second is refused on every replica).
	if _, err := a.Register(ctx, "contest-2", stream.RegisteredSchema{Schema: base + "]}"}); err != nil {
		t.Fatal(err)
	}
	race.Add(2)
	go func() {
		defer race.Done()
		_, errX = a.submit(ctx, opRegister, recordValue{Subject: "contest-2", SchemaType: TypeAvro, Schema: x})
	}()
	go func() {
		defer race.Done()
		_, errY = b.submit(ctx, opRegister, recordValue{Subject: "contest-2", SchemaType: TypeAvro, Schema: y})
	}()
	race.Wait()
	if (errX == nil) == (errY == nil) || ErrorCode(errors.Join(errX, errY)) != CodeIncompatibleSchema {
		t.Errorf("appended at once, want exactly one 409 refusal: %v / %v", errX, errY)
	}

	if err := a.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	sa, sb := takeSnapshot(t, a), takeSnapshot(t, b)
	if !reflect.DeepEqual(sa, sb) {
		t.Errorf("replicas disagree:\n a: %+v\n b: %+v", sa, sb)
	}
	if got := len(sa.Subjects["shared-1"]); got != 4 {
		t.Errorf("shared-1 has %d versions, want 4", got)
	}
	if got := len(sa.Subjects["contest-2"]); got != 2 {
		t.Errorf("contest-2 has %d versions, want 2", got)
	}
	if got := len(sa.Subjects["contest"]); got != 2 {
		t.Errorf("contest has %d versions, want 2", got)
	}

	// A third replica opened later replays the log into the same state.
	c, err := OpenEmbedded(ctx, log, EmbeddedOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sc := takeSnapshot(t, c); !reflect.DeepEqual(sa, sc) {
		t.Errorf("a replica opened later disagrees:\n a: %+v\n c: %+v", sa, sc)
	}
}
