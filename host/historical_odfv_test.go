package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/fixturebuild"
	"github.com/larder-dev/larder/host/offlineengine"
)

// Historical retrieval with on-demand feature views: the example ODFVs run over the joined
// batches, checked row for row against the formula computed natively in Go over the same
// joined rows (a plain retrieval of the source feature).

// histODFVRepo is the scaffolded repo with the ODFV definitions of odfvYAML (module and
// function as given), applied; historical retrieval needs no materialization.
func histODFVRepo(t *testing.T, module, function string) *testRepo {
	t.Helper()
	tr := newTestRepo(t)
	writeODFVDefs(t, tr, module, function)
	if _, err := tr.fs.Apply(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	return tr
}

// histODFVEntities writes n entity rows to a Parquet file: source rows' drivers half an
// hour after a source timestamp, a few unknown drivers, and request values with nulls.
func histODFVEntities(t *testing.T, tr *testRepo, dir string, n int) string {
	t.Helper()
	p := filepath.Join(dir, "entities.parquet")
	data := sqlQuote(tr.path("data/driver_stats.parquet"))
	duckExec(t, fmt.Sprintf(`COPY (
		SELECT CASE WHEN i %% 17 = 3 THEN 999999 ELSE s.driver_id END AS driver_id,
			s.event_timestamp + INTERVAL 30 MINUTE AS event_timestamp,
			CASE WHEN i %% 11 = 5 THEN NULL ELSE (i * 37) %% 2001 - 1000 END::BIGINT AS val_to_add,
			CASE WHEN i %% 13 = 7 THEN NULL ELSE i %% 50 END::BIGINT AS val_to_add_2,
			i AS label
		FROM (SELECT *, row_number() OVER (ORDER BY event_timestamp, driver_id) AS i FROM read_parquet(%s)) s
		WHERE i <= %d ORDER BY i
	) TO %s (FORMAT parquet)`, data, n, sqlQuote(p)))
	return p
}

// nativeConvRateCell is the example ODFV's formula over one joined row: the FLOAT feature
// widened, plus the request value; null when either is null.
func nativeConvRateCell(conv, add any) any {
	c, ok := conv.(float32)
	a, ok2 := add.(int64)
	if !ok || !ok2 {
		return nil
	}
	return float64(c) + float64(a)
}

func sameCell(got, want any) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	g, ok := got.(float64)
	w, ok2 := want.(float64)
	if ok && ok2 {
		return math.Float64bits(g) == math.Float64bits(w)
	}
	return got == want
}

func parquetColumns(t *testing.T, path string) []string {
	t.Helper()
	var names []string
	for _, r := range duckRows(t, `SELECT name FROM parquet_schema(`+sqlQuote(path)+`) WHERE num_children IS NULL OR num_children = 0`) {
		names = append(names, r[0].(string))
	}
	return names
}

