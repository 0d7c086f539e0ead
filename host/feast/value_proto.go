package feast

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// maxDepth bounds Value nesting (maps, lists of Values) when decoding and encoding, the
// same limit Python's protobuf runtime applies, so hostile bytes cannot exhaust the stack.
const maxDepth = 100

// MarshalValue serializes v as a feast.types.Value exactly as Python's protobuf runtime
// does: the set oneof member is always written (even 0 or ""), repeated numbers are
// packed, map entries are written key then value and in key order (Python's
// deterministic order; its default order is hash order, so byte equality is only
// guaranteed for maps of at most one entry).
func MarshalValue(v Value) ([]byte, error) {
	return AppendValue(make([]byte, 0, valueSize(&v)), v)
}

// AppendValue appends the serialized Value to dst.
func AppendValue(dst []byte, v Value) ([]byte, error) {
	out, err := appendValue(dst, &v, 0)
	if err != nil {
		return dst, fmt.Errorf("encoding Feast Value: %w", err)
	}
	return out, nil
}

func appendValue(b []byte, v *Value, depth int) ([]byte, error) {
	if depth > maxDepth {
		return b, fmt.Errorf("Value nested deeper than %d levels", maxDepth)
	}
	num := protowire.Number(v.Type)
	switch kindOf(v.Type) {
	case kindNone:
		if v.Type != TypeInvalid {
			return b, fmt.Errorf("value type %v has no Value field", v.Type)
		}
	case kindBytes:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendBytes(b, v.Bytes)
	case kindString:
		if !utf8.ValidString(v.Str) {
			return b, fmt.Errorf("%v value is not valid UTF-8", v.Type)
		}
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, v.Str)
	case kindInt32:
		b = protowire.AppendTag(b, num, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(int32(v.Int))))
	case kindInt64:
		b = protowire.AppendTag(b, num, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(v.Int))
	case kindDouble:
		b = protowire.AppendTag(b, num, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(v.Float))
	case kindFloat:
		b = protowire.AppendTag(b, num, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(float32(v.Float)))
	case kindBool:
		b = protowire.AppendTag(b, num, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(v.Bool))
	case kindNull:
		b = protowire.AppendTag(b, num, protowire.VarintType)
		b = append(b, 0)
	case kindBytesList:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(bytesListSize(v.BytesList)))
		for _, e := range v.BytesList {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendBytes(b, e)
		}
	case kindStringList:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(stringListSize(v.StringList)))
		for _, e := range v.StringList {
			if !utf8.ValidString(e) {
				return b, fmt.Errorf("%v element %q is not valid UTF-8", v.Type, e)
			}
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, e)
		}
	case kindInt32List, kindInt64List, kindDoubleList, kindFloatList, kindBoolList:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		packed := packedSize(v)
		if packed == 0 {
			b = append(b, 0)
			break
		}
		b = protowire.AppendVarint(b, uint64(protowire.SizeTag(1)+protowire.SizeBytes(packed)))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(packed))
		b = appendPacked(b, v)
	case kindMap:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(mapSize(v.Map)))
		var err error
		if b, err = appendMapEntries(b, v.Map, depth); err != nil {
			return b, err
		}
	case kindMapList:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(mapListSize(v.MapList)))
		for _, m := range v.MapList {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(mapSize(m)))
			var err error
			if b, err = appendMapEntries(b, m, depth+1); err != nil {
				return b, err
			}
		}
	case kindValues:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(valuesSize(v.Values)))
		for i := range v.Values {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(valueSize(&v.Values[i])))
			var err error
			if b, err = appendValue(b, &v.Values[i], depth+1); err != nil {
				return b, err
			}
		}
	case kindZoned:
		if !utf8.ValidString(v.Str) {
			return b, fmt.Errorf("ZONED_TIMESTAMP zone %q is not valid UTF-8", v.Str)
		}
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(zonedSize(v)))
		if v.Int != 0 {
			b = protowire.AppendTag(b, 1, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v.Int))
		}
		if v.Str != "" {
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendString(b, v.Str)
		}
	case kindRawMessage:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendBytes(b, v.Bytes)
	}
	return append(b, v.unknown...), nil
}

func appendMapEntries(b []byte, m map[string]Value, depth int) ([]byte, error) {
	keys := sortedKeys(m)
	for _, k := range keys {
		if !utf8.ValidString(k) {
			return b, fmt.Errorf("map key %q is not valid UTF-8", k)
		}
		e := m[k]
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(mapEntrySize(k, &e)))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(valueSize(&e)))
		var err error
		if b, err = appendValue(b, &e, depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}

