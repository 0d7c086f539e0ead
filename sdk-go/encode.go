package sdk

import (
	"encoding/binary"
	"math/bits"

	"github.com/larder-dev/larder/abi"
)

// Hand-rolled LBF1 writers for the two batches on the read path: the read response and
// the query parameters. They produce exactly the bytes abi.Batch.Encode would (the tests
// check it), but in one pass with no per-value function calls: in a Go Wasm guest a call
// costs tens of nanoseconds, so builder-per-value encoding of a 1000-value response costs
// milliseconds there while it costs microseconds natively.

var le = binary.LittleEndian

const (
	headerSize = abi.BatchHeaderSize
	descSize   = abi.ColumnDescSize
	hasValid   = 1 // column flag: has a validity bitmap
)

func pad8(n int) int { return (n + 7) &^ 7 }

// growTo returns dst resized to n bytes, reusing its capacity, with every byte zero (the
// padding of an LBF1 region must be zero).
func growTo(dst []byte, n int) []byte {
	if cap(dst) < n {
		return make([]byte, n, n+n/4)
	}
	dst = dst[:n]
	clear(dst)
	return dst
}

func putHeader(out []byte, rows, cols, metaOff, metaLen int) {
	copy(out, abi.BatchMagic)
	le.PutUint16(out[4:], abi.BatchLayoutVersion)
	le.PutUint32(out[8:], uint32(len(out)))
	le.PutUint32(out[12:], uint32(rows))
	le.PutUint32(out[16:], uint32(cols))
	le.PutUint32(out[20:], uint32(metaOff))
	le.PutUint32(out[24:], uint32(metaLen))
}

// reserve reserves n bytes at *pos (8-aligned) and returns (offset, length) for a
// descriptor; empty buffers are (0, 0).
func reserve(pos *int, n int) (uint32, uint32) {
	if n == 0 {
		return 0, 0
	}
	off := *pos
	*pos += pad8(n)
	return uint32(off), uint32(n)
}

func putDesc(d []byte, nameOff, nameLen uint32, t abi.Type, flags uint16, nulls int) {
	le.PutUint32(d[0:], nameOff)
	le.PutUint32(d[4:], nameLen)
	le.PutUint16(d[8:], uint16(t))
	le.PutUint16(d[10:], flags)
	le.PutUint32(d[12:], uint32(nulls))
}

func putBuf(d []byte, k int, off, n uint32) { // k: 0 validity, 1 offsets, 2 values
	le.PutUint32(d[16+k*8:], off)
	le.PutUint32(d[20+k*8:], n)
}

// responseLayout is where the buffers of a read response go (spec §8.3): columns value
// BYTES, __event_ts UNIX_TIMESTAMP (both null where not found, sharing one bitmap) and
// __status STATUS, laid out in abi.Batch.Encode's order.
type responseLayout struct {
	out                []byte
	rows, nulls        int
	vValid, tValid     []byte // nil when no nulls
	offs, vals, ts, st []byte
}

func layoutResponse(dst []byte, rows, nulls, vlen int) responseLayout {
	vb := 0 // validity bytes, when there are nulls
	if nulls > 0 {
		vb = (rows + 7) / 8
	}
	ob := 0 // offsets bytes
	if rows > 0 {
		ob = (rows + 1) * 4
	}
	const nameValue, nameTS, nameStatus = abi.ColValue, abi.ColEventTS, abi.ColStatus
	pos := headerSize + 3*descSize
	vNameOff, vNameLen := reserve(&pos, len(nameValue))
	vValidOff, vValidLen := reserve(&pos, vb)
	vOffsOff, vOffsLen := reserve(&pos, ob)
	vValsOff, vValsLen := reserve(&pos, vlen)
	tNameOff, tNameLen := reserve(&pos, len(nameTS))
	tValidOff, tValidLen := reserve(&pos, vb)
	tValsOff, tValsLen := reserve(&pos, rows*8)
	sNameOff, sNameLen := reserve(&pos, len(nameStatus))
	sValsOff, sValsLen := reserve(&pos, rows)

	out := growTo(dst, pos)
	putHeader(out, rows, 3, 0, 0)
	le.PutUint32(out[28:], headerSize)
	var flags uint16
	if nulls > 0 {
		flags = hasValid
	}
	d := out[headerSize:]
	putDesc(d, vNameOff, vNameLen, abi.TypeBytes, flags, nulls)
	putBuf(d, 0, vValidOff, vValidLen)
	putBuf(d, 1, vOffsOff, vOffsLen)
	putBuf(d, 2, vValsOff, vValsLen)
	d = out[headerSize+descSize:]
	putDesc(d, tNameOff, tNameLen, abi.TypeUnixTimestamp, flags, nulls)
	putBuf(d, 0, tValidOff, tValidLen)
	putBuf(d, 2, tValsOff, tValsLen)
	d = out[headerSize+2*descSize:]
	putDesc(d, sNameOff, sNameLen, abi.TypeStatus, 0, 0)
	putBuf(d, 2, sValsOff, sValsLen)
	copy(out[vNameOff:], nameValue)
	copy(out[tNameOff:], nameTS)
	copy(out[sNameOff:], nameStatus)
	l := responseLayout{out: out, rows: rows, nulls: nulls,
		offs: out[vOffsOff : vOffsOff+vOffsLen], vals: out[vValsOff : vValsOff+vValsLen],
		ts: out[tValsOff : tValsOff+tValsLen], st: out[sValsOff : sValsOff+sValsLen]}
	if nulls > 0 {
		l.vValid, l.tValid = out[vValidOff:vValidOff+vValidLen], out[tValidOff:tValidOff+tValidLen]
	}
	return l
}