func TestHistoricalODFV(t *testing.T) {
	for _, plugin := range []string{"odfv_conv_rate_rust", "odfv_conv_rate_go"} {
		t.Run(plugin, func(t *testing.T) {
			tr := histODFVRepo(t, exampleODFV(t, plugin), "")
			ctx := context.Background()
			dir := t.TempDir()
			const n = 300
			ents := histODFVEntities(t, tr, dir, n)
			// Small batches: the stage runs on several batches of one retrieval.
			engine := offlineengine.Options{BatchSize: 64}

			// The baseline: the source feature over the same entity rows, plainly.
			base := filepath.Join(dir, "base.parquet")
			if _, err := tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{EntitiesPath: ents, Engine: engine,
				Features: []string{"driver_hourly_stats:conv_rate"}}, base); err != nil {
				t.Fatal(err)
			}
			baseRows := duckRows(t, `SELECT val_to_add, val_to_add_2, conv_rate FROM read_parquet(`+sqlQuote(base)+`)`)
			if len(baseRows) != n {
				t.Fatalf("baseline has %d rows, want %d", len(baseRows), n)
			}
			// want1/want2 are the native outputs per row.
			want1, want2 := make([]any, n), make([]any, n)
			var computed, nulls int
			for i, r := range baseRows {
				want1[i], want2[i] = nativeConvRateCell(r[2], r[0]), nativeConvRateCell(r[2], r[1])
				if want1[i] != nil {
					computed++
				} else {
					nulls++
				}
			}
			if computed < n/2 || nulls < 20 {
				t.Fatalf("%d computed and %d null rows: the data does not exercise both", computed, nulls)
			}
			check := func(t *testing.T, out string, col1, col2 string) {
				t.Helper()
				got := duckRows(t, `SELECT `+col1+`, `+col2+` FROM read_parquet(`+sqlQuote(out)+`)`)
				if len(got) != n {
					t.Fatalf("%d rows, want %d", len(got), n)
				}
				for i := range got {
					if !sameCell(got[i][0], want1[i]) || !sameCell(got[i][1], want2[i]) {
						t.Fatalf("row %d: %s, %s = %v, %v; native %v, %v", i, col1, col2, got[i][0], got[i][1], want1[i], want2[i])
					}
				}
			}

			// ODFV outputs only: the hidden reads are dropped, request data stays (it is
			// part of the entity rows).
			out := filepath.Join(dir, "odfv.parquet")
			res, err := tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{EntitiesPath: ents, Engine: engine,
				Features: []string{"transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2"}}, out)
			if err != nil {
				t.Fatal(err)
			}
			const entCols = "driver_id,event_timestamp,val_to_add,val_to_add_2,label"
			if got := strings.Join(parquetColumns(t, out), ","); got != entCols+",conv_rate_plus_val1,conv_rate_plus_val2" {
				t.Fatalf("columns %s", got)
			}
			if res.Rows != n || len(res.Columns) != 7 || res.Columns[5].Name != "conv_rate_plus_val1" || res.Columns[5].Type.String() != "DOUBLE" {
				t.Fatalf("result %d rows, columns %v", res.Rows, res.Columns)
			}
			check(t, out, "conv_rate_plus_val1", "conv_rate_plus_val2")

			// A feature service mixing a view's feature and an ODFV, full names.
			out = filepath.Join(dir, "svc.parquet")
			if _, err := tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{EntitiesPath: ents, Engine: engine,
				FeatureService: "odfv_service", FullFeatureNames: true}, out); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(parquetColumns(t, out), ","); got != entCols+",driver_hourly_stats__conv_rate,transformed_conv_rate__conv_rate_plus_val1,transformed_conv_rate__conv_rate_plus_val2" {
				t.Fatalf("feature service columns %s", got)
			}
			check(t, out, "transformed_conv_rate__conv_rate_plus_val1", "transformed_conv_rate__conv_rate_plus_val2")
			convs := duckRows(t, `SELECT driver_hourly_stats__conv_rate FROM read_parquet(`+sqlQuote(out)+`)`)
			for i := range convs {
				if convs[i][0] != baseRows[i][2] {
					t.Fatalf("row %d: conv_rate next to the ODFV is %v, plainly %v", i, convs[i][0], baseRows[i][2])
				}
			}

			// Plain features of another view, a write-time ODFV (computed from its sources
			// offline, where nothing stores it) and the default batch size.
			out = filepath.Join(dir, "mixed.parquet")
			if _, err := tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{EntitiesPath: ents, FullFeatureNames: true,
				Features: []string{"conv_rate_stored:conv_rate_plus_val1", "driver_hourly_stats:avg_daily_trips", "transformed_conv_rate:conv_rate_plus_val2"}}, out); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(parquetColumns(t, out), ","); got != entCols+",driver_hourly_stats__avg_daily_trips,conv_rate_stored__conv_rate_plus_val1,transformed_conv_rate__conv_rate_plus_val2" {
				t.Fatalf("mixed columns %s", got)
			}
			check(t, out, "conv_rate_stored__conv_rate_plus_val1", "transformed_conv_rate__conv_rate_plus_val2")
		})
	}
}

