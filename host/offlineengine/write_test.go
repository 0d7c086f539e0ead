package offlineengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
)

// writeFixture is a Parquet source with types a pushed frame does not carry directly
// (TINYINT, DOUBLE for a FLOAT-ish feature, TIMESTAMPTZ), two existing rows.
func writeFixture(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "stats.parquet")
	writeParquet(t, src, `SELECT * FROM (VALUES
		(1::BIGINT, TIMESTAMPTZ '2021-04-12 10:00:00+00', 0.5::DOUBLE, 3::TINYINT),
		(2::BIGINT, TIMESTAMPTZ '2021-04-12 11:00:00+00', 0.25::DOUBLE, 4::TINYINT)) t(driver_id, ts, conv_rate, trips)`)
	return src
}

func describeFile(t *testing.T, path, format string) []SourceColumn {
	t.Helper()
	from := "read_parquet($1)"
	if format == "csv" {
		from = "read_csv_auto($1)"
	}
	cols, err := DescribeSource(context.Background(), from, []any{path}, Options{Access: Access{Paths: []string{path}}})
	if err != nil {
		t.Fatal(err)
	}
	return cols
}

// appendPlan is the plan a plugin writes for a Parquet source: existing rows in file
// order, then the pushed rows cast to the source's types, in push order.
func appendPlan(src string, cols []SourceColumn) *WritePlan {
	var names, casts []string
	for _, c := range cols {
		names = append(names, "s."+quoteIdent(c.Name))
		casts = append(casts, "CAST(r."+quoteIdent(c.Name)+" AS "+c.EngineType+") AS "+quoteIdent(c.Name))
	}
	return &WritePlan{Dialect: DialectDuckDB, Params: []any{src}, SQL: `SELECT * EXCLUDE (__larder_part, __larder_pos) FROM (
		SELECT ` + strings.Join(names, ", ") + `, 0 AS __larder_part, s.file_row_number AS __larder_pos
		FROM read_parquet($1, file_row_number = true) AS s
		UNION ALL
		SELECT ` + strings.Join(casts, ", ") + `, 1 AS __larder_part, r.__row AS __larder_pos FROM __larder_rows AS r)
		ORDER BY __larder_part, __larder_pos`}
}

func pushed(rows ...[]any) *Relation {
	return &Relation{Columns: []Column{{"driver_id", abi.TypeInt64}, {"ts", abi.TypeUnixTimestamp},
		{"conv_rate", abi.TypeDouble}, {"trips", abi.TypeInt32}}, Rows: rows}
}

func readAll(t *testing.T, src, query string) [][]any {
	t.Helper()
	rows, err := collect(t, &Plan{Dialect: DialectDuckDB, SQL: query, Params: []any{src},
		ResultSchema: []Column{{"driver_id", abi.TypeInt64}, {"conv_rate", abi.TypeDouble}}},
		Options{Access: Access{Paths: []string{src}}})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, ".*.larder-*.tmp"))
	if len(m) > 0 {
		t.Errorf("temp files left behind: %v", m)
	}
}

func TestExecuteWriteAppendsToParquetKeepingSchema(t *testing.T) {
	src := writeFixture(t)
	cols := describeFile(t, src, "parquet")
	ts := time.Date(2021, 4, 13, 0, 0, 0, 0, time.UTC)
	n, err := ExecuteWrite(context.Background(), appendPlan(src, cols),
		pushed([]any{int64(3), ts, 0.125, int32(5)}, []any{int64(1), ts, nil, int32(6)}),
		WriteTarget{Path: src, Format: "parquet", Columns: cols}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("new file has %d rows, want 4", n)
	}
	if after := describeFile(t, src, "parquet"); fmt.Sprint(after) != fmt.Sprint(cols) {
		t.Errorf("schema changed: %v, was %v", after, cols)
	}
	got := readAll(t, src, `SELECT driver_id, conv_rate FROM read_parquet($1, file_row_number = true) ORDER BY file_row_number`)
	want := [][]any{{int64(1), 0.5}, {int64(2), 0.25}, {int64(3), 0.125}, {int64(1), nil}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows %v, want %v (existing rows first, then pushed in push order)", got, want)
	}
	noTempFiles(t, filepath.Dir(src))
}

