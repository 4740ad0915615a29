package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/stream"
)

// tableName is a captured table.
type tableName struct{ DB, Table string }

func (t tableName) String() string { return t.DB + "." + t.Table }

// quoted returns `db`.`table`.
func (t tableName) quoted() string { return quoteIdent(t.DB) + "." + quoteIdent(t.Table) }

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// table is a table's columns, message key and schemas.
type table struct {
	name    tableName
	columns []columnType
	pk      []int // the message key's columns (keyless.go), indexes into columns in key order; empty: keyless

	keySchema, valueSchema, envelopeSchema, sourceSchema *stream.Schema
	topic, prefix                                        string // "<prefix>.<db>.<table>"; Config.TopicPrefix
}

// loadTable reads the table's columns and message key (keyColumns) from information_schema and builds its
// schemas.
func loadTable(ctx context.Context, db queryer, name tableName, prefix string) (*table, error) {
	// MariaDB's JSON is a LONGTEXT with a json_valid CHECK; MySQL's is a type of its own, and its
	// CHECK_CONSTRAINTS has no TABLE_NAME (flavor.go).
	mariadbJSON := `EXISTS (SELECT 1 FROM information_schema.CHECK_CONSTRAINTS k
				WHERE k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME
				AND k.CHECK_CLAUSE = CONCAT('json_valid(', CHAR(96), REPLACE(c.COLUMN_NAME, CHAR(96), REPEAT(CHAR(96), 2)), CHAR(96), ')'))`
	if serverIsMySQL(ctx, db) {
		mariadbJSON = "FALSE"
	}
	rows, err := db.QueryContext(ctx, `
		SELECT c.COLUMN_NAME, LOWER(c.DATA_TYPE), c.COLUMN_TYPE, c.IS_NULLABLE = 'YES',
			COALESCE(c.NUMERIC_PRECISION, 0), COALESCE(c.NUMERIC_SCALE, 0), COALESCE(c.DATETIME_PRECISION, 0),
			`+mariadbJSON+`
		FROM information_schema.COLUMNS c
		WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ?
		ORDER BY c.ORDINAL_POSITION`, name.DB, name.Table)
	if err != nil {
		return nil, fmt.Errorf("mysql source: columns of %s: %w", name, err)
	}
	defer rows.Close()
	t := &table{name: name}
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.DataType, &c.ColumnType, &c.Nullable, &c.Precision, &c.Scale, &c.FSP, &c.JSON); err != nil {
			return nil, fmt.Errorf("mysql source: columns of %s: %w", name, err)
		}
		ct, err := mapColumn(c)
		if err != nil {
			return nil, fmt.Errorf("mysql source: table %s: %w", name, err)
		}
		t.columns = append(t.columns, ct)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql source: columns of %s: %w", name, err)
	}
	if len(t.columns) == 0 {
		return nil, fmt.Errorf("mysql source: table %s does not exist (or the user cannot see it)", name)
	}
	// The message key: the primary key, else the first UNIQUE index of NOT NULL columns, else none (keyless.go).
	if t.pk, err = keyColumns(ctx, db, name, t.columns); err != nil {
		return nil, err
	}
	if err := t.buildSchemas(prefix); err != nil {
		return nil, err
	}
	return t, nil
}

// queryer is what loadTable needs from a *sql.DB or *sql.Conn.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// schemaPrefix is "<prefix>.<db>.<table>", the stem of the table's schema names and topic.
func schemaPrefix(prefix string, name tableName) string {
	return sanitizeTopic(prefix + "." + name.DB + "." + name.Table)
}

func (t *table) buildSchemas(prefix string) error {
	stem := schemaPrefix(prefix, t.name)
	t.topic, t.prefix = stem, prefix
	key := stream.NewStruct(stem + ".Key")
	for _, i := range t.pk {
		key.Field(t.columns[i].Name, t.columns[i].schema.AsRequired())
	}
	keyless := len(t.pk) == 0
	value := stream.NewStruct(stem + ".Value").Optional()
	for i := range t.columns {
		value.Field(t.columns[i].Name, t.columns[i].schema)
	}
	var err error
	if keyless {
		t.keySchema = nil // records of a keyless table have a null key and no key schema (keyless.go)
	} else if t.keySchema, err = key.Build(); err != nil {
		return fmt.Errorf("mysql source: key schema of %s: %w", t.name, err)
	}
	if t.valueSchema, err = value.Build(); err != nil {
		return fmt.Errorf("mysql source: value schema of %s: %w", t.name, err)
	}
	t.sourceSchema = sourceSchema
	t.envelopeSchema, err = stream.NewStruct(stem+".Envelope").Version(1).
		Field("before", t.valueSchema).
		Field("after", t.valueSchema).
		Field("source", sourceSchema).
		Field("op", stream.StringSchema()).
		Field("ts_ms", stream.Int64Schema().AsOptional()).
		Build()
	if err != nil {
		return fmt.Errorf("mysql source: envelope schema of %s: %w", t.name, err)
	}
	return nil
}

// sourceSchema is the schema of an envelope's source block, Debezium's io.debezium.connector.mysql.Source.
var sourceSchema = stream.NewStruct("io.debezium.connector.mysql.Source").
	Field("version", stream.StringSchema()).
	Field("connector", stream.StringSchema()).
	Field("name", stream.StringSchema()).
	Field("ts_ms", stream.Int64Schema()).
	Field("snapshot", stream.StringSchema().WithName(EnumName).
		WithParameter("allowed", "true,last,false,incremental").WithDefault("false").AsOptional()).
	Field("db", stream.StringSchema()).
	Field("table", stream.StringSchema().AsOptional()).
	Field("server_id", stream.Int64Schema()).
	Field("gtid", stream.StringSchema().AsOptional()).
	Field("file", stream.StringSchema()).
	Field("pos", stream.Int64Schema()).
	Field("row", stream.Int32Schema()).
	MustBuild()

// Version is the source's version, written in each record's source.version.
const Version = "0.1.0-sluice"
