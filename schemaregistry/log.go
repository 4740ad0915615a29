package schemaregistry

import (
	"context"
	"sync"
)

// DefaultTopic is the Kafka topic an embedded registry keeps its log in unless configured otherwise. Like
// Confluent's "_schemas" it has one partition and cleanup.policy=compact (so no retention ever deletes a
// schema); see internal/registrylog.
const DefaultTopic = "_sluice_schemas"

// Log is the ordered durable log an embedded registry keeps its state in. Every replica of a registry reads
// the same log from its start and derives the same state from it, so the log's order decides which
// registration wins. Implementations: NewMemoryLog (one process), internal/registrylog (a Kafka topic).
type Log interface {
	// Append adds one record at the end of the log and returns once it is durable.
	Append(ctx context.Context, key, value []byte) error
	// Read calls fn for each record from offset `from` on, in order, waiting for more until ctx ends; it
	// then returns ctx.Err(). It returns fn's error at once when fn fails. Offsets grow but may have gaps.
	Read(ctx context.Context, from int64, fn func(offset int64, key, value []byte) error) error
	// End is the offset after the last record now in the log.
	End(ctx context.Context) (int64, error)
}

// NewMemoryLog returns a Log kept in memory: durable for the life of the process only. Several embedded
// registries may share it, as replicas share a Kafka topic.
func NewMemoryLog() Log {
	return &memoryLog{more: make(chan struct{})}
}

type memoryRecord struct{ key, value []byte }

type memoryLog struct {
	mu      sync.Mutex
	records []memoryRecord
	more    chan struct{} // closed and replaced by each Append
}

func (l *memoryLog) Append(ctx context.Context, key, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, memoryRecord{key: clone(key), value: clone(value)})
	close(l.more)
	l.more = make(chan struct{})
	return nil
}

func (l *memoryLog) Read(ctx context.Context, from int64, fn func(offset int64, key, value []byte) error) error {
	next := max(from, 0)
	for {
		l.mu.Lock()
		batch := l.records[min(next, int64(len(l.records))):]
		more := l.more
		l.mu.Unlock()
		for _, r := range batch {
			if err := fn(next, r.key, r.value); err != nil {
				return err
			}
			next++
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-more:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *memoryLog) End(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.records)), nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
