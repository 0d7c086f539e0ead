package abi

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
)

// allTypesBatch builds one column per type with a null in row 1 and distinctive values elsewhere.
func allTypesBatch(t testing.TB) *Batch {
	const rows = 3
	var cols []Column
	add := func(name string, typ Type, appendRow func(cb *ColumnBuilder, i int)) {
		cb := NewColumnBuilder(name, typ, rows)
		for i := 0; i < rows; i++ {
			if i == 1 {
				cb.AppendNull()
				continue
			}
			appendRow(cb, i)
		}
		cols = append(cols, cb.Column())
	}
	add("bytes", TypeBytes, func(cb *ColumnBuilder, i int) { cb.AppendBytes([]byte{byte(i), 0, 0xff}) })
	add("string", TypeString, func(cb *ColumnBuilder, i int) { cb.AppendString([]string{"héllo", "", ""}[i]) })
	add("int32", TypeInt32, func(cb *ColumnBuilder, i int) { cb.AppendInt32(int32(-7 * (i + 1))) })
	add("int64", TypeInt64, func(cb *ColumnBuilder, i int) { cb.AppendInt64(math.MinInt64 + int64(i)) })
	add("double", TypeDouble, func(cb *ColumnBuilder, i int) { cb.AppendFloat64(0.1 * float64(i+1)) })
	add("float", TypeFloat, func(cb *ColumnBuilder, i int) { cb.AppendFloat32(float32(i) + 0.5) })
	add("bool", TypeBool, func(cb *ColumnBuilder, i int) { cb.AppendBool(i == 2) })
	add("ts", TypeUnixTimestamp, func(cb *ColumnBuilder, i int) { cb.AppendTimestamp(1_700_000_000_123_456 + int64(i)) })
	add("bytes_list", TypeBytesList, func(cb *ColumnBuilder, i int) { cb.AppendBytesList([][]byte{{1}, {}, {2, 3}}[:i+1]) })
	add("string_list", TypeStringList, func(cb *ColumnBuilder, i int) { cb.AppendStringList([]string{"a", "ß", ""}[:i+1]) })
	add("int32_list", TypeInt32List, func(cb *ColumnBuilder, i int) { cb.AppendInt32List([]int32{1, -2, 3}[:i]) })
	add("int64_list", TypeInt64List, func(cb *ColumnBuilder, i int) { cb.AppendInt64List([]int64{math.MaxInt64, 0, -1}[:i+1]) })
	add("double_list", TypeDoubleList, func(cb *ColumnBuilder, i int) { cb.AppendFloat64List([]float64{1.5, math.Inf(-1)}[:i%2+1]) })
	add("float_list", TypeFloatList, func(cb *ColumnBuilder, i int) { cb.AppendFloat32List([]float32{2.25, -0}[:i%2+1]) })
	add("bool_list", TypeBoolList, func(cb *ColumnBuilder, i int) { cb.AppendBoolList([]bool{true, false, true, true, false, true, true, true, false}[:i*4+1]) })
	add("ts_list", TypeUnixTimestampList, func(cb *ColumnBuilder, i int) { cb.AppendTimestampList([]int64{5, 6}[:i%2+1]) })
	add("status", TypeStatus, func(cb *ColumnBuilder, i int) { cb.AppendStatus(FieldStatus(i + 1)) })
	nulls := NewColumnBuilder("null", TypeNull, rows)
	for i := 0; i < rows; i++ {
		nulls.AppendNull()
	}
	cols = append(cols, nulls.Column())
	return &Batch{Rows: rows, Metadata: []byte(`{"project":"p"}`), Columns: cols}
}