func TestExecuteWriteAppendsToCSV(t *testing.T) {
	src := filepath.Join(t.TempDir(), "stats.csv")
	if err := os.WriteFile(src, []byte("driver_id,ts,conv_rate\n1,2021-04-12 10:00:00+00,0.5\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	cols := describeFile(t, src, "csv")
	var casts []string
	for _, c := range cols {
		casts = append(casts, "CAST(r."+quoteIdent(c.Name)+" AS "+c.EngineType+") AS "+quoteIdent(c.Name))
	}
	p := &WritePlan{Dialect: DialectDuckDB, Params: []any{src},
		SQL: "SELECT * FROM read_csv_auto($1) UNION ALL SELECT " + strings.Join(casts, ", ") + " FROM __larder_rows AS r"}
	rel := &Relation{Columns: []Column{{"driver_id", abi.TypeInt64}, {"ts", abi.TypeUnixTimestamp}, {"conv_rate", abi.TypeDouble}},
		Rows: [][]any{{int64(7), time.Date(2021, 4, 13, 0, 0, 0, 0, time.UTC), 0.75}}}
	if _, err := ExecuteWrite(context.Background(), p, rel, WriteTarget{Path: src, Format: "csv", Columns: cols}, Options{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(src)
	if !strings.HasPrefix(string(b), "driver_id,ts,conv_rate\n") || !strings.Contains(string(b), "\n7,2021-04-13 00:00:00") {
		t.Errorf("csv after the write:\n%s", b)
	}
	if st, _ := os.Stat(src); st.Mode().Perm() != 0o640 {
		t.Errorf("file mode %v, want the original 0640", st.Mode().Perm())
	}
	if after := describeFile(t, src, "csv"); fmt.Sprint(after) != fmt.Sprint(cols) {
		t.Errorf("schema changed: %v, was %v", after, cols)
	}
}

// TestExecuteWriteFailuresLeaveTheSourceIntact: whatever goes wrong — a plan that is not a
// SELECT, a plan of the wrong shape, a value the cast refuses, a read outside the grant,
// a failure just before the rename — the source keeps its bytes and no temp file remains.
func TestExecuteWriteFailuresLeaveTheSourceIntact(t *testing.T) {
	ts := time.Date(2021, 4, 13, 0, 0, 0, 0, time.UTC)
	row := []any{int64(3), ts, 0.125, int32(5)}
	for _, tc := range []struct {
		name string
		plan func(src string, cols []SourceColumn) *WritePlan
		rows *Relation
		hook func(string) error
		want string
		is   error
	}{
		{name: "copy over the source",
			plan: func(src string, _ []SourceColumn) *WritePlan {
				return &WritePlan{Dialect: DialectDuckDB, SQL: "COPY (SELECT 1 AS x) TO " + sqlString(src) + " (FORMAT parquet)"}
			},
			want: "must be a SELECT", is: abi.ErrBadArgument},
		{name: "paren escape",
			plan: func(src string, _ []SourceColumn) *WritePlan {
				return &WritePlan{Dialect: DialectDuckDB, SQL: "SELECT 1) TO " + sqlString(src) + " (FORMAT csv); --"}
			},
			want: "preparing the write plan"},
		{name: "missing column",
			plan: func(src string, cols []SourceColumn) *WritePlan {
				return &WritePlan{Dialect: DialectDuckDB, Params: []any{src}, SQL: "SELECT driver_id, ts, conv_rate FROM read_parquet($1)"}
			},
			want: `lacks column "trips" (TINYINT)`, is: abi.ErrBadArgument},
		{name: "type drift",
			plan: func(src string, cols []SourceColumn) *WritePlan {
				return &WritePlan{Dialect: DialectDuckDB, Params: []any{src},
					SQL: "SELECT driver_id, ts, conv_rate, CAST(trips AS INTEGER) AS trips FROM read_parquet($1)"}
			},
			want: `column "trips" is INTEGER, but the target's is TINYINT`, is: abi.ErrBadArgument},
		{name: "value out of range",
			plan: appendPlan,
			rows: pushed([]any{int64(3), ts, 0.125, int32(1000)}),
			want: "does not fit", is: ErrValue},
		{name: "read outside the grant",
			plan: func(src string, cols []SourceColumn) *WritePlan {
				return &WritePlan{Dialect: DialectDuckDB, Params: []any{"/etc/hostname"},
					SQL: "SELECT driver_id, ts, conv_rate, trips FROM read_parquet($1)"}
			},
			want: "Permission Error"},
		{name: "failure before rename",
			plan: appendPlan,
			hook: func(tmp string) error {
				if _, err := os.Stat(tmp); err != nil {
					return fmt.Errorf("the temp file should exist: %v", err)
				}
				return errors.New("injected failure")
			},
			want: "injected failure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := writeFixture(t)
			before, _ := os.ReadFile(src)
			cols := describeFile(t, src, "parquet")
			rows := tc.rows
			if rows == nil {
				rows = pushed(row)
			}
			testHookBeforeRename = tc.hook
			defer func() { testHookBeforeRename = nil }()
			_, err := ExecuteWrite(context.Background(), tc.plan(src, cols), rows,
				WriteTarget{Path: src, Format: "parquet", Columns: cols}, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.is)
			}
			if after, _ := os.ReadFile(src); !bytes.Equal(before, after) {
				t.Errorf("the source changed after a failed write")
			}
			noTempFiles(t, filepath.Dir(src))
		})
	}
}

func TestDecodeWritePlan(t *testing.T) {
	p, err := DecodeWritePlan([]byte(`{"dialect":"duckdb","sql":"SELECT 1","params":[{"type":"STRING","value":"/a"}]}`))
	if err != nil || p.SQL != "SELECT 1" || len(p.Params) != 1 || p.Params[0] != "/a" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, in := range []string{
		`{"dialect":"postgres","sql":"SELECT 1"}`,
		`{"dialect":"duckdb","sql":"  "}`,
		`{"dialect":"duckdb","sql":"SELECT 1","result_schema":[]}`,
		`{"dialect":"duckdb","sql":"SELECT 1","params":[{"type":"INT32","value":1e10}]}`,
		`{"dialect":"duckdb","sql":"SELECT 1"} {}`,
	} {
		if _, err := DecodeWritePlan([]byte(in)); !errors.Is(err, abi.ErrBadArgument) {
			t.Errorf("%s: err = %v, want a bad-argument error", in, err)
		}
	}
}

// TestConcurrentWritesUnderLockFileKeepEveryRow: eight writers appending to one file, each
// holding LockFile from describing the file to the rename, lose no row.
func TestConcurrentWritesUnderLockFileKeepEveryRow(t *testing.T) {
	src := writeFixture(t)
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			unlock := LockFile(src)
			defer unlock()
			cols, err := DescribeSource(context.Background(), "read_parquet($1)", []any{src}, Options{Access: Access{Paths: []string{src}}})
			if err != nil {
				errs <- err
				return
			}
			_, err = ExecuteWrite(context.Background(), appendPlan(src, cols),
				pushed([]any{int64(100 + i), time.Now().UTC(), 1.0, int32(i)}),
				WriteTarget{Path: src, Format: "parquet", Columns: cols}, Options{Threads: 1})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := readAll(t, src, `SELECT driver_id, conv_rate FROM read_parquet($1)`)
	if len(got) != 2+writers {
		t.Errorf("%d rows after %d concurrent single-row writes to a 2-row file", len(got), writers)
	}
}

// TestReadersDuringWritesSeeWholeFiles: DuckDB opens a Parquet file more than once per
// query, so a read overlapping a rename could mix the old file's metadata with the new
// file's row groups (seen as "TProtocolException: Invalid data" before Execute took the
// read lock). Every read must succeed and see the rows of one whole version.
func TestReadersDuringWritesSeeWholeFiles(t *testing.T) {
	src := writeFixture(t)
	const writes = 25
	done := make(chan struct{})
	var wg sync.WaitGroup
	readErr := make(chan error, 1)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				p := &Plan{Dialect: DialectDuckDB, SQL: `SELECT driver_id, conv_rate FROM read_parquet($1)`, Params: []any{src},
					ResultSchema: []Column{{"driver_id", abi.TypeInt64}, {"conv_rate", abi.TypeDouble}}}
				n, err := Execute(context.Background(), p, Options{Access: Access{Paths: []string{src}}}, func(*Batch) error { return nil })
				if err == nil && int(n) < last {
					err = fmt.Errorf("a read saw %d rows after one saw %d", n, last)
				}
				if err != nil {
					select {
					case readErr <- err:
					default:
					}
					return
				}
				last = int(n)
			}
		}()
	}
	for i := 0; i < writes; i++ {
		unlock := LockFile(src)
		cols, err := DescribeSource(context.Background(), "read_parquet($1)", []any{src}, Options{Access: Access{Paths: []string{src}}})
		if err == nil {
			_, err = ExecuteWrite(context.Background(), appendPlan(src, cols),
				pushed([]any{int64(100 + i), time.Now().UTC(), 1.0, int32(i)}),
				WriteTarget{Path: src, Format: "parquet", Columns: cols}, Options{})
		}
		unlock()
		if err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	select {
	case err := <-readErr:
		t.Fatal(err)
	default:
	}
}

func FuzzDecodeWritePlan(f *testing.F) {
	f.Add([]byte(`{"dialect":"duckdb","sql":"SELECT 1","params":[{"type":"STRING","value":"/a"}]}`))
	f.Add([]byte(`{"dialect":"duckdb","sql":"x","params":[{"type":"BYTES","value":"AA=="},{"type":"UNIX_TIMESTAMP","value":-1},{"type":"FLOAT","value":null}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeWritePlan(data)
		if err != nil {
			if !errors.Is(err, abi.ErrBadArgument) {
				t.Fatalf("error %v does not wrap abi.ErrBadArgument", err)
			}
			return
		}
		if p.Dialect != DialectDuckDB || strings.TrimSpace(p.SQL) == "" || len(p.SQL) > MaxSQLBytes || len(p.Params) > MaxParams {
			t.Fatalf("accepted an invalid write plan: %+v", p)
		}
	})
}
