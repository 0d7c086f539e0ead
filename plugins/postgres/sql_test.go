package main

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

func TestValueText(t *testing.T) {
	f32 := func(f float32) []byte { return binary.LittleEndian.AppendUint32([]byte{0x35}, math.Float32bits(f)) }
	f64 := func(f float64) []byte { return binary.LittleEndian.AppendUint64([]byte{0x29}, math.Float64bits(f)) }
	cases := []struct {
		in   []byte
		want string
		ok   bool
	}{
		{[]byte("\x12\x05hello"), "hello", true},
		{[]byte("\x12\x00"), "", true},
		{append([]byte("\x12\x80\x01"), []byte(strings.Repeat("x", 128))...), strings.Repeat("x", 128), true},
		{[]byte("\x12\x05hell"), "", false},    // truncated
		{[]byte("\x12\x01ab"), "", false},      // another field follows
		{[]byte("\x20\x9a\x21"), "4250", true}, // int64_val
		{[]byte("\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), "-1", true},
		{[]byte("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), "-1", true}, // int32_val -1
		{[]byte("\x38\x01"), "True", true},
		{[]byte("\x38\x00"), "False", true},
		// Python: str(float(np.float32(0.3455101549625397))), str(0.125), …
		{f32(0.3455101549625397), "0.3455101549625397", true},
		{f32(0.125), "0.125", true},
		{f64(32.91), "32.91", true},
		{f64(4242), "4242.0", true},
		{f64(1e16), "1e+16", true},
		{f64(1.5e-5), "1.5e-05", true},
		{f64(0.0001), "0.0001", true},
		{f64(123456789012345.6), "123456789012345.6", true},
		{f64(math.Copysign(0, -1)), "-0.0", true},
		{f64(math.Inf(-1)), "-inf", true},
		{[]byte("\x98\x01\x00"), "", false}, // null_val
		{nil, "", false},
	}
	for _, c := range cases {
		got, ok := valueText(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("valueText(%x) = %q %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestSQLShapes(t *testing.T) {
	q := selectSQL(`p_v"x`, 2, 3)
	for _, want := range []string{"(0, $1::bytea),(1, $2::bytea)", "(0, $3::text),(1, $4::text),(2, $5::text)", `LEFT JOIN "p_v""x" AS t`, "ORDER BY pos"} {
		if !strings.Contains(q, want) {
			t.Errorf("selectSQL lacks %q:\n%s", want, q)
		}
	}
	if !strings.Contains(dropTableSQL("p_v"), `DROP INDEX IF EXISTS "p_v_ek"`) {
		t.Error("drop does not drop Feast's index")
	}
}