func TestBatchRoundTripEveryType(t *testing.T) {
	in := allTypesBatch(t)
	buf, err := in.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(buf) != in.EncodedSize() {
		t.Fatalf("encoded %d bytes, EncodedSize says %d", len(buf), in.EncodedSize())
	}
	out, err := Decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	if out.Rows != in.Rows || string(out.Metadata) != string(in.Metadata) || len(out.Columns) != len(in.Columns) {
		t.Fatalf("header mismatch: got rows=%d meta=%q cols=%d", out.Rows, out.Metadata, len(out.Columns))
	}
	for i := range in.Columns {
		a, b := in.Columns[i], out.Columns[i]
		if a.Name != b.Name || a.Type != b.Type || a.NullCount != b.NullCount ||
			!bytes.Equal(a.Validity, b.Validity) || !bytes.Equal(a.Offsets, b.Offsets) ||
			!bytes.Equal(a.Values, b.Values) || !bytes.Equal(a.ChildOffsets, b.ChildOffsets) {
			t.Errorf("column %s differs after round trip:\n in  %+v\n out %+v", a.Name, a, b)
		}
	}
	// Spot-check the accessors against what was appended.
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"bytes[2]", out.Column("bytes").Bytes(2), []byte{2, 0, 0xff}},
		{"string[0]", out.Column("string").String(0), "héllo"},
		{"string null", out.Column("string").IsNull(1), true},
		{"int32[2]", out.Column("int32").Int32(2), int32(-21)},
		{"int64[0]", out.Column("int64").Int64(0), int64(math.MinInt64)},
		{"double[2]", out.Column("double").Float64(2), 0.1 * float64(len("abc"))},
		{"float[2]", out.Column("float").Float32(2), float32(2.5)},
		{"bool[0]", out.Column("bool").Bool(0), false},
		{"bool[2]", out.Column("bool").Bool(2), true},
		{"bool null", out.Column("bool").IsNull(1), true},
		{"ts[2]", out.Column("ts").Timestamp(2), int64(1_700_000_000_123_458)},
		{"status[2]", out.Column("status").Status(2), FieldNotFound},
		{"null col", out.Column("null").IsNull(0), true},
		{"int64 not null", out.Column("int64").IsNull(2), false},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	sl := out.Column("string_list")
	s, e := sl.ListRange(2)
	var got []string
	for j := s; j < e; j++ {
		got = append(got, sl.ElemString(j))
	}
	if !reflect.DeepEqual(got, []string{"a", "ß", ""}) {
		t.Errorf("string_list[2] = %q", got)
	}
	bl := out.Column("bool_list")
	s, e = bl.ListRange(2)
	var bools []bool
	for j := s; j < e; j++ {
		bools = append(bools, bl.ElemBool(j))
	}
	if !reflect.DeepEqual(bools, []bool{true, false, true, true, false, true, true, true, false}) {
		t.Errorf("bool_list[2] = %v", bools)
	}
	il := out.Column("int32_list")
	if s, e := il.ListRange(0); s != e {
		t.Errorf("int32_list[0] should be empty, range %d..%d", s, e)
	}
}

func TestBatchEmpty(t *testing.T) {
	for _, b := range []*Batch{
		{},
		{Rows: 5},
		{Columns: []Column{NewColumnBuilder("x", TypeString, 0).Column(), NewColumnBuilder("y", TypeInt64List, 0).Column()}},
	} {
		buf, err := b.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Decode(buf)
		if err != nil {
			t.Fatalf("decoding %+v: %v", b, err)
		}
		if out.Rows != b.Rows || len(out.Columns) != len(b.Columns) {
			t.Fatalf("got %+v", out)
		}
	}
}

func TestBuilderReset(t *testing.T) {
	cb := NewColumnBuilder("s", TypeString, 2)
	cb.AppendString("a")
	cb.AppendNull()
	cb.Reset()
	cb.AppendString("bc")
	c := cb.Column()
	if c.NullCount != 0 || c.Validity != nil || c.String(0) != "bc" || cb.Len() != 1 {
		t.Fatalf("after reset: %+v", c)
	}
}

// corrupt returns a valid encoding of a small batch with one mutation applied.
func corrupt(t *testing.T, mutate func(buf []byte) []byte) []byte {
	t.Helper()
	cb := NewColumnBuilder("s", TypeString, 2)
	cb.AppendString("ab")
	cb.AppendNull()
	buf, err := (&Batch{Rows: 2, Columns: []Column{cb.Column()}}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return mutate(buf)
}

func TestDecodeRejectsMalformed(t *testing.T) {
	// Layout of the small batch: header 32, column table at 32 (64 bytes), name at 96,
	// validity at 104, offsets at 112 (12 bytes), values at 128.
	desc := BatchHeaderSize
	cases := []struct {
		name   string
		mutate func([]byte) []byte
	}{
		{"short", func(b []byte) []byte { return b[:10] }},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"layout version", func(b []byte) []byte { b[4] = 9; return b }},
		{"total length", func(b []byte) []byte { le.PutUint32(b[8:], 1); return b }},
		{"truncated", func(b []byte) []byte { b = b[:len(b)-8]; le.PutUint32(b[8:], uint32(len(b))); return b }},
		{"too many columns", func(b []byte) []byte { le.PutUint32(b[16:], 1<<30); return b }},
		{"rows mismatch", func(b []byte) []byte { le.PutUint32(b[12:], 3); return b }},
		{"table misaligned", func(b []byte) []byte { le.PutUint32(b[28:], 33); return b }},
		{"table in header", func(b []byte) []byte { le.PutUint32(b[28:], 0); return b }},
		{"name out of range", func(b []byte) []byte { le.PutUint32(b[desc:], 1<<20); return b }},
		{"empty name", func(b []byte) []byte { le.PutUint32(b[desc+4:], 0); le.PutUint32(b[desc:], 0); return b }},
		{"unknown type", func(b []byte) []byte { le.PutUint16(b[desc+8:], 99); return b }},
		{"unknown flag", func(b []byte) []byte { le.PutUint16(b[desc+10:], 6); return b }},
		{"null count", func(b []byte) []byte { le.PutUint32(b[desc+12:], 2); return b }},
		{"offsets decreasing", func(b []byte) []byte { le.PutUint32(b[112+4:], 3); return b }},
		{"offsets not from zero", func(b []byte) []byte { le.PutUint32(b[112:], 1); return b }},
		{"offsets misaligned", func(b []byte) []byte { le.PutUint32(b[desc+24:], 113); return b }},
		{"bad utf8", func(b []byte) []byte { b[128] = 0xff; return b }},
		{"reserved", func(b []byte) []byte { b[desc+60] = 1; return b }},
		{"metadata overlaps header", func(b []byte) []byte { le.PutUint32(b[20:], 8); le.PutUint32(b[24:], 4); return b }},
		{"validity without flag", func(b []byte) []byte { le.PutUint16(b[desc+10:], 0); return b }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(corrupt(t, c.mutate))
			if !errors.Is(err, ErrSerializationFailure) {
				t.Fatalf("want a serialization failure, got %v", err)
			}
		})
	}
}

