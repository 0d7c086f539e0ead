package capsql

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
)

// request encodes an LBF1 sql request: metadata plus one row of parameters per entry in rows.
func request(t testing.TB, sql string, resultTypes []string, cols []*abi.ColumnBuilder) []byte {
	t.Helper()
	meta, _ := json.Marshal(map[string]any{"sql": sql, "result_types": resultTypes})
	b := abi.Batch{Metadata: meta}
	for _, cb := range cols {
		b.Columns = append(b.Columns, cb.Column())
		b.Rows = cb.Len()
	}
	out, err := b.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newSession(t testing.TB, prefix string) *session {
	t.Helper()
	p, err := New(Options{Path: filepath.Join(t.TempDir(), "online.db"), TablePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := p.Open()
	t.Cleanup(func() { s.Close() })
	return s.(*session)
}

func mustOK(t *testing.T, s *session, op uint32, phase caps.Phase, req []byte) *abi.Batch {
	t.Helper()
	resp, st := s.Call(context.Background(), op, phase, req)
	if st != abi.StatusOK {
		t.Fatalf("status %s: %s", st, resp)
	}
	b, err := abi.Decode(resp)
	if err != nil {
		t.Fatalf("decoding response: %v", err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	s := newSession(t, "proj_")
	mustOK(t, s, opDDL, caps.PhaseApply, request(t,
		`CREATE TABLE IF NOT EXISTS proj_fv (entity_key BLOB, feature_name TEXT, value BLOB, event_ts timestamp,
		 PRIMARY KEY (entity_key, feature_name)); CREATE INDEX IF NOT EXISTS proj_fv_ek ON proj_fv (entity_key);`, nil, nil))

	ek := abi.NewColumnBuilder("ek", abi.TypeBytes, 2)
	fn := abi.NewColumnBuilder("fn", abi.TypeString, 2)
	val := abi.NewColumnBuilder("v", abi.TypeBytes, 2)
	ts := abi.NewColumnBuilder("ts", abi.TypeUnixTimestamp, 2)
	ek.AppendBytes([]byte{1})
	fn.AppendString("conv_rate")
	val.AppendBytes([]byte("x"))
	ts.AppendTimestamp(1_700_000_000_123_456)
	ek.AppendBytes([]byte{2})
	fn.AppendString("conv_rate")
	val.AppendNull()
	ts.AppendTimestamp(1_700_000_001_000_000)
	res := mustOK(t, s, opExec, caps.PhaseServe, request(t,
		`INSERT OR REPLACE INTO proj_fv (entity_key, feature_name, value, event_ts) VALUES (?, ?, ?, ?)`,
		nil, []*abi.ColumnBuilder{ek, fn, val, ts}))
	if got := res.Column("rows_affected").Int64(0); got != 2 {
		t.Fatalf("rows_affected = %d, want 2", got)
	}

	// The same read twice: the second run comes from the statement cache.
	for i := 0; i < 2; i++ {
		key := abi.NewColumnBuilder("ek", abi.TypeBytes, 1)
		key.AppendBytes([]byte{1})
		key.AppendBytes([]byte{2})
		out := mustOK(t, s, opQuery, caps.PhaseServe, request(t,
			`SELECT feature_name, value, event_ts FROM proj_fv WHERE entity_key = ?`,
			[]string{"STRING", "BYTES", "UNIX_TIMESTAMP"}, []*abi.ColumnBuilder{key}))
		if out.Rows != 2 {
			t.Fatalf("rows = %d, want 2", out.Rows)
		}
		if got := out.Column("value").Bytes(0); string(got) != "x" {
			t.Errorf("value = %q", got)
		}
		if !out.Column("value").IsNull(1) {
			t.Errorf("row 1 value should be null")
		}
		if got := out.Column("event_ts").Timestamp(0); got != 1_700_000_000_000_000 {
			t.Errorf("event_ts = %d, want seconds precision 1700000000000000", got)
		}
	}
	if len(s.cache) != 3 {
		t.Errorf("statement cache holds %d entries, want 3", len(s.cache))
	}
}

func TestRefusals(t *testing.T) {
	s := newSession(t, "proj_")
	mustOK(t, s, opDDL, caps.PhaseApply, request(t, `CREATE TABLE proj_t (a INTEGER)`, nil, nil))
	mustOK(t, s, opDDL, caps.PhaseApply, request(t, `CREATE TABLE IF NOT EXISTS proj_other (a INTEGER)`, nil, nil))
	cases := []struct {
		name  string
		op    uint32
		phase caps.Phase
		sql   string
		want  abi.Status
		msg   string
	}{
		{"ddl in serve", opDDL, caps.PhaseServe, `CREATE TABLE proj_x (a)`, abi.StatusPermissionDenied, "only during apply and teardown"},
		{"ddl through exec", opExec, caps.PhaseApply, `CREATE TABLE proj_x (a)`, abi.StatusPermissionDenied, "schema change"},
		{"ddl through query", opQuery, caps.PhaseApply, `DROP TABLE proj_t`, abi.StatusPermissionDenied, "schema change"},
		{"attach", opExec, caps.PhaseServe, `ATTACH DATABASE '/tmp/x.db' AS x`, abi.StatusPermissionDenied, "not allowed"},
		{"pragma", opQuery, caps.PhaseServe, `PRAGMA journal_mode`, abi.StatusPermissionDenied, "not allowed"},
		{"pragma function", opQuery, caps.PhaseServe, `SELECT * FROM pragma_table_info('proj_t')`, abi.StatusPermissionDenied, "PRAGMA"},
		{"load extension", opQuery, caps.PhaseServe, `SELECT load_extension('x')`, abi.StatusPermissionDenied, "load_extension"},
		{"prefix read", opQuery, caps.PhaseServe, `SELECT a FROM other_t`, abi.StatusBadArgument, "no such table"},
		{"vacuum", opExec, caps.PhaseApply, `VACUUM`, abi.StatusPermissionDenied, "VACUUM"},
		{"transaction", opExec, caps.PhaseServe, `BEGIN`, abi.StatusPermissionDenied, "BEGIN"},
		{"two statements", opQuery, caps.PhaseServe, `SELECT 1; SELECT 2`, abi.StatusPermissionDenied, "several statements"},
		{"schema write", opExec, caps.PhaseServe, `DELETE FROM sqlite_master`, abi.StatusBadArgument, "may not be modified"},
		{"trigger", opDDL, caps.PhaseApply, `CREATE TRIGGER proj_tr AFTER INSERT ON proj_t BEGIN SELECT 1; END`, abi.StatusPermissionDenied, "not allowed"},
		{"ddl outside prefix", opDDL, caps.PhaseApply, `CREATE TABLE evil (a)`, abi.StatusPermissionDenied, "outside the granted prefix"},
		{"drop outside prefix", opDDL, caps.PhaseTeardown, `DROP TABLE IF EXISTS main.evil2`, abi.StatusOK, ""},
		{"bad sql", opQuery, caps.PhaseServe, `SELEC 1`, abi.StatusPermissionDenied, "SELEC"},
		{"semicolon in string is one statement", opQuery, caps.PhaseServe, `SELECT ';' AS x`, abi.StatusOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var types []string
			if c.op == opQuery {
				types = []string{"STRING"}
			}
			resp, st := s.Call(context.Background(), c.op, c.phase, request(t, c.sql, types, nil))
			if st != c.want {
				t.Fatalf("status %s (%s), want %s", st, resp, c.want)
			}
			if c.want != abi.StatusOK && !strings.Contains(string(resp), c.msg) {
				t.Fatalf("message %q lacks %q", resp, c.msg)
			}
		})
	}
}

func TestPrefixOnExistingTable(t *testing.T) {
	// A table outside the prefix, created by the host, must stay unreadable.
	s := newSession(t, "")
	mustOK(t, s, opDDL, caps.PhaseApply, request(t, `CREATE TABLE secrets (a TEXT)`, nil, nil))
	p2, _ := New(Options{Path: s.p.opts.Path, TablePrefix: "proj_"})
	s2i, _ := p2.Open()
	s2 := s2i.(*session)
	defer s2.Close()
	resp, st := s2.Call(context.Background(), opQuery, caps.PhaseServe, request(t, `SELECT a FROM secrets`, []string{"STRING"}, nil))
	if st != abi.StatusPermissionDenied || !strings.Contains(string(resp), "outside the granted prefix") {
		t.Fatalf("got %s %q", st, resp)
	}
}

func TestBadRequests(t *testing.T) {
	s := newSession(t, "")
	for _, c := range []struct {
		name string
		op   uint32
		req  []byte
		want abi.Status
	}{
		{"garbage", opQuery, []byte("not a batch"), abi.StatusSerializationFailure},
		{"unknown op", 9, request(t, "SELECT 1", nil, nil), abi.StatusBadArgument},
		{"no metadata", opQuery, func() []byte { b, _ := (&abi.Batch{}).Encode(nil); return b }(), abi.StatusBadArgument},
		{"bad result type", opQuery, request(t, "SELECT 1 AS a", []string{"WHAT"}, nil), abi.StatusBadArgument},
		{"type count", opQuery, request(t, "SELECT 1 AS a, 2 AS b", []string{"INT64"}, nil), abi.StatusBadArgument},
		{"conversion", opQuery, request(t, "SELECT 'x' AS a", []string{"INT64"}, nil), abi.StatusBadArgument},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, st := s.Call(context.Background(), c.op, caps.PhaseServe, c.req); st != c.want {
				t.Fatalf("status %s, want %s", st, c.want)
			}
		})
	}
}

func TestScanStatements(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want string
		bad  bool
	}{
		{"select 1", "SELECT", false},
		{"  -- c\n/* x; */ SELECT ';' ; ", "SELECT", false},
		{"CREATE TABLE a(x); CREATE INDEX i ON a(x);", "CREATE,CREATE", false},
		{`SELECT "a;b" FROM [t;]`, "SELECT", false},
		{"SELECT 'unterminated", "SELECT", true},
		{"/* open", "", true},
	} {
		kws, bad := scanStatements(c.sql)
		if strings.Join(kws, ",") != c.want || bad != c.bad {
			t.Errorf("scanStatements(%q) = %v, %v; want %s, %v", c.sql, kws, bad, c.want, c.bad)
		}
	}
}

func FuzzScanStatements(f *testing.F) {
	for _, s := range []string{"SELECT 1", "a;b", "'x''y'", "[a", "/* */;--\n", `"q""q"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		scanStatements(sql)
		checkStatements(sql, opDDL, false)
	})
}

// FuzzCall feeds arbitrary request bytes to a session: it must answer with a status,
// never panic.
func FuzzCall(f *testing.F) {
	f.Add(request(f, "SELECT 1 AS a", []string{"INT64"}, nil))
	f.Add([]byte("LBF1"))
	s := newSession(f, "")
	f.Fuzz(func(t *testing.T, req []byte) {
		s.Call(context.Background(), opQuery, caps.PhaseServe, req)
	})
}

func BenchmarkQueryCached(b *testing.B) {
	s := newSession(b, "")
	ctx := context.Background()
	if _, st := s.Call(ctx, opDDL, caps.PhaseApply, request(b, `CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB)`, nil, nil)); st != 0 {
		b.Fatal(st)
	}
	k := abi.NewColumnBuilder("k", abi.TypeBytes, 1)
	v := abi.NewColumnBuilder("v", abi.TypeBytes, 1)
	k.AppendBytes([]byte("key"))
	v.AppendBytes(make([]byte, 64))
	s.Call(ctx, opExec, caps.PhaseServe, request(b, `INSERT INTO t VALUES (?, ?)`, nil, []*abi.ColumnBuilder{k, v}))
	req := request(b, `SELECT v FROM t WHERE k = ?`, []string{"BYTES"}, []*abi.ColumnBuilder{k})
	b.ReportAllocs()
	for b.Loop() {
		if _, st := s.Call(ctx, opQuery, caps.PhaseServe, req); st != 0 {
			b.Fatal(st)
		}
	}
}
