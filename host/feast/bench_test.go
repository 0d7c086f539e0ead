package feast

import "testing"

// Hot-path costs: one Value per (entity, feature), one entity key per entity row.

var benchValues = []Value{Int64Value(1001), FloatValue(0.7037263512611389), StringValue("driver-42"),
	DoubleListValue([]float64{1, 2, 3, 4, 5, 6, 7, 8})}

func BenchmarkMarshalValue(b *testing.B) {
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf, _ = AppendValue(buf[:0], benchValues[i%len(benchValues)])
	}
}

func BenchmarkUnmarshalValue(b *testing.B) {
	enc := make([][]byte, len(benchValues))
	for i, v := range benchValues {
		enc[i], _ = MarshalValue(v)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := UnmarshalValue(enc[i%len(enc)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSerializeEntityKey(b *testing.B) {
	keys := []string{"driver_id", "customer_id"}
	vals := []Value{Int64Value(1001), StringValue("c-17")}
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf, _ = AppendEntityKey(buf[:0], keys, vals, 3)
	}
}

func BenchmarkAppendValueJSON(b *testing.B) {
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf = AppendValueJSON(buf[:0], benchValues[i%len(benchValues)])
	}
}

func BenchmarkValueFromJSON(b *testing.B) {
	raws := [][]byte{[]byte("1001"), []byte(`"driver-42"`), []byte("[1.5, 2.5]")}
	types := []ValueType{TypeInt64, TypeString, TypeDoubleList}
	for i := 0; i < b.N; i++ {
		if _, err := ValueFromJSON(raws[i%3], types[i%3]); err != nil {
			b.Fatal(err)
		}
	}
}
