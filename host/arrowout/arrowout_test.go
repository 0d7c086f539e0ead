package arrowout

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/offlineengine"
)

var (
	t0   = time.Date(2026, 3, 1, 12, 30, 0, 123456000, time.UTC)
	cols = []offlineengine.Column{
		{Name: "b", Type: abi.TypeBytes}, {Name: "s", Type: abi.TypeString}, {Name: "i32", Type: abi.TypeInt32},
		{Name: "i64", Type: abi.TypeInt64}, {Name: "f64", Type: abi.TypeDouble}, {Name: "f32", Type: abi.TypeFloat},
		{Name: "ok", Type: abi.TypeBool}, {Name: "ts", Type: abi.TypeUnixTimestamp},
		{Name: "ls", Type: abi.TypeStringList}, {Name: "lts", Type: abi.TypeUnixTimestampList},
	}
	rows = [][]any{
		{[]byte{1, 2}, "x", int32(-3), int64(1) << 40, 2.5, float32(0.25), true, t0, []string{"a", "b"}, []time.Time{t0}},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		{[]byte{}, "", int32(0), int64(0), 0.0, float32(0), false, time.Unix(0, 0).UTC(), []string{}, []time.Time{}},
	}
)

// Written Parquet reads back in DuckDB (what users load training data with) value for value.
func TestParquetRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewParquetWriter(f, cols)
	if err != nil {
		t.Fatal(err)
	}
	// Two batches: rows accumulate across them into one row group.
	if err := w.Write(&offlineengine.Batch{Schema: cols, Rows: rows[:1]}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&offlineengine.Batch{Schema: cols, Rows: rows[1:]}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []string
	r, err := db.Query(`SELECT b::VARCHAR, s, i32, i64, f64, f32, ok, epoch_us(ts), ls::VARCHAR, len(lts) FROM read_parquet('` + path + `')`)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		vals := make([]any, 10)
		ptrs := make([]any, 10)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(vals...))
	}
	want := []string{
		fmt.Sprint(`\x01\x02`, "x", int32(-3), int64(1)<<40, 2.5, float32(0.25), true, t0.UnixMicro(), "[a, b]", int64(1)),
		fmt.Sprint(nil, nil, nil, nil, nil, nil, nil, nil, nil, nil),
		fmt.Sprint("", "", int32(0), int64(0), 0.0, float32(0), false, int64(0), "[]", int64(0)),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestIPCStream(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewIPCWriter(&buf, cols)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&offlineengine.Batch{Schema: cols, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rd, err := ipc.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	if !rd.Next() {
		t.Fatal("no record in the stream")
	}
	rec := rd.RecordBatch()
	if rec.NumRows() != 3 || rec.NumCols() != int64(len(cols)) {
		t.Fatalf("record %d×%d", rec.NumRows(), rec.NumCols())
	}
	if s := rec.Column(1).(*array.String); s.Value(0) != "x" || !s.IsNull(1) {
		t.Fatalf("column s = %v", s)
	}
	if ts := rec.Column(7).(*array.Timestamp); int64(ts.Value(0)) != t0.UnixMicro() {
		t.Fatalf("column ts = %v", ts)
	}
}

func TestWrongValueType(t *testing.T) {
	b, err := NewBuilder(cols[:1])
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if err := b.Append([][]any{{"not bytes"}}); err == nil {
		t.Fatal("a string was accepted for a BYTES column")
	}
	if _, err := Schema([]offlineengine.Column{{Name: "x", Type: abi.Type(99)}}); err == nil {
		t.Fatal("an unknown type has a schema")
	}
}
