package host_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
)

// nativeConvRate is the quickstart ODFV written directly in Go over the same batch, with
// the same work as the plugins: read three columns, build and encode nothing more than the
// two output columns. It is the baseline the Wasm rows are divided by.
func nativeConvRate(in *abi.Batch) *abi.Batch {
	conv, a1, a2 := in.Column("conv_rate"), in.Column("val_to_add"), in.Column("val_to_add_2")
	v1 := abi.NewColumnBuilder("conv_rate_plus_val1", abi.TypeDouble, in.Rows)
	v2 := abi.NewColumnBuilder("conv_rate_plus_val2", abi.TypeDouble, in.Rows)
	for i := 0; i < in.Rows; i++ {
		if conv.IsNull(i) {
			v1.AppendNull()
			v2.AppendNull()
			continue
		}
		c := float64(conv.Float32(i))
		if a1.IsNull(i) {
			v1.AppendNull()
		} else {
			v1.AppendFloat64(c + float64(a1.Int64(i)))
		}
		if a2.IsNull(i) {
			v2.AppendNull()
		} else {
			v2.AppendFloat64(c + float64(a2.Int64(i)))
		}
	}
	return &abi.Batch{Rows: in.Rows, Columns: []abi.Column{v1.Column(), v2.Column()}}
}

// BenchmarkTransform is the cost of one transformation call of the quickstart ODFV at
// several batch sizes: native Go, the Rust plugin and the Go plugin through the host
// (input encoding, the call, output validation and copy included).
func BenchmarkTransform(b *testing.B) {
	ctx := context.Background()
	mods := map[string]*host.WasmTransformation{}
	for _, name := range []string{"rust", "go"} {
		mods[name] = loadTransformation(b, examplePlugin(b, "odfv_conv_rate_"+name))
	}
	for _, impl := range []string{"native", "rust", "go"} {
		for _, n := range []int{1, 100, 1024, 8192} {
			conv, a, c := make([]float32, n), make([]int64, n), make([]int64, n)
			for i := range conv {
				conv[i], a[i], c[i] = float32(i%1000)/1000, int64(i), int64(-i)
			}
			in := convRateInput(conv, a, c, map[int]bool{0: true})
			b.Run(fmt.Sprintf("%s/%d", impl, n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(n) * 20) // input bytes per row: FLOAT + 2 × INT64
				cpu0 := cpuTime()
				defer func() {
					// Process CPU per call: steadier than ns/op on a shared machine.
					b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
				}()
				for i := 0; i < b.N; i++ {
					var out *abi.Batch
					var err error
					if impl == "native" {
						out = nativeConvRate(in)
					} else {
						out, err = mods[impl].TransformODFV(ctx, "transformed_conv_rate", "transformed_conv_rate", convRateOutputs, in)
					}
					if err != nil || out.Rows != n {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