func sortedKeys(m map[string]Value) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func appendPacked(b []byte, v *Value) []byte {
	switch kindOf(v.Type) {
	case kindInt32List:
		for _, e := range v.Int32List {
			b = protowire.AppendVarint(b, uint64(int64(e)))
		}
	case kindInt64List:
		for _, e := range v.Int64List {
			b = protowire.AppendVarint(b, uint64(e))
		}
	case kindDoubleList:
		for _, e := range v.DoubleList {
			b = protowire.AppendFixed64(b, math.Float64bits(e))
		}
	case kindFloatList:
		for _, e := range v.FloatList {
			b = protowire.AppendFixed32(b, math.Float32bits(e))
		}
	case kindBoolList:
		for _, e := range v.BoolList {
			b = protowire.AppendVarint(b, protowire.EncodeBool(e))
		}
	}
	return b
}

// Sizes. Each returns the length of a message body (without its own tag and length).

func valueSize(v *Value) int {
	num := protowire.Number(v.Type)
	n := len(v.unknown)
	switch kindOf(v.Type) {
	case kindBytes, kindRawMessage:
		n += protowire.SizeTag(num) + protowire.SizeBytes(len(v.Bytes))
	case kindString:
		n += protowire.SizeTag(num) + protowire.SizeBytes(len(v.Str))
	case kindInt32:
		n += protowire.SizeTag(num) + protowire.SizeVarint(uint64(int64(int32(v.Int))))
	case kindInt64:
		n += protowire.SizeTag(num) + protowire.SizeVarint(uint64(v.Int))
	case kindDouble:
		n += protowire.SizeTag(num) + 8
	case kindFloat:
		n += protowire.SizeTag(num) + 4
	case kindBool, kindNull:
		n += protowire.SizeTag(num) + 1
	case kindBytesList:
		n += protowire.SizeTag(num) + protowire.SizeBytes(bytesListSize(v.BytesList))
	case kindStringList:
		n += protowire.SizeTag(num) + protowire.SizeBytes(stringListSize(v.StringList))
	case kindInt32List, kindInt64List, kindDoubleList, kindFloatList, kindBoolList:
		body := 0
		if p := packedSize(v); p > 0 {
			body = protowire.SizeTag(1) + protowire.SizeBytes(p)
		}
		n += protowire.SizeTag(num) + protowire.SizeBytes(body)
	case kindMap:
		n += protowire.SizeTag(num) + protowire.SizeBytes(mapSize(v.Map))
	case kindMapList:
		n += protowire.SizeTag(num) + protowire.SizeBytes(mapListSize(v.MapList))
	case kindValues:
		n += protowire.SizeTag(num) + protowire.SizeBytes(valuesSize(v.Values))
	case kindZoned:
		n += protowire.SizeTag(num) + protowire.SizeBytes(zonedSize(v))
	}
	return n
}

func zonedSize(v *Value) int {
	n := 0
	if v.Int != 0 {
		n += 1 + protowire.SizeVarint(uint64(v.Int))
	}
	if v.Str != "" {
		n += 1 + protowire.SizeBytes(len(v.Str))
	}
	return n
}

func bytesListSize(l [][]byte) int {
	n := 0
	for _, e := range l {
		n += 1 + protowire.SizeBytes(len(e))
	}
	return n
}

func stringListSize(l []string) int {
	n := 0
	for _, e := range l {
		n += 1 + protowire.SizeBytes(len(e))
	}
	return n
}

func packedSize(v *Value) int {
	n := 0
	switch kindOf(v.Type) {
	case kindInt32List:
		for _, e := range v.Int32List {
			n += protowire.SizeVarint(uint64(int64(e)))
		}
	case kindInt64List:
		for _, e := range v.Int64List {
			n += protowire.SizeVarint(uint64(e))
		}
	case kindDoubleList:
		n = 8 * len(v.DoubleList)
	case kindFloatList:
		n = 4 * len(v.FloatList)
	case kindBoolList:
		n = len(v.BoolList)
	}
	return n
}

func mapEntrySize(k string, e *Value) int {
	return 1 + protowire.SizeBytes(len(k)) + 1 + protowire.SizeBytes(valueSize(e))
}

func mapSize(m map[string]Value) int {
	n := 0
	for k, e := range m {
		n += 1 + protowire.SizeBytes(mapEntrySize(k, &e))
	}
	return n
}

func mapListSize(l []map[string]Value) int {
	n := 0
	for _, m := range l {
		n += 1 + protowire.SizeBytes(mapSize(m))
	}
	return n
}

func valuesSize(l []Value) int {
	n := 0
	for i := range l {
		n += 1 + protowire.SizeBytes(valueSize(&l[i]))
	}
	return n
}

// UnmarshalValue parses a serialized feast.types.Value. It follows protobuf's rules:
// when several oneof members appear the last one wins, a repeated member appearing twice
// is merged, repeated numbers are accepted packed or not, strings must be UTF-8, and
// fields it does not know are kept and written back by MarshalValue.
func UnmarshalValue(b []byte) (Value, error) {
	var v Value
	if err := decodeValue(b, &v, 0); err != nil {
		return Value{}, fmt.Errorf("decoding Feast Value: %w", err)
	}
	return v, nil
}

