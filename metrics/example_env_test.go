package metrics_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/stream"
)

// greetingSink is a connector that uses its Env: it logs with the pipeline's logger and counts what it
// writes in a metric of its own, registered once in Open.
type greetingSink struct {
	log     *slog.Logger
	written atomic.Int64
}

func (s *greetingSink) Open(ctx context.Context) error {
	env := metrics.From(ctx)
	s.log = env.Logger
	s.log.Info("greeting sink open")
	return env.Registerer.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "greeting_sink_records_total", Help: "Records the greeting sink wrote.",
	}, func() float64 { return float64(s.written.Load()) }))
}

func (s *greetingSink) Write(_ context.Context, batch []stream.Record) error {
	s.written.Add(int64(len(batch)))
	return nil
}

// A connector reads the pipeline's logger and registerer from the context of Open with metrics.From. Here
// the test plays the engine's part with WithEnv; in a pipeline, RunWith does it and the metric appears on
// /metrics with the labels pipeline and flow (or source).
func ExampleFrom() {
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // a stable output for the example
			}
			return a
		},
	}))
	env := metrics.Env{
		Logger:     logger.With("pipeline", "shop", "flow", "greet"),
		Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": "shop", "flow": "greet"}, reg),
	}
	ctx := metrics.WithEnv(context.Background(), env)

	sink := &greetingSink{}
	if err := sink.Open(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_ = sink.Write(ctx, []stream.Record{{Value: "hello"}, {Value: "world"}})
	fams, _ := reg.Gather()
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			fmt.Println(f.GetName(), strings.Join(labels, " "), m.GetCounter().GetValue())
		}
	}

	// Outside a pipeline From falls back to slog.Default() and a registerer that exports nothing.
	fmt.Println(metrics.From(context.Background()).Registerer.Register(prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})))
	// Output:
	// level=INFO msg="greeting sink open" pipeline=shop flow=greet
	// greeting_sink_records_total flow=greet pipeline=shop 2
	// <nil>
}
