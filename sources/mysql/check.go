package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"

	driver "github.com/go-sql-driver/mysql"
)

// Errors of the start-up checks, wrapped by the error Check (and Tasks) returns, whose message names the
// fix. Check them with errors.Is.
var (
	// ErrUnreachable: the server cannot be connected to or refuses the DSN's user.
	ErrUnreachable = errors.New("mysql server unreachable")
	// ErrBinlogConfig: binary logging is off or not configured as change data capture needs it.
	ErrBinlogConfig = errors.New("binlog not configured for change data capture")
	// ErrMissingGrant: the DSN's user lacks a privilege the source needs.
	ErrMissingGrant = errors.New("missing grant")
	// ErrUnknownTable: an entry of Config.Tables names no table.
	ErrUnknownTable = errors.New("unknown table")
)

// Check verifies, in this order, that the server is reachable; that binary logging is on with
// binlog_format=ROW, binlog_row_image=FULL and binlog_row_metadata=FULL, and on MySQL that gtid_mode is ON
// or OFF (ON_PERMISSIVE and OFF_PERMISSIVE are logged as warnings: transactions of both kinds may follow,
// which the source reads, but positions are file and offset until the set is complete) and that
// binlog_row_value_options is empty (PARTIAL_JSON logs JSON updates as diffs, without the full after
// image); that the user holds REPLICATION
// SLAVE and REPLICATION CLIENT (BINLOG MONITOR on MariaDB) on *.*, and SELECT on every captured table; and
// that every entry of Config.Tables names at least one table. It returns the captured tables, sorted. Tasks
// calls it; the error wraps ErrUnreachable, ErrBinlogConfig, ErrMissingGrant or ErrUnknownTable.
func (s *Source) Check(ctx context.Context) ([]string, error) {
	db, err := s.pool()
	if err != nil {
		return nil, err
	}
	dc := s.cfg.driverConfig()
	pingCtx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	err = db.PingContext(pingCtx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("mysql source: %w: cannot connect to %s at %s as %q: %v (check DSN, that the server runs and that it accepts connections from here)",
			ErrUnreachable, dc.Net, dc.Addr, dc.User, err)
	}
	if err := checkBinlog(ctx, db, s.cfg.Logger); err != nil {
		return nil, err
	}
	if err := checkReplicationGrants(ctx, db); err != nil {
		return nil, err
	}
	names, err := s.resolveTables(ctx, db)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		// Probing is the only reliable check: SELECT can come from *.*, db.*, the table, or a role.
		_, err := db.ExecContext(ctx, "SELECT 1 FROM "+n.quoted()+" LIMIT 0")
		var me *driver.MySQLError
		if errors.As(err, &me) && (me.Number == 1142 || me.Number == 1143) {
			user, _ := currentUser(ctx, db)
			return nil, fmt.Errorf("mysql source: %w: user %s lacks SELECT on %s: run GRANT SELECT ON %s TO %s",
				ErrMissingGrant, user, n, n.quoted(), user)
		}
		if err != nil {
			return nil, fmt.Errorf("mysql source: read %s: %w", n, err)
		}
		out = append(out, n.String())
	}
	return out, nil
}

// checkBinlog reports every binlog setting that is wrong, each with the statement that fixes it, and logs
// a warning for a MySQL gtid_mode that is neither ON nor OFF.
func checkBinlog(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	rows, err := db.QueryContext(ctx, `SHOW GLOBAL VARIABLES WHERE Variable_name IN
		('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata', 'gtid_mode', 'binlog_row_value_options')`)
	if err != nil {
		return fmt.Errorf("mysql source: read binlog settings: %w", err)
	}
	defer rows.Close()
	vars := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return fmt.Errorf("mysql source: read binlog settings: %w", err)
		}
		vars[strings.ToLower(name)] = strings.ToUpper(value)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("mysql source: read binlog settings: %w", err)
	}
	if vars["log_bin"] != "ON" {
		return fmt.Errorf("mysql source: %w: binary logging is off (log_bin=%s): add log_bin=mysql-bin, server_id=1, binlog_format=ROW, binlog_row_image=FULL and binlog_row_metadata=FULL to the [mysqld] section of my.cnf and restart the server (log_bin cannot be turned on at runtime)",
			ErrBinlogConfig, strings.ToLower(orNone(vars["log_bin"])))
	}
	var problems []string
	for _, want := range [][2]string{{"binlog_format", "ROW"}, {"binlog_row_image", "FULL"}, {"binlog_row_metadata", "FULL"}} {
		got, ok := vars[want[0]]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("the server has no %s variable: use MariaDB >= 10.5 or MySQL >= 8.0.1", want[0]))
		case got != want[1]:
			problems = append(problems, fmt.Sprintf("%s is %s, must be %s: run SET GLOBAL %s = '%s' and add %s=%s to the [mysqld] section of my.cnf",
				want[0], got, want[1], want[0], want[1], want[0], want[1]))
		}
	}
	problems = append(problems, checkMySQLBinlog(vars, log)...)
	if len(problems) > 0 {
		return fmt.Errorf("mysql source: %w: %s", ErrBinlogConfig, strings.Join(problems, "; "))
	}
	return nil
}

