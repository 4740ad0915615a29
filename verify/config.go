package verify

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
)

// TransformFunc makes a row's document instead of the stages and the sink: row is the document the
// default rule would write (the row as stages.Unwrap produces it, rendered by the sink: decimals as
// json.Number, dates as strings, nested objects as map[string]any), decoded from JSON. It returns the
// document id and the document (a nil doc: the row has no document).
type TransformFunc func(row map[string]any) (id string, doc map[string]any, err error)

// Config says what to compare and by which rules.
type Config struct {
	// MySQL is the pipeline's source configuration: DSN, TopicPrefix and Tombstones count.
	MySQL mysql.Config
	// Table is the table to compare, "db.table".
	Table string
	// Elasticsearch is the pipeline's sink configuration: URLs, Index, ID, DecimalMapping, IgnoreSchema and
	// the credentials count. Index must name one index (no {field:} template).
	Elasticsearch elasticsearch.Config

	// KeyCodec and ValueCodec are the codecs of the source topic (default "json-schema", as the CDC
	// examples declare it): records are encoded and decoded with them, as on their way through Kafka.
	KeyCodec, ValueCodec string
	// Stages are the flow's stateless stages, in order (default: one stages.Unwrap with its default
	// configuration). They are called from several goroutines at once, as the engine calls a flow's stages
	// for several partitions.
	Stages []stages.Stage
	// Transform, when set, replaces Stages and the sink's rendering.
	Transform TransformFunc

	// ChunkSize is the number of rows per query and ids per index request (default 1,000).
	ChunkSize int
	// Settle is how long after finding a difference it is checked again (default 5s): long enough for the
	// live pipeline to carry a change that was in flight.
	Settle time.Duration
	// RequestTimeout bounds each request to Elasticsearch (default 30s).
	RequestTimeout time.Duration
	// Progress, when set, is called after each chunk of either pass.
	Progress func(Progress)
	// Logger receives start and end lines (default slog.Default()).
	Logger *slog.Logger
}

// Progress is how far a run is.
type Progress struct {
	Phase      string // "rows" (the table pass) or "ids" (the index pass)
	Done       int64  // rows (or ids) compared so far
	Estimated  int64  // the table's estimated row count (rows) or the index's document count (ids)
	Candidates int    // differences found so far, before their re-check
}

func (c *Config) validate() error {
	if c.Table == "" || !strings.Contains(c.Table, ".") {
		return fmt.Errorf("verify: Table %q: give \"db.table\"", c.Table)
	}
	if c.Elasticsearch.Index == "" {
		return errors.New("verify: Elasticsearch.Index is empty: name the index the pipeline writes")
	}
	if strings.Contains(c.Elasticsearch.Index, "{") {
		return fmt.Errorf("verify: Elasticsearch.Index %q is a template: name one index", c.Elasticsearch.Index)
	}
	if len(c.Elasticsearch.URLs) == 0 {
		c.Elasticsearch.URLs = []string{"http://127.0.0.1:9200"}
	}
	if c.KeyCodec == "" {
		c.KeyCodec = "json-schema"
	}
	if c.ValueCodec == "" {
		c.ValueCodec = "json-schema"
	}
	for _, name := range []string{c.KeyCodec, c.ValueCodec} {
		if _, err := stream.LookupCodec(name); err != nil {
			return fmt.Errorf("verify: codec %q: %w", name, err)
		}
	}
	if c.Stages == nil && c.Transform == nil {
		u, err := stages.Unwrap("unwrap", stages.UnwrapConfig{})
		if err != nil {
			return err
		}
		c.Stages = []stages.Stage{u}
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 1000
	}
	if c.Settle <= 0 {
		c.Settle = 5 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
