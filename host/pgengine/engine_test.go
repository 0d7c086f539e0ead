package pgengine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/offlineengine"
)

// testConfig returns a PostgreSQL to run plans on, with a schema of its own holding a
// table t. It skips only when no server answers and LARDER_REQUIRE_SERVICES is unset.
func testConfig(t *testing.T) Config {
	t.Helper()
	dsn := os.Getenv("LARDER_PG_DSN")
	if dsn == "" {
		dsn = "postgres://larder@127.0.0.1:15432/larder?sslmode=disable" // scripts/services.sh's default
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("LARDER_REQUIRE_SERVICES") != "" {
			t.Fatalf("LARDER_REQUIRE_SERVICES is set but PostgreSQL at %s does not answer: %v", dsn, err)
		}
		t.Skipf("no PostgreSQL at %s (%v): run scripts/services.sh start", dsn, err)
	}
	schema := fmt.Sprintf("larder_pgengine_%d", time.Now().UnixNano())
	for _, s := range []string{
		"CREATE SCHEMA " + schema,
		"CREATE TABLE " + schema + ".t (k bigint, ts timestamp, v real, tags text[], n numeric)",
		"INSERT INTO " + schema + ".t VALUES (1, '2026-03-01 01:00:00', 0.5, '{a,b}', 1.5), (2, NULL, NULL, NULL, NULL)",
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	return Config{DSN: dsn, Schema: schema}
}

func collect(t *testing.T, cfg Config, p *offlineengine.Plan, ents *Entities) ([][]any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rows [][]any
	_, err := Execute(ctx, cfg, p, offlineengine.Options{BatchSize: 2}, ents, func(b *offlineengine.Batch) error {
		for _, r := range b.Rows {
			rows = append(rows, append([]any(nil), r...))
		}
		return nil
	})
	return rows, err
}

func col(name string, t abi.Type) offlineengine.Column {
	return offlineengine.Column{Name: name, Type: t}
}

func TestExecute(t *testing.T) {
	cfg := testConfig(t)
	p := &offlineengine.Plan{Dialect: Dialect,
		SQL:    `SELECT k, CAST(ts AS timestamptz) AS ts, v, tags FROM t WHERE k >= $1 ORDER BY k`,
		Params: []any{int64(1)},
		ResultSchema: []offlineengine.Column{col("k", abi.TypeInt64), col("ts", abi.TypeUnixTimestamp),
			col("v", abi.TypeFloat), col("tags", abi.TypeStringList)}}
	rows, err := collect(t, cfg, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([][]any{
		{int64(1), time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC), float32(0.5), []string{"a", "b"}},
		{int64(2), nil, nil, nil}})
	if fmt.Sprint(rows) != want {
		t.Fatalf("rows %v, want %v", rows, want)
	}
}

func TestExecuteEntities(t *testing.T) {
	cfg := testConfig(t)
	cols := []offlineengine.Column{col("id", abi.TypeInt64), col("name", abi.TypeString), col("at", abi.TypeUnixTimestamp)}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	const n = 10007 // several batches, and more than one COPY buffer
	produce := func(ctx context.Context, fn func(*offlineengine.Batch) error) error {
		b := &offlineengine.Batch{Schema: cols}
		for i := 0; i < n; i++ {
			b.Rows = append(b.Rows, []any{int64(i * 3), fmt.Sprintf("n%d", i), at})
			if len(b.Rows) == 1000 || i == n-1 {
				if err := fn(b); err != nil {
					return err
				}
				b.Rows = b.Rows[:0] // the batch is reused, as offlineengine does
			}
		}
		return nil
	}
	p := &offlineengine.Plan{Dialect: Dialect,
		SQL:          `SELECT id, name, at, ` + RowColumn + ` AS r FROM ` + EntityTable + ` ORDER BY ` + RowColumn,
		ResultSchema: append(append([]offlineengine.Column(nil), cols...), col("r", abi.TypeInt64))}
	rows, err := collect(t, cfg, p, &Entities{Columns: cols, Produce: produce})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	for i, r := range rows {
		if r[0] != int64(i*3) || r[1] != fmt.Sprintf("n%d", i) || !r[2].(time.Time).Equal(at) || r[3] != int64(i+1) {
			t.Fatalf("row %d = %v", i, r)
		}
	}

	t.Run("a failing producer fails the load", func(t *testing.T) {
		boom := errors.New("unreadable entity file")
		_, err := collect(t, cfg, p, &Entities{Columns: cols, Produce: func(ctx context.Context, fn func(*offlineengine.Batch) error) error {
			fn(&offlineengine.Batch{Rows: [][]any{{int64(1), "a", at}}})
			return boom
		}})
		if !errors.Is(err, boom) {
			t.Fatalf("error %v, want %v", err, boom)
		}
	})
	t.Run("a failing COPY stops the producer", func(t *testing.T) {
		_, err := collect(t, cfg, p, &Entities{Columns: cols, Produce: func(ctx context.Context, fn func(*offlineengine.Batch) error) error {
			for i := 0; ; i++ {
				// A string where a bigint goes: COPY fails on the first row.
				if err := fn(&offlineengine.Batch{Rows: [][]any{{"not a number", "a", at}}}); err != nil {
					return err
				}
				if i > 1e6 {
					return errors.New("the producer was never stopped")
				}
			}
		}})
		if err == nil || !strings.Contains(err.Error(), "loading the entity rows") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestExecuteRefuses(t *testing.T) {
	cfg := testConfig(t)
	one := []offlineengine.Column{col("k", abi.TypeInt64)}
	for _, tc := range []struct {
		name string
		sql  string
		cols []offlineengine.Column
		want string
	}{
		{"a write", `WITH d AS (DELETE FROM t RETURNING k) SELECT k FROM d`, one, "read-only transaction"},
		{"two statements", `SELECT k FROM t; DELETE FROM t`, one, "multiple commands"},
		{"not a select", `DELETE FROM t RETURNING k`, one, "must be a SELECT"},
		{"a column of another type", `SELECT n AS k FROM t`, one, "OID 1700, which is not the declared INT64"},
		{"a column of another name", `SELECT k AS key FROM t`, one, `named "key" by the sql but "k"`},
		{"too few columns", `SELECT k FROM t`, append(one, col("v", abi.TypeFloat)), "returns 1 columns but result_schema declares 2"},
		{"settings stay in the plan's session", `SELECT CAST(length(set_config('search_path', 'pg_catalog', false)) AS bigint) AS k`, one, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collect(t, cfg, &offlineengine.Plan{Dialect: Dialect, SQL: tc.sql, ResultSchema: tc.cols}, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// The set_config above changed only its own connection: the table still resolves.
	if _, err := collect(t, cfg, &offlineengine.Plan{Dialect: Dialect, SQL: `SELECT k FROM t`, ResultSchema: one}, nil); err != nil {
		t.Fatal(err)
	}
	t.Run("the deadline becomes statement_timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Execute(ctx, cfg, &offlineengine.Plan{Dialect: Dialect, SQL: `SELECT CAST(1 AS bigint) AS k FROM pg_sleep(30)`, ResultSchema: one},
			offlineengine.Options{}, nil, func(*offlineengine.Batch) error { return nil })
		if err == nil {
			t.Fatal("a 30 s plan finished under a 300 ms deadline")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("the plan ran %v past its deadline", d)
		}
	})
}

func TestDescribe(t *testing.T) {
	cfg := testConfig(t)
	cols, err := Describe(context.Background(), cfg, `SELECT k, ts, v, tags, n, CAST(1 AS smallint) AS s, CURRENT_DATE AS d FROM t;`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(cols); got != "[{k INT64} {ts UNIX_TIMESTAMP} {v FLOAT} {tags STRING_LIST} {n DOUBLE} {s INT32} {d UNIX_TIMESTAMP}]" {
		t.Fatalf("columns %s", got)
	}
	if _, err := Describe(context.Background(), cfg, `SELECT CAST('{}' AS json) AS j`); err == nil || !strings.Contains(err.Error(), `column "j"`) {
		t.Fatalf("error %v", err)
	}
	if _, err := Describe(context.Background(), cfg, `DELETE FROM t`); err == nil {
		t.Fatal("a DELETE was described")
	}
}

func TestIsSelect(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT 1": true, "  with x as (select 1) select * from x": true, "(SELECT 1)": true,
		"-- note\nSELECT 1": true, "/* c */ select 1": true, "DELETE FROM t": false, "": false, "-- only": false,
	} {
		if got := isSelect(sql); got != want {
			t.Errorf("isSelect(%q) = %v", sql, got)
		}
	}
}
