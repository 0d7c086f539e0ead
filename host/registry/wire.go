package registry

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/larder-dev/larder/host/feast"
)

// maxDepth bounds message nesting (data sources hold data sources, ODFV sources hold
// feature views …) as protobuf runtimes do, so hostile input cannot exhaust the stack.
const maxDepth = 100

// rawField is one field kept verbatim: its tag and value bytes.
type rawField struct {
	num protowire.Number
	raw []byte
}

// unknownFields are the fields of a message this package does not model, in field
// number order (stable for repeats), which is where Python's protobuf writes them too.
type unknownFields []rawField

// field is one decoded field handed to a message's decode switch.
type field struct {
	num   protowire.Number
	typ   protowire.Type
	v     uint64 // varint, fixed32 or fixed64 value
	b     []byte // bytes value
	depth int
}

type decoder interface {
	decode(f *field) (bool, error)
	unknownPtr() *unknownFields
}

// decodeMessage walks b and hands each field to m.decode; fields it does not claim (an
// unknown number, or a known number with a foreign wire type, which protobuf also treats
// as unknown) are kept. Decoding into a non-empty message merges, as protobuf does.
func decodeMessage(b []byte, m decoder, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("messages nested deeper than %d levels", maxDepth)
	}
	unk := m.unknownPtr()
	added := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed tag: %w", protowire.ParseError(n))
		}
		l := protowire.ConsumeFieldValue(num, typ, b[n:])
		if l < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(l))
		}
		val := b[n : n+l]
		f := field{num: num, typ: typ, depth: depth}
		switch typ {
		case protowire.VarintType:
			f.v, _ = protowire.ConsumeVarint(val)
		case protowire.Fixed32Type:
			x, _ := protowire.ConsumeFixed32(val)
			f.v = uint64(x)
		case protowire.Fixed64Type:
			f.v, _ = protowire.ConsumeFixed64(val)
		case protowire.BytesType:
			f.b, _ = protowire.ConsumeBytes(val)
		}
		ok, err := m.decode(&f)
		if err != nil {
			return fmt.Errorf("field %d: %w", num, err)
		}
		if !ok {
			*unk = append(*unk, rawField{num: num, raw: append([]byte(nil), b[:n+l]...)})
			added = true
		}
		b = b[n+l:]
	}
	if added {
		sort.SliceStable(*unk, func(i, j int) bool { return (*unk)[i].num < (*unk)[j].num })
	}
	return nil
}

var errUTF8 = errors.New("string is not valid UTF-8")

func (f *field) str(p *string) (bool, error) {
	if f.typ != protowire.BytesType {
		return false, nil
	}
	if !utf8.Valid(f.b) {
		return false, errUTF8
	}
	*p = string(f.b)
	return true, nil
}

func (f *field) strs(p *[]string) (bool, error) {
	var s string
	ok, err := f.str(&s)
	if ok {
		*p = append(*p, s)
	}
	return ok, err
}

func (f *field) bytes(p *[]byte) (bool, error) {
	if f.typ != protowire.BytesType {
		return false, nil
	}
	*p = append([]byte{}, f.b...)
	return true, nil
}

func (f *field) boolean(p *bool) (bool, error) {
	if f.typ != protowire.VarintType {
		return false, nil
	}
	*p = f.v != 0
	return true, nil
}

// int32-like: int32 fields and enums (which are int32 on the wire).
func varint32[T ~int32](f *field, p *T) (bool, error) {
	if f.typ != protowire.VarintType {
		return false, nil
	}
	*p = T(int32(f.v))
	return true, nil
}

func (f *field) optInt32(p **int32) (bool, error) {
	if f.typ != protowire.VarintType {
		return false, nil
	}
	v := int32(f.v)
	*p = &v
	return true, nil
}

// msg decodes a singular message field into *p, allocating it first if needed (a repeat
// merges into it).
func msg[T any, P interface {
	*T
	decoder
}](f *field, p *P) (bool, error) {
	if f.typ != protowire.BytesType {
		return false, nil
	}
	if *p == nil {
		*p = P(new(T))
	}
	return true, decodeMessage(f.b, *p, f.depth+1)
}

