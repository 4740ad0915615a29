package topology

import (
	"testing"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
)

// The loop and table names are goka's: the engine creates the topics goka will use.
func TestStepTopicsAreGokas(t *testing.T) {
	cb := func(goka.Context, any) {}
	g := goka.DefineGroup(goka.Group("p.f.count"),
		goka.Input("events", new(codec.Bytes), cb),
		goka.Loop(new(codec.Bytes), cb),
		goka.Persist(new(codec.Bytes)),
	)
	if got := g.LoopStream().Topic(); got != loopTopic("p.f.count") {
		t.Errorf("goka's loop topic %q, loopTopic gives %q", got, loopTopic("p.f.count"))
	}
	if got := g.GroupTable().Topic(); got != tableTopic("p.f.count") {
		t.Errorf("goka's group table %q, tableTopic gives %q", got, tableTopic("p.f.count"))
	}
}
