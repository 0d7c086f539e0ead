package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/hosttest"
)

// examplePlugin builds (or finds cached) a first-party example plugin.
func examplePlugin(t testing.TB, name string) string {
	t.Helper()
	p, err := hosttest.BuildPlugin(name)
	if errors.Is(err, hosttest.ErrNoToolchain) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loadTransformation(t testing.TB, path string) *host.WasmTransformation {
	t.Helper()
	x, err := host.LoadTransformation(context.Background(), host.PluginConfig{Path: path, CacheDir: testCacheDir(t),
		Pool: host.PoolConfig{Min: 1, Max: 2}})
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	t.Cleanup(func() { x.Close(context.Background()) })
	return x
}

var convRateOutputs = []host.OutputField{{Name: "conv_rate_plus_val1", Type: abi.TypeDouble}, {Name: "conv_rate_plus_val2", Type: abi.TypeDouble}}

// convRateInput is the quickstart ODFV's input: conv_rate FLOAT, two INT64 request values.
func convRateInput(conv []float32, add1, add2 []int64, nulls map[int]bool) *abi.Batch {
	n := len(conv)
	c := abi.NewColumnBuilder("conv_rate", abi.TypeFloat, n)
	a := abi.NewColumnBuilder("val_to_add", abi.TypeInt64, n)
	b := abi.NewColumnBuilder("val_to_add_2", abi.TypeInt64, n)
	for i := 0; i < n; i++ {
		if nulls[i] {
			c.AppendNull()
		} else {
			c.AppendFloat32(conv[i])
		}
		a.AppendInt64(add1[i])
		b.AppendInt64(add2[i])
	}
	return &abi.Batch{Rows: n, Columns: []abi.Column{c.Column(), a.Column(), b.Column()}}
}

func TestTransformationConvRate(t *testing.T) {
	for _, name := range []string{"odfv_conv_rate_rust", "odfv_conv_rate_go"} {
		t.Run(name, func(t *testing.T) {
			x := loadTransformation(t, examplePlugin(t, name))
			if k := x.Manifest().Kind; k != abi.KindTransformation {
				t.Fatalf("kind %q", k)
			}
			in := convRateInput([]float32{0.125, 0.4908777, 0.5}, []int64{1000, 2000, 3}, []int64{-1, -2, 4}, map[int]bool{2: true})
			out, err := x.TransformODFV(context.Background(), "transformed_conv_rate", "transformed_conv_rate", convRateOutputs, in)
			if err != nil {
				t.Fatal(err)
			}
			if out.Rows != 3 || out.Columns[0].Name != "conv_rate_plus_val1" || out.Columns[1].Name != "conv_rate_plus_val2" {
				t.Fatalf("output shape: %d rows, %+v", out.Rows, out.Columns)
			}
			v1, v2 := &out.Columns[0], &out.Columns[1]
			if got, want := v1.Float64(0), 1000.125; got != want {
				t.Errorf("row 0 val1 = %v, want %v", got, want)
			}
			if got, want := v1.Float64(1), float64(float32(0.4908777))+2000; got != want {
				t.Errorf("row 1 val1 = %v, want %v", got, want)
			}
			if got, want := v2.Float64(1), float64(float32(0.4908777))-2; got != want {
				t.Errorf("row 1 val2 = %v, want %v", got, want)
			}
			if !v1.IsNull(2) || !v2.IsNull(2) {
				t.Error("a null conv_rate must give null outputs")
			}
		})
	}
}

func TestTransformationRefusesGrants(t *testing.T) {
	_, err := host.LoadTransformation(context.Background(), host.PluginConfig{
		Path:   examplePlugin(t, "odfv_conv_rate_rust"),
		Grants: []host.Grant{{Kind: "sql", Name: "online", SQL: &host.SQLGrant{Path: t.TempDir() + "/x.db"}}},
	})
	if err == nil || !strings.Contains(err.Error(), "no capabilities") {
		t.Fatalf("err = %v, want a refusal of the grants", err)
	}
}

// The host checks a transformation's output against the declared outputs (the xform
// fixture misbehaves on request; see conformance/fixtures/xform).
func TestTransformationOutputChecks(t *testing.T) {
	cfg := testConfig(t, "xform")
	x, err := host.LoadTransformation(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close(context.Background())
	if len(x.Info().Ungranted) != 1 {
		t.Errorf("the fixture asks for a capability; Ungranted = %v", x.Info().Ungranted)
	}
	outputs := []host.OutputField{{Name: "a", Type: abi.TypeInt64}, {Name: "b", Type: abi.TypeString}}
	a := abi.NewColumnBuilder("a", abi.TypeInt64, 2)
	a.AppendInt64(1)
	a.AppendNull()
	in := &abi.Batch{Rows: 2, Columns: []abi.Column{a.Column()}}
	ctx := context.Background()
	for _, c := range []struct {
		function, class, want string
	}{
		{"missing", host.FaultBadOutput, `output column "a" is missing`},
		{"extra", host.FaultBadOutput, `"undeclared_extra" is not a declared output`},
		{"wrong_type", host.FaultBadOutput, `"a" has type STRING, declared INT64`},
		{"short_rows", host.FaultBadOutput, "1 rows for 2 input rows"},
		{"garbage", host.FaultBadOutput, "LBF1"},
		{"trap", host.FaultTrap, ""},
		{"bad_argument", host.FaultStatus, "bad_argument requested"},
		{"cap_open", host.FaultStatus, "refused"},
	} {
		t.Run(c.function, func(t *testing.T) {
			_, err := x.Transform(ctx, c.function, outputs, in)
			if host.FaultClass(err) != c.class || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (class %q), want %s mentioning %q", err, host.FaultClass(err), c.class, c.want)
			}
			if c.function == "cap_open" && !errors.Is(err, abi.ErrPermissionDenied) {
				t.Fatalf("cap_open: %v, want PERMISSION_DENIED", err)
			}
			// Whatever happened, the plugin still computes.
			out, err := x.Transform(ctx, "echo", outputs, in)
			if err != nil || out.Columns[0].Int64(0) != 1 || !out.Columns[0].IsNull(1) || !out.Columns[1].IsNull(0) {
				t.Fatalf("echo after %s: %+v, %v", c.function, out, err)
			}
		})
	}
	// Zero rows: no call, the declared columns.
	out, err := x.Transform(ctx, "trap", outputs, &abi.Batch{})
	if err != nil || out.Rows != 0 || len(out.Columns) != 2 || out.Columns[1].Type != abi.TypeString {
		t.Fatalf("zero rows: %+v, %v", out, err)
	}
	// Declarations no plugin could satisfy are refused before any call.
	for _, bad := range [][]host.OutputField{nil, {{Name: "a", Type: abi.TypeInt64}, {Name: "a", Type: abi.TypeInt64}}, {{Name: "s", Type: abi.TypeStatus}}} {
		if _, err := x.Transform(ctx, "echo", bad, in); err == nil || host.FaultClass(err) != host.FaultOther {
			t.Errorf("outputs %v: err = %v", bad, err)
		}
	}
}

func TestTransformChunked(t *testing.T) {
	x := loadTransformation(t, examplePlugin(t, "odfv_conv_rate_rust"))
	const n = 1000
	conv, a, b := make([]float32, n), make([]int64, n), make([]int64, n)
	nulls := map[int]bool{}
	for i := range conv {
		conv[i], a[i], b[i] = float32(i)/7, int64(i), int64(-i)
		if i%97 == 0 {
			nulls[i] = true
		}
	}
	in := convRateInput(conv, a, b, nulls)
	whole, err := x.TransformODFV(context.Background(), "v", "transform", convRateOutputs, in)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := x.TransformChunked(context.Background(), "v", "transform", convRateOutputs, in, 128)
	if err != nil {
		t.Fatal(err)
	}
	for c := range convRateOutputs {
		for r := 0; r < n; r++ {
			w, g := &whole.Columns[c], &parts.Columns[c]
			if w.IsNull(r) != g.IsNull(r) || !w.IsNull(r) && w.Float64(r) != g.Float64(r) {
				t.Fatalf("column %d row %d differs between one call and chunks of 128", c, r)
			}
		}
	}
}
