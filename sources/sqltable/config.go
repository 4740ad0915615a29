package sqltable

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/secret"
)

// Mode is how a task finds the rows it has not read yet, as Kafka Connect's JDBC source "mode".
type Mode string

const (
	// ModeBulk reads the whole table every PollInterval (Connect's bulk).
	ModeBulk Mode = "bulk"
	// ModeIncrementing reads rows whose IncrementingColumn is greater than the last one read: new rows of a
	// table whose column only grows (an AUTO_INCREMENT or identity key). Updates are not seen.
	ModeIncrementing Mode = "incrementing"
	// ModeTimestamp reads rows whose TimestampColumn is later than the last one read and earlier than the
	// database's now() minus TimestampDelay: new and updated rows of a table with a modification time.
	ModeTimestamp Mode = "timestamp"
	// ModeTimestampIncrementing orders rows by (TimestampColumn, IncrementingColumn) and reads those after
	// the last pair read, earlier than now() minus TimestampDelay: Connect's most robust mode (rows sharing
	// a timestamp are neither skipped nor read twice).
	ModeTimestampIncrementing Mode = "timestamp+incrementing"
)

// Dialect names the database's SQL flavour.
type Dialect string

const (
	// MySQL is MySQL or MariaDB through github.com/go-sql-driver/mysql.
	MySQL Dialect = "mysql"
	// PostgreSQL is PostgreSQL through github.com/jackc/pgx/v5.
	PostgreSQL Dialect = "postgres"
)

// Defaults of Config, Kafka Connect's where it has one.
const (
	DefaultTopicPrefix    = "sluice"
	DefaultPollInterval   = 5 * time.Second // Connect's poll.interval.ms
	DefaultBatchSize      = 100             // Connect's batch.max.rows
	DefaultQueryTimeout   = time.Minute
	DefaultConnectTimeout = 10 * time.Second
)

// Config configures a query-based table source. Check it with New.
type Config struct {
	// Dialect is the database's SQL flavour; empty: PostgreSQL when DSN starts with "postgres://" or
	// "postgresql://", MySQL otherwise.
	Dialect Dialect
	// DSN says where to connect; it may contain ${env:NAME} and ${file:PATH} references (package secret),
	// and its password never appears in logs or errors. MySQL: a go-sql-driver/mysql DSN, "user:password@tcp(host:3306)/db" (the
	// source sets parseTime, loc=UTC and the session time_zone '+00:00'). PostgreSQL: a pgx connection
	// string, "postgres://user:password@host:5432/db" or "host=... dbname=..." (the source sets the
	// session TimeZone to UTC).
	DSN string
	// Mode is how new rows are found; required.
	Mode Mode
	// Tables are the tables to read, one task each: "table" (in the DSN's database, or PostgreSQL's
	// current schema) or "db.table" (MySQL) / "schema.table" (PostgreSQL). Exactly one of Tables and Query.
	Tables []string
	// Query is a SELECT whose rows are read instead of a table's, in one task. The source wraps it:
	// SELECT * FROM (Query) AS q WHERE <mode's condition> ORDER BY ... LIMIT BatchSize.
	Query string
	// IncrementingColumn is the strictly increasing integer column of incrementing and
	// timestamp+incrementing. Empty with Tables: the table's AUTO_INCREMENT (MySQL) or identity/serial
	// (PostgreSQL) column.
	IncrementingColumn string
	// TimestampColumn is the modification-time column of timestamp and timestamp+incrementing (DATETIME,
	// TIMESTAMP, timestamp, timestamptz).
	TimestampColumn string
	// TimestampDelay makes the timestamp modes read only rows whose timestamp is earlier than the
	// database's now() minus TimestampDelay, so that transactions still in flight (which commit rows with
	// an older timestamp later) are not overtaken: Connect's timestamp.delay.interval.ms. Default 0.
	TimestampDelay time.Duration
	// KeyColumns are the columns of each record's key. Default: the table's primary key; with Query, no
	// key (nil) unless given.
	KeyColumns []string
	// AllowNullable accepts a nullable IncrementingColumn or TimestampColumn (rows where it is NULL are
	// never read). Default false: such a column fails the start-up check, as Connect's validate.non.null
	// (default true).
	AllowNullable bool
	// TopicPrefix starts every topic (default "sluice"): rows of table t go to "<TopicPrefix>.<t>" (t as
	// written in Tables), rows of Query to TopicPrefix.
	TopicPrefix string
	// PollInterval is how long a caught-up task waits before it queries again (default 5s).
	PollInterval time.Duration
	// BatchSize is the most rows per query (LIMIT) and per Read (default 100). A full page is followed at
	// once by the next query; a short one means the task caught up.
	BatchSize int
	// StopAtEnd ends each task (sources.ErrEndOfInput) once it caught up (a short page; bulk: one pass),
	// for batch jobs. Default false: tasks poll forever.
	StopAtEnd bool
	// QueryTimeout bounds each query, rows included (default 1 min).
	QueryTimeout time.Duration
	// ConnectTimeout bounds each connection attempt (default 10s).
	ConnectTimeout time.Duration
	// Logger receives the start-up checks' warnings (a table without a key, a column without an index).
	// Default: the logger of the pipeline that runs the checks (metrics.From of Tasks' context), or
	// slog.Default() outside a pipeline.
	Logger *slog.Logger
}

