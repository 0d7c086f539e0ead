package offlineengine

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/larder-dev/larder/abi"
)

// writeParquet materialises query into a Parquet file with an unrestricted DuckDB, the way
// a user's data would exist before Larder ever sees it.
func writeParquet(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("COPY (" + query + ") TO " + sqlString(path) + " (FORMAT parquet)"); err != nil {
		t.Fatal(err)
	}
}

func collect(t *testing.T, p *Plan, opts Options) ([][]any, error) {
	t.Helper()
	var out [][]any
	n, err := Execute(context.Background(), p, opts, func(b *Batch) error {
		for _, r := range b.Rows {
			out = append(out, append([]any(nil), r...))
		}
		return nil
	})
	if err == nil && n != int64(len(out)) {
		t.Fatalf("Execute counted %d rows, callback saw %d", n, len(out))
	}
	return out, err
}

func TestExecuteReadsGrantedParquetInBatches(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "stats.parquet")
	writeParquet(t, src, `SELECT i::BIGINT AS id, TIMESTAMP '2021-04-12 00:00:00' + INTERVAL (i) HOUR AS ts,
		CASE WHEN i % 3 = 0 THEN NULL ELSE i / 10.0 END AS rate, [i, i+1]::BIGINT[] AS hist, 'd' || i AS name
		FROM range(10) t(i)`)
	p := &Plan{
		Dialect: DialectDuckDB,
		SQL: `SELECT id, CAST(ts AS TIMESTAMP) AS __event_ts, CAST(rate AS FLOAT) AS rate, hist, name
		      FROM read_parquet($1) WHERE ts >= $2 ORDER BY id`,
		Params: []any{src, time.Date(2021, 4, 12, 2, 0, 0, 0, time.UTC)},
		ResultSchema: []Column{{"id", abi.TypeInt64}, {"__event_ts", abi.TypeUnixTimestamp},
			{"rate", abi.TypeFloat}, {"hist", abi.TypeInt64List}, {"name", abi.TypeString}},
	}
	var sizes []int
	var rows [][]any
	n, err := Execute(context.Background(), p, Options{Access: Access{Paths: []string{src}}, BatchSize: 3},
		func(b *Batch) error {
			sizes = append(sizes, len(b.Rows))
			for _, r := range b.Rows {
				rows = append(rows, append([]any(nil), r...))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if n != 8 || !reflect.DeepEqual(sizes, []int{3, 3, 2}) {
		t.Fatalf("got %d rows in batches %v, want 8 in [3 3 2]", n, sizes)
	}
	want := []any{int64(3), time.Date(2021, 4, 12, 3, 0, 0, 0, time.UTC), nil, []int64{3, 4}, "d3"}
	if !reflect.DeepEqual(rows[1], want) {
		t.Fatalf("row 1 = %#v, want %#v", rows[1], want)
	}
	if rows[2][2] != float32(0.4) {
		t.Fatalf("rate of row 2 = %#v, want float32(0.4)", rows[2][2])
	}
}

func TestExecuteSandbox(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "ok.parquet")
	writeParquet(t, src, "SELECT 1::BIGINT AS id")
	secret := filepath.Join(dir, "secret.csv")
	if err := os.WriteFile(secret, []byte("k\nhunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	access := Options{Access: Access{Paths: []string{src}}}
	one := []Column{{"id", abi.TypeInt64}}
	cases := []struct {
		name, sql string
		params    []any
		schema    []Column
		want      string
	}{
		{"other file", "SELECT k AS id FROM read_csv_auto(" + sqlString(secret) + ")", nil, []Column{{"id", abi.TypeString}}, "Permission Error"},
		{"copy out", "COPY (SELECT 1) TO " + sqlString(filepath.Join(dir, "out.csv")), nil, one, "Permission Error"},
		{"two statements", "SELECT 1::BIGINT AS id; SELECT 2::BIGINT AS id", nil, one, "exactly one SELECT"},
		{"unlock", "SET enable_external_access = true", nil, one, "must be a SELECT"},
		{"attach", "ATTACH " + sqlString(filepath.Join(dir, "x.db")), nil, one, "must be a SELECT"},
		{"ddl", "CREATE TABLE t AS SELECT 1::BIGINT AS id", nil, one, "must be a SELECT"},
		{"wrong name", "SELECT id AS other FROM read_parquet($1)", []any{src}, one, `named "other"`},
		{"wrong type", "SELECT id::INTEGER AS id FROM read_parquet($1)", []any{src}, one, "INTEGER in DuckDB, which is not the declared INT64"},
		{"too few columns", "SELECT id, id AS id2 FROM read_parquet($1)", []any{src}, one, "returns 2 columns"},
		{"param count", "SELECT id FROM read_parquet($1) WHERE id > $2", []any{src}, one, "takes 2 parameters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := collect(t, &Plan{Dialect: DialectDuckDB, SQL: c.sql, Params: c.params, ResultSchema: c.schema}, access)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "out.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a plan wrote a file: %v", err)
	}
	// The granted file itself stays readable, by literal path as well as by parameter.
	rows, err := collect(t, &Plan{Dialect: DialectDuckDB, SQL: "SELECT id FROM read_parquet(" + sqlString(src) + ")", ResultSchema: one}, access)
	if err != nil || len(rows) != 1 {
		t.Fatalf("reading the granted file: rows=%v err=%v", rows, err)
	}
}

func TestExecuteDirectoryGrant(t *testing.T) {
	root := t.TempDir()
	ds := filepath.Join(root, "data")
	if err := os.MkdirAll(ds, 0o755); err != nil {
		t.Fatal(err)
	}
	writeParquet(t, filepath.Join(ds, "a.parquet"), "SELECT 1::BIGINT AS id")
	writeParquet(t, filepath.Join(ds, "b.parquet"), "SELECT 2::BIGINT AS id")
	sibling := filepath.Join(root, "database")
	if err := os.MkdirAll(sibling, 0o755); err != nil {
		t.Fatal(err)
	}
	writeParquet(t, filepath.Join(sibling, "c.parquet"), "SELECT 3::BIGINT AS id")
	opts := Options{Access: Access{Directories: []string{ds}}}
	schema := []Column{{"id", abi.TypeInt64}}
	rows, err := collect(t, &Plan{Dialect: DialectDuckDB, SQL: "SELECT id FROM read_parquet($1) ORDER BY id",
		Params: []any{filepath.Join(ds, "*.parquet")}, ResultSchema: schema}, opts)
	if err != nil || len(rows) != 2 {
		t.Fatalf("reading the granted directory: rows=%v err=%v", rows, err)
	}
	_, err = collect(t, &Plan{Dialect: DialectDuckDB, SQL: "SELECT id FROM read_parquet($1)",
		Params: []any{filepath.Join(sibling, "c.parquet")}, ResultSchema: schema}, opts)
	if err == nil || !strings.Contains(err.Error(), "Permission Error") {
		t.Fatalf("a sibling directory sharing the prefix was readable: %v", err)
	}
}

func TestExecuteStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	p := &Plan{Dialect: DialectDuckDB, SQL: "SELECT i::BIGINT AS i FROM range(100) t(i)", ResultSchema: []Column{{"i", abi.TypeInt64}}}
	calls := 0
	_, err := Execute(context.Background(), p, Options{BatchSize: 10}, func(*Batch) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err=%v after %d calls, want stop after 1", err, calls)
	}
}

func TestExecuteCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := &Plan{Dialect: DialectDuckDB, SQL: "SELECT i::BIGINT AS i FROM range(10) t(i)", ResultSchema: []Column{{"i", abi.TypeInt64}}}
	if _, err := Execute(ctx, p, Options{}, func(*Batch) error { return nil }); err == nil {
		t.Fatal("a canceled context still executed the plan")
	}
}

func TestExecuteTypes(t *testing.T) {
	p := &Plan{Dialect: DialectDuckDB, SQL: `SELECT 'x'::BLOB AS b, true AS t, 7::INTEGER AS i32, 1.5::DOUBLE AS d,
		['a','b'] AS sl, [1.5]::FLOAT[] AS fl, [TIMESTAMPTZ '2021-01-01 00:00:00+02'] AS tl,
		TIMESTAMPTZ '2021-01-01 00:00:00+02' AS tz, [true] AS bl, ['x'::BLOB] AS bbl, [1]::INTEGER[] AS il, [2.5] ::DOUBLE[] AS dl`,
		ResultSchema: []Column{{"b", abi.TypeBytes}, {"t", abi.TypeBool}, {"i32", abi.TypeInt32}, {"d", abi.TypeDouble},
			{"sl", abi.TypeStringList}, {"fl", abi.TypeFloatList}, {"tl", abi.TypeUnixTimestampList}, {"tz", abi.TypeUnixTimestamp},
			{"bl", abi.TypeBoolList}, {"bbl", abi.TypeBytesList}, {"il", abi.TypeInt32List}, {"dl", abi.TypeDoubleList}}}
	rows, err := collect(t, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2020, 12, 31, 22, 0, 0, 0, time.UTC)
	want := []any{[]byte("x"), true, int32(7), 1.5, []string{"a", "b"}, []float32{1.5}, []time.Time{ts}, ts,
		[]bool{true}, [][]byte{[]byte("x")}, []int32{1}, []float64{2.5}}
	if !reflect.DeepEqual(rows[0], want) {
		t.Fatalf("got %#v\nwant %#v", rows[0], want)
	}
	_, err = collect(t, &Plan{Dialect: DialectDuckDB, SQL: "SELECT [1, NULL]::BIGINT[] AS l",
		ResultSchema: []Column{{"l", abi.TypeInt64List}}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "cannot hold nulls") {
		t.Fatalf("a list with a null element: err = %v", err)
	}
}

// The sandbox holds even for statements that are not SELECTs, should one ever get past
// the statement check.
func TestSandboxIsLocked(t *testing.T) {
	dir := t.TempDir()
	conn, closeDB, err := openSandbox(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	for _, s := range []string{
		"SET enable_external_access = true",
		"SET lock_configuration = false",
		"ATTACH " + sqlString(filepath.Join(dir, "x.db")),
		"INSTALL httpfs",
		"COPY (SELECT 1) TO " + sqlString(filepath.Join(dir, "y.csv")),
	} {
		if _, err := conn.ExecContext(context.Background(), s, nil); err == nil {
			t.Errorf("%s succeeded inside the sandbox", s)
		}
	}
}

func TestExecuteCountRows(t *testing.T) {
	p := &Plan{Dialect: DialectDuckDB, SQL: "SELECT i::BIGINT AS i FROM range(10) t(i) WHERE i >= $1 -- trailing comment;\n;",
		Params: []any{int64(3)}, ResultSchema: []Column{{"i", abi.TypeInt64}}}
	var totals []int64
	var rows int
	n, err := Execute(context.Background(), p, Options{BatchSize: 4, CountRows: true}, func(b *Batch) error {
		totals = append(totals, b.Total)
		rows += len(b.Rows)
		if len(b.Rows[0]) != 1 {
			t.Fatalf("the count column leaked into the rows: %v", b.Rows[0])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 7 || rows != 7 || !reflect.DeepEqual(totals, []int64{7, 7}) {
		t.Fatalf("n=%d rows=%d totals=%v, want 7 rows, totals [7 7]", n, rows, totals)
	}
	_, err = Execute(context.Background(), &Plan{Dialect: DialectDuckDB, SQL: "SELECT 1::BIGINT AS i; SELECT 2::BIGINT AS i",
		ResultSchema: []Column{{"i", abi.TypeInt64}}}, Options{CountRows: true}, func(*Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "exactly one SELECT") {
		t.Fatalf("two statements with CountRows: err = %v", err)
	}
}
