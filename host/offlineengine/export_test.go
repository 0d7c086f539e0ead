package offlineengine

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/larder-dev/larder/abi"
)

// TestExecuteToParquetWritesWhatExecuteStreams: the file DuckDB writes holds exactly the
// rows (and order) Execute streams for the same plan.
func TestExecuteToParquetWritesWhatExecuteStreams(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "stats.parquet")
	writeParquet(t, src, `SELECT (i * 7) % 10 AS id, TIMESTAMPTZ '2021-04-12 00:00:00+00' + INTERVAL (i) HOUR AS ts,
		CASE WHEN i % 3 = 0 THEN NULL ELSE i / 10.0 END AS rate, [i, i+1]::BIGINT[] AS hist FROM range(5000) t(i)`)
	p := &Plan{
		Dialect: DialectDuckDB,
		SQL: `SELECT id::BIGINT AS id, ts AS __event_ts, CAST(rate AS FLOAT) AS rate, hist, CAST(id AS INTEGER) AS small
		      FROM read_parquet($1) ORDER BY id DESC, ts`,
		Params: []any{src},
		ResultSchema: []Column{{"id", abi.TypeInt64}, {"__event_ts", abi.TypeUnixTimestamp},
			{"rate", abi.TypeFloat}, {"hist", abi.TypeInt64List}, {"small", abi.TypeInt32}},
	}
	opts := Options{Access: Access{Paths: []string{src}}}
	want, err := collect(t, p, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.parquet")
	if err := os.WriteFile(out, nil, 0o600); err != nil { // callers pass a file they created
		t.Fatal(err)
	}
	n, err := ExecuteToParquet(context.Background(), p, opts, out)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(want)) {
		t.Fatalf("ExecuteToParquet wrote %d rows, Execute streams %d", n, len(want))
	}
	back := &Plan{Dialect: DialectDuckDB, SQL: `SELECT * FROM read_parquet($1)`, Params: []any{out}, ResultSchema: p.ResultSchema}
	got, err := collect(t, back, Options{Access: Access{Paths: []string{out}}})
	if err != nil {
		t.Fatalf("reading the written file back with the declared schema: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the file differs from the streamed rows; first rows:\n got %v\nwant %v", got[:3], want[:3])
	}
}

// TestExecuteToParquetRefusesBadPlans: a plan that is not one SELECT, or whose result is
// not its declared schema, writes nothing; nor can it read what it was not granted.
func TestExecuteToParquetRefusesBadPlans(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.parquet")
	secret := filepath.Join(dir, "secret.parquet")
	writeParquet(t, src, `SELECT 1::BIGINT AS x`)
	writeParquet(t, secret, `SELECT 2::BIGINT AS x`)
	schema := []Column{{"x", abi.TypeInt64}}
	for name, tc := range map[string]struct {
		sql    string
		schema []Column
		want   string
	}{
		"two statements":   {sql: `SELECT x FROM read_parquet($1); COPY (SELECT 1) TO '` + secret + `'`, schema: schema, want: "one SELECT"},
		"not a select":     {sql: `COPY (SELECT 1) TO '` + secret + `'`, schema: schema, want: "SELECT"},
		"wrong column":     {sql: `SELECT x AS y FROM read_parquet($1)`, schema: schema, want: `named "y"`},
		"wrong type":       {sql: `SELECT CAST(x AS VARCHAR) AS x FROM read_parquet($1)`, schema: schema, want: "VARCHAR"},
		"ungranted file":   {sql: `SELECT x FROM read_parquet($1) UNION ALL SELECT x FROM read_parquet('` + secret + `')`, schema: schema, want: "secret.parquet"},
		"writes elsewhere": {sql: `SELECT x FROM read_parquet($1) UNION ALL SELECT 1 FROM (COPY (SELECT 1) TO '` + secret + `')`, schema: schema},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.parquet")
			if err := os.WriteFile(out, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			p := &Plan{Dialect: DialectDuckDB, SQL: tc.sql, Params: []any{src}, ResultSchema: tc.schema}
			_, err := ExecuteToParquet(context.Background(), p, Options{Access: Access{Paths: []string{src}}}, out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
			if st, err := os.Stat(out); err != nil || st.Size() != 0 {
				t.Fatalf("the output was written to (size %v, %v)", st.Size(), err)
			}
		})
	}
	if b, err := os.ReadFile(secret); err != nil || len(b) == 0 {
		t.Fatalf("the secret file was touched: %d bytes, %v", len(b), err)
	}
}