// Validate checks cfg and fills in defaults; each error names the field at fault. It does not connect.
func (cfg *Config) Validate() error {
	if strings.TrimSpace(cfg.DSN) == "" {
		return errors.New("sqltable source: DSN is empty")
	}
	if err := secret.ResolveField("sqltable source", "DSN", &cfg.DSN, false); err != nil {
		return err
	}
	if cfg.Dialect == "" {
		lower := strings.ToLower(cfg.DSN)
		if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
			cfg.Dialect = PostgreSQL
		} else {
			cfg.Dialect = MySQL
		}
	}
	switch cfg.Dialect {
	case MySQL:
		parsed, err := mysqldriver.ParseDSN(cfg.DSN)
		if err != nil {
			return fmt.Errorf("sqltable source: DSN is not a MySQL DSN (\"user:password@tcp(host:3306)/db\"; Dialect %s): %w", cfg.Dialect, secret.Error(err))
		}
		secret.Register(parsed.Passwd) // a password written literally is a secret too
	case PostgreSQL:
		parsed, err := pgx.ParseConfig(cfg.DSN)
		if err != nil {
			return fmt.Errorf("sqltable source: DSN is not a PostgreSQL connection string (Dialect %s): %w", cfg.Dialect, secret.Error(err))
		}
		secret.Register(parsed.Password) // a password written literally is a secret too
	default:
		return fmt.Errorf("sqltable source: Dialect %q is not one of mysql, postgres", cfg.Dialect)
	}
	switch cfg.Mode {
	case ModeBulk:
	case ModeIncrementing:
		if cfg.IncrementingColumn == "" && cfg.Query != "" {
			return errors.New("sqltable source: IncrementingColumn is empty: Mode incrementing over a Query needs it")
		}
	case ModeTimestamp:
		if cfg.TimestampColumn == "" {
			return errors.New("sqltable source: TimestampColumn is empty: Mode timestamp needs it")
		}
	case ModeTimestampIncrementing:
		if cfg.TimestampColumn == "" {
			return errors.New("sqltable source: TimestampColumn is empty: Mode timestamp+incrementing needs it")
		}
		if cfg.IncrementingColumn == "" && cfg.Query != "" {
			return errors.New("sqltable source: IncrementingColumn is empty: Mode timestamp+incrementing over a Query needs it")
		}
	case "":
		return errors.New("sqltable source: Mode is empty: give bulk, incrementing, timestamp or timestamp+incrementing")
	default:
		return fmt.Errorf("sqltable source: Mode %q is not one of bulk, incrementing, timestamp, timestamp+incrementing", cfg.Mode)
	}
	if (len(cfg.Tables) == 0) == (strings.TrimSpace(cfg.Query) == "") {
		return errors.New("sqltable source: give exactly one of Tables and Query")
	}
	for i, t := range cfg.Tables {
		if strings.TrimSpace(t) == "" || strings.Count(t, ".") > 1 {
			return fmt.Errorf("sqltable source: Tables[%d] %q is not \"table\" or \"db.table\"", i, t)
		}
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = DefaultTopicPrefix
	}
	if sanitizeTopic(cfg.TopicPrefix) != cfg.TopicPrefix {
		return fmt.Errorf("sqltable source: TopicPrefix %q: use only letters, digits, '.', '_' and '-'", cfg.TopicPrefix)
	}
	if cfg.TimestampDelay < 0 {
		return fmt.Errorf("sqltable source: TimestampDelay %s is negative", cfg.TimestampDelay)
	}
	if cfg.PollInterval < 0 {
		return fmt.Errorf("sqltable source: PollInterval %s is negative", cfg.PollInterval)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.BatchSize < 0 {
		return fmt.Errorf("sqltable source: BatchSize %d is negative", cfg.BatchSize)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

// sanitizeTopic replaces the characters Kafka does not allow in topic names with '_'.
func sanitizeTopic(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}
