package sdk

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/larder-dev/larder/abi"
)

// batch lays the parameters out as a one-row batch, one column per parameter.
func paramsBatch(p *Params, meta []byte) *abi.Batch {
	n := len(p.kinds)
	for len(p.names) < n {
		p.names = append(p.names, paramName(len(p.names)))
	}
	var offs []byte
	for i := 0; i < n; i++ {
		if t := p.kinds[i]; t == abi.TypeBytes || t == abi.TypeString {
			offs = le32(offs, 0)
			offs = le32(offs, uint32(p.spans[i+1]-p.spans[i]))
		}
	}
	var cols []abi.Column
	k := 0
	for i := 0; i < n; i++ {
		c := abi.Column{Name: p.names[i], Type: p.kinds[i]}
		v := p.data[p.spans[i]:p.spans[i+1]]
		switch c.Type {
		case abi.TypeNull:
			c.NullCount = 1
		case abi.TypeBytes, abi.TypeString:
			c.Offsets = offs[k : k+8]
			k += 8
			if len(v) > 0 {
				c.Values = v
			}
		default:
			c.Values = v
		}
		cols = append(cols, c)
	}
	rows := 0
	if n > 0 {
		rows = 1
	}
	return &abi.Batch{Rows: rows, Metadata: meta, Columns: cols}
}

// responseBatch is the reference encoding of a read response, with the abi builders.
func responseBatch(slots []readSlot) *abi.Batch {
	v := abi.NewColumnBuilder(abi.ColValue, abi.TypeBytes, len(slots))
	ts := abi.NewColumnBuilder(abi.ColEventTS, abi.TypeUnixTimestamp, len(slots))
	st := abi.NewColumnBuilder(abi.ColStatus, abi.TypeStatus, len(slots))
	for _, s := range slots {
		if s.set {
			v.AppendBytes(s.value)
			ts.AppendTimestamp(s.ts)
			st.AppendStatus(abi.FieldPresent)
		} else {
			v.AppendNull()
			ts.AppendNull()
			st.AppendStatus(abi.FieldNotFound)
		}
	}
	return &abi.Batch{Rows: len(slots), Columns: []abi.Column{v.Column(), ts.Column(), st.Column()}}
}

func TestAppendReadResponseMatchesCodec(t *testing.T) {
	present := func(v string, ts int64) readSlot { return readSlot{value: []byte(v), ts: ts, set: true} }
	many := make([]readSlot, 1001)
	for i := range many {
		if i%7 != 3 {
			many[i] = present(fmt.Sprint("value-", i), int64(i)*1_000_000)
		}
	}
	for name, slots := range map[string][]readSlot{
		"empty":        nil,
		"all present":  {present("a", 1), present("bcd", -2), present("", 3)},
		"all missing":  {{}, {}, {}},
		"mixed":        {present("xyz", 5), {}, present("q", 7), {}, {}, {}, {}, {}, present("last", 9)},
		"empty values": {present("", 1), present("", 2)},
		"1001 rows":    many,
	} {
		want, err := responseBatch(slots).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		// Reuse a dirty buffer: padding must still come out zero.
		dirty := bytes.Repeat([]byte{0xAB}, len(want)+100)
		got := appendReadResponse(dirty[:0], slots)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: hand-rolled response differs from abi.Encode\n got %x\nwant %x", name, got, want)
		}
		if _, err := abi.Decode(got); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAppendParamsMatchesCodec(t *testing.T) {
	var p Params
	for name, fill := range map[string]func(){
		"none": func() {},
		"mixed": func() {
			p.Bytes([]byte("blob"))
			p.String("text")
			p.Int64(-7)
			p.Float64(2.5)
			p.Bool(true)
			p.Null()
			p.Bytes(nil)
		},
		"keys": func() {
			for i := 0; i < 300; i++ {
				p.Bytes([]byte(fmt.Sprintf("entity-key-%d", i)))
			}
		},
	} {
		p.Reset()
		fill()
		meta := []byte(`{"sql":"SELECT 1","result_types":["INT64"]}`)
		want, err := paramsBatch(&p, meta).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		got := appendParams(bytes.Repeat([]byte{0xCD}, 64)[:0], meta, &p)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: hand-rolled parameters differ from abi.Encode\n got %x\nwant %x", name, got, want)
		}
	}
}

