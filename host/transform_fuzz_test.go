package host_test

import (
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
)

// FuzzDecodeTransformOutput feeds arbitrary bytes to the validation of a transformation's
// output (guest bytes are untrusted): it must never panic, and whatever it accepts must
// have exactly the declared columns, types and row count.
func FuzzDecodeTransformOutput(f *testing.F) {
	outputs := []host.OutputField{{Name: "y", Type: abi.TypeDouble}, {Name: "s", Type: abi.TypeStringList}}
	y := abi.NewColumnBuilder("y", abi.TypeDouble, 2)
	y.AppendFloat64(1.5)
	y.AppendNull()
	s := abi.NewColumnBuilder("s", abi.TypeStringList, 2)
	s.AppendStringList([]string{"a", ""})
	s.AppendNull()
	good, _ := (&abi.Batch{Rows: 2, Columns: []abi.Column{s.Column(), y.Column()}}).Encode(nil)
	f.Add(good, 2)
	f.Add(good, 3)
	f.Add(good[:len(good)-8], 2)
	f.Add([]byte("LBF1"), 0)
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, b []byte, rows int) {
		if rows < 0 || rows > 1<<20 {
			return
		}
		out, err := host.DecodeTransformOutput(b, outputs, rows)
		if err != nil {
			if host.FaultClass(err) != host.FaultBadOutput {
				t.Fatalf("error of class %q: %v", host.FaultClass(err), err)
			}
			return
		}
		if out.Rows != rows || len(out.Columns) != len(outputs) {
			t.Fatalf("accepted %d rows, %d columns", out.Rows, len(out.Columns))
		}
		for i, o := range outputs {
			if out.Columns[i].Name != o.Name || out.Columns[i].Type != o.Type {
				t.Fatalf("column %d is %s %s, want %s %s", i, out.Columns[i].Name, out.Columns[i].Type, o.Name, o.Type)
			}
		}
	})
}
