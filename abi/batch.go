package abi

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// Layout constants of the LBF1 batch format (spec §5).
const (
	BatchMagic         = "LBF1"
	BatchLayoutVersion = 1
	BatchHeaderSize    = 32
	ColumnDescSize     = 64
	batchAlign         = 8
)

const flagHasValidity = 1

var le = binary.LittleEndian

// Column is one column of a batch. After Decode its slices alias the decoded buffer.
type Column struct {
	Name          string
	Type          Type
	Validity      []byte // nil = all valid; else ceil(rows/8) bytes, LSB first
	NullCount     int
	Offsets       []byte // raw little-endian int32s (rows+1) for BYTES, STRING and lists
	Values        []byte
	ChildValidity []byte // list element validity, nil = all valid
	ChildOffsets  []byte // raw int32 element offsets for BYTES_LIST and STRING_LIST
}

// Batch is a decoded or to-be-encoded LBF1 batch.
type Batch struct {
	Rows     int
	Metadata []byte // a JSON object or nil
	Columns  []Column
}

// Column returns the column called name, or nil.
func (b *Batch) Column(name string) *Column {
	for i := range b.Columns {
		if b.Columns[i].Name == name {
			return &b.Columns[i]
		}
	}
	return nil
}

// IsNull reports whether row i is null.
func (c *Column) IsNull(i int) bool {
	if c.Type == TypeNull {
		return true
	}
	return c.Validity != nil && c.Validity[i>>3]&(1<<(uint(i)&7)) == 0
}

func (c *Column) Int32(i int) int32     { return int32(le.Uint32(c.Values[i*4:])) }
func (c *Column) Int64(i int) int64     { return int64(le.Uint64(c.Values[i*8:])) }
func (c *Column) Float32(i int) float32 { return math.Float32frombits(le.Uint32(c.Values[i*4:])) }
func (c *Column) Float64(i int) float64 { return math.Float64frombits(le.Uint64(c.Values[i*8:])) }
func (c *Column) Bool(i int) bool       { return c.Values[i>>3]&(1<<(uint(i)&7)) != 0 }

// Timestamp returns row i as microseconds since the Unix epoch.
func (c *Column) Timestamp(i int) int64    { return c.Int64(i) }
func (c *Column) Status(i int) FieldStatus { return FieldStatus(c.Values[i]) }

func offsetAt(raw []byte, i int) int { return int(int32(le.Uint32(raw[i*4:]))) }

// Bytes returns row i of a BYTES or STRING column; the slice aliases the batch.
func (c *Column) Bytes(i int) []byte {
	return c.Values[offsetAt(c.Offsets, i):offsetAt(c.Offsets, i+1)]
}

// String returns row i of a STRING or BYTES column as a new string.
func (c *Column) String(i int) string { return string(c.Bytes(i)) }

// ListRange returns the element index range [start, end) of row i of a list column.
func (c *Column) ListRange(i int) (start, end int) {
	return offsetAt(c.Offsets, i), offsetAt(c.Offsets, i+1)
}

// ElemIsNull reports whether list element j is null.
func (c *Column) ElemIsNull(j int) bool {
	return c.ChildValidity != nil && c.ChildValidity[j>>3]&(1<<(uint(j)&7)) == 0
}

func (c *Column) ElemInt32(j int) int32     { return c.Int32(j) }
func (c *Column) ElemInt64(j int) int64     { return c.Int64(j) }
func (c *Column) ElemFloat32(j int) float32 { return c.Float32(j) }
func (c *Column) ElemFloat64(j int) float64 { return c.Float64(j) }
func (c *Column) ElemBool(j int) bool       { return c.Bool(j) }

// ElemBytes returns element j of a BYTES_LIST or STRING_LIST column; it aliases the batch.
func (c *Column) ElemBytes(j int) []byte {
	return c.Values[offsetAt(c.ChildOffsets, j):offsetAt(c.ChildOffsets, j+1)]
}
func (c *Column) ElemString(j int) string { return string(c.ElemBytes(j)) }

// fixedWidth is the byte width of one value (or list element) of t; 0 for variable or bit-packed.
func fixedWidth(t Type) int {
	switch t.Elem() {
	case TypeInt32, TypeFloat:
		return 4
	case TypeInt64, TypeDouble, TypeUnixTimestamp:
		return 8
	case TypeStatus:
		return 1
	}
	return 0
}

func isVarWidth(t Type) bool { e := t.Elem(); return e == TypeBytes || e == TypeString }