// appendReadResponse writes the response of a Set-mode ReadResponse into dst[:0].
func appendReadResponse(dst []byte, slots []readSlot) []byte {
	nulls, vlen := 0, 0
	for i := range slots {
		if slots[i].set {
			vlen += len(slots[i].value)
		} else {
			nulls++
		}
	}
	l := layoutResponse(dst, len(slots), nulls, vlen)
	n := 0
	for i := range slots {
		s := &slots[i]
		if s.set {
			n += copy(l.vals[n:], s.value)
			le.PutUint64(l.ts[i*8:], uint64(s.ts))
			l.st[i] = byte(abi.FieldPresent)
			if nulls > 0 {
				l.vValid[i>>3] |= 1 << (i & 7)
			}
		} else {
			l.st[i] = byte(abi.FieldNotFound)
		}
		le.PutUint32(l.offs[(i+1)*4:], uint32(n))
		s.value = nil // do not keep the plugin's buffers reachable
	}
	copy(l.tValid, l.vValid)
	return l.out
}

// appendSegments writes the response of an Append-mode ReadResponse into dst[:0]: the
// segments' buffers are copied in bulk; rows after the last segment are NOT_FOUND.
func appendSegments(dst []byte, rows int, segs []segment) []byte {
	nulls, vlen, covered := 0, 0, 0
	for i := range segs {
		nulls += segs[i].nulls
		vlen += offsetAt(segs[i].values.Offsets, segs[i].rows)
		covered += segs[i].rows
	}
	nulls += rows - covered
	l := layoutResponse(dst, rows, nulls, vlen)
	at, base := 0, 0 // first row and first value byte of the current segment
	for i := range segs {
		s := &segs[i]
		n, so := s.rows, s.values.Offsets
		if base == 0 {
			copy(l.offs[at*4:], so[:(n+1)*4])
		} else {
			for r := 1; r <= n; r++ {
				le.PutUint32(l.offs[(at+r)*4:], le.Uint32(so[r*4:])+uint32(base))
			}
		}
		size := offsetAt(so, n)
		copy(l.vals[base:], s.values.Values[:size])
		copy(l.ts[at*8:], s.events.Values[:n*8])
		if nulls > 0 {
			copyBits(l.vValid, at, s.values.Validity, n)
		}
		at += n
		base += size
	}
	for r := at; r < rows; r++ { // rows no segment covered
		le.PutUint32(l.offs[(r+1)*4:], uint32(base))
	}
	if nulls == 0 {
		for i := range l.st {
			l.st[i] = byte(abi.FieldPresent)
		}
	} else {
		statusFromBitmap(l.st, l.vValid)
		copy(l.tValid, l.vValid)
	}
	return l.out
}

func offsetAt(raw []byte, i int) int { return int(le.Uint32(raw[i*4:])) }

// copyBits copies bits [0, n) of src (nil = all set) to dst starting at bit at. dst bits
// from at on must be zero.
func copyBits(dst []byte, at int, src []byte, n int) {
	if src == nil {
		for i := at; i < at+n; i++ {
			dst[i>>3] |= 1 << (i & 7)
		}
		return
	}
	if at&7 == 0 {
		nb := (n + 7) / 8
		copy(dst[at>>3:], src[:nb])
		if n&7 != 0 { // clear bits past n that src may carry
			dst[(at>>3)+nb-1] &= byte(1)<<(n&7) - 1
		}
		return
	}
	for i := 0; i < n; i++ {
		if src[i>>3]&(1<<(i&7)) != 0 {
			j := at + i
			dst[j>>3] |= 1 << (j & 7)
		}
	}
}

// onesInBitmap counts the set bits among the first n bits of bm.
func onesInBitmap(bm []byte, n int) int {
	c := 0
	for i := 0; i < n>>3; i++ {
		c += bits.OnesCount8(bm[i])
	}
	if n&7 != 0 {
		c += bits.OnesCount8(bm[n>>3] & (byte(1)<<(n&7) - 1))
	}
	return c
}

