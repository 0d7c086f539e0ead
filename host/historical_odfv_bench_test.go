package host

import (
	"context"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/arrowout"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/offlineengine"
)

// BenchmarkHistoricalODFV measures what an on-demand feature view adds to historical
// retrieval after the join: the joined batches (4096 rows, the engine's default) of
// Feast quickstart's transformed_conv_rate request — entity columns with the request
// values, the three hidden source features — go through the ODFV stage (input columns
// built, the Wasm transformation, result rows assembled) and into a Parquet writer.
// "write" writes the joined batches without the stage: the difference is the ODFV's cost.
// The join itself is left out (BenchmarkHistorical has it); it reads two more source
// columns for the hidden reads.
//
//	LARDER_BENCH_ENTITY_ROWS=1000000 go test ./host -run '^$' -bench BenchmarkHistoricalODFV -benchtime 1x -count 3
func BenchmarkHistoricalODFV(b *testing.B) {
	n := 100_000 // results are per million rows; LARDER_BENCH_ENTITY_ROWS=1000000 for the recorded runs
	if s := os.Getenv("LARDER_BENCH_ENTITY_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	planned := []offlineengine.Column{
		{Name: "driver_id", Type: abi.TypeInt64}, {Name: "event_timestamp", Type: abi.TypeUnixTimestamp},
		{Name: "val_to_add", Type: abi.TypeInt64}, {Name: "val_to_add_2", Type: abi.TypeInt64},
		{Name: "driver_hourly_stats__conv_rate", Type: abi.TypeFloat}, {Name: "driver_hourly_stats__acc_rate", Type: abi.TypeFloat},
		{Name: "driver_hourly_stats__avg_daily_trips", Type: abi.TypeInt64},
	}
	entities := make([]PlanColumn, 4)
	for i := range entities {
		entities[i] = PlanColumn{Name: planned[i].Name, Type: planned[i].Type}
	}
	// One batch of joined rows, handed over n/4096 times (the engine reuses its batch too);
	// every 50th row found no feature row.
	const size = offlineengine.DefaultBatchSize
	batch := &offlineengine.Batch{Schema: planned, Total: -1}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < size; i++ {
		row := []any{int64(1000 + i%100), t0.Add(time.Duration(i) * time.Minute), int64(i % 1000), int64(-i), nil, nil, nil}
		if i%50 != 0 {
			row[4], row[5], row[6] = float32(i%997)/997, float32(0.5), int64(i%13)
		}
		batch.Rows = append(batch.Rows, row)
	}
	run := func(b *testing.B, cols []offlineengine.Column, stage *odfvStage) {
		for i := 0; i < b.N; i++ {
			pw, err := arrowout.NewParquetWriter(io.Discard, cols)
			if err != nil {
				b.Fatal(err)
			}
			write := pw.Write
			if stage != nil {
				stage.rows, stage.next = 0, nil
				write, err = stage.deferOpen(ctx, func([]offlineengine.Column) (func(*offlineengine.Batch) error, error) {
					return pw.Write, nil
				})(cols)
				if err != nil {
					b.Fatal(err)
				}
			}
			for done := 0; done < n; done += size {
				batch.Rows = batch.Rows[:min(size, n-done)]
				if err := write(batch); err != nil {
					b.Fatal(err)
				}
				batch.Rows = batch.Rows[:size]
			}
			if err := pw.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
	report := func(b *testing.B, cpu0 time.Duration) {
		// Per million rows (ns per row is ms per million rows); process CPU is steadier
		// than wall time on a shared machine.
		rows := float64(b.N) * float64(n)
		b.ReportMetric(float64(processCPU()-cpu0)/rows, "cpu-ms/Mrow")
		b.ReportMetric(float64(b.Elapsed())/rows, "ms/Mrow")
	}

	b.Run("write", func(b *testing.B) {
		cpu0 := processCPU()
		run(b, planned, nil)
		report(b, cpu0)
	})
	for _, plugin := range []string{"odfv_conv_rate_rust", "odfv_conv_rate_go"} {
		b.Run(plugin+"+write", func(b *testing.B) {
			mod, err := LoadTransformation(ctx, PluginConfig{Path: exampleODFV(b, plugin), CacheDir: "-"})
			if err != nil {
				b.Fatal(err)
			}
			defer mod.Close(ctx)
			d := &odfvDef{name: "transformed_conv_rate", function: "transformed_conv_rate", mod: mod,
				outputs:  []OutputField{{Name: "conv_rate_plus_val1", Type: abi.TypeDouble}, {Name: "conv_rate_plus_val2", Type: abi.TypeDouble}},
				outTypes: []feast.ValueType{feast.TypeDouble, feast.TypeDouble},
				inputs: []odfvInput{
					{name: "conv_rate", view: "driver_hourly_stats", ftype: feast.TypeFloat, atype: abi.TypeFloat},
					{name: "acc_rate", view: "driver_hourly_stats", ftype: feast.TypeFloat, atype: abi.TypeFloat},
					{name: "avg_daily_trips", view: "driver_hourly_stats", ftype: feast.TypeInt64, atype: abi.TypeInt64},
					{name: "val_to_add", ftype: feast.TypeInt64, atype: abi.TypeInt64},
					{name: "val_to_add_2", ftype: feast.TypeInt64, atype: abi.TypeInt64},
				}}
			x := &histODFV{wants: []*odfvWant{{def: d, prefix: d.name, outputs: []int{0, 1}}}, regular: map[string]string{}}
			stage, err := x.stage(entities, planned)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := processCPU()
			run(b, stage.cols, stage)
			report(b, cpu0)
		})
	}
}

// processCPU is the process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