func pad8(n int) int { return (n + batchAlign - 1) &^ (batchAlign - 1) }

// EncodedSize returns the exact length Encode will append.
func (b *Batch) EncodedSize() int {
	n := BatchHeaderSize + pad8(len(b.Metadata)) + len(b.Columns)*ColumnDescSize
	for i := range b.Columns {
		c := &b.Columns[i]
		n += pad8(len(c.Name)) + pad8(len(c.Validity)) + pad8(len(c.Offsets)) + pad8(len(c.Values)) +
			pad8(len(c.ChildValidity)) + pad8(len(c.ChildOffsets))
	}
	return n
}

// Encode appends the batch as one LBF1 region to dst. It checks buffer sizes against
// Rows so a host or guest cannot produce a batch its peer would reject as malformed.
func (b *Batch) Encode(dst []byte) ([]byte, error) {
	for i := range b.Columns {
		if err := checkColumn(&b.Columns[i], b.Rows, false); err != nil {
			return dst, fmt.Errorf("encoding batch: column %d %q: %w", i, b.Columns[i].Name, err)
		}
	}
	size := b.EncodedSize()
	if size > math.MaxUint32 {
		return dst, fmt.Errorf("encoding batch: %d bytes exceeds 4 GiB: %w", size, ErrResourceExhausted)
	}
	start := len(dst)
	dst = grow(dst, size)
	out := dst[start : start+size]
	copy(out, BatchMagic)
	le.PutUint16(out[4:], BatchLayoutVersion)
	le.PutUint32(out[8:], uint32(size))
	le.PutUint32(out[12:], uint32(b.Rows))
	le.PutUint32(out[16:], uint32(len(b.Columns)))
	pos := BatchHeaderSize
	put := func(p []byte) (off, n uint32) {
		if len(p) == 0 {
			return 0, 0
		}
		off = uint32(pos)
		copy(out[pos:], p)
		pos += pad8(len(p))
		return off, uint32(len(p))
	}
	mo, ml := put(b.Metadata)
	le.PutUint32(out[20:], mo)
	le.PutUint32(out[24:], ml)
	table := pos
	le.PutUint32(out[28:], uint32(table))
	pos += len(b.Columns) * ColumnDescSize
	for i := range b.Columns {
		c := &b.Columns[i]
		d := out[table+i*ColumnDescSize:]
		no, nl := put([]byte(c.Name))
		le.PutUint32(d[0:], no)
		le.PutUint32(d[4:], nl)
		le.PutUint16(d[8:], uint16(c.Type))
		if c.Validity != nil {
			le.PutUint16(d[10:], flagHasValidity)
		}
		le.PutUint32(d[12:], uint32(c.NullCount))
		for k, buf := range [...][]byte{c.Validity, c.Offsets, c.Values, c.ChildValidity, c.ChildOffsets} {
			o, n := put(buf)
			le.PutUint32(d[16+k*8:], o)
			le.PutUint32(d[20+k*8:], n)
		}
	}
	return dst, nil
}

// grow extends dst by n zeroed bytes.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		dst = dst[:len(dst)+n]
		clear(dst[len(dst)-n:])
		return dst
	}
	out := make([]byte, len(dst)+n, len(dst)+n+len(dst)/4)
	copy(out, dst)
	return out
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("malformed LBF1 batch: %s: %w", fmt.Sprintf(format, args...), ErrSerializationFailure)
}

