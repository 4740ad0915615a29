package topology_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// nopSource and nopSink stand in for connectors where only the declaration is under test.
type nopSource struct{}

func (nopSource) Tasks(context.Context) ([]sources.Task, error) { return nil, nil }
func (nopSource) Open(context.Context, sources.Task, stream.Position) (sources.Reader, error) {
	return nil, errors.New("not used")
}

type nopSink struct{}

func (nopSink) Open(context.Context) error                   { return nil }
func (nopSink) Write(context.Context, []stream.Record) error { return nil }
func (nopSink) Close() error                                 { return nil }

var (
	_ sources.Source = nopSource{}
	_ sinks.Sink     = nopSink{}
)

func TestValidateNamesEveryMistake(t *testing.T) {
	tests := []struct {
		name  string
		build func() *topology.Topology
		want  []string
	}{
		{"flow without sink", func() *topology.Topology {
			tp := topology.New("p")
			lines := tp.Topic("lines")
			tp.Source("files", nopSource{}).To(lines)
			tp.Flow("out").From(lines)
			return tp
		}, []string{`flow "out": no sink (call To or ToTopic)`}},
		{"unknown codec", func() *topology.Topology {
			tp := topology.New("p")
			lines := tp.Topic("lines", topology.ValueCodec("jsn"))
			tp.Source("files", nopSource{}).To(lines)
			return tp
		}, []string{`topic "lines": ValueCodec:`, `"jsn"`}},
		{"source without topic", func() *topology.Topology {
			tp := topology.New("p")
			tp.Source("files", nopSource{})
			return tp
		}, []string{`source "files": no destination topic (call To)`}},
		{"flow without input", func() *topology.Topology {
			tp := topology.New("p")
			tp.Flow("out").To(nopSink{})
			return tp
		}, []string{`flow "out": no input topic (call From)`}},
		{"nil connector", func() *topology.Topology {
			tp := topology.New("p")
			tp.Source("files", nil).To(tp.Topic("lines"))
			return tp
		}, []string{`source "files": connector is nil`}},
		{"duplicate names", func() *topology.Topology {
			tp := topology.New("p")
			lines := tp.Topic("lines")
			tp.Topic("lines")
			tp.Source("x", nopSource{}).To(lines)
			tp.Flow("x").From(lines).To(nopSink{})
			return tp
		}, []string{`topic "lines": declared twice`, `flow "x": name already used by a source`}},
		{"bad names and sizes", func() *topology.Topology {
			tp := topology.New("my pipeline")
			lines := tp.Topic("lines", topology.Partitions(0), topology.Compression("brotli"))
			tp.Source("files", nopSource{}, topology.TaskSlots(0)).To(lines)
			tp.Flow("out").From(lines).To(nopSink{}, topology.BatchSize(0))
			return tp
		}, []string{`pipeline name:`, `Partitions must be at least 1`, `Compression "brotli"`, `TaskSlots must be at least 1`, `BatchSize must be at least 1`}},
		{"unnamed stage", func() *topology.Topology {
			tp := topology.New("p")
			lines := tp.Topic("lines")
			tp.Flow("out").From(lines).Via(stages.Map("", func(r stream.Record) (stream.Record, error) { return r, nil })).To(nopSink{})
			return tp
		}, []string{`flow "out": stage 0: stage has no name`}},
		{"empty topology", func() *topology.Topology { return topology.New("p") }, []string{"nothing to run"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.build().Validate()
			if !errors.Is(err, topology.ErrInvalidTopology) {
				t.Fatalf("Validate() = %v, want ErrInvalidTopology", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestValidTopology(t *testing.T) {
	tp := topology.New("p")
	lines := tp.Topic("lines", topology.ValueCodec("string"), topology.Partitions(3), topology.Compression("zstd"))
	tp.Source("files", nopSource{}).To(lines)
	tp.Flow("out").From(lines).To(nopSink{})
	if err := tp.Validate(); err != nil {
		t.Fatal(err)
	}
}

// A bad topology fails RunWith before anything starts: no broker, no topic, no data dir. (It is about the
// embedded broker's data dir not being created, so it stays embedded under SLUICE_TEST_KAFKA=real.)
func TestRunRefusesInvalidTopologyBeforeStarting(t *testing.T) {
	dir := t.TempDir()
	tp := topology.New("p")
	tp.Flow("out").From(tp.Topic("lines"))
	cfg := topology.DefaultConfig()
	cfg.DataDir = dir + "/data"
	cfg.BrokerAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "off"
	err := tp.RunWith(context.Background(), cfg)
	if !errors.Is(err, topology.ErrInvalidTopology) {
		t.Fatalf("RunWith = %v, want ErrInvalidTopology", err)
	}
	if entries, _ := filepathGlob(dir + "/data"); len(entries) > 0 {
		t.Fatalf("RunWith created %v before failing", entries)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("SLUICE_BROKERS", "k1:9092, k2:9092")
	t.Setenv("SLUICE_SESSION_TIMEOUT", "8s")
	cfg, err := topology.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Embedded() || len(cfg.Brokers) != 2 || cfg.Brokers[1] != "k2:9092" {
		t.Fatalf("Brokers = %q", cfg.Brokers)
	}
	t.Setenv("SLUICE_SESSION_TIMEOUT", "soon")
	if _, err := topology.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "SLUICE_SESSION_TIMEOUT") {
		t.Fatalf("bad SLUICE_SESSION_TIMEOUT: err = %v", err)
	}
}

func filepathGlob(dir string) ([]string, error) { return filepath.Glob(filepath.Join(dir, "*")) }
