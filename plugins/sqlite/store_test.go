package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/nativestore"
	"github.com/larder-dev/larder/sdk-go/sdktest"
	_ "github.com/mattn/go-sqlite3"
)

// opener opens the plugin as a host.OnlineStore on the SQLite file at path.
type opener func(t *testing.T, path string) host.OnlineStore

// openers runs each test natively and, unless -short, against the built .wasm through the host.
func openers(t *testing.T) map[string]opener {
	m := map[string]opener{
		"native": func(t *testing.T, path string) host.OnlineStore {
			return sdktest.NativeOnlineStore(t, sdktest.Options{SQL: map[string]string{"online": path}})
		},
	}
	if wasm := wasmPath(t); wasm != "" {
		m["wasm"] = func(t *testing.T, path string) host.OnlineStore {
			return sdktest.WasmOnlineStore(t, wasm, sdktest.Options{SQL: map[string]string{"online": path}})
		}
	}
	return m
}

func forEachMode(t *testing.T, f func(t *testing.T, open opener)) {
	for name, open := range openers(t) {
		t.Run(name, func(t *testing.T) { f(t, open) })
	}
}

const project = "proj"

var ctx = context.Background()

func table(name string, features ...string) host.Table {
	return host.Table{Name: name, Features: features, JoinKeys: []string{"driver_id"}}
}

func key(i int) []byte      { return []byte(fmt.Sprintf("ek-%05d", i)) }
func value(s string) []byte { return append([]byte{0x12}, s...) } // any bytes: stored unchanged

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func dbPath(t *testing.T) string { return filepath.Join(t.TempDir(), "online.db") }

