package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// EmbeddedOptions configures an embedded registry.
type EmbeddedOptions struct {
	// DefaultCompatibility is the global compatibility level until PUT /config sets one ("" = BACKWARD).
	// Every replica on one log must be given the same default: it takes part in deciding each registration.
	DefaultCompatibility string
	// Logger receives the registry's log lines (nil: slog.Default()).
	Logger *slog.Logger
}

// Embedded is a schema registry kept in a Log and served with Confluent Schema Registry's REST API
// (Handler). Several Embedded on one log (replicas of a pipeline on one Kafka topic) are one registry: each
// write is appended to the log and takes effect where the log puts it, so every replica derives the same
// ids, versions and refusals. Reads are answered from the replica's copy, which follows the log; a lookup
// that misses first catches up with the log's end. Safe for concurrent use.
type Embedded struct {
	log    Log
	logger *slog.Logger

	mu      sync.Mutex
	st      *state
	next    int64                   // offset after the last applied record
	applied chan struct{}           // closed and replaced after each applied record
	waiters map[string]chan outcome // attempt -> the appender waiting for its outcome

	parsed      sync.Map // schema type and text as given -> parsedSchema (parsing is a pure function)
	parsedCount atomic.Int64

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var _ stream.SchemaRegistry = (*Embedded)(nil)

// OpenEmbedded replays the log (catches up to End) before returning, then follows it until Close. It takes
// ownership of log: Close closes it when it is an io.Closer (as internal/registrylog's Kafka log is), and so
// does OpenEmbedded when it fails. ctx bounds the replay.
func OpenEmbedded(ctx context.Context, log Log, opts EmbeddedOptions) (*Embedded, error) {
	level := Backward
	if opts.DefaultCompatibility != "" {
		var err error
		if level, err = ParseCompatibility(opts.DefaultCompatibility); err != nil {
			closeLog(log)
			return nil, fmt.Errorf("schema registry: DefaultCompatibility: %w", err)
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	follow, cancel := context.WithCancel(context.Background())
	e := &Embedded{log: log, logger: logger.With("component", "schema-registry"), st: newState(level),
		applied: make(chan struct{}), waiters: map[string]chan outcome{}, cancel: cancel, done: make(chan struct{})}
	started := time.Now()
	go e.follow(follow)
	if err := e.catchUp(ctx); err != nil {
		_ = e.Close()
		return nil, fmt.Errorf("schema registry: replaying its log: %w", err)
	}
	e.mu.Lock()
	e.logger.Info("schema registry log replayed", "offset", e.next, "schemas", len(e.st.schemas),
		"subjects", len(e.st.subjects), "took", time.Since(started).Round(time.Millisecond))
	e.mu.Unlock()
	return e, nil
}

func closeLog(log Log) {
	if c, ok := log.(io.Closer); ok {
		_ = c.Close()
	}
}

// Close stops following the log and closes it when it is an io.Closer. Calls waiting for the log fail.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		e.cancel()
		<-e.done
		closeLog(e.log)
	})
	return nil
}

// follow applies the log's records in order until ctx ends; a failed read is retried from where it
// stopped, after a pause.
func (e *Embedded) follow(ctx context.Context) {
	defer close(e.done)
	for failures := 0; ; failures++ {
		e.mu.Lock()
		from := e.next
		e.mu.Unlock()
		err := e.log.Read(ctx, from, e.apply)
		if ctx.Err() != nil {
			return
		}
		e.logger.Error("reading the schema registry's log failed; reading again", "offset", from, "error", err)
		select {
		case <-time.After(min(time.Second<<min(failures, 4), 10*time.Second)):
		case <-ctx.Done():
			return
		}
	}
}

func (e *Embedded) apply(offset int64, key, value []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if offset < e.next { // delivered again after a failed read
		return nil
	}
	attempt, out, ok := e.st.apply(key, value, e.parse)
	if !ok {
		e.logger.Warn("skipping a record that is not the schema registry's", "offset", offset)
	}
	if w := e.waiters[attempt]; ok && w != nil {
		w <- out
		delete(e.waiters, attempt)
	}
	e.next = offset + 1
	close(e.applied)
	e.applied = make(chan struct{})
	return nil
}

// catchUp returns once every record now in the log is applied.
func (e *Embedded) catchUp(ctx context.Context) error {
	end, err := e.log.End(ctx)
	if err != nil {
		return logError(ctx, "reading the end of the registry's log", err)
	}
	for {
		e.mu.Lock()
		next, applied := e.next, e.applied
		e.mu.Unlock()
		if next >= end {
			return nil
		}
		select {
		case <-applied:
		case <-ctx.Done():
			return logError(ctx, fmt.Sprintf("catching up with the registry's log (at offset %d of %d)", next, end), ctx.Err())
		case <-e.done:
			return &Error{Code: CodeStoreError, Message: "the schema registry is closed"}
		}
	}
}

// logError is the *Error for a failed call to the log: CodeTimeout when ctx ended, else CodeStoreError.
func logError(ctx context.Context, what string, err error) *Error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &Error{Code: CodeTimeout, Message: "Operation timed out: " + what, Err: err}
	}
	return &Error{Code: CodeStoreError, Message: fmt.Sprintf("Error in the backend data store: %s: %v", what, err), Err: err}
}