var errTruncated = errors.New("truncated or malformed protobuf")

func wireErr(n int) error {
	if n < 0 {
		return fmt.Errorf("%w: %v", errTruncated, protowire.ParseError(n))
	}
	return nil
}

func decodeValue(b []byte, v *Value, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("Value nested deeper than %d levels", maxDepth)
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if err := wireErr(n); err != nil {
			return err
		}
		field := b
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if err := wireErr(m); err != nil {
			return fmt.Errorf("field %d: %w", num, err)
		}
		body := b[:m]
		field = field[:n+m]
		b = b[m:]

		t := ValueType(num)
		kind := kindOf(t)
		if kind == kindNone || typ != wireTypeOf(kind) {
			// Not a member we know, or a known number with a foreign wire type: protobuf
			// treats both as unknown fields.
			v.unknown = append(v.unknown, field...)
			continue
		}
		if v.Type != t {
			// Switching oneof member clears the previous payload.
			unknown := v.unknown
			*v = Value{Type: t, unknown: unknown}
		}
		if err := decodeMember(v, kind, typ, body, depth); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}

// wireTypeOf returns the wire type a member of this kind must have; packable lists
// accept both encodings inside their own message, so the member itself is always bytes.
func wireTypeOf(k payloadKind) protowire.Type {
	switch k {
	case kindInt32, kindInt64, kindBool, kindNull:
		return protowire.VarintType
	case kindDouble:
		return protowire.Fixed64Type
	case kindFloat:
		return protowire.Fixed32Type
	default:
		return protowire.BytesType
	}
}

func decodeMember(v *Value, kind payloadKind, typ protowire.Type, body []byte, depth int) error {
	switch kind {
	case kindBytes:
		val, _ := protowire.ConsumeBytes(body)
		v.Bytes = append([]byte{}, val...)
	case kindRawMessage:
		val, _ := protowire.ConsumeBytes(body)
		v.Bytes = append(v.Bytes, val...) // merging two messages = concatenation
	case kindString:
		val, _ := protowire.ConsumeBytes(body)
		if !utf8.Valid(val) {
			return errors.New("string is not valid UTF-8")
		}
		v.Str = string(val)
	case kindInt32, kindInt64:
		val, _ := protowire.ConsumeVarint(body)
		if kind == kindInt32 {
			v.Int = int64(int32(val))
		} else {
			v.Int = int64(val)
		}
	case kindBool:
		val, _ := protowire.ConsumeVarint(body)
		v.Bool = val != 0
	case kindNull:
		// The Null enum has one value; anything else is kept as-is by protobuf but means
		// nothing to Feast, so it is read as null.
	case kindDouble:
		val, _ := protowire.ConsumeFixed64(body)
		v.Float = math.Float64frombits(val)
	case kindFloat:
		val, _ := protowire.ConsumeFixed32(body)
		v.Float = float64(math.Float32frombits(val))
	default:
		msg, _ := protowire.ConsumeBytes(body)
		return decodeMessageMember(v, kind, msg, depth)
	}
	return nil
}

// decodeMessageMember reads the body of a list/set/map/nested member, appending to what
// an earlier occurrence of the same member left (protobuf merge semantics).
func decodeMessageMember(v *Value, kind payloadKind, msg []byte, depth int) error {
	if kind == kindZoned {
		return decodeZoned(v, msg)
	}
	if kind == kindMap && v.Map == nil {
		v.Map = map[string]Value{}
	}
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if err := wireErr(n); err != nil {
			return err
		}
		msg = msg[n:]
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if err := wireErr(m); err != nil {
			return err
		}
		body := msg[:m]
		msg = msg[m:]
		if num != 1 {
			continue // unknown field inside a helper message: dropped
		}
		if err := decodeElement(v, kind, typ, body, depth); err != nil {
			return err
		}
	}
	return nil
}