func openDB(t *testing.T, path string) *sql.DB {
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustUpdate(t *testing.T, s host.OnlineStore, keep ...host.Table) {
	t.Helper()
	if err := s.Update(ctx, host.UpdateRequest{Project: project, TablesToKeep: keep}); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func mustWrite(t *testing.T, s host.OnlineStore, view string, features []string, rows ...host.WriteRow) {
	t.Helper()
	if err := s.Write(ctx, host.WriteRequest{Project: project, View: view, Features: features, Rows: rows}); err != nil {
		t.Fatalf("write %s: %v", view, err)
	}
}

func mustRead(t *testing.T, s host.OnlineStore, views ...host.ReadView) *host.ReadResult {
	t.Helper()
	res, err := s.Read(ctx, host.ReadRequest{Project: project, Views: views})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return res
}

// want is an expected FeatureValue: nil value = NOT_FOUND.
type want struct {
	value []byte
	ts    time.Time
}

func check(t *testing.T, got []host.FeatureValue, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d values, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		g := got[i]
		if w.value == nil {
			if g.Status != abi.FieldNotFound || g.Value != nil {
				t.Errorf("value %d: got %s %q, want NOT_FOUND", i, g.Status, g.Value)
			}
			continue
		}
		if g.Status != abi.FieldPresent || !bytes.Equal(g.Value, w.value) || !g.EventTS.Equal(w.ts) {
			t.Errorf("value %d: got %s %q at %v, want PRESENT %q at %v", i, g.Status, g.Value, g.EventTS, w.value, w.ts)
		}
	}
}

func TestUpdateCreatesFeastLayout(t *testing.T) {
	forEachMode(t, func(t *testing.T, open opener) {
		path := dbPath(t)
		s := open(t, path)
		mustUpdate(t, s, table("driver_stats", "conv_rate"), table("other", "x"))
		mustUpdate(t, s, table("driver_stats", "conv_rate"), table("other", "x")) // idempotent
		db := openDB(t, path)
		cols := map[string]string{}
		rows, err := db.Query(`SELECT name, type, pk FROM pragma_table_info('proj_driver_stats')`)
		if err != nil {
			t.Fatal(err)
		}
		var pk []string
		for rows.Next() {
			var name, typ string
			var k int
			if err := rows.Scan(&name, &typ, &k); err != nil {
				t.Fatal(err)
			}
			cols[name] = typ
			if k > 0 {
				pk = append(pk, name)
			}
		}
		rows.Close()
		for name, typ := range map[string]string{"entity_key": "BLOB", "feature_name": "TEXT", "value": "BLOB",
			"vector_value": "BLOB", "event_ts": "timestamp", "created_ts": "timestamp"} {
			if cols[name] != typ {
				t.Errorf("column %s: type %q, want %q (all: %v)", name, cols[name], typ, cols)
			}
		}
		if fmt.Sprint(pk) != "[entity_key feature_name]" {
			t.Errorf("primary key %v, want [entity_key feature_name]", pk)
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type='index' AND name='proj_driver_stats_ek' AND tbl_name='proj_driver_stats'`).Scan(&n); err != nil || n != 1 {
			t.Errorf("index proj_driver_stats_ek: count %d, err %v", n, err)
		}

		// Deleting drops the table; deleting again is a no-op.
		for i := 0; i < 2; i++ {
			if err := s.Update(ctx, host.UpdateRequest{Project: project, TablesToKeep: []host.Table{table("driver_stats", "conv_rate")},
				TablesToDelete: []host.Table{table("other", "x")}}); err != nil {
				t.Fatalf("update deleting a table (round %d): %v", i, err)
			}
		}
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('proj_other', 'proj_other_ek')`).Scan(&n); err != nil || n != 0 {
			t.Errorf("proj_other still exists after delete: count %d, err %v", n, err)
		}
	})
}

func TestWriteRead(t *testing.T) {
	feats := []string{"conv_rate", "acc_rate", "trips"}
	forEachMode(t, func(t *testing.T, open opener) {
		s := open(t, dbPath(t))
		mustUpdate(t, s, table("driver_stats", feats...), table("customer", "age"))
		t1 := t0.Add(time.Hour)
		mustWrite(t, s, "driver_stats", feats,
			host.WriteRow{EntityKey: key(1), EventTS: t0, CreatedTS: t0, Values: [][]byte{value("c1"), value("a1"), value("t1")}},
			host.WriteRow{EntityKey: key(2), EventTS: t1, Values: [][]byte{value("c2"), nil, value("t2")}}, // acc_rate not written
		)
		mustWrite(t, s, "customer", []string{"age"},
			host.WriteRow{EntityKey: key(1), EventTS: t1, Values: [][]byte{value("42")}})

		// Request order is arbitrary, with a duplicate and a missing key; features in another
		// order than written, one of them unknown to the table.
		res := mustRead(t, s,
			host.ReadView{Name: "driver_stats", Features: []string{"trips", "conv_rate", "acc_rate", "nope"},
				EntityKeys: [][]byte{key(2), key(9), key(1), key(2)}},
			host.ReadView{Name: "customer", Features: []string{"age"}, EntityKeys: [][]byte{key(3), key(1)}},
		)
		if len(res.Views) != 2 {
			t.Fatalf("got %d views, want 2", len(res.Views))
		}
		nf := want{}
		check(t, res.Views[0], []want{
			{value("t2"), t1}, {value("c2"), t1}, nf, nf, // key 2
			nf, nf, nf, nf, // key 9
			{value("t1"), t0}, {value("c1"), t0}, {value("a1"), t0}, nf, // key 1
			{value("t2"), t1}, {value("c2"), t1}, nf, nf, // key 2 again
		})
		check(t, res.Views[1], []want{nf, {value("42"), t1}})

		// Last write wins, even with an older timestamp (Feast's SQLite store does not compare).
		mustWrite(t, s, "driver_stats", feats,
			host.WriteRow{EntityKey: key(1), EventTS: t0.Add(-time.Hour), Values: [][]byte{value("c1b"), nil, nil}})
		res = mustRead(t, s, host.ReadView{Name: "driver_stats", Features: feats, EntityKeys: [][]byte{key(1)}})
		check(t, res.Views[0], []want{{value("c1b"), t0.Add(-time.Hour)}, {value("a1"), t0}, {value("t1"), t0}})

		// Empty reads.
		res = mustRead(t, s, host.ReadView{Name: "driver_stats", Features: feats})
		check(t, res.Views[0], nil)
		res = mustRead(t, s)
		if len(res.Views) != 0 {
			t.Errorf("read of no views returned %d views", len(res.Views))
		}
	})
}

func TestTimestampsKeepWholeSeconds(t *testing.T) {
	forEachMode(t, func(t *testing.T, open opener) {
		path := dbPath(t)
		s := open(t, path)
		mustUpdate(t, s, table("v", "f"))
		ts := t0.Add(1500 * time.Millisecond)
		mustWrite(t, s, "v", []string{"f"}, host.WriteRow{EntityKey: key(1), EventTS: ts, CreatedTS: ts, Values: [][]byte{value("x")}})
		var event, created any
		if err := openDB(t, path).QueryRow(`SELECT CAST(event_ts AS INTEGER), typeof(event_ts), created_ts FROM proj_v`).Scan(&event, new(string), &created); err != nil {
			t.Fatal(err)
		}
		if event != t0.Unix()+1 {
			t.Errorf("stored event_ts %v, want %d (integer epoch seconds)", event, t0.Unix()+1)
		}
		res := mustRead(t, s, host.ReadView{Name: "v", Features: []string{"f"}, EntityKeys: [][]byte{key(1)}})
		check(t, res.Views[0], []want{{value("x"), t0.Add(time.Second)}})
	})
}

// TestReadsFeastWrittenRows reads rows as Feast writes them: current Feast stores integer
// epoch seconds, older Feast ISO text, into a table created without the newer columns.
func TestReadsFeastWrittenRows(t *testing.T) {
	forEachMode(t, func(t *testing.T, open opener) {
		path := dbPath(t)
		db := openDB(t, path)
		for _, q := range []string{
			`CREATE TABLE proj_old (entity_key BLOB, feature_name TEXT, value BLOB, event_ts timestamp, created_ts timestamp, PRIMARY KEY(entity_key, feature_name))`,
			`CREATE INDEX proj_old_ek ON proj_old (entity_key)`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		ins := `INSERT INTO proj_old VALUES (?, ?, ?, ?, NULL)`
		for _, r := range []struct {
			k, f string
			ts   any
		}{
			{"ek-00001", "a", t0.Unix()},
			{"ek-00001", "b", "2024-05-06 07:08:09.250000"},
			{"ek-00002", "a", "2024-05-06T07:08:09+02:00"},
		} {
			if _, err := db.Exec(ins, []byte(r.k), r.f, value(r.k+r.f), r.ts); err != nil {
				t.Fatal(err)
			}
		}
		s := open(t, path)
		res := mustRead(t, s, host.ReadView{Name: "old", Features: []string{"a", "b"}, EntityKeys: [][]byte{key(1), key(2)}})
		check(t, res.Views[0], []want{
			{value("ek-00001a"), t0}, {value("ek-00001b"), t0.Add(250 * time.Millisecond)},
			{value("ek-00002a"), t0.Add(-2 * time.Hour)}, {},
		})
		// Writing into the old table works too: it names only the columns it has.
		mustWrite(t, s, "old", []string{"b"}, host.WriteRow{EntityKey: key(2), EventTS: t0, Values: [][]byte{value("new")}})
		res = mustRead(t, s, host.ReadView{Name: "old", Features: []string{"b"}, EntityKeys: [][]byte{key(2)}})
		check(t, res.Views[0], []want{{value("new"), t0}})
	})
}

func TestManyKeysSpanQueries(t *testing.T) {
	forEachMode(t, func(t *testing.T, open opener) {
		s := open(t, dbPath(t))
		mustUpdate(t, s, table("v", "f", "g"))
		const n = 2*maxKeysPerQuery + 17
		var rows []host.WriteRow
		var keys [][]byte
		for i := 0; i < n; i++ {
			if i%3 != 0 { // every third key is missing
				rows = append(rows, host.WriteRow{EntityKey: key(i), EventTS: t0, Values: [][]byte{value(fmt.Sprint(i)), nil}})
			}
			keys = append(keys, key(n-1-i)) // reverse order
		}
		mustWrite(t, s, "v", []string{"f", "g"}, rows...)
		res := mustRead(t, s, host.ReadView{Name: "v", Features: []string{"g", "f"}, EntityKeys: keys})
		var wants []want
		for _, k := range keys {
			var i int
			fmt.Sscanf(string(k), "ek-%d", &i)
			if i%3 != 0 {
				wants = append(wants, want{}, want{value(fmt.Sprint(i)), t0})
			} else {
				wants = append(wants, want{}, want{})
			}
		}
		check(t, res.Views[0], wants)
	})
}

func TestTeardown(t *testing.T) {
	forEachMode(t, func(t *testing.T, open opener) {
		path := dbPath(t)
		s := open(t, path)
		mustUpdate(t, s, table("a", "f"), table("b", "f"))
		req := host.UpdateRequest{Project: project, TablesToDelete: []host.Table{table("a", "f"), table("b", "f")}}
		for i := 0; i < 2; i++ {
			if err := s.Teardown(ctx, req); err != nil {
				t.Fatalf("teardown (round %d): %v", i, err)
			}
		}
		var n int
		if err := openDB(t, path).QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'proj_%'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d objects left after teardown (err %v)", n, err)
		}
	})
}

func TestErrors(t *testing.T) {
	forEachMode(t, func(t *testing.T, open opener) {
		s := open(t, dbPath(t))
		_, err := s.Read(ctx, host.ReadRequest{Project: project, Views: []host.ReadView{{Name: "missing", Features: []string{"f"}, EntityKeys: [][]byte{key(1)}}}})
		if err == nil {
			t.Fatal("reading a feature view whose table does not exist succeeded")
		}
		if !errors.Is(err, abi.ErrBadArgument) {
			t.Errorf("reading a missing table: %v, want a BAD_ARGUMENT error", err)
		}
		err = s.Write(ctx, host.WriteRequest{Project: project, View: "missing", Features: []string{"f"},
			Rows: []host.WriteRow{{EntityKey: key(1), EventTS: t0, Values: [][]byte{value("x")}}}})
		if err == nil {
			t.Error("writing to a feature view whose table does not exist succeeded")
		}
		if err := s.Update(ctx, host.UpdateRequest{Project: "", TablesToKeep: []host.Table{table("v", "f")}}); !errors.Is(err, abi.ErrBadArgument) {
			t.Errorf("update without a project: %v, want BAD_ARGUMENT", err)
		}
	})
}

func TestConfigIsValidated(t *testing.T) {
	s := sdktest.NativeOnlineStore(t, sdktest.Options{SQL: map[string]string{"online": dbPath(t)}, Config: []byte(`{}`)})
	s.Close(ctx)
	// An unknown field is refused at larder_init; NativeOnlineStore reports that through t.
	ft := &fakeT{T: t}
	func() {
		defer func() { recover() }()
		sdktest.NativeOnlineStore(ft, sdktest.Options{SQL: map[string]string{"online": dbPath(t)}, Config: []byte(`{"path": "x"}`)})
	}()
	if !ft.failed {
		t.Error("an unknown config field was accepted")
	}
}

// fakeT records a Fatal instead of failing the test.
type fakeT struct {
	*testing.T
	failed bool
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	f.T.Logf("expected failure: "+format, args...)
	panic("fatal")
}

// TestCrossCheckWithNativeStore writes with one implementation and reads with the other.
func TestCrossCheckWithNativeStore(t *testing.T) {
	feats := []string{"f1", "f2"}
	forEachMode(t, func(t *testing.T, open opener) {
		path := dbPath(t)
		plugin := open(t, path)
		native, err := nativestore.NewSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		defer native.Close(ctx)
		mustUpdate(t, plugin, table("by_plugin", feats...))
		mustUpdate(t, native, table("by_native", feats...))
		var rows []host.WriteRow
		var keys [][]byte
		for i := 0; i < 50; i++ {
			rows = append(rows, host.WriteRow{EntityKey: key(i), EventTS: t0.Add(time.Duration(i) * time.Second),
				Values: [][]byte{value(fmt.Sprint("a", i)), value(fmt.Sprint("b", i))}})
			keys = append(keys, key(i*2)) // half of them missing
		}
		mustWrite(t, plugin, "by_plugin", feats, rows...)
		mustWrite(t, native, "by_native", feats, rows...)
		for _, view := range []string{"by_plugin", "by_native"} {
			req := host.ReadRequest{Project: project, Views: []host.ReadView{{Name: view, Features: feats, EntityKeys: keys}}}
			a, err := plugin.Read(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := native.Read(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for i := range a.Views[0] {
				x, y := a.Views[0][i], b.Views[0][i]
				if x.Status != y.Status || !bytes.Equal(x.Value, y.Value) || !x.EventTS.Equal(y.EventTS) {
					t.Errorf("%s value %d: plugin %s %q %v, native %s %q %v", view, i, x.Status, x.Value, x.EventTS, y.Status, y.Value, y.EventTS)
				}
			}
			if a.Views[0][0].Status != abi.FieldPresent || a.Views[0][len(a.Views[0])-1].Status != abi.FieldNotFound {
				t.Errorf("%s: unexpected statuses in %v", view, a.Views[0])
			}
		}
	})
}

// TestQuotedNames uses names that need quoting in SQL: they must round-trip, not break or
// inject into the statements.
func TestQuotedNames(t *testing.T) {
	feats := []string{`it's`, `a"b`, `x); DROP TABLE t; --`}
	forEachMode(t, func(t *testing.T, open opener) {
		s := open(t, dbPath(t))
		view := `we"ird view`
		mustUpdate(t, s, table(view, feats...))
		mustWrite(t, s, view, feats, host.WriteRow{EntityKey: key(1), EventTS: t0, Values: [][]byte{value("1"), value("2"), value("3")}})
		res := mustRead(t, s, host.ReadView{Name: view, Features: feats, EntityKeys: [][]byte{key(1)}})
		check(t, res.Views[0], []want{{value("1"), t0}, {value("2"), t0}, {value("3"), t0}})
	})
}
