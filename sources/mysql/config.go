package mysql

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/sluicehq/sluice/secret"
)

// SnapshotMode says when the task copies the tables, like Debezium's snapshot.mode.
type SnapshotMode string

const (
	// SnapshotInitial copies the tables, then streams the binlog from the snapshot's position (Debezium's
	// default).
	SnapshotInitial SnapshotMode = "initial"
	// SnapshotInitialOnly copies the tables and ends the task (sources.ErrEndOfInput).
	SnapshotInitialOnly SnapshotMode = "initial_only"
	// SnapshotNever streams the binlog only, from the server's current position at the first start.
	SnapshotNever SnapshotMode = "never"
	// SnapshotWhenNeeded is initial, and also re-snapshots when the saved binlog position is no longer on
	// the server (its binlog files were purged), saying so in the log: with SignalTable set, incrementally
	// and only the tables that changed since, while streaming from the server's current position; else a
	// new snapshot of every table, then the stream from its position (see the package doc, "Purged
	// positions").
	SnapshotWhenNeeded SnapshotMode = "when_needed"
)

// Defaults of Config.
const (
	DefaultTopicPrefix = "sluice"
	DefaultChunkSize   = 1024
)

// Config configures a MySQL/MariaDB source. Check it with New.
type Config struct {
	// DSN is a go-sql-driver/mysql data source name: "user:password@tcp(host:3306)/"; it may contain
	// ${env:NAME} and ${file:PATH} references (package secret), e.g. "cdc:${env:MYSQL_PW}@tcp(db:3306)/",
	// and its password never appears in logs or errors. The source forces
	// the session time_zone to '+00:00' and ignores parseTime and interpolateParams; keep the driver's default
	// utf8mb4 character set.
	DSN string
	// ServerID is the replication client's server_id, unique among the server's replicas (two readers with
	// the same id evict each other: ERROR 4052). Required by initial and never; unused by initial_only.
	ServerID uint32
	// Tables are the tables to capture, as "db.table"; each part may be a glob (path.Match syntax:
	// "shop.*", "shop.order_?"). At least one. A name without glob characters must exist.
	Tables []string
	// Exclude removes tables matched by Tables, with the same syntax.
	Exclude []string
	// TopicPrefix starts every topic name and schema name (default "sluice"): records of db.table go to
	// topic "<prefix>.<db>.<table>".
	TopicPrefix string
	// SnapshotMode is when tables are copied; the empty value means SnapshotInitial (Debezium's default).
	SnapshotMode SnapshotMode
	// Tombstones, when nil or true, follows each delete event with a tombstone (same key, nil value) so
	// that compaction removes the row's key, as Debezium's tombstones.on.delete (default true).
	Tombstones *bool
	// NoVersionHeader, when true, leaves records without the sluice.version header (see VersionHeader), so
	// that sinks version documents by Kafka offset: for servers whose versions are not comparable (several
	// GTID domains written concurrently, a MySQL failover to a new server UUID). Default false: every
	// snapshot row, change event and tombstone carries its source-position version.
	NoVersionHeader bool
	// SchemaChanges, when nil or true, publishes a schema-change record per DDL statement on a captured
	// database to topic TopicPrefix (see Source.SchemaChangeTopic, which the topology must then declare), as
	// Debezium's include.schema.changes (default true). False publishes none; rows still decode with their
	// own schema.
	SchemaChanges *bool
	// ChunkSize is the number of rows per snapshot query and per Read, and the most binlog rows per Read
	// (default 1024).
	ChunkSize int
	// SignalTable ("db.table", Debezium's signal.data.collection) enables incremental snapshots on demand:
	// a table the source's user can INSERT into, created as Debezium's
	// CREATE TABLE debezium_signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048)).
	// Its inserted rows are read from the binlog (whether or not Tables names it) and never published:
	// execute-snapshot, stop-snapshot, pause-snapshot and resume-snapshot signals, and the watermarks the
	// source writes around each chunk. Empty: no incremental snapshots (Source.Snapshot fails).
	SignalTable string
	// IncrementalChunkSize is the number of rows per chunk of an incremental snapshot (default 1024,
	// Debezium's incremental.snapshot.chunk.size).
	IncrementalChunkSize int
	// ConnectTimeout bounds each connection attempt (default 10s).
	ConnectTimeout time.Duration
	// TLS encrypts the queries' and the binlog's connections (see TLSConfig); the zero value follows the
	// DSN's tls= parameter.
	TLS TLSConfig
	// Logger receives progress (rows copied / estimated per chunk), start-up messages and the binlog
	// library's (go-mysql's) own logs. Default: the logger of the pipeline that opens the task (metrics.From
	// of Open's context: the pipeline's handler, text or JSON), or slog.Default() outside a pipeline.
	Logger *slog.Logger

	// HeartbeatInterval, when positive, makes the binlog stream emit a heartbeat record to
	// Source.HeartbeatTopic whenever that long passed without a record (Debezium's heartbeat.interval.ms;
	// 0, the default, sends none). Its position is the stream's, past every event read (of other tables
	// and databases too), so that the saved position follows the server on a quiet captured table and a
	// restart does not need binlogs purged meanwhile. Declare the topic in the topology. At least 100ms.
	HeartbeatInterval time.Duration
	// HeartbeatQuery, if set, is a statement run on the query connection before each heartbeat, within the
	// interval (at most 10 s), e.g. "INSERT INTO hb.beat (id, ts) VALUES (1, NOW(6)) ON DUPLICATE KEY
	// UPDATE ts = NOW(6)" (Debezium's heartbeat.action.query), so that a server with no traffic at all
	// still writes binlog events for the heartbeats' positions to move past. A failure is logged as a
	// warning. Needs HeartbeatInterval.
	HeartbeatQuery string
	// RetentionCheckInterval is how often the binlog-retention guard compares the binlogs the server keeps
	// with the task's position (retention.go; default 1 minute).
	RetentionCheckInterval time.Duration
	// RetentionWarnMargin: the guard logs a warning when the binlog file holding the task's position will
	// be purged in less than this, or already was. 0 (the default): 1 hour, but at most a quarter of the
	// server's expiry (so that a 1-hour expiry warns only past 45 minutes of lag).
	RetentionWarnMargin time.Duration

	tlsConfig   *tls.Config // built from TLS by Validate; nil: the DSN's tls= parameter decides
	tlsFallback bool        // TLS.Mode preferred: plaintext when the server offers no TLS
	tlsOff      bool        // TLS.Mode disabled
}

