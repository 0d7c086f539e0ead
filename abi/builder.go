package abi

import "math"

// ColumnBuilder appends values of one type to a column. Appending a value of another
// type than the builder's is a programming error and panics.
type ColumnBuilder struct {
	name      string
	typ       Type
	rows      int
	nulls     int
	validity  []byte // allocated lazily on the first null
	offsets   []byte
	values    []byte
	elems     int    // list elements so far
	elemValid []byte // child validity, allocated lazily
	elemNulls int
	childOffs []byte
	bits      int // bit-packed BOOL values so far (rows or elements)
}

// NewColumnBuilder returns a builder for a column of type t with room for about capacityHint rows.
func NewColumnBuilder(name string, t Type, capacityHint int) *ColumnBuilder {
	cb := &ColumnBuilder{name: name, typ: t}
	if w := fixedWidth(t); w > 0 && !t.IsList() {
		cb.values = make([]byte, 0, capacityHint*w)
	}
	if t == TypeBytes || t == TypeString || t.IsList() {
		cb.offsets = make([]byte, 4, (capacityHint+1)*4)
	}
	if isVarWidth(t) && t.IsList() {
		cb.childOffs = make([]byte, 4, (capacityHint+1)*4)
	}
	return cb
}

// Len returns the number of rows appended.
func (cb *ColumnBuilder) Len() int { return cb.rows }

// Type returns the column type.
func (cb *ColumnBuilder) Type() Type { return cb.typ }

// Reset drops all rows and keeps the buffers' capacity.
func (cb *ColumnBuilder) Reset() {
	cb.rows, cb.nulls, cb.elems, cb.elemNulls, cb.bits = 0, 0, 0, 0, 0
	cb.validity = cb.validity[:0]
	cb.values = cb.values[:0]
	cb.elemValid = cb.elemValid[:0]
	if cb.offsets != nil {
		cb.offsets = cb.offsets[:4]
	}
	if cb.childOffs != nil {
		cb.childOffs = cb.childOffs[:4]
	}
	if cb.validity != nil && cap(cb.validity) == 0 {
		cb.validity = nil
	}
}

// Column returns the column built so far; it shares the builder's buffers until the next append.
func (cb *ColumnBuilder) Column() Column {
	c := Column{Name: cb.name, Type: cb.typ, NullCount: cb.nulls}
	if cb.typ == TypeNull {
		c.NullCount = cb.rows
		return c
	}
	if cb.nulls > 0 {
		c.Validity = cb.validity[:bitmapBytes(cb.rows)]
	}
	if len(cb.values) > 0 {
		c.Values = cb.values
	}
	if cb.offsets != nil && (cb.rows > 0) {
		c.Offsets = cb.offsets
	}
	if cb.typ.IsList() {
		if cb.elemNulls > 0 {
			c.ChildValidity = cb.elemValid[:bitmapBytes(cb.elems)]
		}
		if cb.childOffs != nil && cb.rows > 0 {
			c.ChildOffsets = cb.childOffs
		}
	}
	return c
}

func setBit(bm []byte, i int, v bool) []byte {
	for len(bm) <= i>>3 {
		bm = append(bm, 0)
	}
	if v {
		bm[i>>3] |= 1 << (uint(i) & 7)
	} else {
		bm[i>>3] &^= 1 << (uint(i) & 7)
	}
	return bm
}

// markValid records row validity. The bitmap is created on the first null, back-filled with ones.
func (cb *ColumnBuilder) markValid(valid bool) {
	if !valid && cb.nulls == 0 && len(cb.validity) == 0 {
		for i := 0; i < cb.rows; i++ {
			cb.validity = setBit(cb.validity, i, true)
		}
	}
	if !valid || cb.nulls > 0 || len(cb.validity) > 0 {
		cb.validity = setBit(cb.validity, cb.rows, valid)
	}
	if !valid {
		cb.nulls++
	}
	cb.rows++
}

func (cb *ColumnBuilder) must(t Type) {
	if cb.typ != t {
		panic("abi: appending " + t.String() + " to a " + cb.typ.String() + " column " + cb.name)
	}
}

func appendU32(b []byte, v uint32) []byte { return le.AppendUint32(b, v) }

// AppendNull appends a null row.
func (cb *ColumnBuilder) AppendNull() {
	switch {
	case cb.typ == TypeNull:
	case cb.typ == TypeBool:
		cb.values = setBit(cb.values, cb.bits, false)
		cb.bits++
	case cb.typ == TypeBytes || cb.typ == TypeString:
		cb.offsets = appendU32(cb.offsets, uint32(len(cb.values)))
	case cb.typ.IsList():
		cb.offsets = appendU32(cb.offsets, uint32(cb.elems))
	default:
		cb.values = append(cb.values, make([]byte, fixedWidth(cb.typ))...)
	}
	if cb.typ == TypeNull {
		cb.rows++
		cb.nulls++
		return
	}
	cb.markValid(false)
}

