package sqltable

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// Source reads tables (or a query) by polling, as Kafka Connect's JDBC source. Create it with New. Its
// methods are safe for concurrent use; each Reader is used by one goroutine at a time.
type Source struct {
	cfg     Config
	dialect dialect
	// pipelineLogger: Config.Logger was not set, so the start-up checks log with the logger of the pipeline
	// that calls Tasks (metrics.From).
	pipelineLogger bool

	mu sync.Mutex
	db *sql.DB
}

var _ sources.Source = (*Source)(nil)

// New validates cfg (see Config.Validate) and returns the source. It does not connect: the start-up checks
// run in Tasks, so that the pipeline fails before anything is read.
func New(cfg Config) (*Source, error) {
	pipelineLogger := cfg.Logger == nil
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Tables = append([]string(nil), cfg.Tables...)
	cfg.KeyColumns = append([]string(nil), cfg.KeyColumns...)
	return &Source{cfg: cfg, dialect: dialectOf(cfg.Dialect), pipelineLogger: pipelineLogger}, nil
}

// Topic returns the topic of table (as written in Config.Tables): "<TopicPrefix>.<table>", characters Kafka
// does not allow replaced by '_'. With Config.Query, Topic("") is TopicPrefix. Declare each in the topology.
func (s *Source) Topic(table string) string {
	if table == "" {
		return s.cfg.TopicPrefix
	}
	return s.cfg.TopicPrefix + "." + sanitizeTopic(table)
}

// Tasks connects, runs the start-up checks of every table (see the package doc) and returns one task per
// table, keyed "sqltable:<topic>" (one task for Query). A failed check names the table and column.
func (s *Source) Tasks(ctx context.Context) ([]sources.Task, error) {
	db, err := s.pool()
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	err = db.PingContext(pctx)
	cancel()
	if err != nil {
		return nil, transientIfConnection(fmt.Errorf("sqltable source: cannot reach the %s database: %w", s.cfg.Dialect, err))
	}
	log := s.cfg.Logger
	if s.pipelineLogger {
		log = metrics.From(ctx).Logger
	}
	var out []sources.Task
	for _, t := range s.taskList() {
		if err := s.describe(ctx, db, &t, log); err != nil {
			return nil, transientIfConnection(err)
		}
		out = append(out, sources.Task{Key: t.key})
	}
	return out, nil
}

// Open starts reading task at pos (see Position; nil: from the beginning). Connection failures, at Open
// and at Read, are marked sources.Transient.
func (s *Source) Open(ctx context.Context, st sources.Task, pos stream.Position) (sources.Reader, error) {
	var t *task
	for _, c := range s.taskList() {
		if c.key == st.Key {
			t = &c
			break
		}
	}
	if t == nil {
		return nil, fmt.Errorf("sqltable source: task %q is not one of this source's", st.Key)
	}
	p, err := parsePosition(pos)
	if err != nil {
		return nil, fmt.Errorf("sqltable source: task %s: %w", st.Key, err)
	}
	db, err := s.pool()
	if err != nil {
		return nil, err
	}
	if err := s.describe(ctx, db, t, nil); err != nil {
		return nil, transientIfConnection(err)
	}
	r := &reader{src: s, db: db, task: *t, pos: p}
	if s.cfg.Mode == ModeBulk && p.Done {
		// The pass ended: the next one starts after PollInterval.
		r.caughtUp, r.lastQuery = true, time.Now()
		r.pos = Position{}
	}
	return r, nil
}

// Close closes the source's connection pool. The engine calls it once at the end of each run (see
// sources.Source), after closing every Reader. Close is idempotent and the source stays usable: a later
// Tasks or Open opens a new pool.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

func (s *Source) pool() (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return s.db, nil
	}
	db, err := s.dialect.open(&s.cfg)
	if err != nil {
		return nil, err
	}
	db.SetConnMaxIdleTime(time.Minute)
	s.db = db
	return db, nil
}
