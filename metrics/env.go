package metrics

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Env is what the engine gives connectors and stages: the pipeline's logger and a registerer for their own
// metrics, in the manner of Benthos' service.Resources. The engine puts it in the context of every call it
// makes to a connector or stage, so the interfaces keep their signatures: Source.Tasks and Open,
// Reader.Read, Sink.Open and Write, Stage.Process, with the source or flow they serve; a stage's Open
// (stages.Opener, called once per run for all chains) gets the pipeline's alone. A connector reads it with
// From, typically once in Open.
type Env struct {
	// Logger is the pipeline's logger (its handler and level: text or JSON, SLUICE_LOG_FORMAT), with the
	// attributes pipeline and source or flow already added.
	Logger *slog.Logger
	// Registerer registers the connector's or stage's metrics with the pipeline's registry, so that they
	// appear on /metrics beside the sluice_* ones. It adds the labels pipeline and source or flow to every
	// metric registered through it, so a connector registers its metrics without them; what is registered is
	// unregistered when the pipeline run ends. Register a metric once per Open: registering the same name
	// and labels again fails with prometheus.AlreadyRegisteredError.
	Registerer prometheus.Registerer
}

type envKey struct{}

// WithEnv returns ctx carrying env. The engine sets it; tests of a connector may too.
func WithEnv(ctx context.Context, env Env) context.Context {
	return context.WithValue(ctx, envKey{}, env)
}

// From returns the Env in ctx. Outside a pipeline (no Env in ctx), or for a field left nil, it returns
// slog.Default() and a registerer that accepts every metric and exports none, so a connector needs no
// special case when it runs alone.
func From(ctx context.Context) Env {
	env, _ := ctx.Value(envKey{}).(Env)
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	if env.Registerer == nil {
		env.Registerer = discard{}
	}
	return env
}

// discard is the registerer of a context without Env: it takes everything and exports nothing.
type discard struct{}

func (discard) Register(prometheus.Collector) error  { return nil }
func (discard) MustRegister(...prometheus.Collector) {}
func (discard) Unregister(prometheus.Collector) bool { return true }

// trackingRegisterer registers with reg and remembers what it registered, so that unregisterAll can undo it.
type trackingRegisterer struct {
	reg prometheus.Registerer
	mu  sync.Mutex
	cs  []prometheus.Collector
}

func (t *trackingRegisterer) Register(c prometheus.Collector) error {
	if err := t.reg.Register(c); err != nil {
		return err
	}
	t.mu.Lock()
	t.cs = append(t.cs, c)
	t.mu.Unlock()
	return nil
}

func (t *trackingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := t.Register(c); err != nil {
			panic(err)
		}
	}
}

func (t *trackingRegisterer) Unregister(c prometheus.Collector) bool {
	t.mu.Lock()
	for i, have := range t.cs {
		if have == c {
			t.cs = append(t.cs[:i], t.cs[i+1:]...)
			break
		}
	}
	t.mu.Unlock()
	return t.reg.Unregister(c)
}

func (t *trackingRegisterer) unregisterAll() {
	t.mu.Lock()
	cs := t.cs
	t.cs = nil
	t.mu.Unlock()
	for _, c := range cs {
		t.reg.Unregister(c)
	}
}