var grantOnAll = regexp.MustCompile("(?i)^GRANT (.+) ON \\*\\.\\* TO ")

// checkReplicationGrants checks the global privileges the binlog reader needs, from SHOW GRANTS.
func checkReplicationGrants(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return fmt.Errorf("mysql source: SHOW GRANTS: %w", err)
	}
	defer rows.Close()
	privs := map[string]bool{}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("mysql source: SHOW GRANTS: %w", err)
		}
		m := grantOnAll.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, p := range strings.Split(m[1], ",") {
			privs[strings.ToUpper(strings.TrimSpace(p))] = true
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("mysql source: SHOW GRANTS: %w", err)
	}
	if privs["ALL PRIVILEGES"] || privs["ALL"] {
		return nil
	}
	var missing []string
	if !privs["REPLICATION SLAVE"] {
		missing = append(missing, "REPLICATION SLAVE")
	}
	if !privs["REPLICATION CLIENT"] && !privs["BINLOG MONITOR"] && !privs["SUPER"] {
		missing = append(missing, "REPLICATION CLIENT (BINLOG MONITOR on MariaDB)")
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	user, _ := currentUser(ctx, db)
	grant := strings.ReplaceAll(strings.Join(missing, ", "), " (BINLOG MONITOR on MariaDB)", "")
	return fmt.Errorf("mysql source: %w: user %s lacks %s: run GRANT %s ON *.* TO %s",
		ErrMissingGrant, user, strings.Join(missing, " and "), grant, user)
}

// currentUser returns the account the server authenticated, as 'user'@'host'.
func currentUser(ctx context.Context, db *sql.DB) (string, error) {
	var u string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&u); err != nil {
		return "the DSN's user", err
	}
	name, host, _ := strings.Cut(u, "@")
	return "'" + name + "'@'" + host + "'", nil
}

// resolveTables expands Config.Tables against the server's base tables and removes Config.Exclude.
func (s *Source) resolveTables(ctx context.Context, db *sql.DB) ([]tableName, error) {
	rows, err := db.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'BASE TABLE'
		AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')`)
	if err != nil {
		return nil, fmt.Errorf("mysql source: list tables: %w", err)
	}
	defer rows.Close()
	var all []tableName
	for rows.Next() {
		var t tableName
		if err := rows.Scan(&t.DB, &t.Table); err != nil {
			return nil, fmt.Errorf("mysql source: list tables: %w", err)
		}
		all = append(all, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql source: list tables: %w", err)
	}
	seen := map[tableName]bool{}
	var out []tableName
	for i, p := range s.cfg.Tables {
		matched := false
		for _, t := range all {
			if !matchTable(p, t.DB, t.Table) {
				continue
			}
			matched = true
			excluded := false
			for _, x := range s.cfg.Exclude {
				excluded = excluded || matchTable(x, t.DB, t.Table)
			}
			if !excluded && !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
		if !matched {
			what := "names no table"
			if isGlob(p) {
				what = "matches no table"
			}
			return nil, fmt.Errorf("mysql source: %w: Tables[%d] %q %s the user can see (check the name, or GRANT SELECT on it)",
				ErrUnknownTable, i, p, what)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("mysql source: %w: every table of Tables is excluded by Exclude", ErrUnknownTable)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

func orNone(s string) string {
	if s == "" {
		return "unset"
	}
	return s
}