// Decode validates an LBF1 region completely (spec §5.6) and returns a batch whose
// slices alias buf. It never panics on malformed input.
func Decode(buf []byte) (*Batch, error) {
	if len(buf) < BatchHeaderSize {
		return nil, malformed("region of %d bytes is shorter than the %d-byte header", len(buf), BatchHeaderSize)
	}
	if string(buf[:4]) != BatchMagic {
		return nil, malformed("bad magic %q", buf[:4])
	}
	if v := le.Uint16(buf[4:]); v != BatchLayoutVersion {
		return nil, malformed("layout version %d, want %d", v, BatchLayoutVersion)
	}
	if total := le.Uint32(buf[8:]); uint64(total) != uint64(len(buf)) {
		return nil, malformed("header says %d bytes, region has %d", total, len(buf))
	}
	rows := uint64(le.Uint32(buf[12:]))
	ncols := uint64(le.Uint32(buf[16:]))
	// A column costs at least one descriptor, so this bound also caps allocations.
	if ncols*ColumnDescSize > uint64(len(buf)) {
		return nil, malformed("%d columns cannot fit in %d bytes", ncols, len(buf))
	}
	if rows > math.MaxInt32 {
		return nil, malformed("%d rows exceeds the int32 limit", rows)
	}
	b := &Batch{Rows: int(rows)}
	meta, err := slice(buf, le.Uint32(buf[20:]), le.Uint32(buf[24:]), "metadata")
	if err != nil {
		return nil, err
	}
	if meta != nil {
		b.Metadata = meta
	}
	tableOff := uint64(le.Uint32(buf[28:]))
	if ncols > 0 {
		if tableOff < BatchHeaderSize || tableOff%batchAlign != 0 || tableOff+ncols*ColumnDescSize > uint64(len(buf)) {
			return nil, malformed("column table at %d for %d columns is out of range or misaligned", tableOff, ncols)
		}
	}
	b.Columns = make([]Column, ncols)
	names := make(map[string]struct{}, ncols)
	for i := uint64(0); i < ncols; i++ {
		d := buf[tableOff+i*ColumnDescSize:]
		c := &b.Columns[i]
		name, err := slice(buf, le.Uint32(d[0:]), le.Uint32(d[4:]), "name")
		if err != nil {
			return nil, fmt.Errorf("column %d: %w", i, err)
		}
		if len(name) == 0 || !utf8.Valid(name) {
			return nil, malformed("column %d: name is empty or not UTF-8", i)
		}
		c.Name = string(name)
		if _, dup := names[c.Name]; dup {
			return nil, malformed("column %d: duplicate name %q", i, c.Name)
		}
		names[c.Name] = struct{}{}
		c.Type = Type(le.Uint16(d[8:]))
		flags := le.Uint16(d[10:])
		c.NullCount = int(le.Uint32(d[12:]))
		var bufs [5][]byte
		for k := range bufs {
			if bufs[k], err = slice(buf, le.Uint32(d[16+k*8:]), le.Uint32(d[20+k*8:]), bufferNames[k]); err != nil {
				return nil, fmt.Errorf("column %q: %w", c.Name, err)
			}
		}
		if le.Uint64(d[56:]) != 0 {
			return nil, malformed("column %q: reserved descriptor field is not zero", c.Name)
		}
		c.Validity, c.Offsets, c.Values, c.ChildValidity, c.ChildOffsets = bufs[0], bufs[1], bufs[2], bufs[3], bufs[4]
		if flags&^flagHasValidity != 0 {
			return nil, malformed("column %q: unknown flags %#x", c.Name, flags)
		}
		if flags&flagHasValidity != 0 && c.Validity == nil {
			// A zero-row column has an empty bitmap; keep it non-nil so the flag round-trips.
			if rows != 0 {
				return nil, malformed("column %q: validity flag set without a bitmap", c.Name)
			}
			c.Validity = []byte{}
		}
		if flags&flagHasValidity == 0 && c.Validity != nil {
			return nil, malformed("column %q: bitmap present without the validity flag", c.Name)
		}
		if err := checkColumn(c, int(rows), true); err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
	}
	return b, nil
}

var bufferNames = [5]string{"validity", "offsets", "values", "child validity", "child offsets"}

// slice returns buf[off:off+n] after checking range, alignment and that it avoids the header.
func slice(buf []byte, off, n uint32, what string) ([]byte, error) {
	if n == 0 {
		if off != 0 {
			return nil, malformed("empty %s buffer has non-zero offset %d", what, off)
		}
		return nil, nil
	}
	end := uint64(off) + uint64(n)
	if off < BatchHeaderSize || end > uint64(len(buf)) {
		return nil, malformed("%s buffer [%d, %d) is outside the region of %d bytes", what, off, end, len(buf))
	}
	if off%batchAlign != 0 {
		return nil, malformed("%s buffer at offset %d is not 8-byte aligned", what, off)
	}
	return buf[off:end:end], nil
}

func bitmapBytes(n int) int { return (n + 7) / 8 }

func countNulls(bitmap []byte, n int) int {
	valid := 0
	for i := 0; i < n; i++ {
		if bitmap[i>>3]&(1<<(uint(i)&7)) != 0 {
			valid++
		}
	}
	return n - valid
}

