package cappg

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
)

// dsn returns LARDER_PG_DSN or skips: `make test` (scripts/services.sh) always starts a
// PostgreSQL cluster and sets it; the tests skip only when run by hand without it.
func dsn(t testing.TB) string {
	t.Helper()
	d := os.Getenv("LARDER_PG_DSN")
	if d == "" {
		t.Skip("LARDER_PG_DSN is not set: run scripts/services.sh start (make test does) to test against a real PostgreSQL")
	}
	return d
}

func open(t testing.TB, o Options) caps.Session {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s, _ := p.Open()
		s.Call(context.Background(), opDDL, caps.PhaseTeardown, req(t, `DROP SCHEMA IF EXISTS `+quoteIdent(o.Schema)+` CASCADE`, nil))
		p.Close()
	})
	s, err := p.Open()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// req builds an LBF1 request: metadata sql (+ result types), one column per parameter.
func req(t testing.TB, sql string, resultTypes []string, cols ...*abi.ColumnBuilder) []byte {
	meta := `{"sql":` + quoteJSON(sql)
	if resultTypes != nil {
		meta += `,"result_types":["` + strings.Join(resultTypes, `","`) + `"]`
	}
	meta += "}"
	b := &abi.Batch{Metadata: []byte(meta)}
	for _, c := range cols {
		b.Columns = append(b.Columns, c.Column())
		b.Rows = c.Len()
	}
	out, err := b.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func col(name string, t abi.Type, vals ...any) *abi.ColumnBuilder {
	cb := abi.NewColumnBuilder(name, t, len(vals))
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
			cb.AppendNull()
		case []byte:
			cb.AppendBytes(x)
		case string:
			cb.AppendString(x)
		case int64:
			if t == abi.TypeUnixTimestamp {
				cb.AppendTimestamp(x)
			} else {
				cb.AppendInt64(x)
			}
		case float64:
			cb.AppendFloat64(x)
		case bool:
			cb.AppendBool(x)
		}
	}
	return cb
}

func schema(t testing.TB) string {
	return fmt.Sprintf("larder_test_%d", time.Now().UnixNano())
}

