package offlineengine

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/larder-dev/larder/abi"
)

// widened maps DuckDB types no ABI type matches exactly to the ABI type a plan casts them
// to without loss that matters for features (small integers widen, DATE becomes midnight
// UTC, DECIMAL and HUGEINT become DOUBLE as Feast's pandas frames would hold them).
var widened = map[string]abi.Type{
	"TINYINT": abi.TypeInt32, "SMALLINT": abi.TypeInt32, "UTINYINT": abi.TypeInt32, "USMALLINT": abi.TypeInt32,
	"UINTEGER": abi.TypeInt64, "UBIGINT": abi.TypeInt64, "HUGEINT": abi.TypeDouble,
	"DATE": abi.TypeUnixTimestamp, "TIMESTAMP WITH TIME ZONE": abi.TypeUnixTimestamp,
}

// describeType maps a DuckDB column type to the ABI type a plan reads it as.
func describeType(name string) abi.Type {
	if t := abiType(name); t != 0 {
		return t
	}
	if elem, ok := strings.CutSuffix(name, "[]"); ok {
		if t := describeType(elem); t != 0 && !t.IsList() {
			return t + 10
		}
		return 0
	}
	if strings.HasPrefix(name, "DECIMAL") {
		return abi.TypeDouble
	}
	return widened[name]
}

// Describe returns the columns of a table expression (e.g. "read_parquet($1)" or a
// parenthesised query) as ABI types, without reading its rows. It runs in the same
// sandbox as Execute, so describing a file needs the same Access. A column of a type no
// ABI type can hold (STRUCT, MAP, …) fails with its name.
func Describe(ctx context.Context, from string, params []any, opts Options) ([]Column, error) {
	defer lockForRead(opts.Access)() // write.go
	conn, closeDB, err := openSandbox(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer closeDB()
	ds, err := conn.Prepare("SELECT * FROM " + from + " LIMIT 0")
	if err != nil {
		return nil, fmt.Errorf("preparing to describe %s: %w", from, err)
	}
	stmt := ds.(*duckdb.Stmt)
	defer stmt.Close()
	if st, err := stmt.StatementType(); err != nil || st != duckdb.STATEMENT_TYPE_SELECT {
		return nil, fmt.Errorf("describing %s: it is not a single SELECT", from)
	}
	args := make([]driver.NamedValue, len(params))
	for i, v := range params {
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	rows, err := stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, fmt.Errorf("describing %s: %w", from, err)
	}
	defer rows.Close()
	typed, ok := rows.(driver.RowsColumnTypeDatabaseTypeName)
	if !ok {
		return nil, fmt.Errorf("describing %s: the DuckDB driver does not report column types", from)
	}
	names := rows.Columns()
	cols := make([]Column, len(names))
	for i, n := range names {
		dt := typed.ColumnTypeDatabaseTypeName(i)
		t := describeType(dt)
		if t == 0 {
			return nil, fmt.Errorf("column %q has DuckDB type %s, which no feature value type can hold", n, dt)
		}
		cols[i] = Column{Name: n, Type: t}
	}
	return cols, nil
}
