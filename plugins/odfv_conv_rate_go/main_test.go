package main

import (
	"context"
	"math"
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/sdk-go/sdktest"
)

var outputs = []host.OutputField{{Name: "conv_rate_plus_val1", Type: abi.TypeDouble}, {Name: "conv_rate_plus_val2", Type: abi.TypeDouble}}

// The same table runs natively and against the built .wasm through the real host.
func TestConvRate(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) sdktest.Transformer{
		"native": func(t *testing.T) sdktest.Transformer { return sdktest.NativeTransformation(t, sdktest.Options{}) },
		"wasm": func(t *testing.T) sdktest.Transformer {
			return sdktest.WasmTransformation(t, sdktest.BuildWasm(t, "."), sdktest.Options{})
		},
	} {
		t.Run(name, func(t *testing.T) {
			x := open(t)
			conv := abi.NewColumnBuilder("conv_rate", abi.TypeFloat, 4)
			a := abi.NewColumnBuilder("val_to_add", abi.TypeInt64, 4)
			b := abi.NewColumnBuilder("val_to_add_2", abi.TypeInt64, 4)
			conv.AppendFloat32(0.125)
			conv.AppendFloat32(0.4908777)
			conv.AppendNull()
			conv.AppendFloat32(1)
			a.AppendInt64(1000)
			a.AppendInt64(2000)
			a.AppendInt64(1)
			a.AppendNull()
			for _, v := range []int64{-1, -2, 3, 4} {
				b.AppendInt64(v)
			}
			in := &abi.Batch{Rows: 4, Columns: []abi.Column{conv.Column(), a.Column(), b.Column()}}
			out, err := x.TransformODFV(context.Background(), "transformed_conv_rate", "transformed_conv_rate", outputs, in)
			if err != nil {
				t.Fatal(err)
			}
			v1, v2 := &out.Columns[0], &out.Columns[1]
			f := float64(float32(0.4908777))
			for _, c := range []struct {
				col  *abi.Column
				row  int
				want float64 // NaN = null
			}{
				{v1, 0, 1000.125}, {v2, 0, -0.875}, {v1, 1, f + 2000}, {v2, 1, f - 2},
				{v1, 2, math.NaN()}, {v2, 2, math.NaN()}, {v1, 3, math.NaN()}, {v2, 3, 5},
			} {
				if math.IsNaN(c.want) {
					if !c.col.IsNull(c.row) {
						t.Errorf("%s[%d] = %v, want null", c.col.Name, c.row, c.col.Float64(c.row))
					}
				} else if c.col.IsNull(c.row) || c.col.Float64(c.row) != c.want {
					t.Errorf("%s[%d] = %v (null %v), want %v", c.col.Name, c.row, c.col.Float64(c.row), c.col.IsNull(c.row), c.want)
				}
			}
		})
	}
}

func TestRejectsAStringConvRate(t *testing.T) {
	x := sdktest.NativeTransformation(t, sdktest.Options{})
	s := abi.NewColumnBuilder("conv_rate", abi.TypeString, 1)
	s.AppendString("x")
	a := abi.NewColumnBuilder("val_to_add", abi.TypeInt64, 1)
	a.AppendInt64(1)
	b := abi.NewColumnBuilder("val_to_add_2", abi.TypeInt64, 1)
	b.AppendInt64(1)
	_, err := x.TransformODFV(context.Background(), "v", "transform", outputs, &abi.Batch{Rows: 1, Columns: []abi.Column{s.Column(), a.Column(), b.Column()}})
	if err == nil || !contains(err.Error(), `"conv_rate" is STRING`) {
		t.Fatalf("err = %v", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
