package repo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/larder-dev/larder/host/config"
	"github.com/larder-dev/larder/host/feast"
)

var scaffoldNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func TestScaffoldParsesAndValidates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "driver_repo")
	if err := ScaffoldWith(dir, ScaffoldOptions{Now: scaffoldNow}); err != nil {
		t.Fatal(err)
	}

	cfg, err := config.Load(filepath.Join(dir, ConfigFileName))
	if err != nil {
		t.Fatalf("scaffolded feature_store.yaml: %v", err)
	}
	if cfg.Project != "driver_repo" || cfg.OnlineStore.Plugin != "sqlite" || cfg.OfflineStore.Plugin != "duckdb" {
		t.Errorf("config = %+v", cfg)
	}

	r, err := Load(dir)
	if err != nil {
		t.Fatalf("scaffolded definitions: %v", err)
	}
	fv := r.FeatureView("driver_hourly_stats")
	if fv == nil || fv.TTL != 24*time.Hour || len(fv.Features) != 3 || fv.EntityColumns[0].Name != "driver_id" ||
		fv.EntityColumns[0].Type != feast.TypeInt64 {
		t.Fatalf("driver_hourly_stats = %+v", fv)
	}
	for name, want := range map[string]feast.ValueType{"conv_rate": feast.TypeFloat, "acc_rate": feast.TypeFloat, "avg_daily_trips": feast.TypeInt64} {
		if f, ok := fv.Feature(name); !ok || f.Type != want {
			t.Errorf("feature %s = %+v, want %v", name, f, want)
		}
	}
	if s := r.Source("driver_stats_push_source"); s == nil || s.Type != SourcePush || s.BatchSource != "driver_hourly_stats_source" {
		t.Errorf("push source = %+v", s)
	}
	if s := r.Source("vals_to_add"); s == nil || s.Type != SourceRequest || len(s.Schema) != 2 {
		t.Errorf("request source = %+v", s)
	}
	if svc := r.FeatureService("driver_activity_v1"); svc == nil || len(svc.Features) != 1 || svc.Features[0].Features[0] != "conv_rate" {
		t.Errorf("driver_activity_v1 = %+v", svc)
	}

	// The data file matches the source and the view: every declared column with the
	// declared type, timestamps in microseconds UTC.
	src := r.Source("driver_hourly_stats_source")
	tbl := readParquet(t, filepath.Join(dir, src.Path))
	defer tbl.Release()
	wantCols := map[string]arrow.DataType{
		"driver_id":       arrow.PrimitiveTypes.Int64,
		"event_timestamp": &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
		"created":         &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
		"conv_rate":       arrow.PrimitiveTypes.Float32,
		"acc_rate":        arrow.PrimitiveTypes.Float32,
		"avg_daily_trips": arrow.PrimitiveTypes.Int64,
	}
	for name, typ := range wantCols {
		idx := tbl.Schema().FieldIndices(name)
		if len(idx) != 1 || !arrow.TypeEqual(tbl.Schema().Field(idx[0]).Type, typ) {
			t.Errorf("column %s: schema %v, want %v", name, tbl.Schema(), typ)
		}
	}
	const hours = 15*24 + 1
	if got, want := tbl.NumRows(), int64(hours*numDrivers+1); got != want {
		t.Errorf("rows = %d, want %d", got, want)
	}
	events := column(t, tbl, "event_timestamp").(*array.Timestamp)
	end := scaffoldNow.Truncate(time.Hour)
	if first, last := events.Value(0).ToTime(arrow.Microsecond), events.Value(events.Len()-1).ToTime(arrow.Microsecond); !first.Equal(end.Add(-15*24*time.Hour)) || !last.Equal(end) {
		t.Errorf("event range = %v .. %v, want 15 days ending %v", first, last, end)
	}
	ids := column(t, tbl, "driver_id").(*array.Int64)
	for i := 0; i < ids.Len(); i++ {
		if id := ids.Value(i); id < 1001 || id > 1005 {
			t.Fatalf("row %d: driver_id %d outside 1001-1005", i, id)
		}
	}
	conv := column(t, tbl, "conv_rate").(*array.Float32)
	for i := 0; i < conv.Len(); i++ {
		if v := conv.Value(i); v < 0 || v >= 1 {
			t.Fatalf("row %d: conv_rate %v outside [0, 1)", i, v)
		}
	}
}

func TestScaffoldIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, dir := range []string{a, b} {
		if err := ScaffoldWith(dir, ScaffoldOptions{Now: scaffoldNow, Project: "same"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{ConfigFileName, ScaffoldDefinitions, ScaffoldData} {
		da, _ := os.ReadFile(filepath.Join(a, f))
		db, _ := os.ReadFile(filepath.Join(b, f))
		if len(da) == 0 || !bytes.Equal(da, db) {
			t.Errorf("%s differs between two runs with the same time", f)
		}
	}
}

func TestScaffoldRefusesToOverwrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ConfigFileName), []byte("project: mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Scaffold(dir)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("err = %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, ConfigFileName)); string(data) != "project: mine\n" {
		t.Errorf("existing feature_store.yaml was changed: %q", data)
	}
	if _, err := os.Stat(filepath.Join(dir, ScaffoldDefinitions)); err == nil {
		t.Errorf("%s written although the scaffold was refused", ScaffoldDefinitions)
	}
}

func TestScaffoldProjectName(t *testing.T) {
	t.Parallel()
	for dir, want := range map[string]string{"/x/my-repo": "my_repo", "/x/feature_repo": "feature_repo", "/x/9lives": "my_project"} {
		if got := projectName(dir); got != want {
			t.Errorf("projectName(%q) = %q, want %q", dir, got, want)
		}
	}
	if err := ScaffoldWith(t.TempDir(), ScaffoldOptions{Project: "bad name"}); err == nil {
		t.Error("invalid project name accepted")
	}
}

func readParquet(t *testing.T, path string) arrow.Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pf, err := file.NewParquetReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func column(t *testing.T, tbl arrow.Table, name string) arrow.Array {
	t.Helper()
	idx := tbl.Schema().FieldIndices(name)
	if len(idx) != 1 {
		t.Fatalf("no column %s", name)
	}
	col := tbl.Column(idx[0]).Data()
	if len(col.Chunks()) != 1 {
		t.Fatalf("column %s has %d chunks", name, len(col.Chunks()))
	}
	return col.Chunk(0)
}