func TestEncodeRejectsInconsistentColumns(t *testing.T) {
	cb := NewColumnBuilder("x", TypeInt64, 1)
	cb.AppendInt64(1)
	if _, err := (&Batch{Rows: 2, Columns: []Column{cb.Column()}}).Encode(nil); err == nil {
		t.Fatal("encoding a 1-row column into a 2-row batch succeeded")
	}
}

func TestStatusErrors(t *testing.T) {
	for s := StatusNotFound; s <= StatusInternal; s++ {
		if StatusOf(s.Err()) != s {
			t.Errorf("StatusOf(%v.Err()) = %v", s, StatusOf(s.Err()))
		}
	}
	if Status(99).Err() != ErrInternal || StatusOf(errors.New("x")) != StatusInternal || StatusOf(nil) != StatusOK {
		t.Error("unknown statuses must map to INTERNAL")
	}
	if p, l := UnpackRegion(PackRegion(7, 9)); p != 7 || l != 9 {
		t.Error("region packing")
	}
}

func FuzzDecode(f *testing.F) {
	seed, _ := allTypesBatch(f).Encode(nil)
	f.Add(seed)
	f.Add([]byte("LBF1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			return
		}
		// Anything Decode accepts must be readable everywhere and re-encode to a decodable batch.
		for i := range b.Columns {
			c := &b.Columns[i]
			for r := 0; r < b.Rows; r++ {
				readAny(c, r)
			}
		}
		again, err := b.Encode(nil)
		if err != nil {
			t.Fatalf("accepted batch does not re-encode: %v", err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
	})
}

func readAny(c *Column, r int) {
	c.IsNull(r)
	switch c.Type {
	case TypeBytes, TypeString:
		c.Bytes(r)
	case TypeInt32:
		c.Int32(r)
	case TypeInt64, TypeUnixTimestamp:
		c.Int64(r)
	case TypeDouble:
		c.Float64(r)
	case TypeFloat:
		c.Float32(r)
	case TypeBool:
		c.Bool(r)
	case TypeStatus:
		c.Status(r)
	case TypeNull:
	default:
		s, e := c.ListRange(r)
		for j := s; j < e; j++ {
			c.ElemIsNull(j)
			switch c.Type {
			case TypeBytesList, TypeStringList:
				c.ElemBytes(j)
			case TypeBoolList:
				c.ElemBool(j)
			case TypeInt32List, TypeFloatList:
				c.ElemInt32(j)
			default:
				c.ElemInt64(j)
			}
		}
	}
}

func benchBatch(rows, features int) *Batch {
	cols := []Column{}
	ek := NewColumnBuilder(ColEntityKey, TypeBytes, rows)
	ts := NewColumnBuilder(ColEventTS, TypeUnixTimestamp, rows)
	for r := 0; r < rows; r++ {
		ek.AppendBytes([]byte("\x01\x00\x00\x00\x02\x00\x00\x00\x09\x00\x00\x00driver_id\x04\x00\x00\x00\x08\x00\x00\x00\xe9\x03\x00\x00\x00\x00\x00\x00"))
		ts.AppendTimestamp(int64(r))
	}
	cols = append(cols, ek.Column(), ts.Column())
	for f := 0; f < features; f++ {
		cb := NewColumnBuilder("f"+string(rune('a'+f)), TypeBytes, rows)
		for r := 0; r < rows; r++ {
			cb.AppendBytes([]byte{0x31, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f})
		}
		cols = append(cols, cb.Column())
	}
	return &Batch{Rows: rows, Metadata: []byte(`{"project":"p","view":"v"}`), Columns: cols}
}

func BenchmarkBatch(b *testing.B) {
	for _, size := range []struct {
		name           string
		rows, features int
	}{{"100x10", 100, 10}, {"1024x10", 1024, 10}} {
		batch := benchBatch(size.rows, size.features)
		buf, _ := batch.Encode(nil)
		b.Run("encode/"+size.name, func(b *testing.B) {
			dst := make([]byte, 0, len(buf))
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				dst, _ = batch.Encode(dst[:0])
			}
		})
		b.Run("decode/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := Decode(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