// msgs decodes one element of a repeated message field.
func msgs[T any, P interface {
	*T
	decoder
}](f *field, p *[]P) (bool, error) {
	if f.typ != protowire.BytesType {
		return false, nil
	}
	m := P(new(T))
	if err := decodeMessage(f.b, m, f.depth+1); err != nil {
		return false, err
	}
	*p = append(*p, m)
	return true, nil
}

// timestamp decodes a google.protobuf.Timestamp field.
func (f *field) timestamp(p **feast.Timestamp) (bool, error) {
	if f.typ != protowire.BytesType {
		return false, nil
	}
	ts, err := feast.UnmarshalTimestamp(f.b)
	if err != nil {
		return false, err
	}
	*p = &ts
	return true, nil
}

// duration decodes a google.protobuf.Duration field (same wire shape as Timestamp).
func (f *field) duration(p **Duration) (bool, error) {
	if f.typ != protowire.BytesType {
		return false, nil
	}
	ts, err := feast.UnmarshalTimestamp(f.b)
	if err != nil {
		return false, err
	}
	*p = &Duration{Seconds: ts.Seconds, Nanos: ts.Nanos}
	return true, nil
}

// mapEntry splits a map entry message into its key (1) and value (2) fields; missing
// ones are the zero value, as protobuf specifies.
func mapEntry(b []byte) (key []byte, val []byte, valType protowire.Type, hasVal bool, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, 0, false, fmt.Errorf("map entry: %w", protowire.ParseError(n))
		}
		l := protowire.ConsumeFieldValue(num, typ, b[n:])
		if l < 0 {
			return nil, nil, 0, false, fmt.Errorf("map entry: %w", protowire.ParseError(l))
		}
		raw := b[n : n+l]
		switch {
		case num == 1 && typ == protowire.BytesType:
			key, _ = protowire.ConsumeBytes(raw)
		case num == 2:
			valType, hasVal = typ, true
			if typ == protowire.BytesType {
				val, _ = protowire.ConsumeBytes(raw)
			} else {
				val = raw
			}
		}
		b = b[n+l:]
	}
	if !utf8.Valid(key) {
		return nil, nil, 0, false, fmt.Errorf("map key: %w", errUTF8)
	}
	return key, val, valType, hasVal, nil
}

func (f *field) stringMap(p *map[string]string) (bool, error) {
	if f.typ != protowire.BytesType {
		return false, nil
	}
	k, v, vt, has, err := mapEntry(f.b)
	if err != nil {
		return false, err
	}
	if has && vt != protowire.BytesType {
		v, has = nil, false
	}
	if !utf8.Valid(v) {
		return false, fmt.Errorf("map %q value: %w", k, errUTF8)
	}
	if *p == nil {
		*p = map[string]string{}
	}
	(*p)[string(k)] = string(v)
	return true, nil
}

func (f *field) valueTypeMap(p *map[string]feast.ValueType) (bool, error) {
	if f.typ != protowire.BytesType {
		return false, nil
	}
	k, v, vt, has, err := mapEntry(f.b)
	if err != nil {
		return false, err
	}
	var t feast.ValueType
	if has && vt == protowire.VarintType {
		x, _ := protowire.ConsumeVarint(v)
		t = feast.ValueType(int32(x))
	}
	if *p == nil {
		*p = map[string]feast.ValueType{}
	}
	(*p)[string(k)] = t
	return true, nil
}

func msgMap[T any, P interface {
	*T
	decoder
}](f *field, p *map[string]P) (bool, error) {
	if f.typ != protowire.BytesType {
		return false, nil
	}
	k, v, vt, has, err := mapEntry(f.b)
	if err != nil {
		return false, err
	}
	m := P(new(T))
	if has && vt == protowire.BytesType {
		if err := decodeMessage(v, m, f.depth+2); err != nil {
			return false, fmt.Errorf("map %q value: %w", k, err)
		}
	}
	if *p == nil {
		*p = map[string]P{}
	}
	(*p)[string(k)] = m
	return true, nil
}

