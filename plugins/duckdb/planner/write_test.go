package planner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/offlineengine"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// runPullAll plans r through JSON, as the plugin would, and executes the plan.
func runPullAll(t *testing.T, r *PullAllRequest) [][]any {
	t.Helper()
	plan, err := PlanPullAll(r)
	if err != nil {
		t.Fatal(err)
	}
	_, rows, err := executePlan(t, mustJSON(t, plan), offlineengine.Options{Access: offlineengine.Access{Paths: []string{r.Source.Path}}})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func pullAllRequest(path, format string, start, end *int64) *PullAllRequest {
	b := baseRequest(path, format)
	return &PullAllRequest{Project: b.Project, View: b.View, Source: b.Source, JoinKeys: b.JoinKeys,
		FeatureColumns: b.FeatureColumns, Start: start, End: end}
}

func ptr(v int64) *int64 { return &v }

func TestPullAllReturnsEveryRowInTheWindow(t *testing.T) {
	for _, format := range []string{"parquet", "csv"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stats."+format)
			write(t, path, format, history)
			trips := func(rows [][]any) []int32 {
				var out []int32
				for _, r := range rows {
					out = append(out, r[4].(int32))
				}
				sortInt32(out)
				return out
			}
			// [07:00, 12:00): every row in the window, duplicates and the null-key row
			// included; the null event timestamp and the rows at 06:00 and 12:00 left out.
			got := trips(runPullAll(t, pullAllRequest(path, format, ptr(micros("2021-04-12T07:00:00Z")), ptr(micros("2021-04-12T12:00:00Z")))))
			if want := []int32{10, 20, 40, 45, 50, 80, 90}; !reflect.DeepEqual(got, want) {
				t.Errorf("window: trips %v, want %v", got, want)
			}
			if got, want := trips(runPullAll(t, pullAllRequest(path, format, nil, nil))), []int32{10, 20, 30, 40, 45, 50, 60, 80, 90}; !reflect.DeepEqual(got, want) {
				t.Errorf("unbounded: trips %v, want %v", got, want)
			}
			if got, want := trips(runPullAll(t, pullAllRequest(path, format, nil, ptr(micros("2021-04-12T08:00:00Z"))))), []int32{60, 90}; !reflect.DeepEqual(got, want) {
				t.Errorf("end only: trips %v, want %v", got, want)
			}
		})
	}
	if _, err := PlanPullAll(pullAllRequest("/x.parquet", "parquet", ptr(2), ptr(1))); !errors.Is(err, abi.ErrBadArgument) {
		t.Errorf("end before start: %v", err)
	}
}

func sortInt32(s []int32) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// writeRequest describes path with the host's engine, as the host does before it plans a
// write, and asks to append the given pushed columns.
func writeRequest(t *testing.T, path, format string, mapping map[string]string, pushed ...Column) (*WriteRequest, []offlineengine.SourceColumn) {
	t.Helper()
	from := "read_parquet($1)"
	if format == "csv" {
		from = "read_csv_auto($1)"
	}
	cols, err := offlineengine.DescribeSource(context.Background(), from, []any{path},
		offlineengine.Options{Access: offlineengine.Access{Paths: []string{path}}})
	if err != nil {
		t.Fatal(err)
	}
	r := &WriteRequest{Project: "p", View: "v",
		Source: Source{Name: "stats", Path: path, FileFormat: format, TimestampField: "event_timestamp", FieldMapping: mapping},
		Rows:   sdk.PushedRows{Relation: offlineengine.RowsRelation, RowColumn: offlineengine.RowIndexColumn, Count: 1, Columns: pushed}}
	for _, c := range cols {
		r.SourceColumns = append(r.SourceColumns, sdk.SourceColumn{Name: c.Name, EngineType: c.EngineType})
	}
	return r, cols
}

// execWrite sends the plan through JSON and runs it with the host's write mode.
func execWrite(t *testing.T, r *WriteRequest, cols []offlineengine.SourceColumn, rel *offlineengine.Relation) error {
	t.Helper()
	plan, err := PlanWrite(r)
	if err != nil {
		return err
	}
	p, err := offlineengine.DecodeWritePlan(mustJSON(t, plan))
	if err != nil {
		t.Fatalf("the host rejects the plan: %v", err)
	}
	_, err = offlineengine.ExecuteWrite(context.Background(), p, rel,
		offlineengine.WriteTarget{Path: r.Source.Path, Format: r.Source.FileFormat, Columns: cols}, offlineengine.Options{})
	return err
}

