package offlineengine

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/larder-dev/larder/abi"
)

// Write mode (ABI spec §9.9): an offline write is planned by the plugin as one SELECT that
// yields the complete new contents of a source file, the existing rows followed by the
// pushed ones. The host, not the plugin, turns it into the only statement that writes,
// `COPY (<plan>) TO '<temp file>'`, and renames the temp file over the source. The plan
// itself can therefore write nothing: DuckDB's allowed_paths cannot tell reading from
// writing, and a prepared COPY does not reveal its target, so a plugin-written COPY could
// have overwritten the source in place.

// RowsRelation is the name of the temporary table that holds the pushed rows while a write
// plan runs (spec §9.9). RowIndexColumn is its extra column: each row's 0-based position in
// the push, so a plan can keep the push order.
const (
	RowsRelation   = "__larder_rows"
	RowIndexColumn = "__row"
)

// ErrValue marks a write that failed because a pushed value does not fit the column it is
// written to (a cast the engine refused): the caller's data, not the engine, is at fault.
var ErrValue = errors.New("a pushed value does not fit its column")

// SourceColumn is a column of a source file as the engine reads it.
type SourceColumn struct {
	Name string
	// EngineType is DuckDB's name of the column type (BIGINT, TIMESTAMPTZ, DECIMAL(10,2)…).
	EngineType string
	// Type is the ABI type a plan reads the column as; 0 when no ABI type can hold it.
	Type abi.Type
}

