package feast

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// DefaultEntityKeySerializationVersion is feature_store.yaml's default.
const DefaultEntityKeySerializationVersion = 3

// EntityKey is feast.types.EntityKey: join keys and their values, pairwise.
type EntityKey struct {
	JoinKeys []string
	Values   []Value
}

// ErrEntityKey marks every entity-key encoding or decoding failure.
var ErrEntityKey = errors.New("invalid entity key")

// SerializeEntityKey encodes an entity key the way Feast's online stores key their rows
// (key_encoding_utils.serialize_entity_key). Pairs are sorted by join key; all integers
// are little-endian.
//
//	v3:   u32 N | N × (u32 2 | u32 len | key) | N × (u32 type | u32 len | payload)
//	v2:   N × (u32 2 | key)                   | N × (u32 type | u32 len | payload)
//	v1:   as v2, with INT64 payloads packed in 4 bytes
//
// Only BYTES, STRING, INT32, INT64 and UNIX_TIMESTAMP values are legal.
func SerializeEntityKey(joinKeys []string, values []Value, version int) ([]byte, error) {
	return AppendEntityKey(nil, joinKeys, values, version)
}

// AppendEntityKey appends SerializeEntityKey's output to dst.
func AppendEntityKey(dst []byte, joinKeys []string, values []Value, version int) ([]byte, error) {
	if version < 1 || version > 3 {
		return dst, fmt.Errorf("%w: unsupported entity_key_serialization_version %d (supported: 1, 2, 3)", ErrEntityKey, version)
	}
	if len(joinKeys) != len(values) {
		return dst, fmt.Errorf("%w: %d join keys but %d values", ErrEntityKey, len(joinKeys), len(values))
	}
	var buf [8]int
	order := sortedOrder(joinKeys, &buf)
	for i := 1; i < len(order); i++ {
		if joinKeys[order[i]] == joinKeys[order[i-1]] {
			return dst, fmt.Errorf("%w: join key %q appears twice", ErrEntityKey, joinKeys[order[i]])
		}
	}
	if version >= 3 {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(joinKeys)))
	}
	for _, i := range order {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(TypeString))
		if version >= 3 {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(joinKeys[i])))
		}
		dst = append(dst, joinKeys[i]...)
	}
	for _, i := range order {
		var err error
		if dst, err = appendKeyValue(dst, joinKeys[i], &values[i], version); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// sortedOrder returns indexes of keys in ascending byte order (Python sorts str by code
// point, which is the same order as UTF-8 bytes). Entity keys have a handful of join
// keys, so an insertion sort into a small buffer avoids allocating.
func sortedOrder(keys []string, buf *[8]int) []int {
	var order []int
	if len(keys) <= len(buf) {
		order = buf[:len(keys)]
	} else {
		order = make([]int, len(keys))
	}
	for i := range order {
		order[i] = i
		for j := i; j > 0 && keys[order[j]] < keys[order[j-1]]; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	return order
}

func appendKeyValue(dst []byte, key string, v *Value, version int) ([]byte, error) {
	u32 := binary.LittleEndian.AppendUint32
	switch v.Type {
	case TypeString:
		dst = u32(dst, uint32(TypeString))
		dst = u32(dst, uint32(len(v.Str)))
		return append(dst, v.Str...), nil
	case TypeBytes:
		dst = u32(dst, uint32(TypeBytes))
		dst = u32(dst, uint32(len(v.Bytes)))
		return append(dst, v.Bytes...), nil
	case TypeInt32:
		if v.Int < math.MinInt32 || v.Int > math.MaxInt32 {
			return dst, fmt.Errorf("%w: join key %q: INT32 value %d out of range", ErrEntityKey, key, v.Int)
		}
		dst = u32(dst, uint32(TypeInt32))
		dst = u32(dst, 4)
		return u32(dst, uint32(int32(v.Int))), nil
	case TypeInt64:
		dst = u32(dst, uint32(TypeInt64))
		if version <= 1 {
			if v.Int < math.MinInt32 || v.Int > math.MaxInt32 {
				return dst, fmt.Errorf("%w: join key %q: INT64 value %d does not fit the 4 bytes of entity key serialization v1", ErrEntityKey, key, v.Int)
			}
			dst = u32(dst, 4)
			return u32(dst, uint32(int32(v.Int))), nil
		}
		dst = u32(dst, 8)
		return binary.LittleEndian.AppendUint64(dst, uint64(v.Int)), nil
	case TypeUnixTimestamp:
		dst = u32(dst, uint32(TypeUnixTimestamp))
		dst = u32(dst, 8)
		return binary.LittleEndian.AppendUint64(dst, uint64(v.Int)), nil
	case TypeInvalid, TypeNull:
		return dst, fmt.Errorf("%w: join key %q has no value (null)", ErrEntityKey, key)
	}
	return dst, fmt.Errorf("%w: join key %q has a %v value; entity keys may only be BYTES, STRING, INT32, INT64 or UNIX_TIMESTAMP", ErrEntityKey, key, v.Type)
}

// SerializeEntityKeyPrefix encodes only the sorted join keys (Feast's
// serialize_entity_key_prefix), the prefix shared by all keys of one entity set; Redis
// deletes scan by it.
func SerializeEntityKeyPrefix(joinKeys []string, version int) ([]byte, error) {
	if version < 1 || version > 3 {
		return nil, fmt.Errorf("%w: unsupported entity_key_serialization_version %d (supported: 1, 2, 3)", ErrEntityKey, version)
	}
	var out []byte
	if version >= 3 {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(joinKeys)))
	}
	var buf [8]int
	for _, i := range sortedOrder(joinKeys, &buf) {
		out = binary.LittleEndian.AppendUint32(out, uint32(TypeString))
		if version >= 3 {
			out = binary.LittleEndian.AppendUint32(out, uint32(len(joinKeys[i])))
		}
		out = append(out, joinKeys[i]...)
	}
	return out, nil
}