func decodeElement(v *Value, kind payloadKind, typ protowire.Type, body []byte, depth int) error {
	if typ == protowire.BytesType {
		raw, _ := protowire.ConsumeBytes(body)
		switch kind {
		case kindBytesList:
			v.BytesList = append(v.BytesList, append([]byte{}, raw...))
			return nil
		case kindStringList:
			if !utf8.Valid(raw) {
				return errors.New("list element is not valid UTF-8")
			}
			v.StringList = append(v.StringList, string(raw))
			return nil
		case kindMap:
			k, e, err := decodeMapEntry(raw, depth)
			if err != nil {
				return err
			}
			v.Map[k] = e
			return nil
		case kindMapList:
			m := map[string]Value{}
			if err := decodeMapBody(raw, m, depth+1); err != nil {
				return err
			}
			v.MapList = append(v.MapList, m)
			return nil
		case kindValues:
			var e Value
			if err := decodeValue(raw, &e, depth+1); err != nil {
				return err
			}
			v.Values = append(v.Values, e)
			return nil
		case kindInt32List, kindInt64List, kindDoubleList, kindFloatList, kindBoolList:
			return decodePacked(v, kind, raw)
		}
		return nil // wrong wire type for this list: ignored like protobuf does
	}
	// Unpacked numeric element.
	switch {
	case typ == protowire.VarintType && kind == kindInt32List:
		x, _ := protowire.ConsumeVarint(body)
		v.Int32List = append(v.Int32List, int32(x))
	case typ == protowire.VarintType && kind == kindInt64List:
		x, _ := protowire.ConsumeVarint(body)
		v.Int64List = append(v.Int64List, int64(x))
	case typ == protowire.VarintType && kind == kindBoolList:
		x, _ := protowire.ConsumeVarint(body)
		v.BoolList = append(v.BoolList, x != 0)
	case typ == protowire.Fixed64Type && kind == kindDoubleList:
		x, _ := protowire.ConsumeFixed64(body)
		v.DoubleList = append(v.DoubleList, math.Float64frombits(x))
	case typ == protowire.Fixed32Type && kind == kindFloatList:
		x, _ := protowire.ConsumeFixed32(body)
		v.FloatList = append(v.FloatList, math.Float32frombits(x))
	}
	return nil
}

func decodePacked(v *Value, kind payloadKind, b []byte) error {
	for len(b) > 0 {
		var n int
		switch kind {
		case kindInt32List, kindInt64List, kindBoolList:
			var x uint64
			x, n = protowire.ConsumeVarint(b)
			if n < 0 {
				break
			}
			switch kind {
			case kindInt32List:
				v.Int32List = append(v.Int32List, int32(x))
			case kindInt64List:
				v.Int64List = append(v.Int64List, int64(x))
			default:
				v.BoolList = append(v.BoolList, x != 0)
			}
		case kindDoubleList:
			var x uint64
			if x, n = protowire.ConsumeFixed64(b); n >= 0 {
				v.DoubleList = append(v.DoubleList, math.Float64frombits(x))
			}
		case kindFloatList:
			var x uint32
			if x, n = protowire.ConsumeFixed32(b); n >= 0 {
				v.FloatList = append(v.FloatList, math.Float32frombits(x))
			}
		}
		if err := wireErr(n); err != nil {
			return fmt.Errorf("packed list: %w", err)
		}
		b = b[n:]
	}
	return nil
}

func decodeMapBody(b []byte, m map[string]Value, depth int) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if err := wireErr(n); err != nil {
			return err
		}
		b = b[n:]
		l := protowire.ConsumeFieldValue(num, typ, b)
		if err := wireErr(l); err != nil {
			return err
		}
		body := b[:l]
		b = b[l:]
		if num != 1 || typ != protowire.BytesType {
			continue
		}
		raw, _ := protowire.ConsumeBytes(body)
		k, e, err := decodeMapEntry(raw, depth)
		if err != nil {
			return err
		}
		m[k] = e
	}
	return nil
}

// decodeMapEntry reads one map<string, Value> entry; a missing key or value means the
// default ("" / empty Value), and a repeated value field is merged.
func decodeMapEntry(b []byte, depth int) (string, Value, error) {
	var key string
	var val Value
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if err := wireErr(n); err != nil {
			return "", Value{}, err
		}
		b = b[n:]
		l := protowire.ConsumeFieldValue(num, typ, b)
		if err := wireErr(l); err != nil {
			return "", Value{}, err
		}
		body := b[:l]
		b = b[l:]
		if typ != protowire.BytesType {
			continue
		}
		raw, _ := protowire.ConsumeBytes(body)
		switch num {
		case 1:
			if !utf8.Valid(raw) {
				return "", Value{}, errors.New("map key is not valid UTF-8")
			}
			key = string(raw)
		case 2:
			if err := decodeValue(raw, &val, depth+1); err != nil {
				return "", Value{}, fmt.Errorf("map value: %w", err)
			}
		}
	}
	return key, val, nil
}

func decodeZoned(v *Value, b []byte) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if err := wireErr(n); err != nil {
			return err
		}
		b = b[n:]
		l := protowire.ConsumeFieldValue(num, typ, b)
		if err := wireErr(l); err != nil {
			return err
		}
		body := b[:l]
		b = b[l:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			x, _ := protowire.ConsumeVarint(body)
			v.Int = int64(x)
		case num == 2 && typ == protowire.BytesType:
			raw, _ := protowire.ConsumeBytes(body)
			if !utf8.Valid(raw) {
				return errors.New("zone is not valid UTF-8")
			}
			v.Str = string(raw)
		}
	}
	return nil
}
