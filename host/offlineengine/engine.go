package offlineengine

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/larder-dev/larder/abi"
)

// Access is what a plan may read. Everything else on the file system is off limits.
type Access struct {
	// Paths are files the plan may read (e.g. one Parquet source), as absolute paths.
	Paths []string
	// Directories are directories whose whole subtree the plan may read (a Parquet
	// dataset laid out as a directory).
	Directories []string
}

// Options tune one execution.
type Options struct {
	Access Access
	// BatchSize is the number of rows handed to the callback at a time (default 4096).
	BatchSize int
	// MemoryLimit is DuckDB's memory_limit (e.g. "2GB"); empty keeps DuckDB's default,
	// 80% of the machine's RAM. Beyond it joins, aggregates and sorts spill to the
	// engine's private temp directory (TempDir).
	MemoryLimit string
	// TempDir is the directory under which each engine database gets its private spill
	// directory (created 0700, removed when the database closes); empty means
	// os.TempDir(). DuckDB's own default is ".tmp" in the process's working directory,
	// which litters repo directories and fails in a read-only one.
	TempDir string
	// Threads caps DuckDB's worker threads; 0 keeps DuckDB's default (one per core).
	Threads int
	// CountRows makes every Batch carry the result's total row count (for progress
	// bars), at the cost of one window aggregate over the result.
	CountRows bool
}

// DefaultBatchSize is the number of rows per Batch when Options.BatchSize is 0.
const DefaultBatchSize = 4096

// Batch is a run of result rows. Rows[i][j] is column j of row i as a Go value of the
// column's ABI type, or nil for NULL:
//
//	BYTES []byte, STRING string, INT32 int32, INT64 int64, DOUBLE float64, FLOAT float32,
//	BOOL bool, UNIX_TIMESTAMP time.Time (UTC), and for lists []byte→[][]byte, []string,
//	[]int32, []int64, []float64, []float32, []bool, []time.Time.
//
// A Batch and its row slices are reused for the next batch: the callback must copy what
// it keeps.
type Batch struct {
	Schema []Column
	Rows   [][]any
	// Total is the number of rows of the whole result when Options.CountRows is set,
	// else -1.
	Total int64
}

// totalColumn is the column Execute adds to count the result; the prefix keeps it out of
// the way of any column a plan may declare.
const totalColumn = "__larder_result_total"

