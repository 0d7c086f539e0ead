package main

import (
	"context"
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/sdk-go/sdktest"
)

var outputs = []host.OutputField{{Name: "score", Type: abi.TypeDouble}, {Name: "trips_bucket", Type: abi.TypeInt32}}

func input(n int) *abi.Batch {
	c := abi.NewColumnBuilder("conv_rate", abi.TypeFloat, n)
	a := abi.NewColumnBuilder("acc_rate", abi.TypeFloat, n)
	t := abi.NewColumnBuilder("avg_daily_trips", abi.TypeInt64, n)
	for i := 0; i < n; i++ {
		if i%10 == 3 {
			c.AppendNull()
		} else {
			c.AppendFloat32(float32(i%1000) / 1000)
		}
		a.AppendFloat32(float32(i%777) / 777)
		if i%10 == 7 {
			t.AppendNull()
		} else {
			t.AppendInt64(int64(i%2000) - 10)
		}
	}
	return &abi.Batch{Rows: n, Columns: []abi.Column{c.Column(), a.Column(), t.Column()}}
}

// Native and Wasm results equal the formula applied in Go, bit for bit, over large batches.
func TestScore(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) sdktest.Transformer{
		"native": func(t *testing.T) sdktest.Transformer { return sdktest.NativeTransformation(t, sdktest.Options{}) },
		"wasm": func(t *testing.T) sdktest.Transformer {
			return sdktest.WasmTransformation(t, sdktest.BuildWasm(t, "."), sdktest.Options{})
		},
	} {
		t.Run(name, func(t *testing.T) {
			x := open(t)
			for _, n := range []int{1, 1000, 50_000} {
				in := input(n)
				out, err := x.TransformODFV(context.Background(), "driver_score", "driver_score", outputs, in)
				if err != nil {
					t.Fatal(err)
				}
				c, a, tr := &in.Columns[0], &in.Columns[1], &in.Columns[2]
				for i := 0; i < n; i++ {
					s, b := &out.Columns[0], &out.Columns[1]
					if tr.IsNull(i) {
						if !s.IsNull(i) || !b.IsNull(i) {
							t.Fatalf("row %d: null trips must give null outputs", i)
						}
						continue
					}
					ws, wb := Score(float64(c.Float32(i)), float64(a.Float32(i)), tr.Int64(i))
					if b.Int32(i) != wb {
						t.Fatalf("row %d: bucket %d, want %d", i, b.Int32(i), wb)
					}
					if c.IsNull(i) != s.IsNull(i) || !c.IsNull(i) && s.Float64(i) != ws {
						t.Fatalf("row %d: score %v (null %v), want %v", i, s.Float64(i), s.IsNull(i), ws)
					}
				}
			}
		})
	}
}