// segmentsOf builds query-result-like columns for slots (a present slot with ts < 0 gets a
// null event time, which must read as the epoch).
func segmentsOf(t *testing.T, slots []readSlot) (*abi.Column, *abi.Column) {
	v := abi.NewColumnBuilder("value", abi.TypeBytes, len(slots))
	ts := abi.NewColumnBuilder("ts", abi.TypeUnixTimestamp, len(slots))
	for _, s := range slots {
		if !s.set {
			v.AppendNull()
			ts.AppendNull()
			continue
		}
		v.AppendBytes(s.value)
		if s.ts < 0 {
			ts.AppendNull()
		} else {
			ts.AppendTimestamp(s.ts)
		}
	}
	out, err := (&abi.Batch{Rows: len(slots), Columns: []abi.Column{v.Column(), ts.Column()}}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := abi.Decode(out) // as a plugin gets them: aliasing a decoded region
	if err != nil {
		t.Fatal(err)
	}
	return &b.Columns[0], &b.Columns[1]
}

func TestAppendSegmentsMatchesCodec(t *testing.T) {
	mk := func(n int, present func(i int) bool, tsNull func(i int) bool) []readSlot {
		s := make([]readSlot, n)
		for i := range s {
			if present(i) {
				s[i] = readSlot{value: []byte(fmt.Sprint("v", i)), ts: int64(i) * 10, set: true}
				if tsNull(i) {
					s[i].ts = -1
				}
			}
		}
		return s
	}
	all := func(int) bool { return true }
	none := func(int) bool { return false }
	some := func(i int) bool { return i%3 != 1 }
	for _, c := range []struct {
		name  string
		parts [][]readSlot
		pad   int // rows no segment covers
	}{
		{"one full segment", [][]readSlot{mk(100, all, none)}, 0},
		{"one segment with nulls", [][]readSlot{mk(100, some, none)}, 0},
		{"unaligned segments", [][]readSlot{mk(13, some, none), mk(7, all, none), mk(21, some, none), mk(3, none, none)}, 0},
		{"aligned segments", [][]readSlot{mk(16, all, none), mk(8, some, none), mk(24, all, none)}, 0},
		{"padding", [][]readSlot{mk(5, all, none)}, 6},
		{"nothing appended", nil, 9},
		{"empty", nil, 0},
		{"present without event time", [][]readSlot{mk(10, all, func(i int) bool { return i == 4 })}, 0},
	} {
		var want []readSlot
		var segs []segment
		r := ReadResponse{mode: modeAppend}
		for _, p := range c.parts {
			for _, s := range p {
				if s.set && s.ts < 0 {
					s.ts = 0
				}
				want = append(want, s)
			}
			v, ts := segmentsOf(t, p)
			r.rows += len(p)
			if err := r.Append(len(p), v, ts); err != nil {
				t.Fatal(err)
			}
		}
		segs = r.segs
		want = append(want, make([]readSlot, c.pad)...)
		ref, err := responseBatch(want).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		got := appendSegments(bytes.Repeat([]byte{0xEE}, 50)[:0], len(want), segs)
		if !bytes.Equal(got, ref) {
			t.Errorf("%s: appended response differs from abi.Encode\n got %x\nwant %x", c.name, got, ref)
		}
	}
}

func TestAppendChecks(t *testing.T) {
	v, ts := segmentsOf(t, []readSlot{{value: []byte("a"), set: true}, {}})
	r := ReadResponse{rows: 3}
	if err := r.Append(2, ts, v); err == nil {
		t.Error("swapped columns were accepted")
	}
	if err := r.Append(3, v, ts); err == nil {
		t.Error("more rows than the columns hold were accepted")
	}
	if err := r.Append(2, v, ts); err != nil {
		t.Fatal(err)
	}
	if err := r.Append(2, v, ts); err == nil {
		t.Error("appending past the response's rows was accepted")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Set after Append did not panic")
			}
		}()
		r.Set(0, 0, nil, 0)
	}()
}

func TestAppendColumnsMatchesCodec(t *testing.T) {
	v, ts := segmentsOf(t, []readSlot{{value: []byte("a"), ts: 5, set: true}, {}, {value: []byte("bc"), ts: 7, set: true}})
	i32 := abi.NewColumnBuilder("n", abi.TypeInt32List, 3)
	i32.AppendInt32List([]int32{1, 2})
	i32.AppendNull()
	i32.AppendInt32List(nil)
	sl := abi.NewColumnBuilder("s", abi.TypeStringList, 3)
	sl.AppendStringList([]string{"x", "yz"})
	sl.AppendStringList(nil)
	sl.AppendStringList([]string{""})
	cols := []abi.Column{*v, *ts, i32.Column(), sl.Column(), {Name: "z", Type: abi.TypeNull, NullCount: 3}}
	meta := []byte(`{"sql":"INSERT"}`)
	want, err := (&abi.Batch{Rows: 3, Metadata: meta, Columns: cols}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendColumns(bytes.Repeat([]byte{0x77}, 40)[:0], 3, meta, cols); !bytes.Equal(got, want) {
		t.Errorf("appendColumns differs from abi.Encode\n got %x\nwant %x", got, want)
	}
}