// Execute runs p in a fresh sandboxed DuckDB database and calls fn with each batch of rows
// until the result is exhausted, fn fails or ctx ends. It returns the number of rows read.
func Execute(ctx context.Context, p *Plan, opts Options, fn func(*Batch) error) (int64, error) {
	if p.Dialect != DialectDuckDB {
		return 0, badPlan("dialect %q is not executable by this host", p.Dialect)
	}
	defer lockForRead(opts.Access)() // write.go: no offline write replaces a file mid-read
	conn, closeDB, err := openSandbox(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer closeDB()

	stmt, err := prepareSelect(conn, p)
	if err != nil {
		return 0, err
	}
	schema := p.ResultSchema
	if opts.CountRows {
		// Only now that the SQL is known to be one SELECT is it safe to nest it. The
		// result is materialised by DuckDB before the first row either way; the window
		// count just reads its size.
		stmt.Close()
		ds, err := conn.Prepare("SELECT *, count(*) OVER () AS " + totalColumn + " FROM " + nested(p.SQL) + " AS __larder_plan")
		if err != nil {
			return 0, fmt.Errorf("preparing the plan's SQL for counting: %w", err)
		}
		stmt = ds.(*duckdb.Stmt)
		if err := checkStatement(stmt, p); err != nil {
			stmt.Close()
			return 0, err
		}
		schema = append(append([]Column(nil), p.ResultSchema...), Column{Name: totalColumn, Type: abi.TypeInt64})
	}
	defer stmt.Close()
	args := make([]driver.NamedValue, len(p.Params))
	for i, v := range p.Params {
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	rows, err := stmt.QueryContext(ctx, args)
	if err != nil {
		return 0, fmt.Errorf("running the plan's SQL: %w", err)
	}
	defer rows.Close()
	// The result's shape is known only now: a table function whose argument is a
	// parameter (read_parquet($1)) has unknown columns until it is bound.
	if err := checkColumns(rows, schema); err != nil {
		return 0, err
	}

	ncol := len(p.ResultSchema)
	out := NewRowBatcher(p.ResultSchema, opts.BatchSize, DuckDBWords, fn)
	dst := make([]driver.Value, len(schema))
	value := func(j int) any { return dst[j] }
	for {
		err := rows.Next(dst)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out.Rows(), fmt.Errorf("reading row %d of the plan's result: %w", out.Rows()+1, err)
		}
		if opts.CountRows {
			if t, ok := dst[ncol].(int64); ok {
				out.SetTotal(t)
			}
		}
		if err := out.Add(value); err != nil {
			return out.Rows(), err
		}
	}
	return out.Rows(), out.Flush()
}

// openSandbox opens a fresh in-memory DuckDB database locked down to opts.Access, with
// a private spill directory that closing the database removes.
func openSandbox(ctx context.Context, opts Options) (*duckdb.Conn, func(), error) {
	parent := opts.TempDir
	if parent == "" {
		parent = os.TempDir()
	}
	// Absolute, so that the directory does not move with the process's working directory.
	parent, err := filepath.Abs(parent)
	if err != nil {
		return nil, nil, fmt.Errorf("resolving the DuckDB engine's temp directory: %w", err)
	}
	// MkdirTemp creates the directory 0700: spilled blocks hold feature data.
	spill, err := os.MkdirTemp(parent, "larder-duckdb-")
	if err != nil {
		return nil, nil, fmt.Errorf("creating the DuckDB engine's temp directory: %w", err)
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		os.RemoveAll(spill)
		return nil, nil, fmt.Errorf("opening the embedded DuckDB engine: %w", err)
	}
	dc, err := connector.Connect(ctx)
	if err != nil {
		connector.Close()
		os.RemoveAll(spill)
		return nil, nil, fmt.Errorf("connecting to the embedded DuckDB engine: %w", err)
	}
	conn := dc.(*duckdb.Conn)
	closeDB := func() {
		conn.Close()
		connector.Close() // the last reference: DuckDB deletes its temp files here
		os.RemoveAll(spill)
	}
	if spillDirHook != nil {
		spillDirHook(spill)
	}
	for _, s := range sandboxSettings(opts, spill) {
		if _, err := conn.ExecContext(ctx, s, nil); err != nil {
			closeDB()
			return nil, nil, fmt.Errorf("configuring the DuckDB sandbox (%s): %w", s, err)
		}
	}
	return conn, closeDB, nil
}

// spillDirHook, when set (by tests only), is told each private temp directory as soon as
// it exists: its name is random, and a test must know it to watch spills land there and
// to plant files next to it.
var spillDirHook func(dir string)

// sandboxSettings are the statements that lock a fresh database down. Order matters:
// everything is set before enable_external_access goes off, and lock_configuration comes
// last so the plan cannot undo any of it.
func sandboxSettings(opts Options, spillDir string) []string {
	var files, dirs []string
	for _, p := range opts.Access.Paths {
		files = append(files, sqlString(filepath.Clean(p)))
	}
	for _, d := range opts.Access.Directories {
		// A trailing separator keeps /data from granting /database.
		dirs = append(dirs, sqlString(strings.TrimSuffix(filepath.Clean(d), string(filepath.Separator))+string(filepath.Separator)))
	}
	s := []string{
		"SET TimeZone = 'UTC'",
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		"SET allow_community_extensions = false",
		// Spills go to the private directory, never to DuckDB's default ./.tmp. It must be
		// set before external access goes off (DuckDB then refuses to change it), and
		// turning external access off adds it to allowed_directories: a plan may read its
		// own spill directory, which is why each database gets a fresh, empty, 0700 one
		// holding nothing but that plan's own data (TestPlanReachesNothingBesideItsSpillDir).
		"SET temp_directory = " + sqlString(spillDir),
	}
	if opts.MemoryLimit != "" {
		s = append(s, "SET memory_limit = "+sqlString(opts.MemoryLimit))
	}
	if opts.Threads > 0 {
		s = append(s, fmt.Sprintf("SET threads = %d", opts.Threads))
	}
	if len(files) > 0 {
		s = append(s, "SET allowed_paths = ["+strings.Join(files, ", ")+"]")
	}
	if len(dirs) > 0 {
		s = append(s, "SET allowed_directories = ["+strings.Join(dirs, ", ")+"]")
	}
	return append(s,
		"SET enable_external_access = false",
		"SET lock_configuration = true",
	)
}

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// prepareSelect prepares p's SQL on conn and checks it with checkStatement. Prepare (not
// PrepareContext) refuses a string holding several statements, where PrepareContext would
// run all but the last one.
func prepareSelect(conn *duckdb.Conn, p *Plan) (*duckdb.Stmt, error) {
	ds, err := conn.Prepare(p.SQL)
	if err != nil {
		return nil, fmt.Errorf("preparing the plan's SQL (it must be exactly one SELECT statement): %w", err)
	}
	stmt := ds.(*duckdb.Stmt)
	if err := checkStatement(stmt, p); err != nil {
		stmt.Close()
		return nil, err
	}
	return stmt, nil
}

// nested is sql, without its trailing semicolons, in parentheses for a host-built statement
// to select from. Only a string already prepared alone as one SELECT is safe to nest: any
// other could close the parenthesis and go on with a statement of its own.
func nested(sql string) string {
	return "(\n" + strings.TrimRight(strings.TrimSpace(sql), "; \t\r\n") + "\n)"
}

// checkStatement verifies, before anything runs, that the prepared statement is one SELECT
// taking len(p.Params) parameters and producing exactly p.ResultSchema.
func checkStatement(stmt *duckdb.Stmt, p *Plan) error {
	st, err := stmt.StatementType()
	if err != nil {
		return fmt.Errorf("inspecting the plan's SQL: %w", err)
	}
	if st != duckdb.STATEMENT_TYPE_SELECT {
		return badPlan("sql must be a SELECT statement (got statement type %d)", st)
	}
	if n := stmt.NumInput(); n != len(p.Params) {
		return badPlan("sql takes %d parameters but the plan has %d params", n, len(p.Params))
	}
	return nil
}

// checkColumns verifies that the result has exactly the declared columns: same names,
// same order, and engine types whose driver values are the declared ABI types.
func checkColumns(rows driver.Rows, schema []Column) error {
	names := rows.Columns()
	if len(names) != len(schema) {
		return badPlan("sql returns %d columns but result_schema declares %d", len(names), len(schema))
	}
	typed, _ := rows.(driver.RowsColumnTypeDatabaseTypeName)
	for i, c := range schema {
		if names[i] != c.Name {
			return badPlan("result column %d is named %q by the sql but %q by result_schema", i, names[i], c.Name)
		}
		if typed == nil {
			continue // the value checks in normalize still hold
		}
		desc := typed.ColumnTypeDatabaseTypeName(i)
		if got := abiType(desc); got != c.Type {
			return badPlan("result column %q is %s in DuckDB, which is not the declared %s (cast it in the sql)", c.Name, desc, c.Type)
		}
	}
	return nil
}

// scalarTypes maps DuckDB's type names (as the driver reports them) to the ABI type whose
// Go values the driver returns for them.
var scalarTypes = map[string]abi.Type{
	"BOOLEAN": abi.TypeBool, "INTEGER": abi.TypeInt32, "BIGINT": abi.TypeInt64,
	"FLOAT": abi.TypeFloat, "DOUBLE": abi.TypeDouble, "VARCHAR": abi.TypeString, "BLOB": abi.TypeBytes,
	"TIMESTAMP": abi.TypeUnixTimestamp, "TIMESTAMPTZ": abi.TypeUnixTimestamp, "TIMESTAMP_S": abi.TypeUnixTimestamp,
	"TIMESTAMP_MS": abi.TypeUnixTimestamp, "TIMESTAMP_NS": abi.TypeUnixTimestamp,
}

// abiType maps a DuckDB type name to an ABI type; 0 means no ABI type fits.
func abiType(name string) abi.Type {
	if elem, ok := strings.CutSuffix(name, "[]"); ok {
		if t := scalarTypes[elem]; t != 0 {
			return t + 10 // the *_LIST type of t (spec §5.3)
		}
		return 0
	}
	return scalarTypes[name]
}
