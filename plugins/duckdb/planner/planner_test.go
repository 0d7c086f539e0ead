package planner

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/offlineengine"
)

// The planner is pure, but its plans are only right if DuckDB agrees: these tests run them
// through the host's real engine (the same sandbox materialization uses) over real files.

func write(t *testing.T, path, format, query string) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := fmt.Sprintf("COPY (%s) TO '%s' (FORMAT %s)", query, strings.ReplaceAll(path, "'", "''"), format)
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}

func micros(s string) int64 {
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return ts.UnixMicro()
}

// run plans r, sends the plan through JSON exactly as the plugin would, executes it with
// access to the source path only, and returns the rows sorted by their first column.
func run(t *testing.T, r *PullLatestRequest) [][]any {
	t.Helper()
	out, err := PlanPullLatestJSON(mustJSON(t, r))
	if err != nil {
		t.Fatal(err)
	}
	_, rows, err := executePlan(t, out, offlineengine.Options{Access: offlineengine.Access{Paths: []string{r.Source.Path}}})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(rows, func(i, j int) bool { return fmt.Sprint(rows[i][0]) < fmt.Sprint(rows[j][0]) })
	return rows
}

// executePlan decodes a plan's JSON as the host does (a plan it rejects fails the test),
// executes it with opts and returns the decoded plan and its rows.
func executePlan(t *testing.T, planJSON []byte, opts offlineengine.Options) (*offlineengine.Plan, [][]any, error) {
	t.Helper()
	p, err := offlineengine.DecodePlan(planJSON)
	if err != nil {
		t.Fatalf("the host rejects the plan: %v\n%s", err, planJSON)
	}
	var rows [][]any
	_, err = offlineengine.Execute(context.Background(), p, opts, func(b *offlineengine.Batch) error {
		for _, row := range b.Rows {
			rows = append(rows, append([]any(nil), row...))
		}
		return nil
	})
	if err != nil {
		return p, nil, fmt.Errorf("executing the plan: %w\n%s", err, p.SQL)
	}
	return p, rows, nil
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ts(s string) time.Time { return time.UnixMicro(micros(s)).UTC() }

// A small history of three drivers, with the cases of spec §9.4 in it.
const history = `SELECT * FROM (VALUES
	(1001, TIMESTAMPTZ '2021-04-12 08:00:00+00', TIMESTAMPTZ '2021-04-12 08:00:00+00', 0.1, 10),
	(1001, TIMESTAMPTZ '2021-04-12 10:00:00+00', TIMESTAMPTZ '2021-04-12 10:00:00+00', 0.2, 20),
	(1001, TIMESTAMPTZ '2021-04-12 12:00:00+00', TIMESTAMPTZ '2021-04-12 12:00:00+00', 0.3, 30), -- at end: excluded
	(1002, TIMESTAMPTZ '2021-04-12 09:00:00+00', TIMESTAMPTZ '2021-04-12 11:00:00+00', 0.5, 50), -- same event ts, later created: wins
	(1002, TIMESTAMPTZ '2021-04-12 09:00:00+00', TIMESTAMPTZ '2021-04-12 09:30:00+00', 0.4, 40),
	(1002, TIMESTAMPTZ '2021-04-12 09:00:00+00', NULL, 0.45, 45),                               -- null created: lowest
	(1003, TIMESTAMPTZ '2021-04-12 06:00:00+00', NULL, 0.6, 60),                                -- before start: excluded
	(1003, NULL, NULL, 0.7, 70),                                                                -- null event ts: skipped
	(NULL, TIMESTAMPTZ '2021-04-12 09:00:00+00', NULL, 0.8, 80),                                -- null key: skipped
	(1004, TIMESTAMPTZ '2021-04-12 07:00:00+00', NULL, NULL, 90)                                -- at start: included, null feature
) AS t(driver_id, event_timestamp, created, conv_rate, trips)`

func baseRequest(path, format string) *PullLatestRequest {
	return &PullLatestRequest{
		Project: "p", View: "driver_hourly_stats",
		Source:         Source{Path: path, FileFormat: format, TimestampField: "event_timestamp", CreatedTimestampColumn: "created"},
		JoinKeys:       []Column{{Name: "driver_id", Type: "INT64"}},
		FeatureColumns: []Column{{Name: "conv_rate", Type: "FLOAT"}, {Name: "trips", Type: "INT32"}},
		Start:          micros("2021-04-12T07:00:00Z"), End: micros("2021-04-12T12:00:00Z"),
	}
}

func TestPullLatestSemantics(t *testing.T) {
	for _, format := range []string{"parquet", "csv"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stats."+format)
			write(t, path, format, history)
			got := run(t, baseRequest(path, format))
			want := [][]any{
				{int64(1001), ts("2021-04-12T10:00:00Z"), ts("2021-04-12T10:00:00Z"), float32(0.2), int32(20)},
				{int64(1002), ts("2021-04-12T09:00:00Z"), ts("2021-04-12T11:00:00Z"), float32(0.5), int32(50)},
				{int64(1004), ts("2021-04-12T07:00:00Z"), nil, nil, int32(90)},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestPullLatestLastRowWinsRemainingTies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ties.parquet")
	write(t, path, "parquet", `SELECT 1::BIGINT AS id, TIMESTAMP '2021-01-01' AS ts, i AS v FROM range(1000) t(i) ORDER BY i`)
	r := &PullLatestRequest{Source: Source{Path: path, FileFormat: "parquet", TimestampField: "ts"},
		JoinKeys: []Column{{Name: "id", Type: "INT64"}}, FeatureColumns: []Column{{Name: "v", Type: "INT64"}},
		Start: micros("2020-01-01T00:00:00Z"), End: micros("2022-01-01T00:00:00Z")}
	got := run(t, r)
	if len(got) != 1 || got[0][3] != int64(999) {
		t.Fatalf("got %v, want the last row (v=999)", got)
	}
}

func TestPullLatestFieldMappingAndHostileNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapped.parquet")
	// Source columns whose names would break naive SQL.
	write(t, path, "parquet", `SELECT 7::BIGINT AS "id""; DROP TABLE x; --", TIMESTAMP '2021-01-01 00:00:00' AS "when",
		'a' AS "Robert'); --", [1.5, 2.5] AS "vec"`)
	r := &PullLatestRequest{
		Source: Source{Path: path, FileFormat: "parquet", TimestampField: "event_ts",
			FieldMapping: map[string]string{`id"; DROP TABLE x; --`: "driver_id", "when": "event_ts", "Robert'); --": "name", "vec": "embedding"}},
		JoinKeys:       []Column{{Name: "driver_id", Type: "INT64"}},
		FeatureColumns: []Column{{Name: "name", Type: "STRING"}, {Name: "embedding", Type: "DOUBLE_LIST"}},
		Start:          micros("2020-01-01T00:00:00Z"), End: micros("2022-01-01T00:00:00Z"),
	}
	got := run(t, r)
	want := [][]any{{int64(7), ts("2021-01-01T00:00:00Z"), nil, "a", []float64{1.5, 2.5}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestPullLatestNoJoinKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "global.parquet")
	write(t, path, "parquet", history)
	r := baseRequest(path, "parquet")
	r.JoinKeys = nil
	got := run(t, r)
	if len(got) != 1 || got[0][0] != ts("2021-04-12T10:00:00Z") {
		t.Fatalf("got %v, want the single latest row of the window", got)
	}
}

func TestPlanPullLatestRejects(t *testing.T) {
	cases := []struct {
		name string
		edit func(r *PullLatestRequest)
		want string
	}{
		{"empty window", func(r *PullLatestRequest) { r.End = r.Start }, "must be after start"},
		{"format", func(r *PullLatestRequest) { r.Source.FileFormat = "delta" }, `file_format "delta"`},
		{"no path", func(r *PullLatestRequest) { r.Source.Path = "" }, "source.path is empty"},
		{"no timestamp", func(r *PullLatestRequest) { r.Source.TimestampField = "" }, "timestamp_field is empty"},
		{"type", func(r *PullLatestRequest) { r.FeatureColumns[0].Type = "DECIMAL" }, `unknown type "DECIMAL"`},
		{"status type", func(r *PullLatestRequest) { r.FeatureColumns[0].Type = "STATUS" }, "cannot be read from a file"},
		{"empty name", func(r *PullLatestRequest) { r.FeatureColumns[0].Name = "" }, "feature_columns[0].name is empty"},
		{"nul", func(r *PullLatestRequest) { r.FeatureColumns[0].Name = "a\x00b" }, "NUL"},
		{"reserved", func(r *PullLatestRequest) { r.FeatureColumns[0].Name = "__event_ts" }, "reserved column"},
		{"duplicate", func(r *PullLatestRequest) { r.FeatureColumns[1].Name = "driver_id" }, `"driver_id" is also join_keys[0]`},
		{"mapping collision", func(r *PullLatestRequest) {
			r.Source.FieldMapping = map[string]string{"a": "conv_rate", "b": "conv_rate"}
		}, `maps both "a" and "b" to "conv_rate"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := baseRequest("/data/x.parquet", "parquet")
			c.edit(r)
			_, err := PlanPullLatest(r)
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, abi.ErrBadArgument) {
				t.Fatalf("err = %v, want a bad request containing %q", err, c.want)
			}
		})
	}
	if _, err := PlanPullLatestJSON([]byte("{")); !errors.Is(err, abi.ErrBadArgument) {
		t.Fatalf("bad JSON: err = %v", err)
	}
}

// FuzzPlanPullLatestJSON checks that whatever the request, the planner either refuses it
// or returns a plan the host accepts, and never panics.
func FuzzPlanPullLatestJSON(f *testing.F) {
	f.Add(mustJSONf(baseRequest("/d/x.parquet", "parquet")))
	f.Add([]byte(`{"source":{"path":"a","timestamp_field":"t\"","field_mapping":{"x":"t\""}},"join_keys":[{"name":"k","type":"STRING_LIST"}],"start":1,"end":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := PlanPullLatestJSON(data)
		if err != nil {
			if !errors.Is(err, abi.ErrBadArgument) {
				t.Fatalf("error not marked as a bad request: %v", err)
			}
			return
		}
		if _, err := offlineengine.DecodePlan(out); err != nil {
			t.Fatalf("planner produced a plan the host rejects: %v\n%s", err, out)
		}
	})
}

func mustJSONf(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
