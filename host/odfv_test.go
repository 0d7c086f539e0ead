package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/internal/fixturebuild"
	"github.com/larder-dev/larder/host/registry"
)

// The example ODFVs (plugins/odfv_conv_rate_rust and _go) served end to end: a scaffolded
// repo with a request-time ODFV, a write-time one and a feature service mixing plain and
// on-demand features; applied, materialized, read, pushed and written; every value checked
// against the formula computed natively in Go over the same rows.

const odfvYAML = `
on_demand_feature_views:
  - name: transformed_conv_rate
    sources: [driver_hourly_stats, vals_to_add]
    schema:
      - {name: conv_rate_plus_val1, dtype: Float64}
      - {name: conv_rate_plus_val2, dtype: Float64}
    module: transforms/conv.wasm
    sha256: %[1]s
  - name: conv_rate_stored
    sources: [driver_hourly_stats_fresh, vals_to_add]
    schema:
      - {name: conv_rate_plus_val1, dtype: Float64}
      - {name: conv_rate_plus_val2, dtype: Float64}
    module: transforms/conv.wasm
    sha256: %[1]s
    write_to_online_store: true

feature_services:
  - name: odfv_service
    features:
      - view: driver_hourly_stats
        features: [conv_rate]
      - transformed_conv_rate
`