func TestHistoricalODFVErrors(t *testing.T) {
	tr := histODFVRepo(t, exampleODFV(t, "odfv_conv_rate_rust"), "")
	ctx := context.Background()
	dir := t.TempDir()
	ents := histODFVEntities(t, tr, dir, 50)
	noReq := filepath.Join(dir, "noreq.parquet")
	duckExec(t, `COPY (SELECT driver_id, event_timestamp, val_to_add FROM read_parquet(`+sqlQuote(ents)+`)) TO `+sqlQuote(noReq)+` (FORMAT parquet)`)
	strReq := filepath.Join(dir, "strreq.parquet")
	duckExec(t, `COPY (SELECT driver_id, event_timestamp, val_to_add::VARCHAR AS val_to_add, val_to_add_2 FROM read_parquet(`+sqlQuote(ents)+`)) TO `+sqlQuote(strReq)+` (FORMAT parquet)`)
	clash := filepath.Join(dir, "clash.parquet")
	duckExec(t, `COPY (SELECT *, 1.0 AS conv_rate_plus_val1 FROM read_parquet(`+sqlQuote(ents)+`)) TO `+sqlQuote(clash)+` (FORMAT parquet)`)
	odfv := []string{"transformed_conv_rate:conv_rate_plus_val1"}
	for _, tc := range []struct {
		name string
		req  HistoricalRequest
		kind ErrorKind
		want string
	}{
		{"missing request column", HistoricalRequest{EntitiesPath: noReq, Features: odfv}, Unprocessable,
			`missing request data ["val_to_add_2"]: the requested on-demand feature views read them from the entity rows, which have columns ["driver_id", "event_timestamp", "val_to_add"]`},
		{"request column of the wrong type", HistoricalRequest{EntitiesPath: strReq, Features: odfv}, Unprocessable,
			`reads "val_to_add" as INT64, but the entity column "val_to_add" has type STRING`},
		{"unknown output", HistoricalRequest{EntitiesPath: ents, Features: []string{"driver_hourly_stats:conv_rate", "transformed_conv_rate:nope"}}, NotFound,
			`features[1]: feature "nope" not found in on-demand feature view "transformed_conv_rate"`},
		{"unknown plain feature next to an ODFV", HistoricalRequest{EntitiesPath: ents, Features: []string{"transformed_conv_rate:conv_rate_plus_val1", "driver_hourly_stats:nope"}}, NotFound,
			`features[1]: feature "nope" not found`},
		{"requested twice", HistoricalRequest{EntitiesPath: ents, Features: []string{odfv[0], odfv[0]}}, BadRequest, "requested twice"},
		{"name collision", HistoricalRequest{EntitiesPath: ents, Features: []string{odfv[0], "conv_rate_stored:conv_rate_plus_val1"}}, BadRequest,
			`duplicate column names ["conv_rate_plus_val1"]`},
		{"collision with an entity column", HistoricalRequest{EntitiesPath: clash, Features: odfv}, BadRequest,
			`duplicate column names ["conv_rate_plus_val1"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "out.parquet")
			_, err := tr.fs.GetHistoricalFeatures(ctx, tc.req, out)
			re, ok := AsRequestError(err)
			if !ok || re.Kind != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a %v error containing %q", err, tc.kind, tc.want)
			}
			noOutput(t, dir, out)
		})
	}

	// No entity rows: the output still has every column (the stage opens it at the end).
	empty := filepath.Join(dir, "empty.parquet")
	duckExec(t, `COPY (SELECT * FROM read_parquet(`+sqlQuote(ents)+`) LIMIT 0) TO `+sqlQuote(empty)+` (FORMAT parquet)`)
	out := filepath.Join(dir, "empty-out.parquet")
	res, err := tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{EntitiesPath: empty, Features: odfv}, out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(parquetColumns(t, out), ","); res.Rows != 0 || got != "driver_id,event_timestamp,val_to_add,val_to_add_2,label,conv_rate_plus_val1" {
		t.Fatalf("empty result: %d rows, columns %s", res.Rows, got)
	}
}

// noOutput fails when a failed retrieval left its output or a temporary file behind.
func noOutput(t *testing.T, dir, out string) {
	t.Helper()
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed retrieval left %s behind", out)
	}
	for _, n := range fileNames(t, dir) {
		if strings.HasSuffix(n, ".tmp") {
			t.Fatalf("a failed retrieval left the temporary file %s", n)
		}
	}
}

// A transformation that misbehaves (the xform fixture, on request: one ODFV per
// behaviour) fails the retrieval with an error naming the ODFV, the rows and the problem,
// and leaves no output.
func TestHistoricalODFVHostilePlugin(t *testing.T) {
	fixtures, err := fixturebuild.BuildFixtures()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		function string
		want     string
		request  bool // a client mistake (the plugin said BAD_ARGUMENT)
	}{
		{"wrong_type", `output column "conv_rate_plus_val1" has type`, false},
		{"short_rows", "conv_rate_plus_val1", false},
		{"missing", "conv_rate_plus_val1", false},
		{"trap", "trap", false},
		{"bad_argument", "rejected its input", true},
	}
	tr := newTestRepo(t)
	body, err := os.ReadFile(filepath.Join(fixtures, "xform.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tr.path("xform.wasm"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	y := "on_demand_feature_views:\n"
	for _, c := range cases {
		y += fmt.Sprintf(`  - name: x_%s
    sources: [driver_hourly_stats, vals_to_add]
    schema:
      - {name: conv_rate_plus_val1, dtype: Float64}
    module: xform.wasm
    sha256: %s
    function: %s
`, c.function, hex.EncodeToString(sum[:]), c.function)
	}
	if err := os.WriteFile(tr.path("odfv.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ents := histODFVEntities(t, tr, dir, 200)
	for _, tc := range cases {
		t.Run(tc.function, func(t *testing.T) {
			out := filepath.Join(dir, "out.parquet")
			odfv := "x_" + tc.function
			_, err := tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{EntitiesPath: ents, Engine: offlineengine.Options{BatchSize: 64},
				Features: []string{odfv + ":conv_rate_plus_val1"}}, out)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), `"`+odfv+`"`) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "result rows 1 to 64") {
				t.Fatalf("error %v, want one naming the ODFV, the rows and %q", err, tc.want)
			}
			t.Log(err)
			if _, ok := AsRequestError(err); ok != tc.request {
				t.Fatalf("error %v: client mistake %v, want %v", err, ok, tc.request)
			}
			noOutput(t, dir, out)
		})
	}
}

// Engine values become ODFV inputs by online's widening rules, and outputs come back as
// the engine's Go types.
func TestHistoricalODFVValueConversion(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, c := range []struct {
		to   abi.Type
		in   any
		want any // goValueOfCell of the appended cell; error text when wantErr
		err  string
	}{
		{abi.TypeDouble, float32(0.1), float64(float32(0.1)), ""},
		{abi.TypeDouble, int64(-3), float64(-3), ""},
		{abi.TypeDouble, int32(7), float64(7), ""},
		{abi.TypeFloat, float64(0.25), float32(0.25), ""},
		{abi.TypeInt64, int32(-9), int64(-9), ""},
		{abi.TypeInt32, int64(1 << 40), nil, "does not fit INT32"},
		{abi.TypeInt32, int64(-5), int32(-5), ""},
		{abi.TypeInt64, float64(1), nil, "a float64 value cannot be passed as INT64"},
		{abi.TypeString, "x", "x", ""},
		{abi.TypeBytes, []byte("ab"), []byte("ab"), ""},
		{abi.TypeBool, true, true, ""},
		{abi.TypeUnixTimestamp, ts, ts, ""},
		{abi.TypeDoubleList, []float32{0.5, 2}, []float64{0.5, 2}, ""},
		{abi.TypeStringList, []string{"a", ""}, []string{"a", ""}, ""},
		{abi.TypeUnixTimestampList, []time.Time{ts}, []time.Time{ts}, ""},
		{abi.TypeInt64, nil, nil, ""},
		{abi.TypeString, int64(1), nil, "cannot be passed as STRING"},
	} {
		cb := abi.NewColumnBuilder("x", c.to, 1)
		err := appendGoValue(cb, c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%T → %s: err %v, want %q", c.in, c.to, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%T → %s: %v", c.in, c.to, err)
			continue
		}
		col := cb.Column()
		if got := goValueOfCell(&col, 0); fmt.Sprint(got) != fmt.Sprint(c.want) || fmt.Sprintf("%T", got) != fmt.Sprintf("%T", c.want) {
			t.Errorf("%T %v → %s: back as %T %v, want %T %v", c.in, c.in, c.to, got, got, c.want, c.want)
		}
	}
	for _, c := range []struct {
		from, to abi.Type
		ok       bool
	}{
		{abi.TypeInt64, abi.TypeDouble, true}, {abi.TypeFloat, abi.TypeDouble, true}, {abi.TypeInt64, abi.TypeInt32, true},
		{abi.TypeDouble, abi.TypeInt64, false}, {abi.TypeString, abi.TypeInt64, false}, {abi.TypeFloatList, abi.TypeDoubleList, true},
		{abi.TypeInt64List, abi.TypeDoubleList, false}, {abi.TypeUnixTimestamp, abi.TypeUnixTimestamp, true},
	} {
		if convertible(c.from, c.to) != c.ok {
			t.Errorf("convertible(%s, %s) = %v", c.from, c.to, !c.ok)
		}
	}
}

// An ODFV of request data only joins no view: the plan is the entity rows alone.
func TestHistoricalODFVRequestOnly(t *testing.T) {
	fixtures, err := fixturebuild.BuildFixtures()
	if err != nil {
		t.Fatal(err)
	}
	tr := newTestRepo(t)
	body, err := os.ReadFile(filepath.Join(fixtures, "xform.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tr.path("xform.wasm"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	// xform's echo copies the input column of the output's name.
	y := fmt.Sprintf(`on_demand_feature_views:
  - name: req_only
    sources: [vals_to_add]
    schema:
      - {name: val_to_add, dtype: Int64}
    module: xform.wasm
    sha256: %s
    function: echo
`, hex.EncodeToString(sum[:]))
	if err := os.WriteFile(tr.path("odfv.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ents := histODFVEntities(t, tr, dir, 40)
	out := filepath.Join(dir, "out.parquet")
	if _, err := tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{EntitiesPath: ents, Features: []string{"req_only:val_to_add"}, FullFeatureNames: true}, out); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(parquetColumns(t, out), ","); got != "driver_id,event_timestamp,val_to_add,val_to_add_2,label,req_only__val_to_add" {
		t.Fatalf("columns %s", got)
	}
	rows := duckRows(t, `SELECT count(*), count(*) FILTER (WHERE val_to_add IS NOT DISTINCT FROM req_only__val_to_add), count(val_to_add) FROM read_parquet(`+sqlQuote(out)+`)`)
	if r := rows[0]; r[0] != int64(40) || r[1] != int64(40) || r[2] == int64(40) {
		t.Fatalf("rows, equal rows, non-null request values: %v (want 40, 40 and some nulls)", r)
	}
}
