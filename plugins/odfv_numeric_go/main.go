// Command odfv_numeric_go is driver_score, a numeric on-demand feature view over the
// quickstart's driver_hourly_stats, built with sdk-go. It is the batch-size workload of
// the benchmarks (a few float operations per row, three inputs, two outputs):
//
//	score        DOUBLE  0.6·conv_rate + 0.4·acc_rate + trips/(trips+100)   (trips < 0 counts as 0)
//	trips_bucket INT32   min(trips / 100, 9)                                (trips < 0 counts as 0)
//
// A null input gives null outputs for that row. Only +, ×, ÷ and explicit roundings are
// used, so the same input gives bit-identical results natively, in Wasm and on any CPU
// (the explicit float64 conversions forbid fused multiply-add).
package main

import (
	sdk "github.com/larder-dev/larder/sdk-go"
)

func init() {
	sdk.RegisterTransformation(sdk.Plugin{ID: "driver_score", Version: "0.1.0"},
		func() sdk.Transformation { return sdk.TransformFunc(score) })
}

func main() {}

// Score is the formula for one row, shared with the benchmarks' native baseline.
func Score(conv, acc float64, trips int64) (float64, int32) {
	if trips < 0 {
		trips = 0
	}
	t := float64(trips)
	s := float64(0.6*conv) + float64(0.4*acc) + t/(t+100)
	return s, int32(min(trips/100, 9))
}

func score(_ string, in *sdk.TransformInput, out *sdk.TransformOutput) error {
	conv, err := in.Float64s("conv_rate")
	if err != nil {
		return err
	}
	acc, err := in.Float64s("acc_rate")
	if err != nil {
		return err
	}
	trips, err := in.Int64s("avg_daily_trips")
	if err != nil {
		return err
	}
	s, err := out.Float64s("score")
	if err != nil {
		return err
	}
	b, err := out.Int32s("trips_bucket")
	if err != nil {
		return err
	}
	for i := 0; i < in.Rows; i++ {
		if trips.Null(i) {
			s.AppendNull()
			b.AppendNull()
			continue
		}
		if conv.Null(i) || acc.Null(i) {
			s.AppendNull()
			_, bucket := Score(0, 0, trips.At(i))
			b.Append(bucket)
			continue
		}
		v, bucket := Score(conv.At(i), acc.At(i), trips.At(i))
		s.Append(v)
		b.Append(bucket)
	}
	return nil
}