// exampleODFV builds (or finds cached) an example transformation module.
func exampleODFV(t testing.TB, name string) string {
	t.Helper()
	p, err := fixturebuild.BuildPlugin(name)
	if errors.Is(err, fixturebuild.ErrNoToolchain) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeODFVDefs copies module into the repo as transforms/conv.wasm and writes odfvYAML
// pinned to its sha256; function, when not "", names the export explicitly.
func writeODFVDefs(t *testing.T, tr *testRepo, module, function string) {
	t.Helper()
	body, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(tr.path("transforms"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tr.path("transforms/conv.wasm"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	y := fmt.Sprintf(odfvYAML, hex.EncodeToString(sum[:]))
	if function != "" {
		y = strings.ReplaceAll(y, "    module: transforms/conv.wasm\n", "    module: transforms/conv.wasm\n    function: "+function+"\n")
	}
	if err := os.WriteFile(tr.path("odfv.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
}

// odfvRepo is the scaffolded repo plus the ODFV definitions, applied and materialized.
func odfvRepo(t *testing.T, module string) *testRepo {
	t.Helper()
	tr := newTestRepo(t)
	writeODFVDefs(t, tr, module, "")
	ctx := context.Background()
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := tr.fs.Materialize(ctx, MaterializeRequest{Start: time.Unix(0, 0), End: dataEnd.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return tr
}

// nativeConvRate is the ODFV's formula in Go: the FLOAT feature widened, plus the value.
func nativeConvRate(conv feast.Value, add int64) feast.Value {
	if conv.IsNull() {
		return feast.Value{}
	}
	return feast.DoubleValue(float64(float32(conv.Float)) + float64(add))
}

func jsonCol(name string, vals ...any) Column {
	c := Column{Name: name}
	for _, v := range vals {
		b, _ := json.Marshal(v)
		c.Values = append(c.Values, b)
	}
	return c
}

func vecByName(t *testing.T, r *OnlineFeaturesResponse, name string) FeatureVector {
	t.Helper()
	for i, n := range r.FeatureNames {
		if n == name {
			return r.Results[i]
		}
	}
	t.Fatalf("no column %q in %v", name, r.FeatureNames)
	return FeatureVector{}
}

func sameValue(a, b feast.Value) bool {
	if a.IsNull() || b.IsNull() {
		return a.IsNull() == b.IsNull()
	}
	return a.Type == b.Type && math.Float64bits(a.Float) == math.Float64bits(b.Float)
}

func TestODFVServedOnlineAndAtWriteTime(t *testing.T) {
	for _, plugin := range []string{"odfv_conv_rate_rust", "odfv_conv_rate_go"} {
		t.Run(plugin, func(t *testing.T) {
			tr := odfvRepo(t, exampleODFV(t, plugin))
			ctx := context.Background()
			fs := tr.fs
			ids := []any{1001, 1002, 1003, 9999, 1001}
			add1 := []int64{1000, -2, 0, 5, 7}
			add2 := []int64{-1, 20, 3, 7, -7}

			// The source feature, read plainly: the baseline of the native computation.
			plain, err := fs.GetOnlineFeatures(ctx, OnlineFeaturesRequest{
				Entities: []Column{jsonCol("driver_id", ids...)}, Features: []string{"driver_hourly_stats:conv_rate"}})
			if err != nil {
				t.Fatal(err)
			}
			conv := vecByName(t, plain, "conv_rate").Values
			if conv[0].IsNull() || !conv[3].IsNull() {
				t.Fatalf("materialized conv_rate: %v", conv)
			}

			// Request-time ODFV: refs, request data in entities, hidden read dropped.
			req := OnlineFeaturesRequest{
				Entities: []Column{jsonCol("driver_id", ids...), jsonCol("val_to_add", 1000, -2, 0, 5, 7), jsonCol("val_to_add_2", -1, 20, 3, 7, -7)},
				Features: []string{"transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2"},
			}
			resp, err := fs.GetOnlineFeatures(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(resp.FeatureNames, ","); got != "driver_id,conv_rate_plus_val1,conv_rate_plus_val2" {
				t.Fatalf("columns %s: the hidden conv_rate read must be dropped, request data not returned", got)
			}
			checkConv := func(t *testing.T, r *OnlineFeaturesResponse, prefix string) {
				t.Helper()
				v1, v2 := vecByName(t, r, prefix+"conv_rate_plus_val1"), vecByName(t, r, prefix+"conv_rate_plus_val2")
				for i := range ids {
					if w := nativeConvRate(conv[i], add1[i]); !sameValue(v1.Values[i], w) || v1.Values[i].Type != w.Type {
						t.Errorf("row %d: conv_rate_plus_val1 = %+v, native %+v", i, v1.Values[i], w)
					}
					if w := nativeConvRate(conv[i], add2[i]); !sameValue(v2.Values[i], w) {
						t.Errorf("row %d: conv_rate_plus_val2 = %+v, native %+v", i, v2.Values[i], w)
					}
					if v1.Statuses[i] != abi.FieldPresent || !v1.EventTimestamps[i].Equal(epoch) {
						t.Errorf("row %d: status %v at %v, want PRESENT at the epoch (as Feast)", i, v1.Statuses[i], v1.EventTimestamps[i])
					}
				}
			}
			checkConv(t, resp, "")

			// Mixed with a plain feature of the source view, and through a feature service,
			// with full names.
			req.Features = append([]string{"driver_hourly_stats:conv_rate"}, req.Features...)
			resp, err = fs.GetOnlineFeatures(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			checkConv(t, resp, "")
			if got := vecByName(t, resp, "conv_rate").Values; !sameValue(got[1], conv[1]) {
				t.Errorf("plain conv_rate next to the ODFV: %v, want %v", got, conv)
			}
			svc := OnlineFeaturesRequest{Entities: req.Entities, FeatureService: "odfv_service", FullFeatureNames: true}
			resp, err = fs.GetOnlineFeatures(ctx, svc)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(resp.FeatureNames, ","); got != "driver_id,driver_hourly_stats__conv_rate,transformed_conv_rate__conv_rate_plus_val1,transformed_conv_rate__conv_rate_plus_val2" {
				t.Fatalf("feature service columns %s", got)
			}
			checkConv(t, resp, "transformed_conv_rate__")

			// Client mistakes, each naming what is wrong.
			for _, c := range []struct {
				name string
				req  OnlineFeaturesRequest
				kind ErrorKind
				want string
			}{
				{"missing request data", OnlineFeaturesRequest{Entities: []Column{jsonCol("driver_id", 1001)}, Features: req.Features[1:2]},
					NotFound, `missing request data ["val_to_add", "val_to_add_2"]`},
				{"unknown output", OnlineFeaturesRequest{Entities: req.Entities, Features: []string{"transformed_conv_rate:nope"}},
					NotFound, `feature "nope" not found in on-demand feature view "transformed_conv_rate"`},
				{"request value of the wrong type", OnlineFeaturesRequest{Entities: []Column{jsonCol("driver_id", 1001), jsonCol("val_to_add", "x"), jsonCol("val_to_add_2", 1)}, Features: req.Features[1:2]},
					BadRequest, "entities.val_to_add[0]"},
				{"requested twice", OnlineFeaturesRequest{Entities: req.Entities, Features: []string{req.Features[1], req.Features[1]}},
					BadRequest, "requested twice"},
				{"name collision", OnlineFeaturesRequest{Entities: req.Entities, Features: []string{"transformed_conv_rate:conv_rate_plus_val1", "conv_rate_stored:conv_rate_plus_val1"}},
					BadRequest, "duplicate feature names"},
			} {
				_, err := fs.GetOnlineFeatures(ctx, c.req)
				re, ok := AsRequestError(err)
				if !ok || re.Kind != c.kind || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: err = %v, want a %v error mentioning %q", c.name, err, c.kind, c.want)
				}
			}

			// Write time: a push to the fresh view computes conv_rate_stored and stores it.
			ts := dataEnd.Format(time.RFC3339)
			push := PushRequest{PushSourceName: "driver_stats_push_source", TransformOnWrite: true, DF: []Column{
				jsonCol("driver_id", 1001, 1002), jsonCol("event_timestamp", ts, ts), jsonCol("created", ts, ts),
				jsonCol("conv_rate", 0.25, 0.4908776879310608), jsonCol("acc_rate", 0.5, 0.5), jsonCol("avg_daily_trips", 10, 20),
				jsonCol("val_to_add", 1000, 2000), jsonCol("val_to_add_2", -1, -2)}}
			if err := fs.Push(ctx, push); err != nil {
				t.Fatal(err)
			}
			stored := OnlineFeaturesRequest{Entities: []Column{jsonCol("driver_id", 1001, 1002)},
				Features: []string{"conv_rate_stored:conv_rate_plus_val1", "conv_rate_stored:conv_rate_plus_val2"}}
			resp, err = fs.GetOnlineFeatures(ctx, stored)
			if err != nil {
				t.Fatal(err)
			}
			f := float64(float32(0.4908776879310608))
			want := [][2]float64{{1000.25, -0.75}, {f + 2000, f - 2}}
			for i := range want {
				v1, v2 := vecByName(t, resp, "conv_rate_plus_val1"), vecByName(t, resp, "conv_rate_plus_val2")
				if v1.Values[i].Float != want[i][0] || v2.Values[i].Float != want[i][1] || v1.Statuses[i] != abi.FieldPresent ||
					!v1.EventTimestamps[i].Equal(dataEnd) {
					t.Errorf("stored row %d: %v %v (%v at %v), want %v", i, v1.Values[i], v2.Values[i], v1.Statuses[i], v1.EventTimestamps[i], want[i])
				}
			}

			// transform_on_write false: the frame carries the outputs, stored as they are.
			write := WriteToOnlineStoreRequest{FeatureViewName: "conv_rate_stored", TransformOnWrite: false, DF: []Column{
				jsonCol("driver_id", 1003), jsonCol("event_timestamp", ts), jsonCol("conv_rate_plus_val1", 1.5), jsonCol("conv_rate_plus_val2", nil)}}
			if err := fs.WriteToOnlineStore(ctx, write); err != nil {
				t.Fatal(err)
			}
			// transform_on_write true (the default): computed from the frame.
			write = WriteToOnlineStoreRequest{FeatureViewName: "conv_rate_stored", TransformOnWrite: true, DF: []Column{
				jsonCol("driver_id", 1004), jsonCol("event_timestamp", ts), jsonCol("conv_rate", 0.5), jsonCol("acc_rate", 0), jsonCol("avg_daily_trips", 1),
				jsonCol("val_to_add", 2), jsonCol("val_to_add_2", nil)}}
			if err := fs.WriteToOnlineStore(ctx, write); err != nil {
				t.Fatal(err)
			}
			resp, err = fs.GetOnlineFeatures(ctx, OnlineFeaturesRequest{Entities: []Column{jsonCol("driver_id", 1003, 1004)}, Features: stored.Features})
			if err != nil {
				t.Fatal(err)
			}
			v1, v2 := vecByName(t, resp, "conv_rate_plus_val1"), vecByName(t, resp, "conv_rate_plus_val2")
			if v1.Values[0].Float != 1.5 || !v2.Values[0].IsNull() || v1.Values[1].Float != 2.5 || !v2.Values[1].IsNull() {
				t.Errorf("written rows: %v %v", v1.Values, v2.Values)
			}

			// Write-time mistakes: a frame without the inputs writes nothing.
			bad := WriteToOnlineStoreRequest{FeatureViewName: "conv_rate_stored", TransformOnWrite: true, DF: []Column{jsonCol("driver_id", 1005), jsonCol("event_timestamp", ts)}}
			if err := fs.WriteToOnlineStore(ctx, bad); err == nil || !strings.Contains(err.Error(), `missing columns ["conv_rate"`) {
				t.Errorf("write without inputs: %v", err)
			}
			if err := fs.WriteToOnlineStore(ctx, WriteToOnlineStoreRequest{FeatureViewName: "transformed_conv_rate", DF: write.DF}); err == nil ||
				!strings.Contains(err.Error(), "computed at request time") {
				t.Errorf("write to a request-time ODFV: %v", err)
			}

			// The offline hook: the same module over an LBF1 batch.
			c := abi.NewColumnBuilder("conv_rate", abi.TypeFloat, 2)
			c.AppendFloat32(0.125)
			c.AppendNull()
			a := abi.NewColumnBuilder("acc_rate", abi.TypeFloat, 2)
			a.AppendFloat32(0)
			a.AppendFloat32(0)
			tripsCol := abi.NewColumnBuilder("avg_daily_trips", abi.TypeInt64, 2)
			tripsCol.AppendInt64(1)
			tripsCol.AppendInt64(1)
			v := abi.NewColumnBuilder("val_to_add", abi.TypeInt64, 2)
			v.AppendInt64(1000)
			v.AppendInt64(1)
			v2b := abi.NewColumnBuilder("val_to_add_2", abi.TypeInt64, 2)
			v2b.AppendInt64(-1)
			v2b.AppendInt64(1)
			out, err := fs.TransformBatch(ctx, "transformed_conv_rate", &abi.Batch{Rows: 2,
				Columns: []abi.Column{c.Column(), a.Column(), tripsCol.Column(), v.Column(), v2b.Column()}})
			if err != nil {
				t.Fatal(err)
			}
			if out.Columns[0].Float64(0) != 1000.125 || !out.Columns[0].IsNull(1) || out.Columns[1].Float64(0) != -0.875 {
				t.Errorf("TransformBatch: %v %v", cellText(&out.Columns[0], 0), cellText(&out.Columns[1], 0))
			}
		})
	}
}

func cellText(c *abi.Column, r int) string {
	if c.IsNull(r) {
		return "null"
	}
	return fmt.Sprint(c.Float64(r))
}

// An ODFV Larder cannot run (Feast's pandas ones, in Feast's own registry) is refused with
// the reason, not reported as missing.
func TestODFVUnsupportedModeIsRefused(t *testing.T) {
	cat := quickstartCatalog(t)
	reg := quickstartRegistry(t)
	idx := buildODFVIndex(reg, cat.project, cat)
	d := idx.defs["transformed_conv_rate"]
	if d == nil || !strings.Contains(d.unsupported, `mode "pandas"`) {
		t.Fatalf("Feast's pandas ODFV: %+v", d)
	}
	on, _ := quickstartEnvs(t, cat, fixtureNow)
	on.cat = idx.cat
	_, err := on.getOnlineFeaturesODFV(context.Background(), OnlineFeaturesRequest{
		Entities: []Column{jsonCol("driver_id", 1001), jsonCol("val_to_add", 1), jsonCol("val_to_add_2", 2)},
		Features: []string{"transformed_conv_rate:conv_rate_plus_val1"}}, idx)
	re, ok := AsRequestError(err)
	if !ok || re.Kind != Unprocessable || !strings.Contains(err.Error(), "compiled to Wasm") {
		t.Fatalf("err = %v", err)
	}
	// Input and output typing: Feast's registry lists the source view's three features and
	// the two request fields; the order is fixed (views by name, then request fields).
	var names []string
	for _, in := range d.inputs {
		names = append(names, in.name+":"+in.atype.String())
	}
	if got := strings.Join(names, " "); got != "conv_rate:FLOAT acc_rate:FLOAT avg_daily_trips:INT64 val_to_add:INT64 val_to_add_2:INT64" {
		t.Errorf("inputs %s", got)
	}
}

func TestFeastValuesToAndFromLBF1(t *testing.T) {
	cases := []struct {
		t    abi.Type
		in   feast.Value
		want string // cell text of the column after appending, "" = error
	}{
		{abi.TypeDouble, feast.FloatValue(0.5), "0.5"},
		{abi.TypeDouble, feast.Int64Value(3), "3"},
		{abi.TypeFloat, feast.DoubleValue(0.25), "0.25"},
		{abi.TypeInt32, feast.Int64Value(1 << 40), ""},
		{abi.TypeInt64, feast.StringValue("1"), ""},
		{abi.TypeString, feast.BoolValue(true), ""},
		{abi.TypeUnixTimestamp, feast.UnixTimestampValue(5), "5000000"},
		{abi.TypeDoubleList, feast.FloatListValue([]float32{0.5}), "[0.5]"},
		{abi.TypeInt64, feast.NullValue(), "null"},
	}
	for _, c := range cases {
		cb := abi.NewColumnBuilder("x", c.t, 1)
		err := appendFeastValue(cb, c.in)
		if (err != nil) != (c.want == "") {
			t.Errorf("%s ← %+v: err = %v", c.t, c.in, err)
			continue
		}
		if err != nil {
			continue
		}
		col := cb.Column()
		got := "null"
		if !col.IsNull(0) {
			v := valueOfCell(&col, 0)
			switch {
			case v.Type == feast.TypeUnixTimestamp:
				got = fmt.Sprint(col.Timestamp(0))
				if v.Int != 5 {
					t.Errorf("timestamp back: %d", v.Int)
				}
			case c.t == abi.TypeDoubleList:
				got = fmt.Sprint(v.DoubleList)
			default:
				got = fmt.Sprint(v.Float + float64(v.Int))
			}
		}
		if got != c.want {
			t.Errorf("%s ← %+v: %s, want %s", c.t, c.in, got, c.want)
		}
	}
	if floorDiv(-1, 1_000_000) != -1 || floorDiv(1_999_999, 1_000_000) != 1 {
		t.Error("floorDiv")
	}
}

func quickstartRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	reg, err := registry.NewFileStore(filepath.Join(repoRoot(t), "testdata", "feast", "quickstart", "registry.db")).Load()
	if err != nil {
		t.Skipf("Feast fixture registry: %v", err)
	}
	return reg
}

// The short path for plain integers gives what feast.ValueFromJSON gives.
func TestAppendJSONCellMatchesFeastRules(t *testing.T) {
	raws := []string{`0`, `-7`, `2147483648`, `-2147483649`, `9223372036854775807`, `12345678901234567890`, `1.0`, `1.5`, `"5"`, `true`, `null`, `-`, `1e3`}
	for _, ft := range []feast.ValueType{feast.TypeInt64, feast.TypeInt32, feast.TypeDouble, feast.TypeFloat, feast.TypeString} {
		at, _ := abiTypeOf(ft)
		for _, raw := range raws {
			fast := abi.NewColumnBuilder("x", at, 1)
			ferr := appendJSONCell(fast, json.RawMessage(raw), ft)
			slow := abi.NewColumnBuilder("x", at, 1)
			v, serr := feast.ValueFromJSON([]byte(raw), ft)
			if serr == nil {
				serr = appendFeastValue(slow, v)
			}
			if (ferr != nil) != (serr != nil) {
				t.Errorf("%s as %v: short path err %v, Feast rules err %v", raw, ft, ferr, serr)
				continue
			}
			if ferr != nil {
				continue
			}
			fc, sc := fast.Column(), slow.Column()
			if fc.IsNull(0) != sc.IsNull(0) || string(fc.Values) != string(sc.Values) || string(fc.Offsets) != string(sc.Offsets) {
				t.Errorf("%s as %v: short path %x, Feast rules %x", raw, ft, fc.Values, sc.Values)
			}
		}
	}
}

// Modules load with the registry, once: requests reuse the index, and a new registry
// version that keeps the module keeps the loaded plugin (cached by sha256).
func TestODFVModulesCachedAcrossRegistryVersions(t *testing.T) {
	tr := odfvRepo(t, exampleODFV(t, "odfv_conv_rate_rust"))
	ctx := context.Background()
	before, err := tr.fs.odfvIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := OnlineFeaturesRequest{Entities: []Column{jsonCol("driver_id", 1001), jsonCol("val_to_add", 1), jsonCol("val_to_add_2", 2)},
		Features: []string{"transformed_conv_rate:conv_rate_plus_val1"}}
	for i := 0; i < 3; i++ {
		if _, err := tr.fs.GetOnlineFeatures(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if again, _ := tr.fs.odfvIndex(ctx); again != before {
		t.Fatal("the ODFV index was rebuilt without a registry change")
	}
	mod := before.defs["transformed_conv_rate"].mod
	if mod == nil || before.defs["conv_rate_stored"].mod != mod {
		t.Fatal("two ODFVs with the same module must share one loaded plugin")
	}
	tr.edit(t, "odfv.yaml", "  - name: transformed_conv_rate\n", "  - name: transformed_conv_rate\n    description: changed\n")
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	after, err := tr.fs.odfvIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatal("a new registry version must get a new index")
	}
	if after.defs["transformed_conv_rate"].mod != mod {
		t.Fatal("an unchanged module was reloaded on a registry change")
	}
	if _, err := tr.fs.GetOnlineFeatures(ctx, req); err != nil {
		t.Fatal(err)
	}
}

// A module that is not a transformation makes its ODFVs unservable (422 saying why); the
// rest of the registry is served.
func TestODFVWithABadModuleIsRefused(t *testing.T) {
	dir, err := fixturebuild.BuildFixtures()
	if err != nil {
		t.Fatal(err)
	}
	tr := odfvRepo(t, filepath.Join(dir, "echo.wasm")) // an online store, not a transformation
	ctx := context.Background()
	_, err = tr.fs.GetOnlineFeatures(ctx, OnlineFeaturesRequest{
		Entities: []Column{jsonCol("driver_id", 1001), jsonCol("val_to_add", 1), jsonCol("val_to_add_2", 2)},
		Features: []string{"transformed_conv_rate:conv_rate_plus_val1"}})
	re, ok := AsRequestError(err)
	if !ok || re.Kind != Unprocessable || !strings.Contains(err.Error(), "its module does not load") || !strings.Contains(err.Error(), "larder_transform") {
		t.Fatalf("err = %v", err)
	}
	if _, err := tr.fs.GetOnlineFeatures(ctx, OnlineFeaturesRequest{Entities: []Column{jsonCol("driver_id", 1001)},
		Features: []string{"driver_hourly_stats:conv_rate"}}); err != nil {
		t.Fatalf("plain features next to a broken ODFV: %v", err)
	}
}
