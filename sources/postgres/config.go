package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sluicehq/sluice/secret"
)

// SnapshotMode says when the task copies the tables, like Debezium's snapshot.mode.
type SnapshotMode string

const (
	// SnapshotInitial copies the tables in a snapshot consistent with the slot, then streams the slot from
	// the snapshot's point (Debezium's default).
	SnapshotInitial SnapshotMode = "initial"
	// SnapshotNever streams the slot only: from the slot's consistent point when the source creates it,
	// from its confirmed_flush_lsn when it exists.
	SnapshotNever SnapshotMode = "never"
)

// Defaults of Config.
const (
	DefaultTopicPrefix       = "sluice"
	DefaultPublication       = "dbz_publication" // Debezium's publication.name default
	DefaultChunkSize         = 1024
	DefaultStatusInterval    = 10 * time.Second
	DefaultHeartbeatInterval = time.Minute
)

// Config configures a PostgreSQL change data capture source. Check it with New.
type Config struct {
	// DSN is a libpq connection string or URL ("postgres://user:pass@host:5432/db"); it may contain
	// ${env:NAME} and ${file:PATH} references (package secret), and its password never appears in logs or
	// errors. The user needs the
	// REPLICATION attribute (or superuser), SELECT on the tables and, unless Publication exists with them,
	// ownership of the tables (CREATE/ALTER PUBLICATION). The source adds replication=database to its
	// streaming connection itself.
	DSN string
	// Tables are the tables to capture, as "schema.table" (no globs). At least one; each must exist and
	// have a primary key.
	Tables []string
	// Slot is the logical replication slot's name (Debezium's slot.name): required, unique per source,
	// letters, digits and '_' only (PostgreSQL's rule). The source creates it (plugin pgoutput) when it is
	// missing.
	Slot string
	// Publication is the publication the slot streams (default "dbz_publication", Debezium's default). It is
	// created FOR TABLE Tables when missing; tables missing from an existing one are added (Debezium's
	// publication.autocreate.mode=filtered).
	Publication string
	// TopicPrefix starts every topic name and schema name (default "sluice", Debezium's topic.prefix): records
	// of schema.table go to topic "<prefix>.<schema>.<table>".
	TopicPrefix string
	// SnapshotMode is when tables are copied; the empty value means SnapshotInitial.
	SnapshotMode SnapshotMode
	// Tombstones, when nil or true, follows each delete event with a tombstone (same key, nil value).
	Tombstones *bool
	// ChunkSize is the number of rows per snapshot query and per Read, and the most changes per Read
	// (default 1024).
	ChunkSize int
	// StatusInterval is how often the streaming connection sends a standby status update (default 10s; it
	// must stay well under the server's wal_sender_timeout, 60s by default): each confirms the latest
	// position the engine saved, so the slot trails the pipeline by about this interval.
	StatusInterval time.Duration
	// HeartbeatQuery, when set, is executed every HeartbeatInterval on a normal connection (Debezium's
	// heartbeat.action.query), e.g. "UPDATE heartbeat SET ts = now()" on a table outside the publication: it
	// writes WAL in the captured database, so that a slot whose tables are quiet can advance (see the
	// package doc, "Positions and slot progress").
	HeartbeatQuery string
	// HeartbeatInterval is how often HeartbeatQuery runs (default 1 minute).
	HeartbeatInterval time.Duration
	// ConnectTimeout bounds each connection attempt (default 10s).
	ConnectTimeout time.Duration
	// QueryTimeout bounds each query and each replication command (default 2 minutes).
	QueryTimeout time.Duration
	// Logger receives start-up and progress messages. Default: the pipeline's logger (metrics.From of
	// Open's context), or slog.Default() outside a pipeline.
	Logger *slog.Logger
}

