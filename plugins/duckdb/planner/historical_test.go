package planner

import (
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/conformance/pit"
	"github.com/larder-dev/larder/host/offlineengine"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// writeRows writes rows (in order) to a Parquet or CSV file with the given DuckDB column
// definitions, through a real DuckDB so the files are what users' tools produce.
func writeRows(t *testing.T, path, format, columns string, rows [][]any) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t (__i INTEGER, " + columns + ")"); err != nil {
		t.Fatal(err)
	}
	if len(rows) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(rows[0])+1), ", ")
		stmt, err := db.Prepare("INSERT INTO t VALUES (" + marks + ")")
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rows {
			if _, err := stmt.Exec(append([]any{i}, r...)...); err != nil {
				t.Fatalf("inserting row %d %v: %v", i, r, err)
			}
		}
		stmt.Close()
	}
	q := fmt.Sprintf("COPY (SELECT * EXCLUDE (__i) FROM t ORDER BY __i) TO '%s' (FORMAT %s)", strings.ReplaceAll(path, "'", "''"), format)
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}

// runHistorical plans r through JSON, as the plugin would, and executes it with access to
// the entity file and the view sources only.
func runHistorical(t *testing.T, r *HistoricalRequest) ([]offlineengine.Column, [][]any, error) {
	t.Helper()
	out, err := PlanHistoricalJSON(mustJSON(t, r))
	if err != nil {
		return nil, nil, err
	}
	paths := []string{}
	if r.Entities.Path != "" {
		paths = append(paths, r.Entities.Path)
	}
	for _, v := range r.Views {
		paths = append(paths, v.Source.Path)
	}
	p, rows, err := executePlan(t, out, offlineengine.Options{Access: offlineengine.Access{Paths: paths}, BatchSize: 7})
	if err != nil {
		return nil, nil, err
	}
	return p.ResultSchema, rows, nil
}

// gen draws the random cases of the property test.
type gen struct{ *rand.Rand }

var epoch = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// ts is one of few hours (so timestamps collide), or null.
func (g gen) ts(nullP float64) *time.Time {
	if g.Float64() < nullP {
		return nil
	}
	t := epoch.Add(time.Duration(g.Intn(12)) * time.Hour)
	return &t
}

func (g gen) maybe(v any) any {
	if g.Intn(8) == 0 {
		return nil
	}
	return v
}

func tsValue(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// TestHistoricalMatchesReference is the property test of spec §9.6: for random entity
// frames and view histories (colliding timestamps, nulls everywhere, TTL edges, created
// timestamps later than events, duplicates, empty inputs), the plan's result equals the
// reference point-in-time join of conformance/pit row for row.
func TestHistoricalMatchesReference(t *testing.T) {
	iterations := 40
	if testing.Short() {
		iterations = 8
	}
	for seed := int64(1); seed <= int64(iterations); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { checkSeed(t, seed) })
	}
}

