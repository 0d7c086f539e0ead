// Package xformtest tests sdk-go's transformation kind through its exports, natively (a
// test binary registers exactly one plugin, so this one lives apart from the SDK's own
// tests, which register an online store).
package xformtest

import (
	"context"
	"strings"
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	sdk "github.com/larder-dev/larder/sdk-go"
	"github.com/larder-dev/larder/sdk-go/sdktest"
)

// The plugin's behaviour is chosen by the function name, so one registration covers the
// readers, the builders and the mistakes the SDK must report.
func init() {
	sdk.RegisterTransformation(sdk.Plugin{ID: "xformtest", Version: "0.0.1"}, func() sdk.Transformation { return &xform{} })
}

type xform struct{ config string }

func (x *xform) Init(config []byte) error { x.config = string(config); return nil }

func (x *xform) Transform(function string, in *sdk.TransformInput, out *sdk.TransformOutput) error {
	switch function {
	case "lists":
		tags, err := in.StringLists("tags")
		if err != nil {
			return err
		}
		nums, err := in.Int64Lists("nums")
		if err != nil {
			return err
		}
		joined, err := out.Strings("joined")
		if err != nil {
			return err
		}
		sums, err := out.Int64s("sum")
		if err != nil {
			return err
		}
		rev, err := out.Int64Lists("reversed")
		if err != nil {
			return err
		}
		var buf []string
		var ns []int64
		for i := 0; i < in.Rows; i++ {
			if tags.Null(i) {
				joined.AppendNull()
			} else {
				buf = tags.Append(buf[:0], i)
				joined.Append(strings.Join(buf, "+"))
			}
			if nums.Null(i) {
				sums.AppendNull()
				rev.AppendNull()
				continue
			}
			var s int64
			ns = ns[:0]
			for j := nums.Len(i) - 1; j >= 0; j-- {
				s += nums.At(i, j)
				ns = append(ns, nums.At(i, j))
			}
			sums.Append(s)
			rev.Append(ns)
		}
		return nil
	case "config":
		c, err := out.Strings("config")
		if err != nil {
			return err
		}
		for i := 0; i < in.Rows; i++ {
			c.Append(x.config + "/" + in.ODFV + "/" + in.Function)
		}
		return nil
	case "wrong_reader":
		_, err := in.Bools("tags")
		return err
	case "missing_input":
		_, err := in.Float64s("nope")
		return err
	case "wrong_builder":
		_, err := out.Float64s("joined")
		return err
	case "undeclared":
		_, err := out.Column("nope")
		return err
	case "short":
		return nil // appends nothing
	}
	return sdk.Errorf(abi.ErrBadArgument, "unknown function %q", function)
}

func input() *abi.Batch {
	tags := abi.NewColumnBuilder("tags", abi.TypeStringList, 3)
	tags.AppendStringList([]string{"a", "b"})
	tags.AppendNull()
	tags.AppendStringList(nil)
	nums := abi.NewColumnBuilder("nums", abi.TypeInt32List, 3)
	nums.AppendInt32List([]int32{1, 2, 3})
	nums.AppendInt32List(nil)
	nums.AppendNull()
	return &abi.Batch{Rows: 3, Columns: []abi.Column{tags.Column(), nums.Column()}}
}

func TestListsAndStrings(t *testing.T) {
	x := sdktest.NativeTransformation(t, sdktest.Options{})
	outputs := []host.OutputField{{Name: "joined", Type: abi.TypeString}, {Name: "sum", Type: abi.TypeInt64}, {Name: "reversed", Type: abi.TypeInt64List}}
	for round := 0; round < 2; round++ { // the second call reuses the instance's builders
		out, err := x.TransformODFV(context.Background(), "v", "lists", outputs, input())
		if err != nil {
			t.Fatal(err)
		}
		j, s, r := &out.Columns[0], &out.Columns[1], &out.Columns[2]
		if j.String(0) != "a+b" || !j.IsNull(1) || j.String(2) != "" {
			t.Errorf("joined: %q %v %q", j.String(0), j.IsNull(1), j.String(2))
		}
		if s.Int64(0) != 6 || s.Int64(1) != 0 || !s.IsNull(2) {
			t.Errorf("sum: %d %d %v", s.Int64(0), s.Int64(1), s.IsNull(2))
		}
		if st, e := r.ListRange(0); e-st != 3 || r.ElemInt64(st) != 3 || r.ElemInt64(st+2) != 1 {
			t.Errorf("reversed row 0: %d..%d", st, e)
		}
	}
}

func TestConfigAndMetadataReachThePlugin(t *testing.T) {
	x := sdktest.NativeTransformation(t, sdktest.Options{Config: []byte(`{"k":1}`)})
	out, err := x.TransformODFV(context.Background(), "my_odfv", "config", []host.OutputField{{Name: "config", Type: abi.TypeString}}, input())
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Columns[0].String(0); got != `{"k":1}/my_odfv/config` {
		t.Errorf("got %q", got)
	}
}

func TestMistakesAreNamed(t *testing.T) {
	x := sdktest.NativeTransformation(t, sdktest.Options{})
	outputs := []host.OutputField{{Name: "joined", Type: abi.TypeString}}
	for _, c := range []struct{ function, want string }{
		{"wrong_reader", `input column "tags" is STRING_LIST, want BOOL`},
		{"missing_input", `input column "nope" is missing`},
		{"wrong_builder", `output "joined" is declared STRING, the plugin builds DOUBLE`},
		{"undeclared", `"nope" is not a declared output`},
		{"short", `output "joined" has 0 values for 3 input rows`},
		{"other", `unknown function "other"`},
	} {
		_, err := x.TransformODFV(context.Background(), "v", c.function, outputs, input())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.function, err, c.want)
		}
	}
}