func TestPlanWriteAppendsThroughFieldMappingAndCasts(t *testing.T) {
	for _, format := range []string{"parquet", "csv"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stats."+format)
			write(t, path, format, history)
			// The client pushes "conv" for the source's conv_rate (field_mapping
			// conv_rate → conv) and the other columns by their source names, in another
			// order, typed more narrowly than the file.
			pushed := []Column{{Name: "trips", Type: "INT32"}, {Name: "conv", Type: "FLOAT"}, {Name: "driver_id", Type: "INT64"},
				{Name: "created", Type: "UNIX_TIMESTAMP"}, {Name: "event_timestamp", Type: "UNIX_TIMESTAMP"}}
			r, cols := writeRequest(t, path, format, map[string]string{"conv_rate": "conv"}, pushed...)
			at := time.Date(2021, 4, 13, 9, 0, 0, 0, time.UTC)
			rel := &offlineengine.Relation{Columns: []offlineengine.Column{{Name: "trips", Type: abi.TypeInt32},
				{Name: "conv", Type: abi.TypeFloat}, {Name: "driver_id", Type: abi.TypeInt64},
				{Name: "created", Type: abi.TypeUnixTimestamp}, {Name: "event_timestamp", Type: abi.TypeUnixTimestamp}},
				Rows: [][]any{{int32(99), float32(0.5), int64(1001), nil, at}, {int32(98), float32(0.25), int64(1005), at, at}}}
			if err := execWrite(t, r, cols, rel); err != nil {
				t.Fatal(err)
			}
			// Pull-latest now sees the pushed row for 1001 and the new driver 1005.
			req := baseRequest(path, format)
			req.End = micros("2021-04-14T00:00:00Z")
			got := run(t, req)
			want := [][]any{
				{int64(1001), at, nil, float32(0.5), int32(99)},
				{int64(1002), ts("2021-04-12T09:00:00Z"), ts("2021-04-12T11:00:00Z"), float32(0.5), int32(50)},
				{int64(1004), ts("2021-04-12T07:00:00Z"), nil, nil, int32(90)},
				{int64(1005), at, at, float32(0.25), int32(98)},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("after the write:\ngot  %v\nwant %v", got, want)
			}
		})
	}
}

// TestPlanWritePushedRowWinsATieWithAnOldRow: the pushed rows go after the old ones, so
// in Parquet, where the last row wins a remaining tie (spec §9.4), a push can correct a
// value at an existing timestamp.
func TestPlanWritePushedRowWinsATieWithAnOldRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.parquet")
	write(t, path, "parquet", history)
	r, cols := writeRequest(t, path, "parquet", nil, Column{Name: "driver_id", Type: "INT64"}, Column{Name: "event_timestamp", Type: "UNIX_TIMESTAMP"},
		Column{Name: "created", Type: "UNIX_TIMESTAMP"}, Column{Name: "conv_rate", Type: "DOUBLE"}, Column{Name: "trips", Type: "INT32"})
	rel := &offlineengine.Relation{Columns: []offlineengine.Column{{Name: "driver_id", Type: abi.TypeInt64},
		{Name: "event_timestamp", Type: abi.TypeUnixTimestamp}, {Name: "created", Type: abi.TypeUnixTimestamp},
		{Name: "conv_rate", Type: abi.TypeDouble}, {Name: "trips", Type: abi.TypeInt32}},
		Rows: [][]any{{int64(1001), ts("2021-04-12T10:00:00Z"), ts("2021-04-12T10:00:00Z"), 0.9, int32(21)}}}
	if err := execWrite(t, r, cols, rel); err != nil {
		t.Fatal(err)
	}
	got := run(t, baseRequest(path, "parquet"))
	if got[0][4] != int32(21) {
		t.Errorf("driver 1001 after pushing a row tying the latest one: %v, want trips 21", got[0])
	}
}