// Validate checks cfg and fills in defaults; each error names the field at fault.
func (cfg *Config) Validate() error {
	if strings.TrimSpace(cfg.DSN) == "" {
		return errors.New("mysql source: DSN is empty: give \"user:password@tcp(host:3306)/\"")
	}
	if err := secret.ResolveField("mysql source", "DSN", &cfg.DSN, false); err != nil {
		return err
	}
	parsed, err := driver.ParseDSN(cfg.DSN)
	if err != nil {
		// The driver's message does not repeat the DSN, so no password is printed.
		return fmt.Errorf("mysql source: DSN: %w", secret.Error(err))
	}
	secret.Register(parsed.Passwd) // a password written literally is a secret too
	if cfg.tlsConfig, cfg.tlsFallback, err = cfg.TLS.build(hostOf(parsed.Addr)); err != nil {
		return fmt.Errorf("mysql source: %w", err)
	}
	cfg.tlsOff = cfg.TLS.Mode == TLSDisabled
	switch cfg.SnapshotMode {
	case "":
		cfg.SnapshotMode = SnapshotInitial
	case SnapshotInitial, SnapshotInitialOnly, SnapshotNever, SnapshotWhenNeeded:
	default:
		return fmt.Errorf("mysql source: SnapshotMode %q is not one of initial, initial_only, never, when_needed", cfg.SnapshotMode)
	}
	if cfg.ServerID == 0 && cfg.SnapshotMode != SnapshotInitialOnly {
		return fmt.Errorf("mysql source: ServerID is 0: SnapshotMode %s reads the binlog as a replica: give a server_id no other replica of the server uses", cfg.SnapshotMode)
	}
	if len(cfg.Tables) == 0 {
		return errors.New("mysql source: Tables is empty: name at least one table as \"db.table\" (globs allowed)")
	}
	for i, p := range cfg.Tables {
		if err := checkTablePattern(p); err != nil {
			return fmt.Errorf("mysql source: Tables[%d]: %w", i, err)
		}
	}
	for i, p := range cfg.Exclude {
		if err := checkTablePattern(p); err != nil {
			return fmt.Errorf("mysql source: Exclude[%d]: %w", i, err)
		}
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = DefaultTopicPrefix
	}
	if sanitizeTopic(cfg.TopicPrefix) != cfg.TopicPrefix {
		return fmt.Errorf("mysql source: TopicPrefix %q: use only letters, digits, '.', '_' and '-'", cfg.TopicPrefix)
	}
	if cfg.ChunkSize < 0 {
		return fmt.Errorf("mysql source: ChunkSize %d is negative", cfg.ChunkSize)
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.SignalTable != "" {
		if err := signalTableCheck(cfg.SignalTable); err != nil {
			return fmt.Errorf("mysql source: SignalTable: %w", err)
		}
	}
	if cfg.IncrementalChunkSize < 0 {
		return fmt.Errorf("mysql source: IncrementalChunkSize %d is negative", cfg.IncrementalChunkSize)
	}
	if cfg.IncrementalChunkSize == 0 {
		cfg.IncrementalChunkSize = DefaultIncrementalChunkSize
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.HeartbeatInterval < 0 || (cfg.HeartbeatInterval > 0 && cfg.HeartbeatInterval < 100*time.Millisecond) {
		return fmt.Errorf("mysql source: HeartbeatInterval %s: give 0 (no heartbeats) or at least 100ms", cfg.HeartbeatInterval)
	}
	if strings.TrimSpace(cfg.HeartbeatQuery) != "" && cfg.HeartbeatInterval == 0 {
		return errors.New("mysql source: HeartbeatQuery is set but HeartbeatInterval is 0: the query runs before each heartbeat; set HeartbeatInterval")
	}
	if cfg.RetentionCheckInterval < 0 {
		return fmt.Errorf("mysql source: RetentionCheckInterval %s is negative", cfg.RetentionCheckInterval)
	}
	if cfg.RetentionCheckInterval == 0 {
		cfg.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if cfg.RetentionWarnMargin < 0 {
		return fmt.Errorf("mysql source: RetentionWarnMargin %s is negative", cfg.RetentionWarnMargin)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

func checkTablePattern(p string) error {
	db, table, ok := strings.Cut(p, ".")
	if !ok || db == "" || table == "" {
		return fmt.Errorf("%q is not \"db.table\"", p)
	}
	for _, part := range []string{db, table} {
		if _, err := path.Match(part, ""); err != nil {
			return fmt.Errorf("%q: %w", p, err)
		}
	}
	return nil
}

func isGlob(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// matchTable reports whether pattern "db.table" matches db and table.
func matchTable(pattern, db, table string) bool {
	pdb, ptable, _ := strings.Cut(pattern, ".")
	okDB, _ := path.Match(pdb, db)
	okTable, _ := path.Match(ptable, table)
	return okDB && okTable
}

// sanitizeTopic replaces the characters Kafka does not allow in topic names with '_', as Debezium does.
func sanitizeTopic(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}

// queryReadTimeout bounds each read and write on a query connection: a server silent that long is gone.
const queryReadTimeout = 2 * time.Minute

// driverConfig returns the driver configuration the source connects with.
func (cfg *Config) driverConfig() *driver.Config {
	dc, _ := driver.ParseDSN(cfg.DSN) // checked by Validate
	dc.ParseTime = false
	dc.InterpolateParams = false
	dc.Loc = time.UTC
	dc.Timeout = cfg.ConnectTimeout
	// A server that stops answering mid-query (a hung host, a black-holed route) fails the read instead of
	// hanging the task; queries also honour their context.
	dc.ReadTimeout = queryReadTimeout
	dc.WriteTimeout = queryReadTimeout
	if dc.Params == nil {
		dc.Params = map[string]string{}
	}
	dc.Params["time_zone"] = "'+00:00'"
	switch {
	case cfg.tlsOff:
		dc.TLS, dc.TLSConfig, dc.AllowFallbackToPlaintext = nil, "false", false
	case cfg.tlsConfig != nil:
		dc.TLS, dc.AllowFallbackToPlaintext = cfg.tlsConfig.Clone(), cfg.tlsFallback
	}
	return dc
}

// schemaChanges reports whether DDL statements are published.
func (cfg *Config) schemaChanges() bool { return cfg.SchemaChanges == nil || *cfg.SchemaChanges }

// tombstones reports whether deletes are followed by tombstones.
func (cfg *Config) tombstones() bool { return cfg.Tombstones == nil || *cfg.Tombstones }