// checkOffsets validates n+1 monotonic int32 offsets starting at 0 and ending at limit.
func checkOffsets(raw []byte, n, limit int, what string) error {
	if len(raw) != (n+1)*4 {
		if n == 0 && len(raw) == 0 && limit == 0 {
			return nil
		}
		return malformed("%s: %d bytes, want %d for %d entries", what, len(raw), (n+1)*4, n)
	}
	prev := offsetAt(raw, 0)
	if prev != 0 {
		return malformed("%s: first offset is %d, want 0", what, prev)
	}
	for i := 1; i <= n; i++ {
		o := offsetAt(raw, i)
		if o < prev {
			return malformed("%s: offset %d (%d) is below offset %d (%d)", what, i, o, i-1, prev)
		}
		prev = o
	}
	if prev != limit {
		return malformed("%s: last offset %d does not match the %d items it indexes", what, prev, limit)
	}
	return nil
}

// checkColumn validates one column's buffers against rows. strict adds the checks only
// untrusted input needs (UTF-8, null counts).
func checkColumn(c *Column, rows int, strict bool) error {
	if !c.Type.Valid() {
		return malformed("unknown type id %d", uint16(c.Type))
	}
	if c.Validity != nil {
		if len(c.Validity) != bitmapBytes(rows) {
			return malformed("validity bitmap has %d bytes, want %d", len(c.Validity), bitmapBytes(rows))
		}
		if strict && countNulls(c.Validity, rows) != c.NullCount {
			return malformed("null count %d disagrees with the bitmap", c.NullCount)
		}
	} else if c.NullCount != 0 && c.Type != TypeNull {
		return malformed("null count %d without a validity bitmap", c.NullCount)
	}
	if c.Type == TypeNull {
		if c.Offsets != nil || c.Values != nil || c.ChildValidity != nil || c.ChildOffsets != nil || c.Validity != nil {
			return malformed("NULL column carries buffers")
		}
		return nil
	}
	if !c.Type.IsList() && (c.ChildValidity != nil || c.ChildOffsets != nil) {
		return malformed("%s column carries child buffers", c.Type)
	}
	if c.Type == TypeBool {
		return checkLen(c.Values, bitmapBytes(rows), "values")
	}
	if w := fixedWidth(c.Type); w > 0 && !c.Type.IsList() {
		return checkLen(c.Values, rows*w, "values")
	}
	if c.Type == TypeBytes || c.Type == TypeString {
		if err := checkOffsets(c.Offsets, rows, len(c.Values), "offsets"); err != nil {
			return err
		}
		if strict && c.Type == TypeString {
			return validUTF8Rows(c.Values, c.Offsets, rows)
		}
		return nil
	}
	// Lists: the outer offsets index elements.
	if len(c.Offsets) != (rows+1)*4 && !(rows == 0 && len(c.Offsets) == 0) {
		return malformed("offsets: %d bytes, want %d", len(c.Offsets), (rows+1)*4)
	}
	elems := 0
	if rows > 0 {
		elems = offsetAt(c.Offsets, rows)
		if elems < 0 {
			return malformed("offsets: negative element count %d", elems)
		}
		if err := checkOffsets(c.Offsets, rows, elems, "offsets"); err != nil {
			return err
		}
	}
	if c.ChildValidity != nil && len(c.ChildValidity) != bitmapBytes(elems) {
		return malformed("child validity has %d bytes, want %d", len(c.ChildValidity), bitmapBytes(elems))
	}
	switch {
	case isVarWidth(c.Type):
		if err := checkOffsets(c.ChildOffsets, elems, len(c.Values), "child offsets"); err != nil {
			return err
		}
		if strict && c.Type == TypeStringList {
			return validUTF8Rows(c.Values, c.ChildOffsets, elems)
		}
		return nil
	case c.ChildOffsets != nil:
		return malformed("%s column carries child offsets", c.Type)
	case c.Type == TypeBoolList:
		return checkLen(c.Values, bitmapBytes(elems), "values")
	default:
		return checkLen(c.Values, elems*fixedWidth(c.Type), "values")
	}
}

// validUTF8Rows checks each string on its own: a valid concatenation can still split a
// multi-byte character across two rows.
func validUTF8Rows(values, offsets []byte, n int) error {
	if len(offsets) == 0 {
		return nil
	}
	for i := 0; i < n; i++ {
		if !utf8.Valid(values[offsetAt(offsets, i):offsetAt(offsets, i+1)]) {
			return malformed("string %d is not valid UTF-8", i)
		}
	}
	return nil
}

func checkLen(b []byte, want int, what string) error {
	if len(b) != want {
		return malformed("%s: %d bytes, want %d", what, len(b), want)
	}
	return nil
}