func TestPlanWriteRejectsColumnsThatDoNotMatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.parquet")
	write(t, path, "parquet", history)
	all := []Column{{Name: "driver_id", Type: "INT64"}, {Name: "event_timestamp", Type: "UNIX_TIMESTAMP"},
		{Name: "created", Type: "UNIX_TIMESTAMP"}, {Name: "conv_rate", Type: "DOUBLE"}, {Name: "trips", Type: "INT32"}}
	for _, tc := range []struct {
		name    string
		mapping map[string]string
		pushed  []Column
		want    string
	}{
		{name: "unknown", pushed: append(append([]Column(nil), all...), Column{Name: "speed", Type: "DOUBLE"}),
			want: `pushed column "speed" is not in source "stats"`},
		{name: "missing", pushed: all[:3], want: `the push lacks columns conv_rate, trips of source "stats"`},
		{name: "missing mapped", mapping: map[string]string{"trips": "avg_daily_trips"}, pushed: all[:4],
			want: `lacks column trips (or avg_daily_trips)`},
		{name: "twice", mapping: map[string]string{"trips": "avg_daily_trips"},
			pushed: append(append([]Column(nil), all...), Column{Name: "avg_daily_trips", Type: "INT32"}),
			want:   `pushed columns "trips" and "avg_daily_trips" are both written to source column "trips"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := writeRequest(t, path, "parquet", tc.mapping, tc.pushed...)
			_, err := PlanWrite(r)
			if !errors.Is(err, abi.ErrBadArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a bad-argument error containing %q", err, tc.want)
			}
		})
	}
	r, _ := writeRequest(t, path, "parquet", nil, all...)
	r.SourceColumns[0].EngineType = "BIGINT); COPY x TO 'y'; --"
	if _, err := PlanWrite(r); !errors.Is(err, abi.ErrBadArgument) {
		t.Errorf("an engine type with a statement in it: %v", err)
	}
}

// TestPlanWriteFailedCastLeavesTheFile: a pushed value the source column cannot hold fails
// the write in the engine, and the file keeps its bytes.
func TestPlanWriteFailedCastLeavesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.parquet")
	write(t, path, "parquet", `SELECT 1::BIGINT AS driver_id, TIMESTAMP '2021-01-01' AS event_timestamp, 3::TINYINT AS trips`)
	before, _ := os.ReadFile(path)
	r, cols := writeRequest(t, path, "parquet", nil, Column{Name: "driver_id", Type: "INT64"},
		Column{Name: "event_timestamp", Type: "UNIX_TIMESTAMP"}, Column{Name: "trips", Type: "INT32"})
	rel := &offlineengine.Relation{Columns: []offlineengine.Column{{Name: "driver_id", Type: abi.TypeInt64},
		{Name: "event_timestamp", Type: abi.TypeUnixTimestamp}, {Name: "trips", Type: abi.TypeInt32}},
		Rows: [][]any{{int64(2), time.Now().UTC(), int32(300)}}}
	err := execWrite(t, r, cols, rel)
	if !errors.Is(err, offlineengine.ErrValue) {
		t.Fatalf("err = %v, want ErrValue", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the file changed")
	}
}

func TestPlanWriteJSONShape(t *testing.T) {
	// The request as spec §9.9 spells it decodes into the SDK's types.
	var r WriteRequest
	in := `{"project":"p","view":"v","source":{"name":"s","path":"/d/s.parquet","file_format":"parquet","timestamp_field":"ts",
		"created_timestamp_column":"","field_mapping":{}},"source_columns":[{"name":"id","engine_type":"BIGINT"},{"name":"ts","engine_type":"TIMESTAMPTZ"}],
		"rows":{"relation":"__larder_rows","row_column":"__row","count":1,"columns":[{"name":"id","type":"INT64"},{"name":"ts","type":"UNIX_TIMESTAMP"}]}}`
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	p, err := PlanWrite(&r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.SQL, `CAST(r."ts" AS TIMESTAMPTZ) AS "ts"`) || len(p.Params) != 1 || p.Params[0].Value != "/d/s.parquet" {
		t.Errorf("plan %+v", p)
	}
}
