package nativestore

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
)

var ctx = context.Background()

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func open(t *testing.T) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "online.db")
	s, err := NewSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(ctx) })
	return s, path
}

func TestWriteReadAndLayout(t *testing.T) {
	s, path := open(t)
	feats := []string{"f1", "f2"}
	keep := []host.Table{{Name: "v", Features: feats}}
	for i := 0; i < 2; i++ { // idempotent
		if err := s.Update(ctx, host.UpdateRequest{Project: "p", TablesToKeep: keep}); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Write(ctx, host.WriteRequest{Project: "p", View: "v", Features: feats, Rows: []host.WriteRow{
		{EntityKey: []byte("k1"), EventTS: t0.Add(900 * time.Millisecond), CreatedTS: t0, Values: [][]byte{[]byte("a"), nil}},
		{EntityKey: []byte("k2"), EventTS: t0, Values: [][]byte{[]byte("b"), []byte("c")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Read(ctx, host.ReadRequest{Project: "p", Views: []host.ReadView{
		{Name: "v", Features: []string{"f2", "f1"}, EntityKeys: [][]byte{[]byte("k2"), []byte("k3"), []byte("k1"), []byte("k2")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fv := range res.Views[0] {
		if fv.Status == abi.FieldNotFound {
			got = append(got, "-")
		} else {
			got = append(got, fmt.Sprintf("%s@%d", fv.Value, fv.EventTS.Sub(t0)/time.Second))
		}
	}
	if want := "[c@0 b@0 - - - a@0 c@0 b@0]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s (sub-second event time truncated)", got, want)
	}

	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var typ string
	var secs int64
	if err := db.QueryRow(`SELECT typeof(event_ts), event_ts + 0 FROM p_v WHERE entity_key = 'k1' OR entity_key = x'6b31'`).Scan(&typ, &secs); err != nil {
		t.Fatal(err)
	}
	if typ != "integer" || secs != t0.Unix() {
		t.Errorf("stored event_ts %s %d, want integer %d", typ, secs, t0.Unix())
	}

	if err := s.Teardown(ctx, host.UpdateRequest{Project: "p", TablesToDelete: keep}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Read(ctx, host.ReadRequest{Project: "p", Views: []host.ReadView{{Name: "v", Features: feats, EntityKeys: [][]byte{[]byte("k1")}}}})
	if err == nil {
		t.Error("read after teardown succeeded")
	}
}

func TestReadsFeastTimestamps(t *testing.T) {
	s, path := open(t)
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE p_old (entity_key BLOB, feature_name TEXT, value BLOB, event_ts timestamp, created_ts timestamp, PRIMARY KEY(entity_key, feature_name))`); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		f  string
		ts any
	}{{"int", t0.Unix()}, {"iso", "2024-05-06 07:08:09.5"}, {"isot", "2024-05-06T09:08:09+02:00"}, {"null", nil}} {
		if _, err := db.Exec(`INSERT INTO p_old VALUES (x'6b', ?, x'00', ?, NULL)`, r.f, r.ts); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Read(ctx, host.ReadRequest{Project: "p", Views: []host.ReadView{
		{Name: "old", Features: []string{"int", "iso", "isot", "null"}, EntityKeys: [][]byte{[]byte("k")}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{t0, t0.Add(500 * time.Millisecond), t0, time.Unix(0, 0)}
	for i, fv := range res.Views[0] {
		if fv.Status != abi.FieldPresent || !fv.EventTS.Equal(want[i]) || !bytes.Equal(fv.Value, []byte{0}) {
			t.Errorf("feature %d: %s %v %q, want PRESENT at %v", i, fv.Status, fv.EventTS, fv.Value, want[i])
		}
	}
}

func TestBadRequests(t *testing.T) {
	s, _ := open(t)
	if err := s.Update(ctx, host.UpdateRequest{TablesToKeep: []host.Table{{Name: "v"}}}); !errors.Is(err, abi.ErrBadArgument) {
		t.Errorf("update without project: %v", err)
	}
	err := s.Write(ctx, host.WriteRequest{Project: "p", View: "v", Features: []string{"a"}, Rows: []host.WriteRow{{EntityKey: []byte("k")}}})
	if !errors.Is(err, abi.ErrBadArgument) {
		t.Errorf("row with too few values: %v", err)
	}
	if _, err := NewSQLite("bad?path"); err == nil {
		t.Error("a path with '?' was accepted")
	}
}

func TestSQLCapability(t *testing.T) {
	c, err := NewSQLCapability(filepath.Join(t.TempDir(), "cap.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ddl := request(t, `{"sql":"CREATE TABLE t (a INTEGER)"}`)
	if _, st := s.Call(ctx, abi.SQLOpDDL, abi.PhaseServe, ddl); st != abi.StatusPermissionDenied {
		t.Errorf("DDL while serving: %s, want PERMISSION_DENIED", st)
	}
	if msg, st := s.Call(ctx, abi.SQLOpDDL, abi.PhaseApply, ddl); st != abi.StatusOK {
		t.Fatalf("DDL while applying: %s %s", st, msg)
	}
	if msg, st := s.Call(ctx, abi.SQLOpQuery, "sideways", ddl); st != abi.StatusInternal {
		t.Errorf("unknown phase: %s %s, want INTERNAL", st, msg)
	}
	out, st := s.Call(ctx, abi.SQLOpQuery, abi.PhaseServe, request(t, `{"sql":"SELECT count(*) AS n FROM t","result_types":["INT64"]}`))
	if st != abi.StatusOK {
		t.Fatalf("query: %s %s", st, out)
	}
	b, err := abi.Decode(out)
	if err != nil || b.Rows != 1 || b.Columns[0].Int64(0) != 0 {
		t.Errorf("query result %+v, %v", b, err)
	}
}

func request(t *testing.T, meta string) []byte {
	out, err := (&abi.Batch{Metadata: []byte(meta)}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