func TestQueryExecDDL(t *testing.T) {
	s := open(t, Options{DSN: dsn(t), Schema: schema(t), TablePrefix: "proj_"})
	ctx := context.Background()
	call := func(op uint32, phase caps.Phase, r []byte) *abi.Batch {
		t.Helper()
		resp, st := s.Call(ctx, op, phase, r)
		if st != abi.StatusOK {
			t.Fatalf("%s: %s", st, resp)
		}
		b, err := abi.Decode(resp)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	call(opDDL, caps.PhaseApply, req(t, `CREATE TABLE IF NOT EXISTS "proj_fv" (entity_key BYTEA, feature_name TEXT, value BYTEA,
		event_ts TIMESTAMPTZ, created_ts TIMESTAMPTZ, PRIMARY KEY(entity_key, feature_name));
		CREATE INDEX IF NOT EXISTS "proj_fv_ek" ON "proj_fv" (entity_key);`, nil))
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC).UnixMicro()
	up := `INSERT INTO "proj_fv" (entity_key, feature_name, value, event_ts, created_ts) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (entity_key, feature_name) DO UPDATE SET value = EXCLUDED.value, event_ts = EXCLUDED.event_ts, created_ts = EXCLUDED.created_ts`
	b := call(opExec, caps.PhaseServe, req(t, up, nil,
		col("k", abi.TypeBytes, []byte{1, 0, 2}, []byte{1, 0, 2}, []byte{9}),
		col("f", abi.TypeString, "a", "b", "a"),
		col("v", abi.TypeBytes, []byte("va"), []byte{}, []byte("v9")),
		col("e", abi.TypeUnixTimestamp, ts, ts, ts+1),
		col("c", abi.TypeUnixTimestamp, nil, ts, nil)))
	if b.Rows != 1 || b.Columns[0].Int64(0) != 3 {
		t.Fatalf("rows_affected = %d", b.Columns[0].Int64(0))
	}
	q := `SELECT feature_name AS name, value AS value, event_ts AS ts, created_ts AS cts FROM "proj_fv" WHERE entity_key = $1 ORDER BY feature_name`
	res := call(opQuery, caps.PhaseServe, req(t, q, []string{"STRING", "BYTES", "UNIX_TIMESTAMP", "UNIX_TIMESTAMP"}, col("k", abi.TypeBytes, []byte{1, 0, 2})))
	if res.Rows != 2 || res.Columns[0].String(0) != "a" || string(res.Columns[1].Bytes(0)) != "va" || res.Columns[2].Timestamp(0) != ts ||
		!res.Columns[3].IsNull(0) || res.Columns[1].IsNull(1) || len(res.Columns[1].Bytes(1)) != 0 || res.Columns[3].Timestamp(1) != ts {
		t.Fatalf("query result: rows %d %q %q %d", res.Rows, res.Columns[0].String(0), res.Columns[1].Bytes(0), res.Columns[2].Timestamp(0))
	}
	// Array parameters (BYTES_LIST) for = ANY($1).
	kl := abi.NewColumnBuilder("ks", abi.TypeBytesList, 1)
	kl.AppendBytesList([][]byte{{1, 0, 2}, {9}})
	res = call(opQuery, caps.PhaseServe, req(t, `SELECT count(*) AS n FROM "proj_fv" WHERE entity_key = ANY($1)`, []string{"INT64"}, kl))
	if res.Columns[0].Int64(0) != 3 {
		t.Fatalf("count over ANY($1) = %d", res.Columns[0].Int64(0))
	}
	// A failing row rolls the whole EXEC back.
	_, st := s.Call(ctx, opExec, caps.PhaseServe, req(t, `INSERT INTO "proj_fv" (entity_key, feature_name) VALUES ($1, $2)`, nil,
		col("k", abi.TypeBytes, []byte{7}, []byte{7}), col("f", abi.TypeString, "x", "x")))
	if st != abi.StatusConflict {
		t.Fatalf("duplicate key: %s", st)
	}
	res = call(opQuery, caps.PhaseServe, req(t, `SELECT count(*) AS n FROM "proj_fv" WHERE entity_key = $1`, []string{"INT64"}, col("k", abi.TypeBytes, []byte{7})))
	if res.Columns[0].Int64(0) != 0 {
		t.Fatal("the failed EXEC left rows behind")
	}
	// DDL outside apply/teardown is refused.
	if resp, st := s.Call(ctx, opDDL, caps.PhaseServe, req(t, `DROP TABLE "proj_fv"`, nil)); st != abi.StatusPermissionDenied {
		t.Fatalf("DDL while serving: %s %s", st, resp)
	}
}