// encoder writes a message's fields in ascending field-number order, interleaving the
// unknown fields at their place, and skips proto3 defaults.
type encoder struct {
	b   []byte
	unk unknownFields
	i   int
}

type marshaler interface{ marshal() []byte }

func newEncoder(unk unknownFields) *encoder { return &encoder{unk: unk} }

func (e *encoder) flush(num protowire.Number) {
	for e.i < len(e.unk) && e.unk[e.i].num < num {
		e.b = append(e.b, e.unk[e.i].raw...)
		e.i++
	}
}

func (e *encoder) finish() []byte {
	e.flush(math.MaxInt32)
	return e.b
}

func (e *encoder) tag(num protowire.Number, typ protowire.Type) {
	e.flush(num)
	e.b = protowire.AppendTag(e.b, num, typ)
}

func (e *encoder) str(num protowire.Number, s string) {
	if s != "" {
		e.tag(num, protowire.BytesType)
		e.b = protowire.AppendString(e.b, s)
	}
}

func (e *encoder) strs(num protowire.Number, l []string) {
	for _, s := range l {
		e.tag(num, protowire.BytesType)
		e.b = protowire.AppendString(e.b, s)
	}
}

func (e *encoder) bytes(num protowire.Number, b []byte) {
	if len(b) > 0 {
		e.tag(num, protowire.BytesType)
		e.b = protowire.AppendBytes(e.b, b)
	}
}

func (e *encoder) boolean(num protowire.Number, v bool) {
	if v {
		e.tag(num, protowire.VarintType)
		e.b = append(e.b, 1)
	}
}

func (e *encoder) int32(num protowire.Number, v int32) {
	if v != 0 {
		e.tag(num, protowire.VarintType)
		e.b = protowire.AppendVarint(e.b, uint64(int64(v)))
	}
}

func (e *encoder) optInt32(num protowire.Number, v *int32) {
	if v != nil {
		e.tag(num, protowire.VarintType)
		e.b = protowire.AppendVarint(e.b, uint64(int64(*v)))
	}
}

// body writes a length-delimited field unconditionally (present sub-message).
func (e *encoder) body(num protowire.Number, b []byte) {
	e.tag(num, protowire.BytesType)
	e.b = protowire.AppendBytes(e.b, b)
}

func (e *encoder) timestamp(num protowire.Number, ts *feast.Timestamp) {
	if ts != nil {
		e.body(num, feast.MarshalTimestamp(*ts))
	}
}

func (e *encoder) duration(num protowire.Number, d *Duration) {
	if d != nil {
		e.body(num, feast.MarshalTimestamp(feast.Timestamp{Seconds: d.Seconds, Nanos: d.Nanos}))
	}
}

// Map entries are written key then value, both always, in key order: what Python's
// deterministic serialization writes.
func (e *encoder) stringMap(num protowire.Number, m map[string]string) {
	for _, k := range sortedKeys(m) {
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, k)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendString(entry, m[k])
		e.body(num, entry)
	}
}

func (e *encoder) valueTypeMap(num protowire.Number, m map[string]feast.ValueType) {
	for _, k := range sortedKeys(m) {
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, k)
		entry = protowire.AppendTag(entry, 2, protowire.VarintType)
		entry = protowire.AppendVarint(entry, uint64(int64(m[k])))
		e.body(num, entry)
	}
}

func encMsg[P interface {
	comparable
	marshaler
}](e *encoder, num protowire.Number, m P) {
	var zero P
	if m != zero {
		e.body(num, m.marshal())
	}
}

func encMsgs[P interface {
	comparable
	marshaler
}](e *encoder, num protowire.Number, l []P) {
	var zero P
	for _, m := range l {
		if m == zero {
			e.body(num, nil) // a nil element encodes as an empty message
			continue
		}
		e.body(num, m.marshal())
	}
}

func encMsgMap[P interface {
	comparable
	marshaler
}](e *encoder, num protowire.Number, m map[string]P) {
	var zero P
	for _, k := range sortedKeys(m) {
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, k)
		var v []byte
		if m[k] != zero {
			v = m[k].marshal()
		}
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, v)
		e.body(num, entry)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
