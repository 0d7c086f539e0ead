package host

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/conformance/pit"
)

// duckExec runs statements on a scratch DuckDB database (to write test files).
func duckExec(t *testing.T, stmts ...string) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// duckRows reads a query's rows with a scratch DuckDB database.
func duckRows(t *testing.T, q string) [][]any {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TestGetHistoricalFeatures runs the scaffolded repository's historical retrieval end to
// end (registry, Wasm planner, sandboxed engine, Parquet output) and compares the file
// with the reference point-in-time join over the same source rows.
func TestGetHistoricalFeatures(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	data := tr.path("data/driver_stats.parquet")
	dir := t.TempDir()
	ents := filepath.Join(dir, "entities.parquet")
	// Entity rows at and between source timestamps, more than a TTL after the data, for
	// an unknown driver, with a duplicate, and with a null timestamp; with a label column.
	duckExec(t, `COPY (
		SELECT * FROM (
			SELECT driver_id, event_timestamp + INTERVAL 30 MINUTE AS event_timestamp, 1.5 AS label
			FROM read_parquet(`+sqlQuote(data)+`) USING SAMPLE 40 ROWS (reservoir, 7)
			UNION ALL SELECT driver_id, event_timestamp, 2.5 FROM read_parquet(`+sqlQuote(data)+`) USING SAMPLE 20 ROWS (reservoir, 8)
			UNION ALL SELECT 1001, TIMESTAMP '2030-01-01 00:00:00', 3.5
			UNION ALL SELECT 1001, TIMESTAMP '2030-01-01 00:00:00', 3.5
			UNION ALL SELECT 999999, TIMESTAMP '2026-01-05 00:00:00', 4.5
			UNION ALL SELECT 1002, NULL, 5.5
		) ORDER BY label, driver_id, event_timestamp
	) TO `+sqlQuote(ents)+` (FORMAT parquet)`)

	out := filepath.Join(dir, "training.parquet")
	res, err := tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{
		EntitiesPath:     ents,
		Features:         []string{"driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"},
		FullFeatureNames: true,
	}, out)
	if err != nil {
		t.Fatal(err)
	}

	// The reference over the same rows.
	var e pit.Entities
	e.Columns = []string{"driver_id", "event_timestamp", "label"}
	e.TimestampColumn = "event_timestamp"
	for _, r := range duckRows(t, `SELECT driver_id, event_timestamp, label::DOUBLE FROM read_parquet(`+sqlQuote(ents)+`, file_row_number = true) ORDER BY file_row_number`) {
		e.Rows = append(e.Rows, []any{r[0], utc(r[1]), r[2]})
	}
	v := pit.View{Name: "driver_hourly_stats", JoinKeys: []string{"driver_id"}, Features: []string{"conv_rate", "avg_daily_trips"}, TTL: 24 * time.Hour}
	for _, r := range duckRows(t, `SELECT driver_id, event_timestamp, created, conv_rate, avg_daily_trips FROM read_parquet(`+sqlQuote(data)+`, file_row_number = true) ORDER BY file_row_number`) {
		v.Rows = append(v.Rows, pit.Row{Keys: []any{r[0]}, EventTS: tsPtr(r[1]), CreatedTS: tsPtr(r[2]), Values: []any{r[3], r[4]}})
	}
	wantCols, want, err := pit.ReferenceHistorical(e, []pit.View{v}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != int64(len(want)) || len(res.Columns) != len(wantCols) {
		t.Fatalf("result %d rows × %d columns, want %d × %d", res.Rows, len(res.Columns), len(want), len(wantCols))
	}
	got := duckRows(t, `SELECT * FROM read_parquet(`+sqlQuote(out)+`)`)
	if len(got) != len(want) {
		t.Fatalf("the file has %d rows, want %d", len(got), len(want))
	}
	matched := 0
	for i := range want {
		for j := range want[i] {
			g := got[i][j]
			if ts, ok := g.(time.Time); ok {
				g = ts.UTC()
			}
			if !pit.Equal(g, want[i][j]) {
				t.Fatalf("row %d column %s: got %#v, want %#v", i, wantCols[j], got[i][j], want[i][j])
			}
		}
		if want[i][3] != nil {
			matched++
		}
	}
	if matched < 20 || matched == len(want) {
		t.Fatalf("%d of %d rows matched a feature row: the test data does not exercise the join", matched, len(want))
	}
	if names := fileNames(t, dir); len(names) != 2 {
		t.Fatalf("directory holds %v, want the entity file and the output only", names)
	}

	// A feature service, bare names, CSV entities.
	csvEnts := filepath.Join(dir, "entities.csv")
	duckExec(t, `COPY (SELECT driver_id, event_timestamp FROM read_parquet(`+sqlQuote(ents)+`)) TO `+sqlQuote(csvEnts)+` (FORMAT csv)`)
	out2 := filepath.Join(dir, "svc.parquet")
	res, err = tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{EntitiesPath: csvEnts, FeatureService: "driver_activity_v1"}, out2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != int64(len(want)) || len(res.Columns) != 3 || res.Columns[2].Name != "conv_rate" {
		t.Fatalf("feature service result: %d rows, columns %v", res.Rows, res.Columns)
	}
}

func utc(v any) any {
	if ts, ok := v.(time.Time); ok {
		return ts.UTC()
	}
	return v
}

func tsPtr(v any) *time.Time {
	ts, ok := v.(time.Time)
	if !ok {
		return nil
	}
	ts = ts.UTC()
	return &ts
}

func fileNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestGetHistoricalFeaturesErrors(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := func(name, query string) string {
		p := filepath.Join(dir, name)
		duckExec(t, `COPY (`+query+`) TO `+sqlQuote(p)+` (FORMAT parquet)`)
		return p
	}
	good := file("good.parquet", `SELECT 1001::BIGINT AS driver_id, TIMESTAMP '2026-01-05 00:00:00' AS event_timestamp`)
	noTS := file("nots.parquet", `SELECT 1001::BIGINT AS driver_id, TIMESTAMP '2026-01-05 00:00:00' AS a, TIMESTAMP '2026-01-05 00:00:00' AS b`)
	strKey := file("strkey.parquet", `SELECT '1001' AS driver_id, TIMESTAMP '2026-01-05 00:00:00' AS event_timestamp`)
	broken := filepath.Join(dir, "broken.parquet")
	if err := os.WriteFile(broken, []byte("PAR1 this is not a parquet file"), 0o644); err != nil {
		t.Fatal(err)
	}
	refs := []string{"driver_hourly_stats:conv_rate"}
	for _, tc := range []struct {
		name string
		req  HistoricalRequest
		kind ErrorKind
		want string
	}{
		{"unknown feature", HistoricalRequest{EntitiesPath: good, Features: []string{"driver_hourly_stats:nope"}}, NotFound, `feature "nope" not found`},
		{"unknown view", HistoricalRequest{EntitiesPath: good, Features: []string{"nope:x"}}, NotFound, "nope"},
		{"no timestamp column", HistoricalRequest{EntitiesPath: noTS, Features: refs}, Unprocessable, "no event_timestamp column and 2 other timestamp columns"},
		{"named timestamp column missing", HistoricalRequest{EntitiesPath: good, TimestampColumn: "ts", Features: refs}, Unprocessable, `timestamp column "ts" is not a column`},
		{"entity column type mismatch", HistoricalRequest{EntitiesPath: strKey, Features: refs}, Unprocessable, `join key "driver_id" has type INT64 but the entity column "driver_id" has type STRING`},
		{"missing file", HistoricalRequest{EntitiesPath: filepath.Join(dir, "absent.parquet"), Features: refs}, Unprocessable, "cannot read the entity file"},
		{"unreadable file", HistoricalRequest{EntitiesPath: broken, Features: refs}, Unprocessable, "reading the entity source"},
		{"no features", HistoricalRequest{EntitiesPath: good}, BadRequest, "no features"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "out.parquet")
			_, err := tr.fs.GetHistoricalFeatures(ctx, tc.req, out)
			re, ok := AsRequestError(err)
			if !ok || re.Kind != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a %v error containing %q", err, tc.kind, tc.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed retrieval left %s behind", out)
			}
			for _, n := range fileNames(t, dir) {
				if strings.HasSuffix(n, ".tmp") {
					t.Fatalf("a failed retrieval left the temporary file %s", n)
				}
			}
		})
	}
}