func TestStatementChecks(t *testing.T) {
	cases := []struct {
		sql  string
		op   uint32
		want string // "" = allowed
	}{
		{`SELECT value FROM "proj_fv" WHERE entity_key = $1`, opQuery, ""},
		{`WITH k(i, key) AS (VALUES (0, $1::bytea)), f(j, name) AS (VALUES (0, $2)) SELECT k.i FROM k CROSS JOIN f LEFT JOIN "proj_t" AS t ON t.entity_key = k.key`, opQuery, ""},
		{`WITH k(i, key) AS (VALUES (0, $1::bytea)) SELECT i FROM k LEFT JOIN "proj_t" ON entity_key = key`, opQuery, ""},
		{`SELECT * FROM other_table`, opQuery, "outside this grant"},
		{`SELECT * FROM "proj_t"; SELECT 1`, opQuery, "exactly one"},
		{`INSERT INTO "proj_t" VALUES ($1)`, opQuery, "SELECT"},
		{`WITH d AS (DELETE FROM "proj_t" RETURNING *) SELECT * FROM d`, opQuery, "cannot modify"},
		{`SELECT * FROM public.other`, opQuery, "schema-qualified"},
		{`SELECT public.pg_sleep(1)`, opQuery, "schema-qualified function"},
		{`DELETE FROM "proj_t"`, opQuery, "SELECT"},
		{`SELECT pg_read_file('/etc/passwd')`, opQuery, "pg_read_file"},
		{`SELECT * FROM "proj_t" WHERE x = 'DROP TABLE y; --'`, opQuery, ""},
		{`SELECT $$ COPY $$ AS s FROM "proj_t"`, opQuery, ""},
		{`SELECT * FROM pg_catalog.pg_tables`, opQuery, "schema-qualified"},
		{`SELECT relname FROM "proj_t", pg_class`, opQuery, "pg_class"},
		{`SELECT x FROM "proj_t" WHERE y IN (SELECT * FROM information_schema.tables)`, opQuery, "schema-qualified"},
		{`SELECT x FROM "proj_t" AS a, other b WHERE a.x = b.x`, opQuery, "\"other\" is outside"},
		{`SELECT x FROM "proj_t" a, "proj_u" b`, opQuery, ""},
		{`SELECT 1 /* unterminated`, opQuery, "unterminated"},
		{`INSERT INTO "proj_t" (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET a = EXCLUDED.a`, opExec, ""},
		{`INSERT INTO t2 (a) VALUES ($1)`, opExec, "outside this grant"},
		{`UPDATE "proj_t" SET a = 1`, opExec, ""},
		{`COPY "proj_t" FROM '/tmp/x'`, opExec, "COPY"},
		{`CREATE TABLE "proj_t" (a int)`, opExec, "schema changes"},
		{`SET search_path = other`, opExec, "EXEC runs"},
		{`CREATE TABLE IF NOT EXISTS "proj_t" (a int); CREATE INDEX IF NOT EXISTS "proj_t_ek" ON "proj_t" (a)`, opDDL, ""},
		{`CREATE INDEX IF NOT EXISTS "proj_i" ON other (a)`, opDDL, "outside this grant"},
		{`DROP TABLE IF EXISTS "proj_t"; DROP INDEX IF EXISTS "proj_t_ek"`, opDDL, ""},
		{`DROP TABLE IF EXISTS victim`, opDDL, "outside this grant"},
		{`CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql`, opDDL, "FUNCTION"},
		{`CREATE EXTENSION dblink`, opDDL, "EXTENSION"},
		{`DO $$ BEGIN END $$`, opDDL, "DDL runs"},
		{`ALTER TABLE "proj_t" OWNER TO postgres`, opDDL, "OWNER"},
		{`GRANT ALL ON "proj_t" TO public`, opDDL, "DDL runs"},
	}
	for _, c := range cases {
		got := checkStatements(c.sql, c.op, false, "proj_")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s %q:\n got %q\nwant %q", opName(c.op), c.sql, got, c.want)
		}
	}
}

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{`SELECT "a""b" FROM t WHERE x = E'\'' -- c`, `$tag$ x $tag$`, `/* /* */ */ SELECT 1`, `SELECT $1::bytea`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = tokenize(s)
		_ = checkStatements(s, opQuery, true, "p_")
		_ = checkStatements(s, opDDL, false, "")
	})
}

func TestServerDownIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	p, err := New(Options{DSN: fmt.Sprintf("postgres://u:hunter2@127.0.0.1:%d/db?sslmode=disable&connect_timeout=2", addr.Port)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, _ := p.Open()
	resp, st := s.Call(context.Background(), opQuery, caps.PhaseServe, req(t, "SELECT 1 AS one", []string{"INT64"}))
	if st != abi.StatusUnavailable || strings.Contains(string(resp), "hunter2") {
		t.Fatalf("got %s %q, want UNAVAILABLE without the password", st, resp)
	}
	if _, err := New(Options{DSN: "postgres://u:hunter2@[bad"}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("bad DSN: %v", err)
	}
}