// DescribeSource returns the columns of a table expression (e.g. "read_parquet($1)") with
// their engine types, without reading rows. Unlike Describe it does not fail on columns
// no ABI type can hold: a write must keep them as they are.
func DescribeSource(ctx context.Context, from string, params []any, opts Options) ([]SourceColumn, error) {
	conn, closeDB, err := openSandbox(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer closeDB()
	return describeOn(ctx, conn, "SELECT * FROM "+from+" LIMIT 0", params)
}

// describeOn prepares query (a single SELECT), binds params and reports its columns.
func describeOn(ctx context.Context, conn *duckdb.Conn, query string, params []any) ([]SourceColumn, error) {
	ds, err := conn.Prepare(query)
	if err != nil {
		return nil, err
	}
	stmt := ds.(*duckdb.Stmt)
	defer stmt.Close()
	if st, err := stmt.StatementType(); err != nil || st != duckdb.STATEMENT_TYPE_SELECT {
		return nil, fmt.Errorf("it is not a single SELECT")
	}
	rows, err := stmt.QueryContext(ctx, namedArgs(params))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	typed, ok := rows.(driver.RowsColumnTypeDatabaseTypeName)
	if !ok {
		return nil, fmt.Errorf("the DuckDB driver does not report column types")
	}
	names := rows.Columns()
	cols := make([]SourceColumn, len(names))
	for i, n := range names {
		dt := typed.ColumnTypeDatabaseTypeName(i)
		cols[i] = SourceColumn{Name: n, EngineType: dt, Type: describeType(dt)}
	}
	return cols, nil
}

func namedArgs(params []any) []driver.NamedValue {
	args := make([]driver.NamedValue, len(params))
	for i, v := range params {
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return args
}

// WritePlan is a decoded and validated write plan (spec §9.9): one SELECT over the source
// and RowsRelation, with typed positional parameters. Its result schema is not declared by
// the plugin: it must be the target file's, which the host knows better.
type WritePlan struct {
	Dialect string
	SQL     string
	Params  []any
}

// DecodeWritePlan parses and validates the output of larder_offline_plan_write. Errors
// name the offending field and wrap abi.ErrBadArgument.
func DecodeWritePlan(data []byte) (*WritePlan, error) {
	var w struct {
		Dialect string      `json:"dialect"`
		SQL     string      `json:"sql"`
		Params  []wireParam `json:"params"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, badPlan("decoding the write plan JSON: %v", err)
	}
	if dec.More() {
		return nil, badPlan("the write plan has trailing data after its JSON object")
	}
	if w.Dialect != DialectDuckDB {
		return nil, badPlan("dialect %q is not executable by this host (supported: %q)", w.Dialect, DialectDuckDB)
	}
	if strings.TrimSpace(w.SQL) == "" {
		return nil, badPlan("sql is empty")
	}
	if len(w.SQL) > MaxSQLBytes {
		return nil, badPlan("sql is %d bytes, more than the %d allowed", len(w.SQL), MaxSQLBytes)
	}
	if len(w.Params) > MaxParams {
		return nil, badPlan("%d params, more than the %d allowed", len(w.Params), MaxParams)
	}
	p := &WritePlan{Dialect: w.Dialect, SQL: w.SQL, Params: make([]any, len(w.Params))}
	for i, wp := range w.Params {
		v, err := decodeParam(wp)
		if err != nil {
			return nil, badPlan("params[%d]: %v", i, err)
		}
		p.Params[i] = v
	}
	return p, nil
}

// Relation is the pushed rows a write plan reads as RowsRelation. Rows[i][j] is column j
// of row i as a Go value of the column's type, with Batch's conventions (nil = NULL).
type Relation struct {
	Columns []Column
	Rows    [][]any
}

// WriteTarget is the file a write replaces.
type WriteTarget struct {
	// Path is the source file, absolute. Symbolic links are resolved: the file they point
	// to is replaced, the link stays.
	Path string
	// Format is the file format the new file is written in: "parquet" or "csv" (with a
	// header row, comma-separated).
	Format string
	// Columns is the schema the plan's result must have, exactly: the source's columns
	// (DescribeSource), so the rewritten file keeps its schema.
	Columns []SourceColumn
}

// testHookBeforeRename, when set (by tests), runs after the temp file is complete and
// before it replaces the target; an error aborts the write.
var testHookBeforeRename func(tmp string) error

// ExecuteWrite runs a write plan and atomically replaces target.Path with its result. It
// returns the number of rows in the new file.
//
// The sandbox is narrower than a read's: besides opts.Access (the source files the plan
// reads) the engine may touch exactly one more path, the temp file the host chose next
// to the target; the plan's SQL must be a SELECT, which cannot write, and the only
// statement that writes is the host's COPY into that temp file. The temp file is synced
// and renamed over the target only when everything succeeded; on any failure it is removed
// and the target is left as it was. Callers serialise writes to one target with LockFile.
func ExecuteWrite(ctx context.Context, p *WritePlan, rows *Relation, target WriteTarget, opts Options) (int64, error) {
	if p.Dialect != DialectDuckDB {
		return 0, badPlan("dialect %q is not executable by this host", p.Dialect)
	}
	format, err := copyFormat(target.Format)
	if err != nil {
		return 0, err
	}
	if len(target.Columns) == 0 {
		return 0, fmt.Errorf("writing %s: the target's columns are unknown", target.Path)
	}
	path, err := filepath.EvalSymlinks(target.Path)
	if err != nil {
		return 0, fmt.Errorf("writing %s: %w", target.Path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("writing %s: %w", target.Path, err)
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("writing %s: not a regular file (offline writes replace one file)", target.Path)
	}
	tmp, err := tempPathFor(path)
	if err != nil {
		return 0, err
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()

	opts.Access.Paths = append(append([]string(nil), opts.Access.Paths...), target.Path, path, tmp)
	conn, closeDB, err := openSandbox(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer closeDB()
	if err := loadRelation(ctx, conn, rows); err != nil {
		return 0, err
	}

	// The plan alone must be one SELECT taking exactly its params: only then is it safe to
	// nest it in the host's COPY (a string that is not one SELECT on its own could close
	// the parenthesis and name another target).
	ds, err := conn.Prepare(p.SQL)
	if err != nil {
		return 0, fmt.Errorf("preparing the write plan's SQL (it must be exactly one SELECT statement): %w", err)
	}
	stmt := ds.(*duckdb.Stmt)
	stmtType, err := stmt.StatementType()
	nIn := stmt.NumInput()
	stmt.Close()
	if err != nil {
		return 0, fmt.Errorf("inspecting the write plan's SQL: %w", err)
	}
	if stmtType != duckdb.STATEMENT_TYPE_SELECT {
		return 0, badPlan("sql must be a SELECT statement (got statement type %d); the host writes its result", stmtType)
	}
	if nIn != len(p.Params) {
		return 0, badPlan("sql takes %d parameters but the plan has %d params", nIn, len(p.Params))
	}
	inner := nested(p.SQL)

	// Check the result's shape before anything is written: it must be the target's.
	got, err := describeOn(ctx, conn, "SELECT * FROM "+inner+" AS __larder_plan LIMIT 0", p.Params)
	if err != nil {
		return 0, fmt.Errorf("binding the write plan's SQL: %w", err)
	}
	if err := sameColumns(got, target.Columns); err != nil {
		return 0, err
	}

	copySQL := "COPY " + inner + " TO " + sqlString(tmp) + " (" + format + ")"
	ds, err = conn.Prepare(copySQL)
	if err != nil {
		return 0, fmt.Errorf("preparing the write: %w", err)
	}
	cp := ds.(*duckdb.Stmt)
	defer cp.Close()
	if st, err := cp.StatementType(); err != nil || st != duckdb.STATEMENT_TYPE_COPY {
		return 0, badPlan("the write statement is not a single COPY (statement type %d)", st)
	}
	res, err := cp.ExecContext(ctx, namedArgs(p.Params))
	if err != nil {
		var de *duckdb.Error
		if errors.As(err, &de) && (de.Type == duckdb.ErrorTypeConversion || de.Type == duckdb.ErrorTypeOutOfRange) {
			return 0, fmt.Errorf("writing %s: %w: %v", target.Path, ErrValue, err)
		}
		return 0, fmt.Errorf("writing %s: %w", target.Path, err)
	}
	n, _ := res.RowsAffected()
	if err := syncFile(tmp); err != nil {
		return 0, fmt.Errorf("writing %s: %w", target.Path, err)
	}
	// The new file takes the old one's permissions, not the engine's defaults.
	if err := os.Chmod(tmp, st.Mode().Perm()); err != nil {
		return 0, fmt.Errorf("writing %s: %w", target.Path, err)
	}
	if testHookBeforeRename != nil {
		if err := testHookBeforeRename(tmp); err != nil {
			return 0, err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("replacing %s with its appended copy: %w", target.Path, err)
	}
	ok = true
	// The rename is durable once the directory is; a failure here leaves the new file in
	// place, so it is not reported as a failed write.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
}

// copyFormat is the COPY option list for a file format.
func copyFormat(format string) (string, error) {
	switch format {
	case "", "parquet":
		return "FORMAT parquet", nil
	case "csv":
		return "FORMAT csv, HEADER true", nil
	}
	return "", fmt.Errorf("file format %q cannot be written (supported: parquet, csv): %w", format, abi.ErrUnimplemented)
}

// sameColumns reports the first difference between a plan's result and the target schema.
func sameColumns(got []SourceColumn, want []SourceColumn) error {
	for i, w := range want {
		if i >= len(got) {
			return badPlan("the write plan's result lacks column %q (%s) of the target", w.Name, w.EngineType)
		}
		g := got[i]
		if g.Name != w.Name {
			return badPlan("the write plan's result column %d is %q, but the target's is %q", i, g.Name, w.Name)
		}
		if g.EngineType != w.EngineType {
			return badPlan("the write plan's result column %q is %s, but the target's is %s (cast it in the sql)", g.Name, g.EngineType, w.EngineType)
		}
	}
	if len(got) > len(want) {
		return badPlan("the write plan's result has column %q, which the target does not have", got[len(want)].Name)
	}
	return nil
}

// loadRelation creates RowsRelation as a temporary table and appends rows to it.
func loadRelation(ctx context.Context, conn *duckdb.Conn, r *Relation) error {
	defs := make([]string, 0, len(r.Columns)+1)
	for _, c := range r.Columns {
		if c.Name == RowIndexColumn {
			return fmt.Errorf("pushed column %q: the name is reserved", c.Name)
		}
		t, err := engineType(c.Type)
		if err != nil {
			return fmt.Errorf("pushed column %q: %w", c.Name, err)
		}
		defs = append(defs, quoteIdent(c.Name)+" "+t)
	}
	defs = append(defs, quoteIdent(RowIndexColumn)+" BIGINT")
	if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE "+quoteIdent(RowsRelation)+" ("+strings.Join(defs, ", ")+")", nil); err != nil {
		return fmt.Errorf("creating the relation of pushed rows: %w", err)
	}
	app, err := duckdb.NewAppender(conn, "temp", "main", RowsRelation)
	if err != nil {
		return fmt.Errorf("loading the pushed rows: %w", err)
	}
	vals := make([]driver.Value, len(r.Columns)+1)
	for i, row := range r.Rows {
		if len(row) != len(r.Columns) {
			app.Close()
			return fmt.Errorf("pushed row %d has %d values for %d columns", i, len(row), len(r.Columns))
		}
		for j, v := range row {
			vals[j] = appendValue(v)
		}
		vals[len(row)] = int64(i)
		if err := app.AppendRow(vals...); err != nil {
			app.Close()
			return fmt.Errorf("loading pushed row %d: %w", i, err)
		}
	}
	if err := app.Close(); err != nil {
		return fmt.Errorf("loading the pushed rows: %w", err)
	}
	return nil
}

// appendValue adapts a Batch-convention value to what the appender takes: lists as []any.
func appendValue(v any) driver.Value {
	switch l := v.(type) {
	case [][]byte:
		return anySlice(l)
	case []string:
		return anySlice(l)
	case []int32:
		return anySlice(l)
	case []int64:
		return anySlice(l)
	case []float64:
		return anySlice(l)
	case []float32:
		return anySlice(l)
	case []bool:
		return anySlice(l)
	}
	return v
}

func anySlice[T any](l []T) []any {
	out := make([]any, len(l))
	for i, x := range l {
		out[i] = x
	}
	return out
}

// engineTypes are the DuckDB types RowsRelation's columns get for each scalar ABI type.
var engineTypes = map[abi.Type]string{
	abi.TypeBytes: "BLOB", abi.TypeString: "VARCHAR", abi.TypeInt32: "INTEGER", abi.TypeInt64: "BIGINT",
	abi.TypeDouble: "DOUBLE", abi.TypeFloat: "FLOAT", abi.TypeBool: "BOOLEAN", abi.TypeUnixTimestamp: "TIMESTAMPTZ",
}

func engineType(t abi.Type) (string, error) {
	if t.IsList() {
		if e := engineTypes[t.Elem()]; e != "" {
			return e + "[]", nil
		}
	} else if e := engineTypes[t]; e != "" {
		return e, nil
	}
	return "", fmt.Errorf("type %s cannot be pushed to an offline store", t)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// tempPathFor names a fresh temp file in path's directory (so the rename stays on one file
// system), hidden and marked as Larder's.
func tempPathFor(path string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".larder-"+hex.EncodeToString(b[:])+".tmp"), nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

var fileLocks sync.Map // cleaned, symlink-resolved absolute path → *sync.RWMutex

func fileLock(path string) *sync.RWMutex {
	m, _ := fileLocks.LoadOrStore(lockKey(path), &sync.RWMutex{})
	return m.(*sync.RWMutex)
}

func lockKey(path string) string {
	key := filepath.Clean(path)
	if abs, err := filepath.Abs(key); err == nil {
		key = abs
	}
	if real, err := filepath.EvalSymlinks(key); err == nil {
		key = real
	}
	return key
}

// LockFile serialises writers of one file within this process, and keeps this process's
// readers (Execute, Describe) off it while it is replaced. Two pushes to the same source
// must not both read the old contents and have the second rename discard the first's
// rows; and a rename is not enough for readers: DuckDB opens a Parquet file more than once
// per query (metadata, then row groups), so a query overlapping a rename can mix the two
// files. Hold the lock from describing the target to ExecuteWrite's return; DescribeSource
// and ExecuteWrite do not lock (the lock is not reentrant). It returns the unlock function.
func LockFile(path string) (unlock func()) {
	mu := fileLock(path)
	mu.Lock()
	return mu.Unlock
}

// lockForRead takes the read side of the locks of the files a, in a fixed order (writers
// hold one lock at a time, so no cycle can form). Directories are not locked: writes
// replace single files only.
func lockForRead(a Access) (unlock func()) {
	if len(a.Paths) == 0 {
		return func() {}
	}
	keys := make([]string, len(a.Paths))
	for i, p := range a.Paths {
		keys[i] = lockKey(p)
	}
	sort.Strings(keys)
	var held []*sync.RWMutex
	for i, k := range keys {
		if i > 0 && k == keys[i-1] {
			continue
		}
		m, _ := fileLocks.LoadOrStore(k, &sync.RWMutex{})
		mu := m.(*sync.RWMutex)
		mu.RLock()
		held = append(held, mu)
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].RUnlock()
		}
	}
}
