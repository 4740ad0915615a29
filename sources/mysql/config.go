package mysql

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"
)

// SnapshotMode says when a task copies its table, like Debezium's snapshot.mode.
type SnapshotMode string

const (
	// SnapshotInitial copies each table, then streams the binlog from the snapshot's position (Debezium's
	// default). Not implemented yet: it comes with binlog streaming.
	SnapshotInitial SnapshotMode = "initial"
	// SnapshotInitialOnly copies each table and ends the task (sources.ErrEndOfInput). Implemented.
	SnapshotInitialOnly SnapshotMode = "initial_only"
	// SnapshotNever streams the binlog only. Not implemented yet.
	SnapshotNever SnapshotMode = "never"
	// SnapshotWhenNeeded snapshots when there is no position or the saved one was purged, then streams.
	// Not implemented yet.
	SnapshotWhenNeeded SnapshotMode = "when_needed"
)

// Defaults of Config.
const (
	DefaultTopicPrefix = "sluice"
	DefaultChunkSize   = 1024
)

// Config configures a MySQL/MariaDB source. Check it with New.
type Config struct {
	// DSN is a go-sql-driver/mysql data source name: "user:password@tcp(host:3306)/". The source forces
	// the session time_zone to '+00:00' and ignores parseTime and interpolateParams; keep the driver's default
	// utf8mb4 character set.
	DSN string
	// ServerID is the replication client's server_id, unique among the server's replicas (two readers with
	// the same id evict each other). Required by the binlog modes; unused by initial_only.
	ServerID uint32
	// Tables are the tables to capture, as "db.table"; each part may be a glob (path.Match syntax:
	// "shop.*", "shop.order_?"). At least one. A name without glob characters must exist.
	Tables []string
	// Exclude removes tables matched by Tables, with the same syntax.
	Exclude []string
	// TopicPrefix starts every topic name and schema name (default "sluice"): records of db.table go to
	// topic "<prefix>.<db>.<table>".
	TopicPrefix string
	// SnapshotMode is when tables are copied. Only SnapshotInitialOnly is implemented so far; the empty
	// value means SnapshotInitial (Debezium's default), which New rejects until binlog streaming lands.
	SnapshotMode SnapshotMode
	// ChunkSize is the number of rows per snapshot query and per Read (default 1024).
	ChunkSize int
	// ConnectTimeout bounds each connection attempt (default 10s).
	ConnectTimeout time.Duration
	// Logger receives progress (rows copied / estimated per chunk) and start-up messages (default
	// slog.Default()).
	Logger *slog.Logger
}

// Validate checks cfg and fills in defaults; each error names the field at fault.
func (cfg *Config) Validate() error {
	if strings.TrimSpace(cfg.DSN) == "" {
		return errors.New("mysql source: DSN is empty: give \"user:password@tcp(host:3306)/\"")
	}
	if _, err := driver.ParseDSN(cfg.DSN); err != nil {
		// The driver's message does not repeat the DSN, so no password is printed.
		return fmt.Errorf("mysql source: DSN: %w", err)
	}
	switch cfg.SnapshotMode {
	case SnapshotInitialOnly:
	case "", SnapshotInitial, SnapshotNever, SnapshotWhenNeeded:
		mode := cfg.SnapshotMode
		if mode == "" {
			mode = SnapshotInitial + " (the default)"
		}
		return fmt.Errorf("mysql source: SnapshotMode %s is not implemented yet (it needs binlog streaming): set SnapshotMode to %q", mode, SnapshotInitialOnly)
	default:
		return fmt.Errorf("mysql source: SnapshotMode %q is not one of initial, initial_only, never, when_needed", cfg.SnapshotMode)
	}
	if cfg.ServerID == 0 && cfg.SnapshotMode != SnapshotInitialOnly {
		return errors.New("mysql source: ServerID is 0: give a server_id no other replica of the server uses")
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
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
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

// driverConfig returns the driver configuration the source connects with.
func (cfg *Config) driverConfig() *driver.Config {
	dc, _ := driver.ParseDSN(cfg.DSN) // checked by Validate
	dc.ParseTime = false
	dc.InterpolateParams = false
	dc.Loc = time.UTC
	dc.Timeout = cfg.ConnectTimeout
	if dc.Params == nil {
		dc.Params = map[string]string{}
	}
	dc.Params["time_zone"] = "'+00:00'"
	return dc
}