// DeserializeEntityKey decodes a v3 entity key. Join keys come back sorted (as stored);
// trailing NUL bytes are stripped from key names as Feast does.
func DeserializeEntityKey(b []byte) (EntityKey, error) {
	var ek EntityKey
	if len(b) < 4 {
		return ek, fmt.Errorf("%w: %d bytes, too short for the key count", ErrEntityKey, len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	pos := 4
	// Each key needs at least 8 bytes, which bounds n before allocating.
	if uint64(n) > uint64(len(b)-pos)/8 {
		return ek, fmt.Errorf("%w: claims %d join keys in %d bytes", ErrEntityKey, n, len(b))
	}
	ek.JoinKeys = make([]string, 0, n)
	for k := uint32(0); k < n; k++ {
		if len(b)-pos < 8 {
			return ek, fmt.Errorf("%w: truncated at join key %d", ErrEntityKey, k)
		}
		typ := binary.LittleEndian.Uint32(b[pos:])
		l := binary.LittleEndian.Uint32(b[pos+4:])
		pos += 8
		if ValueType(typ) != TypeString {
			return ek, fmt.Errorf("%w: join key %d has type %v, want STRING", ErrEntityKey, k, ValueType(typ))
		}
		if uint64(l) > uint64(len(b)-pos) {
			return ek, fmt.Errorf("%w: join key %d length %d exceeds the remaining %d bytes", ErrEntityKey, k, l, len(b)-pos)
		}
		name := b[pos : pos+int(l)]
		pos += int(l)
		if !utf8.Valid(name) {
			return ek, fmt.Errorf("%w: join key %d is not valid UTF-8", ErrEntityKey, k)
		}
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		ek.JoinKeys = append(ek.JoinKeys, string(name))
	}
	vals, err := decodeKeyValues(b[pos:], 3)
	if err != nil {
		return ek, err
	}
	ek.Values = vals
	if len(ek.Values) != len(ek.JoinKeys) {
		return ek, fmt.Errorf("%w: %d join keys but %d values", ErrEntityKey, len(ek.JoinKeys), len(ek.Values))
	}
	return ek, nil
}

// DeserializeEntityKeyV2 decodes a v2 (or, with version 1, v1) entity key. The v2
// layout does not store key lengths, so the caller supplies the join keys it expects
// (in any order); the key section must match them exactly.
func DeserializeEntityKeyV2(b []byte, joinKeys []string, version int) (EntityKey, error) {
	if version != 1 && version != 2 {
		return EntityKey{}, fmt.Errorf("%w: DeserializeEntityKeyV2 reads versions 1 and 2, not %d", ErrEntityKey, version)
	}
	prefix, _ := SerializeEntityKeyPrefix(joinKeys, version)
	if len(b) < len(prefix) || string(b[:len(prefix)]) != string(prefix) {
		return EntityKey{}, fmt.Errorf("%w: key section does not match join keys %q", ErrEntityKey, joinKeys)
	}
	ek := EntityKey{JoinKeys: make([]string, len(joinKeys))}
	var buf [8]int
	for i, j := range sortedOrder(joinKeys, &buf) {
		ek.JoinKeys[i] = joinKeys[j]
	}
	rest := b[len(prefix):]
	var err error
	if ek.Values, err = decodeKeyValues(rest, version); err != nil {
		return ek, err
	}
	if len(ek.Values) != len(ek.JoinKeys) {
		return ek, fmt.Errorf("%w: %d join keys but %d values", ErrEntityKey, len(ek.JoinKeys), len(ek.Values))
	}
	return ek, nil
}

// ReserializeEntityKeyV2ToV3 converts a stored v2 key to v3, given its join keys.
func ReserializeEntityKeyV2ToV3(b []byte, joinKeys []string) ([]byte, error) {
	ek, err := DeserializeEntityKeyV2(b, joinKeys, 2)
	if err != nil {
		return nil, err
	}
	return SerializeEntityKey(ek.JoinKeys, ek.Values, 3)
}

func decodeKeyValues(b []byte, version int) ([]Value, error) {
	var vals []Value
	for i := 0; len(b) > 0; i++ {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: truncated header of value %d", ErrEntityKey, i)
		}
		typ := ValueType(binary.LittleEndian.Uint32(b))
		l := binary.LittleEndian.Uint32(b[4:])
		b = b[8:]
		if uint64(l) > uint64(len(b)) {
			return nil, fmt.Errorf("%w: value %d length %d exceeds the remaining %d bytes", ErrEntityKey, i, l, len(b))
		}
		payload := b[:l]
		b = b[l:]
		v, err := keyValue(typ, payload, i, version)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	return vals, nil
}

func keyValue(typ ValueType, p []byte, i, version int) (Value, error) {
	switch typ {
	case TypeString:
		if !utf8.Valid(p) {
			return Value{}, fmt.Errorf("%w: STRING value %d is not valid UTF-8", ErrEntityKey, i)
		}
		return StringValue(string(p)), nil
	case TypeBytes:
		return BytesValue(append([]byte{}, p...)), nil
	case TypeInt32:
		if len(p) != 4 {
			return Value{}, fmt.Errorf("%w: INT32 value %d has %d bytes, want 4", ErrEntityKey, i, len(p))
		}
		return Int32Value(int32(binary.LittleEndian.Uint32(p))), nil
	case TypeInt64, TypeUnixTimestamp:
		switch len(p) {
		case 8:
			return Value{Type: typ, Int: int64(binary.LittleEndian.Uint64(p))}, nil
		case 4:
			if typ == TypeInt64 && version == 1 {
				return Int64Value(int64(int32(binary.LittleEndian.Uint32(p)))), nil
			}
		}
		return Value{}, fmt.Errorf("%w: %v value %d has %d bytes, want 8", ErrEntityKey, typ, i, len(p))
	}
	return Value{}, fmt.Errorf("%w: value %d has type %v, which entity keys cannot hold", ErrEntityKey, i, typ)
}

// MarshalEntityKey serializes the feast.types.EntityKey protobuf message (join_keys = 1,
// entity_values = 2), in the given order. This is not the online-store key encoding
// (see SerializeEntityKey); Feast's Go server hashes it to de-duplicate entity rows.
func MarshalEntityKey(ek EntityKey) ([]byte, error) {
	var b []byte
	for _, k := range ek.JoinKeys {
		if !utf8.ValidString(k) {
			return nil, fmt.Errorf("%w: join key %q is not valid UTF-8", ErrEntityKey, k)
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
	}
	for i := range ek.Values {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(valueSize(&ek.Values[i])))
		var err error
		if b, err = appendValue(b, &ek.Values[i], 0); err != nil {
			return nil, fmt.Errorf("encoding EntityKey value %d: %w", i, err)
		}
	}
	return b, nil
}

// UnmarshalEntityKey parses a feast.types.EntityKey protobuf message.
func UnmarshalEntityKey(b []byte) (EntityKey, error) {
	var ek EntityKey
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if err := wireErr(n); err != nil {
			return EntityKey{}, fmt.Errorf("decoding EntityKey: %w", err)
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if err := wireErr(m); err != nil {
			return EntityKey{}, fmt.Errorf("decoding EntityKey field %d: %w", num, err)
		}
		body := b[:m]
		b = b[m:]
		if typ != protowire.BytesType {
			continue
		}
		raw, _ := protowire.ConsumeBytes(body)
		switch num {
		case 1:
			if !utf8.Valid(raw) {
				return EntityKey{}, errors.New("decoding EntityKey: join key is not valid UTF-8")
			}
			ek.JoinKeys = append(ek.JoinKeys, string(raw))
		case 2:
			var v Value
			if err := decodeValue(raw, &v, 1); err != nil {
				return EntityKey{}, fmt.Errorf("decoding EntityKey value %d: %w", len(ek.Values), err)
			}
			ek.Values = append(ek.Values, v)
		}
	}
	return ek, nil
}
