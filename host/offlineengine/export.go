package offlineengine

import (
	"context"
	"fmt"

	"github.com/duckdb/duckdb-go/v2"
)

// ExecuteToParquet runs p and has DuckDB write its whole result to the Parquet file path,
// which the caller chose and created (a temp file it renames into place when this
// succeeds). It returns the number of rows written.
//
// This is the fast result path of historical retrieval: DuckDB's own Parquet writer,
// fed by its own threads, instead of every value crossing into Go through database/sql
// and being re-encoded as Arrow (Execute). At 10 M rows that crossing cost more than the
// join (BENCHMARKS.md, historical retrieval). The sandbox is the one of write mode
// (write.go): the plan must be one SELECT, which cannot write, and the only statement that
// writes is the host's COPY of it into path, the one path beyond opts.Access (and the
// engine's private spill directory, engine.go) that the engine may touch (USE_TMP_FILE false: DuckDB would otherwise write an existing path
// through a temp file of its own next to it, outside the sandbox). Callers that need the rows themselves (to transform them, to stream
// them over HTTP) use Execute.
func ExecuteToParquet(ctx context.Context, p *Plan, opts Options, path string) (int64, error) {
	if p.Dialect != DialectDuckDB {
		return 0, badPlan("dialect %q is not executable by this host", p.Dialect)
	}
	if path == "" {
		return 0, fmt.Errorf("no output file given")
	}
	defer lockForRead(opts.Access)() // write.go: no offline write replaces a file mid-read
	opts.Access.Paths = append(append([]string(nil), opts.Access.Paths...), path)
	conn, closeDB, err := openSandbox(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer closeDB()

	// The plan alone must be one SELECT taking exactly its params: only then is it safe to
	// nest it in the host's COPY (a string that is not one SELECT on its own could close
	// the parenthesis and name another target).
	stmt, err := prepareSelect(conn, p)
	if err != nil {
		return 0, err
	}
	stmt.Close()
	inner := nested(p.SQL)

	// The result's shape, checked before anything is written (Execute checks it on the
	// first rows; here no row passes through the host).
	got, err := describeOn(ctx, conn, "SELECT * FROM "+inner+" AS __larder_plan LIMIT 0", p.Params)
	if err != nil {
		return 0, fmt.Errorf("binding the plan's SQL: %w", err)
	}
	if err := checkDescribed(got, p.ResultSchema); err != nil {
		return 0, err
	}

	ds, err := conn.Prepare("COPY " + inner + " TO " + sqlString(path) + " (FORMAT parquet, COMPRESSION snappy, USE_TMP_FILE false)")
	if err != nil {
		return 0, fmt.Errorf("preparing the plan's output: %w", err)
	}
	cp := ds.(*duckdb.Stmt)
	defer cp.Close()
	if st, err := cp.StatementType(); err != nil || st != duckdb.STATEMENT_TYPE_COPY {
		return 0, badPlan("the output statement is not a single COPY (statement type %d)", st)
	}
	res, err := cp.ExecContext(ctx, namedArgs(p.Params))
	if err != nil {
		return 0, fmt.Errorf("running the plan's SQL: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("running the plan's SQL: %w", err)
	}
	if err := syncFile(path); err != nil {
		return 0, fmt.Errorf("writing %s: %w", path, err)
	}
	return n, nil
}

// checkDescribed verifies that described result columns are exactly schema: same names,
// same order, engine types whose values are the declared ABI types (as checkColumns).
func checkDescribed(got []SourceColumn, schema []Column) error {
	if len(got) != len(schema) {
		return badPlan("sql returns %d columns but result_schema declares %d", len(got), len(schema))
	}
	for i, c := range schema {
		if got[i].Name != c.Name {
			return badPlan("result column %d is named %q by the sql but %q by result_schema", i, got[i].Name, c.Name)
		}
		if t := abiType(got[i].EngineType); t != c.Type {
			return badPlan("result column %q is %s in DuckDB, which is not the declared %s (cast it in the sql)", c.Name, got[i].EngineType, c.Type)
		}
	}
	return nil
}