func checkSeed(t *testing.T, seed int64) {
	g := gen{rand.New(rand.NewSource(seed))}
	dir := t.TempDir()
	size := func(max int) int {
		if g.Intn(6) == 0 {
			return 0 // empty inputs
		}
		return g.Intn(max)
	}

	// Entities: driver (INT64), customer (VARCHAR), timestamp (TIMESTAMP, no zone), label.
	ents := pit.Entities{Columns: []string{"driver_id", "customer", "event_timestamp", "label"}, TimestampColumn: "event_timestamp"}
	for i, n := 0, size(40); i < n; i++ {
		row := []any{g.maybe(int64(g.Intn(5))), g.maybe(fmt.Sprintf("c%d", g.Intn(4))), tsValue(g.ts(0.05)), g.maybe(float64(i) / 4)}
		ents.Rows = append(ents.Rows, row)
		if g.Intn(5) == 0 {
			ents.Rows = append(ents.Rows, row) // exact duplicate entity rows stay one-for-one
		}
	}
	entPath := filepath.Join(dir, "entities.parquet")
	writeRows(t, entPath, "parquet", "driver_id BIGINT, customer VARCHAR, event_timestamp TIMESTAMP, label DOUBLE", ents.Rows)

	ttl := func() time.Duration {
		return []time.Duration{0, 0, time.Hour, 3 * time.Hour}[g.Intn(4)]
	}
	// View "drv": keyed by driver_id, created column, source column renamed by field mapping.
	drv := pit.View{Name: "drv", JoinKeys: []string{"driver_id"}, Features: []string{"conv", "tag"}, TTL: ttl()}
	for i, n := 0, size(60); i < n; i++ {
		drv.Rows = append(drv.Rows, pit.Row{
			Keys: []any{g.maybe(int64(g.Intn(5)))}, EventTS: g.ts(0.1), CreatedTS: g.ts(0.3),
			Values: []any{g.maybe(float64(g.Intn(100)) / 8), g.maybe(fmt.Sprintf("t%d", i))},
		})
	}
	// View "cust": its key "cid" is matched with the entity column "customer" (join_key_map).
	cust := pit.View{Name: "cust", JoinKeys: []string{"customer"}, Features: []string{"n"}, TTL: ttl()}
	for i, n := 0, size(60); i < n; i++ {
		cust.Rows = append(cust.Rows, pit.Row{
			Keys: []any{g.maybe(fmt.Sprintf("c%d", g.Intn(4)))}, EventTS: g.ts(0.1),
			Values: []any{g.maybe(int64(i))},
		})
	}
	// View "glob": entity-less.
	glob := pit.View{Name: "glob", Features: []string{"g"}, TTL: ttl()}
	for i, n := 0, size(10); i < n; i++ {
		glob.Rows = append(glob.Rows, pit.Row{EventTS: g.ts(0.1), CreatedTS: g.ts(0.5), Values: []any{g.maybe(int32(i))}})
	}

	flat := func(v pit.View, withCreated bool) [][]any {
		out := make([][]any, len(v.Rows))
		for i, r := range v.Rows {
			row := append([]any(nil), r.Keys...)
			row = append(row, tsValue(r.EventTS))
			if withCreated {
				row = append(row, tsValue(r.CreatedTS))
			}
			out[i] = append(row, r.Values...)
		}
		return out
	}
	drvPath := filepath.Join(dir, "drv.parquet")
	writeRows(t, drvPath, "parquet", "driver_id BIGINT, ts TIMESTAMPTZ, created TIMESTAMP, src_conv DOUBLE, tag VARCHAR", flat(drv, true))
	custPath := filepath.Join(dir, "cust.parquet")
	writeRows(t, custPath, "parquet", "cid VARCHAR, event_timestamp TIMESTAMP, n BIGINT", flat(cust, false))
	globPath := filepath.Join(dir, "glob.parquet")
	writeRows(t, globPath, "parquet", "ts TIMESTAMP, created TIMESTAMPTZ, g INTEGER", flat(glob, true))

	full := g.Intn(2) == 0
	req := &HistoricalRequest{
		Project: "p",
		Entities: sdk.EntitySource{Path: entPath, FileFormat: "parquet", Columns: []Column{
			{Name: "driver_id", Type: "INT64"}, {Name: "customer", Type: "STRING"},
			{Name: "event_timestamp", Type: "UNIX_TIMESTAMP"}, {Name: "label", Type: "DOUBLE"}}},
		Views: []sdk.HistoricalView{
			{Name: "drv", Source: Source{Path: drvPath, FileFormat: "parquet", TimestampField: "ts", CreatedTimestampColumn: "created",
				FieldMapping: map[string]string{"src_conv": "conv"}},
				JoinKeys: []sdk.HistoricalJoinKey{{Name: "driver_id", Type: "INT64"}},
				Features: []Column{{Name: "conv", Type: "DOUBLE"}, {Name: "tag", Type: "STRING"}}, TTL: drv.TTL.Microseconds()},
			{Name: "cust", Source: Source{Path: custPath, FileFormat: "parquet", TimestampField: "event_timestamp"},
				JoinKeys: []sdk.HistoricalJoinKey{{Name: "cid", Type: "STRING", EntityColumn: "customer"}},
				Features: []Column{{Name: "n", Type: "INT64"}}, TTL: cust.TTL.Microseconds()},
			{Name: "glob", Source: Source{Path: globPath, FileFormat: "parquet", TimestampField: "ts", CreatedTimestampColumn: "created"},
				Features: []Column{{Name: "g", Type: "INT32"}}, TTL: glob.TTL.Microseconds()},
		},
		FullFeatureNames: full,
	}
	wantCols, want, err := pit.ReferenceHistorical(ents, []pit.View{drv, cust, glob}, full)
	if err != nil {
		t.Fatal(err)
	}
	schema, got, err := runHistorical(t, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(schema) != len(wantCols) {
		t.Fatalf("%d result columns, want %d (%v)", len(schema), len(wantCols), wantCols)
	}
	for i, c := range schema {
		if c.Name != wantCols[i] {
			t.Fatalf("result column %d is %q, want %q", i, c.Name, wantCols[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d result rows, want %d", len(got), len(want))
	}
	for i := range want {
		for j := range want[i] {
			if !pit.Equal(want[i][j], got[i][j]) {
				t.Fatalf("row %d column %s: got %#v, want %#v\nentity row %v\ngot row  %v\nwant row %v",
					i, wantCols[j], got[i][j], want[i][j], ents.Rows[i], got[i], want[i])
			}
		}
	}
}

// historicalBase is a small valid request over real files, for the error and CSV tests.
func historicalBase(t *testing.T, entFormat string) *HistoricalRequest {
	dir := t.TempDir()
	entPath := filepath.Join(dir, "entities."+entFormat)
	writeRows(t, entPath, entFormat, "driver_id BIGINT, event_timestamp TIMESTAMP", [][]any{
		{int64(1), epoch.Add(2 * time.Hour)}, {int64(2), epoch.Add(2 * time.Hour)}, {int64(1), epoch.Add(time.Hour)}})
	srcPath := filepath.Join(dir, "stats.parquet")
	writeRows(t, srcPath, "parquet", "driver_id BIGINT, event_timestamp TIMESTAMP, conv_rate FLOAT", [][]any{
		{int64(1), epoch, float32(0.5)}, {int64(1), epoch.Add(2 * time.Hour), float32(0.75)}})
	return &HistoricalRequest{
		Entities: sdk.EntitySource{Path: entPath, FileFormat: entFormat, Columns: []Column{
			{Name: "driver_id", Type: "INT64"}, {Name: "event_timestamp", Type: "UNIX_TIMESTAMP"}}},
		Views: []sdk.HistoricalView{{Name: "stats", Source: Source{Path: srcPath, FileFormat: "parquet", TimestampField: "event_timestamp"},
			JoinKeys: []sdk.HistoricalJoinKey{{Name: "driver_id", Type: "INT64"}},
			Features: []Column{{Name: "conv_rate", Type: "FLOAT"}}}},
	}
}

func TestHistoricalCSVEntitiesAndQuery(t *testing.T) {
	want := [][]any{{int64(1), epoch.Add(2 * time.Hour), float32(0.75)}, {int64(2), epoch.Add(2 * time.Hour), nil}, {int64(1), epoch.Add(time.Hour), float32(0.5)}}
	check := func(t *testing.T, r *HistoricalRequest) {
		_, got, err := runHistorical(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got  %v\nwant %v", got, want)
		}
	}
	t.Run("csv", func(t *testing.T) { check(t, historicalBase(t, "csv")) })
	t.Run("int32 entity column against an int64 join key", func(t *testing.T) {
		r := historicalBase(t, "csv")
		r.Entities.Path = ""
		r.Entities.Query = `SELECT * FROM (VALUES (1::INTEGER, TIMESTAMP '2026-03-01 02:00:00'), (2::INTEGER, TIMESTAMP '2026-03-01 02:00:00'), (1::INTEGER, TIMESTAMP '2026-03-01 01:00:00')) AS t(driver_id, event_timestamp)`
		r.Entities.Columns[0].Type = "INT32"
		_, got, err := runHistorical(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got[0][2], got[1][2], got[2][2]) != "0.75 <nil> 0.5" {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("query", func(t *testing.T) {
		r := historicalBase(t, "csv")
		r.Entities.Path = ""
		r.Entities.Query = `SELECT * FROM (VALUES (1, TIMESTAMP '2026-03-01 02:00:00'), (2, TIMESTAMP '2026-03-01 02:00:00'), (1, TIMESTAMP '2026-03-01 01:00:00')) AS t(driver_id, event_timestamp);`
		check(t, r)
	})
}

func TestHistoricalErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*HistoricalRequest)
		want   string
	}{
		{"missing timestamp column", func(r *HistoricalRequest) { r.Entities.TimestampField = "ts" }, `timestamp column "ts" is not a column`},
		{"timestamp column not a timestamp", func(r *HistoricalRequest) { r.Entities.TimestampField = "driver_id" }, `has type INT64, want UNIX_TIMESTAMP`},
		{"entity type mismatch", func(r *HistoricalRequest) { r.Entities.Columns[0].Type = "STRING" }, `join key "driver_id" has type INT64 but the entity column "driver_id" has type STRING`},
		{"join key without entity column", func(r *HistoricalRequest) { r.Views[0].JoinKeys[0].EntityColumn = "customer" }, `needs the entity column "customer"`},
		{"feature collides with entity column", func(r *HistoricalRequest) { r.Views[0].Features[0].Name = "driver_id" }, `output column "driver_id" is also an entity column`},
		{"feature named twice", func(r *HistoricalRequest) {
			r.Views = append(r.Views, r.Views[0])
			r.Views[1].Name = "other"
		}, `output column "conv_rate" is also feature conv_rate of stats`},
		{"reserved entity column", func(r *HistoricalRequest) { r.Entities.Columns[0].Name = colRow }, `is reserved`},
		{"no entity source", func(r *HistoricalRequest) { r.Entities.Path = "" }, `neither path nor query`},
		{"bad format", func(r *HistoricalRequest) { r.Views[0].Source.FileFormat = "orc" }, `"orc" is not supported`},
		{"negative ttl", func(r *HistoricalRequest) { r.Views[0].TTL = -1 }, `negative`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := historicalBase(t, "parquet")
			tc.mutate(r)
			_, err := PlanHistorical(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !errors.Is(err, abi.ErrBadArgument) {
				t.Errorf("error %v is not BAD_ARGUMENT", err)
			}
		})
	}
	t.Run("full names tell colliding features apart", func(t *testing.T) {
		r := historicalBase(t, "parquet")
		r.Views = append(r.Views, r.Views[0])
		r.Views[1].Name, r.Views[1].NameToUse = "other", "alias"
		r.FullFeatureNames = true
		schema, rows, err := runHistorical(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if schema[2].Name != "stats__conv_rate" || schema[3].Name != "alias__conv_rate" || len(rows) != 3 {
			t.Fatalf("schema %v, %d rows", schema, len(rows))
		}
	})
}

func FuzzPlanHistoricalJSON(f *testing.F) {
	f.Add([]byte(`{"entities":{"path":"/e.parquet","columns":[{"name":"k","type":"INT64"},{"name":"event_timestamp","type":"UNIX_TIMESTAMP"}]},
		"views":[{"name":"v","source":{"path":"/v.parquet","timestamp_field":"t\"","field_mapping":{"x":"f"}},"join_keys":[{"name":"k","type":"INT64"}],"features":[{"name":"f","type":"FLOAT_LIST"}],"ttl":5}]}`))
	f.Add([]byte(`{"entities":{"query":"SELECT 1","timestamp_field":"a\"b","columns":[{"name":"a\"b","type":"UNIX_TIMESTAMP"}]},"views":[{"name":"g","source":{"path":"x","file_format":"csv","timestamp_field":"ts"},"features":[{"name":"a\"b","type":"INT32"}]}],"full_feature_names":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := PlanHistoricalJSON(data)
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
