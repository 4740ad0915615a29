package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// Source captures MySQL/MariaDB tables. Create it with New. Its methods are safe for concurrent use.
type Source struct {
	cfg Config

	mu sync.Mutex
	db *sql.DB
}

var _ sources.Source = (*Source)(nil)

// New validates cfg (see Config.Validate) and returns the source. It does not connect: the start-up checks
// run in Tasks, so that the pipeline fails before anything is read.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Tables = append([]string(nil), cfg.Tables...)
	cfg.Exclude = append([]string(nil), cfg.Exclude...)
	return &Source{cfg: cfg}, nil
}

// Topic returns the topic the records of table ("db.table") go to: "<TopicPrefix>.<db>.<table>", with
// characters Kafka does not allow replaced by '_'. Declare one topic per captured table in the topology.
func (s *Source) Topic(table string) string {
	db, name, _ := strings.Cut(table, ".")
	return schemaPrefix(s.cfg.TopicPrefix, tableName{DB: db, Table: name})
}

// TaskKey returns the key of the task that captures table ("db.table"): "mysql:db.table".
func TaskKey(table string) string { return "mysql:" + table }

// Tasks runs the start-up checks (see Check) and returns one task per captured table, keyed
// "mysql:<db>.<table>", sorted.
func (s *Source) Tasks(ctx context.Context) ([]sources.Task, error) {
	tables, err := s.Check(ctx)
	if err != nil {
		return nil, err
	}
	tasks := make([]sources.Task, len(tables))
	for i, t := range tables {
		tasks[i] = sources.Task{Key: TaskKey(t)}
	}
	return tasks, nil
}

// Open starts the task's snapshot at pos (nil: the whole table). A position inside a snapshot continues
// after its last_pk with a new consistent snapshot; a position whose snapshot is done ends at once with
// initial_only.
func (s *Source) Open(ctx context.Context, task sources.Task, pos stream.Position) (sources.Reader, error) {
	name, ok := strings.CutPrefix(task.Key, "mysql:")
	db, tbl, ok2 := strings.Cut(name, ".")
	if !ok || !ok2 {
		return nil, fmt.Errorf("mysql source: task key %q is not mysql:<db>.<table>", task.Key)
	}
	start, err := parsePosition(pos)
	if err != nil {
		return nil, fmt.Errorf("mysql source: position %s of %s: %w", pos, name, err)
	}
	if start.Snapshot != nil && start.Snapshot.Done && s.cfg.SnapshotMode == SnapshotInitialOnly {
		return doneReader{}, nil
	}
	pool, err := s.pool()
	if err != nil {
		return nil, err
	}
	return openSnapshot(ctx, s.cfg, pool, tableName{DB: db, Table: tbl}, start)
}

// Close closes the source's connection pool. The engine does not call it; programs that create a Source
// outside a topology may. Readers must be closed first.
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

// pool returns the source's connection pool, opening it on first use.
func (s *Source) pool() (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return s.db, nil
	}
	connector, err := driver.NewConnector(s.cfg.driverConfig())
	if err != nil {
		return nil, fmt.Errorf("mysql source: DSN: %w", err)
	}
	s.db = sql.OpenDB(connector)
	s.db.SetConnMaxIdleTime(time.Minute)
	return s.db, nil
}

// doneReader is a task whose snapshot finished and that has nothing more to read.
type doneReader struct{}

func (doneReader) Read(context.Context) ([]stream.Record, error) { return nil, sources.ErrEndOfInput }
func (doneReader) Close() error                                  { return nil }