// statusLUT maps a validity byte to eight status bytes (PRESENT or NOT_FOUND), little-endian.
var statusLUT = func() (t [256]uint64) {
	for b := range t {
		for k := 0; k < 8; k++ {
			s := uint64(abi.FieldNotFound)
			if b&(1<<k) != 0 {
				s = uint64(abi.FieldPresent)
			}
			t[b] |= s << (8 * k)
		}
	}
	return t
}()

// statusFromBitmap fills st (one byte per row) from the validity bitmap: set = PRESENT.
func statusFromBitmap(st, valid []byte) {
	full := len(st) >> 3
	for j := 0; j < full; j++ {
		le.PutUint64(st[j*8:], statusLUT[valid[j]])
	}
	for i := full * 8; i < len(st); i++ {
		if valid[i>>3]&(1<<(i&7)) != 0 {
			st[i] = byte(abi.FieldPresent)
		} else {
			st[i] = byte(abi.FieldNotFound)
		}
	}
}

// appendColumns writes a batch of rows rows with metadata meta and columns cols into
// dst[:0], copying each buffer whole; it is abi.Batch.Encode without the per-row checks
// (the host checks what it receives).
func appendColumns(dst []byte, rows int, meta []byte, cols []abi.Column) []byte {
	pos := headerSize
	metaOff, metaLen := reserve(&pos, len(meta))
	table := pos
	pos += len(cols) * descSize
	for i := range cols {
		c := &cols[i]
		pos += pad8(len(c.Name)) + pad8(len(c.Validity)) + pad8(len(c.Offsets)) + pad8(len(c.Values)) +
			pad8(len(c.ChildValidity)) + pad8(len(c.ChildOffsets))
	}
	out := growTo(dst, pos)
	putHeader(out, rows, len(cols), int(metaOff), int(metaLen))
	le.PutUint32(out[28:], uint32(table))
	copy(out[metaOff:], meta)
	pos = table + len(cols)*descSize
	for i := range cols {
		c := &cols[i]
		d := out[table+i*descSize:]
		var flags uint16
		if c.Validity != nil {
			flags = hasValid
		}
		nameOff, nameLen := reserve(&pos, len(c.Name))
		copy(out[nameOff:], c.Name)
		putDesc(d, nameOff, nameLen, c.Type, flags, c.NullCount)
		for k, buf := range [...][]byte{c.Validity, c.Offsets, c.Values, c.ChildValidity, c.ChildOffsets} {
			off, n := reserve(&pos, len(buf))
			copy(out[off:], buf)
			le.PutUint32(d[16+k*8:], off)
			le.PutUint32(d[20+k*8:], n)
		}
	}
	return out
}

// appendParams writes the one-row parameter batch of a query: metadata meta, one column
// per parameter named p1, p2, ... into dst[:0].
func appendParams(dst []byte, meta []byte, p *Params) []byte {
	n := len(p.kinds)
	rows := 0
	if n > 0 {
		rows = 1
	}
	for len(p.names) < n {
		p.names = append(p.names, paramName(len(p.names)))
	}
	pos := headerSize
	metaOff, metaLen := reserve(&pos, len(meta))
	table := pos
	pos += n * descSize
	// First pass: sizes only, to allocate once.
	for i := 0; i < n; i++ {
		pos += pad8(len(p.names[i]))
		switch p.kinds[i] {
		case abi.TypeNull:
		case abi.TypeBytes, abi.TypeString:
			pos += 8 + pad8(int(p.spans[i+1]-p.spans[i]))
		default:
			pos += 8 // INT64, DOUBLE: 8 bytes; BOOL: 1 byte padded to 8
		}
	}
	out := growTo(dst, pos)
	putHeader(out, rows, n, int(metaOff), int(metaLen))
	le.PutUint32(out[28:], uint32(table))
	copy(out[metaOff:], meta)
	pos = table + n*descSize
	for i := 0; i < n; i++ {
		d := out[table+i*descSize:]
		name := p.names[i]
		nameOff, nameLen := reserve(&pos, len(name))
		copy(out[nameOff:], name)
		t := p.kinds[i]
		v := p.data[p.spans[i]:p.spans[i+1]]
		switch t {
		case abi.TypeNull:
			putDesc(d, nameOff, nameLen, t, 0, 1)
		case abi.TypeBytes, abi.TypeString:
			putDesc(d, nameOff, nameLen, t, 0, 0)
			oOff, oLen := reserve(&pos, 8)
			le.PutUint32(out[oOff+4:], uint32(len(v)))
			putBuf(d, 1, oOff, oLen)
			vOff, vLen := reserve(&pos, len(v))
			copy(out[vOff:], v)
			putBuf(d, 2, vOff, vLen)
		default:
			putDesc(d, nameOff, nameLen, t, 0, 0)
			vOff, vLen := reserve(&pos, len(v))
			copy(out[vOff:], v)
			putBuf(d, 2, vOff, vLen)
		}
	}
	return out
}