// submit appends a record and returns its outcome, once this replica has applied it in log order.
func (e *Embedded) submit(ctx context.Context, op string, v recordValue) (outcome, error) {
	attempt := newAttempt()
	key, _ := json.Marshal(recordKey{Op: op, Attempt: attempt})
	value, _ := json.Marshal(v)
	w := make(chan outcome, 1)
	e.mu.Lock()
	e.waiters[attempt] = w
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.waiters, attempt)
		e.mu.Unlock()
	}()
	if err := e.log.Append(ctx, key, value); err != nil {
		return outcome{}, logError(ctx, fmt.Sprintf("writing a %s of subject %q to the registry's log", op, v.Subject), err)
	}
	select {
	case out := <-w:
		return out, out.err
	case <-ctx.Done():
		return outcome{}, logError(ctx, fmt.Sprintf("waiting for the %s of subject %q to come back from the registry's log", op, v.Subject), ctx.Err())
	case <-e.done:
		return outcome{}, &Error{Code: CodeStoreError, Message: "the schema registry is closed"}
	}
}

// maxParsedCache bounds the parse cache; past it the cache starts again empty.
const maxParsedCache = 10000

// parse is parseSchema with a cache: a pipeline registers the same schema text for every record batch, and
// parsing an Avro schema costs far more than the rest of a lookup.
func (e *Embedded) parse(s stream.RegisteredSchema) (parsedSchema, error) {
	key := s.Type + "\x00" + s.Schema
	if p, ok := e.parsed.Load(key); ok {
		return p.(parsedSchema), nil
	}
	p, err := parseSchema(s)
	if err != nil {
		return p, err
	}
	if e.parsedCount.Add(1) > maxParsedCache {
		e.parsed.Clear()
		e.parsedCount.Store(1)
	}
	e.parsed.Store(key, p)
	return p, nil
}

func streamSchema(typ, text string) stream.RegisteredSchema {
	return stream.RegisteredSchema{Type: typ, Schema: text}
}

// Register returns the id of schema under subject, adding a new version when the subject does not hold it
// yet (a schema already registered under any subject keeps its id). It fails with an *Error: 42201 for an
// invalid schema, 409 (wrapping stream.ErrIncompatibleSchema, naming the field and the rule) when the
// subject's compatibility level refuses it, 50001/50002 when the log fails or ctx ends.
func (e *Embedded) Register(ctx context.Context, subject string, schema stream.RegisteredSchema) (int, error) {
	id, _, err := e.register(ctx, subject, schema)
	return id, err
}

func (e *Embedded) register(ctx context.Context, subject string, schema stream.RegisteredSchema) (id, version int, err error) {
	if subject == "" {
		return 0, 0, &Error{Code: CodeInvalidSchema, Message: "Invalid schema: the subject name is empty"}
	}
	p, err := e.parse(schema)
	if err != nil {
		return 0, 0, err
	}
	e.mu.Lock()
	v, ok := e.st.liveVersion(subject, p)
	e.mu.Unlock()
	if ok {
		return v.ID, v.Version, nil
	}
	if err := e.catchUp(ctx); err != nil {
		return 0, 0, err
	}
	e.mu.Lock()
	v, ok = e.st.liveVersion(subject, p)
	var refused error
	if !ok {
		refused = e.st.checkCompatible(subject, p) // refuse before writing to the log; the log decides for good
	}
	e.mu.Unlock()
	if ok {
		return v.ID, v.Version, nil
	}
	if refused != nil {
		return 0, 0, refused
	}
	out, err := e.submit(ctx, opRegister, recordValue{Subject: subject, SchemaType: p.Type, Schema: p.Text})
	if err != nil {
		return 0, 0, err
	}
	e.logger.Info("schema registered", "subject", subject, "id", out.id, "version", out.version)
	return out.id, out.version, nil
}

// SchemaByID returns the schema registered with id (40403 when no subject version, soft-deleted ones
// included, has it).
func (e *Embedded) SchemaByID(ctx context.Context, id int) (stream.RegisteredSchema, error) {
	e.mu.Lock()
	p, ok := e.st.schemaByID(id)
	e.mu.Unlock()
	if !ok {
		if err := e.catchUp(ctx); err != nil {
			return stream.RegisteredSchema{}, err
		}
		e.mu.Lock()
		p, ok = e.st.schemaByID(id)
		e.mu.Unlock()
	}
	if !ok {
		return stream.RegisteredSchema{}, schemaIDNotFound(id)
	}
	return stream.RegisteredSchema{Type: p.Type, Schema: p.Text}, nil
}

// SetCompatibility sets the compatibility level of subject ("" subject: the global level).
func (e *Embedded) SetCompatibility(ctx context.Context, subject, level string) error {
	level, err := ParseCompatibility(level)
	if err != nil {
		return err
	}
	_, err = e.submit(ctx, opConfig, recordValue{Subject: subject, Compatibility: level})
	return err
}

// Compatibility returns the level that applies to subject: its own, else the global one ("" subject: the
// global one).
func (e *Embedded) Compatibility(ctx context.Context, subject string) (string, error) {
	if err := e.catchUp(ctx); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if subject == "" {
		return e.st.globalLevel(), nil
	}
	return e.st.level(subject), nil
}

// read runs fn on the state once this replica has caught up with the log.
func (e *Embedded) read(ctx context.Context, fn func(st *state) error) error {
	if err := e.catchUp(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return fn(e.st)
}
