// Command odfv_conv_rate_go is Feast quickstart's transformed_conv_rate on-demand feature
// view as a Larder transformation plugin built with sdk-go, the twin of
// plugins/odfv_conv_rate_rust:
//
//	conv_rate_plus_val1 = conv_rate + val_to_add
//	conv_rate_plus_val2 = conv_rate + val_to_add_2
//
// Both outputs are DOUBLE; a null input gives a null output for that row. Inputs of any
// numeric type are widened to float64 first, as Feast's pandas arithmetic does, so a
// FLOAT conv_rate of 0.4908777 plus 2000 is 2000.490877687931 here and in Feast.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o odfv_conv_rate_go.wasm .
package main

import (
	sdk "github.com/larder-dev/larder/sdk-go"
)

func init() {
	sdk.RegisterTransformation(sdk.Plugin{ID: "transformed_conv_rate", Version: "0.1.0"},
		func() sdk.Transformation { return sdk.TransformFunc(convRate) })
}

func main() {}

// convRate computes both outputs for every input row.
func convRate(_ string, in *sdk.TransformInput, out *sdk.TransformOutput) error {
	conv, err := in.Float64s("conv_rate")
	if err != nil {
		return err
	}
	add1, err := in.Float64s("val_to_add")
	if err != nil {
		return err
	}
	add2, err := in.Float64s("val_to_add_2")
	if err != nil {
		return err
	}
	v1, err := out.Float64s("conv_rate_plus_val1")
	if err != nil {
		return err
	}
	v2, err := out.Float64s("conv_rate_plus_val2")
	if err != nil {
		return err
	}
	for i := 0; i < in.Rows; i++ {
		if conv.Null(i) {
			v1.AppendNull()
			v2.AppendNull()
			continue
		}
		c := conv.At(i)
		if add1.Null(i) {
			v1.AppendNull()
		} else {
			v1.Append(c + add1.At(i))
		}
		if add2.Null(i) {
			v2.AppendNull()
		} else {
			v2.Append(c + add2.At(i))
		}
	}
	return nil
}
