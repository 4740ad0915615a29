package mysql

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// Keyset pagination over a table's primary key: the initial snapshot's chunks (chunkQueries), the
// incremental snapshot's (incremental_chunk.go) and the Rereader's (reread.go) select the same columns,
// continue after a key with the same condition and scan the rows alike (the keyless cursor too).

// selectColumns is "SELECT <every column> FROM <table>", the columns in t.columns' order (the order the
// row conversions expect).
func selectColumns(t *table) string {
	cols := make([]string, len(t.columns))
	for i := range t.columns {
		cols[i] = quoteIdent(t.columns[i].Name)
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM " + t.name.quoted()
}

// quotedKeyColumns returns t's primary-key columns, quoted, in key order.
func quotedKeyColumns(t *table) []string {
	order := make([]string, len(t.pk))
	for i, c := range t.pk {
		order[i] = quoteIdent(t.columns[c].Name)
	}
	return order
}

// keysetAfter returns the condition "key > (placeholders)" of t's primary key. A composite key (a, b) is
// (a > ?) OR (a = ? AND b > ?), which MariaDB turns into index ranges (it does not for the row comparison
// (a, b) > (?, ?)). keysetArgs gives its arguments.
func keysetAfter(t *table) string {
	order := quotedKeyColumns(t)
	var ors []string
	for i := range t.pk {
		var ands []string
		for j := 0; j <= i; j++ {
			op := " = "
			if j == i {
				op = " > "
			}
			ands = append(ands, order[j]+op+keysetPlaceholder(&t.columns[t.pk[j]]))
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return strings.Join(ors, " OR ")
}

// keysetArgs returns the arguments of keysetAfter for key (a primary key as positions hold it): the first
// key value, then the first two, and so on. The error names the column ("column id: ...").
func keysetArgs(t *table, key map[string]json.RawMessage) ([]any, error) {
	vals := make([]any, len(t.pk))
	for i, c := range t.pk {
		ct := &t.columns[c]
		v, err := pkArg(ct, key[ct.Name])
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", ct.Name, err)
		}
		vals[i] = v
	}
	var args []any
	for i := range vals {
		args = append(args, vals[:i+1]...)
	}
	return args, nil
}

// scanRow scans the current row of rows, n columns, into values as the driver returned them.
func scanRow(rows *sql.Rows, n int) ([]any, error) {
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	return vals, nil
}

// scanRows scans every row of rows (n columns each) with scanRow; the caller closes rows.
func scanRows(rows *sql.Rows, n int) ([][]any, error) {
	var out [][]any
	for rows.Next() {
		vals, err := scanRow(rows, n)
		if err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}