// Validate checks cfg and fills in defaults; each error names the field at fault.
func (cfg *Config) Validate() error {
	if strings.TrimSpace(cfg.DSN) == "" {
		return errors.New("postgres source: DSN is empty: give \"postgres://user:password@host:5432/database\"")
	}
	if err := secret.ResolveField("postgres source", "DSN", &cfg.DSN, false); err != nil {
		return err
	}
	parsed, err := pgconn.ParseConfig(cfg.DSN)
	if err != nil {
		return fmt.Errorf("postgres source: DSN: %s", redact(err.Error(), cfg.DSN))
	}
	secret.Register(parsed.Password) // a password written literally is a secret too
	if len(cfg.Tables) == 0 {
		return errors.New("postgres source: Tables is empty: name at least one table as \"schema.table\"")
	}
	for i, t := range cfg.Tables {
		s, n, ok := strings.Cut(t, ".")
		if !ok || s == "" || n == "" || strings.Contains(n, ".") {
			return fmt.Errorf("postgres source: Tables[%d]: %q is not \"schema.table\"", i, t)
		}
	}
	if cfg.Slot == "" {
		return errors.New("postgres source: Slot is empty: name the replication slot (letters, digits and '_'), unique per source")
	}
	if !validSlotName(cfg.Slot) {
		return fmt.Errorf("postgres source: Slot %q: use only lower-case letters, digits and '_', at most 63 characters", cfg.Slot)
	}
	if cfg.Publication == "" {
		cfg.Publication = DefaultPublication
	}
	switch cfg.SnapshotMode {
	case "":
		cfg.SnapshotMode = SnapshotInitial
	case SnapshotInitial, SnapshotNever:
	default:
		return fmt.Errorf("postgres source: SnapshotMode %q is not one of initial, never", cfg.SnapshotMode)
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = DefaultTopicPrefix
	}
	if sanitizeTopic(cfg.TopicPrefix) != cfg.TopicPrefix {
		return fmt.Errorf("postgres source: TopicPrefix %q: use only letters, digits, '.', '_' and '-'", cfg.TopicPrefix)
	}
	if cfg.ChunkSize < 0 {
		return fmt.Errorf("postgres source: ChunkSize %d is negative", cfg.ChunkSize)
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.StatusInterval < 0 || cfg.HeartbeatInterval < 0 || cfg.ConnectTimeout < 0 || cfg.QueryTimeout < 0 {
		return errors.New("postgres source: StatusInterval, HeartbeatInterval, ConnectTimeout and QueryTimeout must not be negative")
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

func validSlotName(s string) bool {
	if len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// redact removes the DSN's password (and every registered secret, see package secret) from a message.
func redact(msg, dsn string) string {
	if c, err := pgconn.ParseConfig(dsn); err == nil && c.Password != "" {
		msg = strings.ReplaceAll(msg, c.Password, secret.Mask)
	}
	return secret.Redact(msg)
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

// tombstones reports whether deletes are followed by tombstones.
func (cfg *Config) tombstones() bool { return cfg.Tombstones == nil || *cfg.Tombstones }

// connConfig returns the connection configuration; replication adds replication=database. Sessions run
// with the settings the text decoding relies on (UTC, ISO dates, hex bytea, ISO 8601 intervals, exact
// floats).
func (cfg *Config) connConfig(replication bool) (*pgconn.Config, error) {
	c, err := pgconn.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres source: DSN: %s", redact(err.Error(), cfg.DSN))
	}
	c.ConnectTimeout = cfg.ConnectTimeout
	if c.RuntimeParams == nil {
		c.RuntimeParams = map[string]string{}
	}
	for k, v := range map[string]string{"TimeZone": "UTC", "DateStyle": "ISO, YMD", "bytea_output": "hex",
		"IntervalStyle": "iso_8601", "extra_float_digits": "3", "application_name": "sluice-" + cfg.Slot} {
		c.RuntimeParams[k] = v
	}
	if replication {
		c.RuntimeParams["replication"] = "database"
	}
	return c, nil
}