func (cb *ColumnBuilder) AppendInt32(v int32) {
	cb.must(TypeInt32)
	cb.values = appendU32(cb.values, uint32(v))
	cb.markValid(true)
}

func (cb *ColumnBuilder) AppendInt64(v int64) {
	cb.must(TypeInt64)
	cb.values = le.AppendUint64(cb.values, uint64(v))
	cb.markValid(true)
}

func (cb *ColumnBuilder) AppendFloat32(v float32) {
	cb.must(TypeFloat)
	cb.values = appendU32(cb.values, math.Float32bits(v))
	cb.markValid(true)
}

func (cb *ColumnBuilder) AppendFloat64(v float64) {
	cb.must(TypeDouble)
	cb.values = le.AppendUint64(cb.values, math.Float64bits(v))
	cb.markValid(true)
}

func (cb *ColumnBuilder) AppendBool(v bool) {
	cb.must(TypeBool)
	cb.values = setBit(cb.values, cb.bits, v)
	cb.bits++
	cb.markValid(true)
}

// AppendTimestamp appends microseconds since the Unix epoch.
func (cb *ColumnBuilder) AppendTimestamp(micros int64) {
	cb.must(TypeUnixTimestamp)
	cb.values = le.AppendUint64(cb.values, uint64(micros))
	cb.markValid(true)
}

func (cb *ColumnBuilder) AppendStatus(s FieldStatus) {
	cb.must(TypeStatus)
	cb.values = append(cb.values, byte(s))
	cb.markValid(true)
}

// AppendBytes appends to a BYTES or STRING column (the bytes must be UTF-8 for STRING).
func (cb *ColumnBuilder) AppendBytes(v []byte) {
	if cb.typ != TypeString {
		cb.must(TypeBytes)
	}
	cb.values = append(cb.values, v...)
	cb.offsets = appendU32(cb.offsets, uint32(len(cb.values)))
	cb.markValid(true)
}

// AppendString appends to a STRING or BYTES column.
func (cb *ColumnBuilder) AppendString(v string) {
	if cb.typ != TypeBytes {
		cb.must(TypeString)
	}
	cb.values = append(cb.values, v...)
	cb.offsets = appendU32(cb.offsets, uint32(len(cb.values)))
	cb.markValid(true)
}

// endList closes a list row of n elements, all valid.
func (cb *ColumnBuilder) endList(n int) {
	if cb.elemNulls > 0 || len(cb.elemValid) > 0 {
		for j := 0; j < n; j++ {
			cb.elemValid = setBit(cb.elemValid, cb.elems+j, true)
		}
	}
	cb.elems += n
	cb.offsets = appendU32(cb.offsets, uint32(cb.elems))
	cb.markValid(true)
}

func (cb *ColumnBuilder) AppendInt32List(v []int32) {
	cb.must(TypeInt32List)
	for _, x := range v {
		cb.values = appendU32(cb.values, uint32(x))
	}
	cb.endList(len(v))
}

func (cb *ColumnBuilder) AppendInt64List(v []int64) {
	cb.must(TypeInt64List)
	for _, x := range v {
		cb.values = le.AppendUint64(cb.values, uint64(x))
	}
	cb.endList(len(v))
}

// AppendTimestampList appends a list of microsecond timestamps.
func (cb *ColumnBuilder) AppendTimestampList(v []int64) {
	cb.must(TypeUnixTimestampList)
	for _, x := range v {
		cb.values = le.AppendUint64(cb.values, uint64(x))
	}
	cb.endList(len(v))
}

func (cb *ColumnBuilder) AppendFloat32List(v []float32) {
	cb.must(TypeFloatList)
	for _, x := range v {
		cb.values = appendU32(cb.values, math.Float32bits(x))
	}
	cb.endList(len(v))
}

func (cb *ColumnBuilder) AppendFloat64List(v []float64) {
	cb.must(TypeDoubleList)
	for _, x := range v {
		cb.values = le.AppendUint64(cb.values, math.Float64bits(x))
	}
	cb.endList(len(v))
}

func (cb *ColumnBuilder) AppendBoolList(v []bool) {
	cb.must(TypeBoolList)
	for _, x := range v {
		cb.values = setBit(cb.values, cb.bits, x)
		cb.bits++
	}
	cb.endList(len(v))
}

func (cb *ColumnBuilder) AppendBytesList(v [][]byte) {
	cb.must(TypeBytesList)
	for _, x := range v {
		cb.values = append(cb.values, x...)
		cb.childOffs = appendU32(cb.childOffs, uint32(len(cb.values)))
	}
	cb.endList(len(v))
}

func (cb *ColumnBuilder) AppendStringList(v []string) {
	cb.must(TypeStringList)
	for _, x := range v {
		cb.values = append(cb.values, x...)
		cb.childOffs = appendU32(cb.childOffs, uint32(len(cb.values)))
	}
	cb.endList(len(v))
}
