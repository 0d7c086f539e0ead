package feast

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// CoercionError reports a JSON value that cannot become a Value of the wanted type.
type CoercionError struct {
	JSON   string    // the offending JSON value, compact and truncated
	Type   ValueType // the target type; TypeInvalid when the type was being inferred
	Reason string
}

func (e *CoercionError) Error() string {
	if e.Type == TypeInvalid {
		return fmt.Sprintf("cannot infer a Feast type for JSON value %s: %s", e.JSON, e.Reason)
	}
	return fmt.Sprintf("cannot convert JSON value %s to %v: %s", e.JSON, e.Type, e.Reason)
}

func coerceErr(n *jnode, t ValueType, format string, args ...any) error {
	return &CoercionError{JSON: n.text(), Type: t, Reason: fmt.Sprintf(format, args...)}
}

// ValueFromJSON converts one JSON value (as sent in a request's "entities" or "df") to a
// Value of type t, following Feast's Python conversion (type_map.python_values_to_proto_values):
//
//   - null → the empty Value, for every type
//   - INT32/INT64: integers; floats with an integral value (1.0); numeric strings ("5");
//     booleans (1/0). Feast truncates 1.5 to 1; Larder rejects it.
//   - FLOAT: numbers, numeric strings, booleans; DOUBLE: numbers only
//   - STRING: strings; numbers and booleans as Python's str() prints them (5 → "5",
//     1.0 → "1.0", true → "True")
//   - BOOL: booleans and integers (non-zero = true)
//   - UNIX_TIMESTAMP: epoch seconds; Larder also accepts RFC 3339 strings
//   - BYTES: Feast cannot take bytes from JSON; Larder accepts standard base64
//   - UUID, TIME_UUID, DECIMAL: strings
//   - JSON: a string must itself be valid JSON and is kept verbatim; anything else is
//     stored as Python's json.dumps renders it ({"a": 1})
//   - MAP/STRUCT: objects (or a string holding one), values typed by inference;
//     MAP_LIST/STRUCT_LIST: arrays of objects
//   - *_LIST/*_SET: arrays; null elements become the element type's zero (Feast's
//     _LIST_NONE_DEFAULTS); sets keep the first occurrence of each element
//   - VALUE_LIST/VALUE_SET: arrays of arrays, each inner array typed by inference
//   - TypeInvalid: the type is inferred (see InferValueType)
//
// Errors are *CoercionError values naming the offending JSON value.
func ValueFromJSON(raw []byte, t ValueType) (Value, error) {
	n, err := parseJSON(raw)
	if err != nil {
		return Value{}, err
	}
	if t == TypeInvalid {
		vals, _, err := columnFromNodes([]*jnode{n}, TypeInvalid)
		if err != nil {
			return Value{}, err
		}
		return vals[0], nil
	}
	return fromNode(n, t)
}

// ValuesFromJSON converts a column of JSON values (one per entity row). With t ==
// TypeInvalid the type is inferred from the first non-empty element, as Feast does for
// request data, and returned; an all-null column yields empty Values and TypeInvalid.
// Errors name the element index.
func ValuesFromJSON(raws []json.RawMessage, t ValueType) ([]Value, ValueType, error) {
	nodes := make([]*jnode, len(raws))
	for i, raw := range raws {
		n, err := parseJSON(raw)
		if err != nil {
			return nil, t, fmt.Errorf("element %d: %w", i, err)
		}
		nodes[i] = n
	}
	return columnFromNodes(nodes, t)
}

// InferValueType returns the type Feast infers for one JSON value: true/false → BOOL,
// integer → INT64, other number → DOUBLE, string → STRING, object → MAP, array of
// objects → MAP_LIST, other array → the *_LIST of its (single) element type. null and
// empty arrays give TypeInvalid. Mixed element types, null elements and nested arrays
// are errors, as in Feast.
func InferValueType(raw []byte) (ValueType, error) {
	n, err := parseJSON(raw)
	if err != nil {
		return TypeInvalid, err
	}
	if n.kind == jNull {
		return TypeInvalid, nil
	}
	return inferNode(n, true)
}

func nonEmpty(n *jnode) bool {
	switch n.kind {
	case jNull:
		return false
	case jArray:
		return len(n.arr) > 0
	case jObject:
		return len(n.keys) > 0
	}
	return true
}

func columnFromNodes(nodes []*jnode, t ValueType) ([]Value, ValueType, error) {
	if t == TypeInvalid {
		var sample *jnode
		for _, n := range nodes {
			if nonEmpty(n) {
				sample = n
				break
			}
		}
		if sample == nil {
			for _, n := range nodes {
				if n.kind != jNull {
					return nil, TypeInvalid, coerceErr(n, TypeInvalid, "an empty value carries no type")
				}
			}
			return make([]Value, len(nodes)), TypeInvalid, nil
		}
		var err error
		if t, err = inferNode(sample, true); err != nil {
			return nil, TypeInvalid, err
		}
	}
	out := make([]Value, len(nodes))
	for i, n := range nodes {
		v, err := fromNode(n, t)
		if err != nil {
			if len(nodes) == 1 {
				return nil, t, err
			}
			return nil, t, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = v
	}
	return out, t, nil
}

func inferNode(n *jnode, recurse bool) (ValueType, error) {
	switch n.kind {
	case jBool:
		return TypeBool, nil
	case jNumber:
		if n.isInt {
			return TypeInt64, nil
		}
		return TypeDouble, nil
	case jString:
		return TypeString, nil
	case jObject:
		return TypeMap, nil
	case jArray:
		if len(n.arr) > 0 && n.arr[0].kind == jObject {
			return TypeMapList, nil
		}
		if !recurse {
			return TypeInvalid, coerceErr(n, TypeInvalid, "nested lists cannot be inferred; declare the type")
		}
		common := TypeInvalid
		for _, e := range n.arr {
			et, err := inferNode(e, false)
			if err != nil {
				return TypeInvalid, err
			}
			if common != TypeInvalid && et != common {
				return TypeInvalid, coerceErr(n, TypeInvalid, "list elements have mixed types %v and %v", common, et)
			}
			common = et
		}
		if common == TypeInvalid {
			return TypeInvalid, nil
		}
		lt, ok := common.ListOf()
		if !ok {
			return TypeInvalid, coerceErr(n, TypeInvalid, "no list type for %v elements", common)
		}
		return lt, nil
	}
	return TypeInvalid, coerceErr(n, TypeInvalid, "null elements carry no type")
}

func fromNode(n *jnode, t ValueType) (Value, error) {
	if n.kind == jNull {
		return Value{}, nil
	}
	switch t {
	case TypeInt32, TypeInt64:
		i, err := nodeInt(n, t)
		return Value{Type: t, Int: i}, err
	case TypeUnixTimestamp:
		i, err := nodeTimestamp(n, t)
		return Value{Type: t, Int: i}, err
	case TypeFloat:
		f, err := nodeFloat(n, t, true)
		return Value{Type: t, Float: float64(float32(f))}, err
	case TypeDouble:
		f, err := nodeFloat(n, t, false)
		return Value{Type: t, Float: f}, err
	case TypeString:
		s, err := nodeStr(n, t)
		return Value{Type: t, Str: s}, err
	case TypeBool:
		b, err := nodeBool(n, t)
		return Value{Type: t, Bool: b}, err
	case TypeBytes, TypePDFBytes, TypeImageBytes:
		b, err := nodeBytes(n, t)
		return Value{Type: TypeBytes, Bytes: b}, err // PDF/IMAGE bytes are stored as bytes_val
	case TypeUUID, TypeTimeUUID, TypeDecimal:
		if n.kind != jString {
			return Value{}, coerceErr(n, t, "expected a string")
		}
		return Value{Type: t, Str: n.s}, nil
	case TypeJSON:
		s, err := nodeJSONText(n, t)
		return Value{Type: t, Str: s}, err
	case TypeMap, TypeStruct:
		return mapValueFromNode(n, t)
	case TypeMapList, TypeStructList:
		return mapListFromNode(n, t)
	case TypeValueList, TypeValueSet:
		return nestedFromNode(n, t)
	}
	if _, ok := t.Elem(); ok {
		return listFromNode(n, t)
	}
	return Value{}, coerceErr(n, t, "this type cannot be given as JSON")
}

func nodeInt(n *jnode, t ValueType) (int64, error) {
	var i int64
	switch n.kind {
	case jNumber:
		if n.isInt {
			var err error
			if i, err = strconv.ParseInt(n.s, 10, 64); err != nil {
				return 0, coerceErr(n, t, "out of range")
			}
			break
		}
		f, _ := strconv.ParseFloat(n.s, 64)
		if f != math.Trunc(f) || math.IsInf(f, 0) {
			return 0, coerceErr(n, t, "not an integer")
		}
		if f < -(1<<63) || f >= 1<<63 {
			return 0, coerceErr(n, t, "out of range")
		}
		i = int64(f)
	case jString:
		var err error
		if i, err = strconv.ParseInt(strings.TrimSpace(n.s), 10, 64); err != nil {
			return 0, coerceErr(n, t, "not an integer")
		}
	case jBool:
		if n.b {
			i = 1
		}
	default:
		return 0, coerceErr(n, t, "expected a number")
	}
	if t == TypeInt32 && (i < math.MinInt32 || i > math.MaxInt32) {
		return 0, coerceErr(n, t, "out of range")
	}
	return i, nil
}

func nodeTimestamp(n *jnode, t ValueType) (int64, error) {
	if n.kind == jString {
		s := strings.TrimSpace(n.s)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		tm, err := ParseTimestampText(s)
		if err != nil {
			return 0, coerceErr(n, t, "expected epoch seconds or an RFC 3339 timestamp")
		}
		return tm.Unix(), nil
	}
	return nodeInt(n, t)
}

func nodeFloat(n *jnode, t ValueType, lenient bool) (float64, error) {
	switch n.kind {
	case jNumber:
		f, _ := strconv.ParseFloat(n.s, 64) // overflow gives ±Inf, as Python's float()
		return f, nil
	case jString:
		if lenient {
			f, err := strconv.ParseFloat(strings.TrimSpace(n.s), 64)
			if err == nil || math.IsInf(f, 0) {
				return f, nil
			}
			return 0, coerceErr(n, t, "not a number")
		}
	case jBool:
		if lenient {
			if n.b {
				return 1, nil
			}
			return 0, nil
		}
	}
	return 0, coerceErr(n, t, "expected a number")
}

func nodeStr(n *jnode, t ValueType) (string, error) {
	switch n.kind {
	case jString:
		return n.s, nil
	case jNumber:
		if n.isInt {
			return string(appendPyInt(nil, n.s)), nil
		}
		f, _ := strconv.ParseFloat(n.s, 64)
		return PyFloatRepr(f), nil
	case jBool:
		if n.b {
			return "True", nil
		}
		return "False", nil
	}
	return "", coerceErr(n, t, "expected a string")
}

func nodeBool(n *jnode, t ValueType) (bool, error) {
	switch n.kind {
	case jBool:
		return n.b, nil
	case jNumber:
		if n.isInt {
			return strings.Trim(n.s, "-0") != "", nil
		}
	}
	return false, coerceErr(n, t, "expected true or false")
}

func nodeBytes(n *jnode, t ValueType) ([]byte, error) {
	if n.kind != jString {
		return nil, coerceErr(n, t, "expected a base64 string")
	}
	b, err := base64.StdEncoding.DecodeString(n.s)
	if err != nil {
		return nil, coerceErr(n, t, "not valid base64")
	}
	return b, nil
}

func nodeJSONText(n *jnode, t ValueType) (string, error) {
	if n.kind == jString {
		if !json.Valid([]byte(n.s)) {
			return "", coerceErr(n, t, "the string is not valid JSON")
		}
		return n.s, nil
	}
	return string(n.appendPyDumps(nil)), nil
}

// unwrapJSONString lets MAP-like types be given as a string holding JSON, as Feast allows.
func unwrapJSONString(n *jnode, t ValueType) (*jnode, error) {
	if n.kind != jString {
		return n, nil
	}
	inner, err := parseJSON([]byte(n.s))
	if err != nil {
		return nil, coerceErr(n, t, "the string is not valid JSON")
	}
	return inner, nil
}

func mapValueFromNode(n *jnode, t ValueType) (Value, error) {
	n, err := unwrapJSONString(n, t)
	if err != nil {
		return Value{}, err
	}
	if n.kind == jNull {
		return Value{}, nil
	}
	if n.kind != jObject {
		if t == TypeStruct && n.kind != jArray && n.kind != jObject {
			// Feast wraps a non-dict STRUCT as {"_value": str(value)}.
			s, _ := nodeStr(n, t)
			return Value{Type: t, Map: map[string]Value{"_value": StringValue(s)}}, nil
		}
		return Value{}, coerceErr(n, t, "expected an object")
	}
	m, err := mapFromObject(n, t)
	return Value{Type: t, Map: m}, err
}

func mapFromObject(n *jnode, t ValueType) (map[string]Value, error) {
	m := make(map[string]Value, len(n.keys))
	for i, k := range n.keys {
		e := n.vals[i]
		switch {
		case e.kind == jNull:
			m[k] = Value{}
		case e.kind == jObject:
			inner, err := mapFromObject(e, t)
			if err != nil {
				return nil, err
			}
			m[k] = Value{Type: TypeMap, Map: inner}
		case e.kind == jArray && len(e.arr) > 0 && e.arr[0].kind == jObject:
			v, err := mapListFromNode(e, TypeMapList)
			if err != nil {
				return nil, err
			}
			m[k] = v
		default:
			vals, _, err := columnFromNodes([]*jnode{e}, TypeInvalid)
			if err != nil {
				return nil, fmt.Errorf("map key %q: %w", k, err)
			}
			m[k] = vals[0]
		}
	}
	return m, nil
}

func mapListFromNode(n *jnode, t ValueType) (Value, error) {
	n, err := unwrapJSONString(n, t)
	if err != nil {
		return Value{}, err
	}
	if n.kind == jNull {
		return Value{}, nil
	}
	if n.kind != jArray {
		return Value{}, coerceErr(n, t, "expected an array of objects")
	}
	v := Value{Type: t, MapList: make([]map[string]Value, 0, len(n.arr))}
	for _, e := range n.arr {
		if e.kind != jObject {
			return Value{}, coerceErr(e, t, "list elements must be objects")
		}
		m, err := mapFromObject(e, t)
		if err != nil {
			return Value{}, err
		}
		v.MapList = append(v.MapList, m)
	}
	return v, nil
}

func nestedFromNode(n *jnode, t ValueType) (Value, error) {
	if n.kind != jArray {
		return Value{}, coerceErr(n, t, "expected an array of arrays")
	}
	v := Value{Type: t, Values: make([]Value, 0, len(n.arr))}
	for _, inner := range n.arr {
		switch {
		case inner.kind == jNull || (inner.kind == jArray && len(inner.arr) == 0):
			v.Values = append(v.Values, Value{})
		case inner.kind != jArray:
			return Value{}, coerceErr(inner, t, "elements must be arrays")
		default:
			deeper := false
			for _, e := range inner.arr {
				if e.kind == jArray {
					deeper = true
					break
				}
			}
			var e Value
			var err error
			if deeper {
				e, err = nestedFromNode(inner, TypeValueList)
			} else {
				var vals []Value
				vals, _, err = columnFromNodes([]*jnode{inner}, TypeInvalid)
				if err == nil {
					e = vals[0]
				}
			}
			if err != nil {
				return Value{}, err
			}
			v.Values = append(v.Values, e)
		}
	}
	return v, nil
}

func listFromNode(n *jnode, t ValueType) (Value, error) {
	if n.kind != jArray {
		return Value{}, coerceErr(n, t, "expected an array")
	}
	elem, _ := t.Elem()
	isSet := t.IsSet()
	v := Value{Type: t}
	for _, e := range n.arr {
		if e.kind == jNull && isSet {
			return Value{}, coerceErr(n, t, "a set cannot hold null")
		}
		switch elem {
		case TypeInt32, TypeInt64:
			var i int64
			if e.kind != jNull {
				if e.kind != jNumber || !e.isInt {
					return Value{}, coerceErr(e, elem, "list elements must be integers")
				}
				var err error
				if i, err = nodeInt(e, elem); err != nil {
					return Value{}, err
				}
			}
			if elem == TypeInt32 {
				v.Int32List = append(v.Int32List, int32(i))
			} else {
				v.Int64List = append(v.Int64List, i)
			}
		case TypeUnixTimestamp:
			i := NullTimestamp
			if e.kind != jNull {
				if e.kind == jBool || (e.kind == jNumber && !e.isInt) {
					return Value{}, coerceErr(e, elem, "list elements must be epoch seconds or RFC 3339 strings")
				}
				var err error
				if i, err = nodeTimestamp(e, elem); err != nil {
					return Value{}, err
				}
			}
			v.Int64List = append(v.Int64List, i)
		case TypeFloat, TypeDouble:
			var f float64
			if e.kind != jNull {
				var err error
				if f, err = nodeFloat(e, elem, false); err != nil {
					return Value{}, err
				}
			}
			if elem == TypeFloat {
				v.FloatList = append(v.FloatList, float32(f))
			} else {
				v.DoubleList = append(v.DoubleList, f)
			}
		case TypeBool:
			if e.kind != jNull && e.kind != jBool {
				return Value{}, coerceErr(e, elem, "list elements must be true or false")
			}
			v.BoolList = append(v.BoolList, e.b)
		case TypeString, TypeUUID, TypeTimeUUID, TypeDecimal:
			if e.kind != jNull && e.kind != jString {
				return Value{}, coerceErr(e, elem, "list elements must be strings")
			}
			v.StringList = append(v.StringList, e.s)
		case TypeJSON:
			s, err := nodeJSONText(e, elem)
			if err != nil {
				return Value{}, err
			}
			v.StringList = append(v.StringList, s)
		case TypeBytes:
			var b []byte
			if e.kind != jNull {
				var err error
				if b, err = nodeBytes(e, elem); err != nil {
					return Value{}, err
				}
			}
			v.BytesList = append(v.BytesList, b)
		default:
			return Value{}, coerceErr(n, t, "this type cannot be given as JSON")
		}
	}
	if isSet {
		dedupe(&v)
	}
	if v.BytesList == nil && v.StringList == nil && v.Int32List == nil && v.Int64List == nil &&
		v.FloatList == nil && v.DoubleList == nil && v.BoolList == nil {
		// keep an empty (non-nil) list so the Value reads as "empty list", not unset
		setEmptyList(&v)
	}
	return v, nil
}

func setEmptyList(v *Value) {
	switch kindOf(v.Type) {
	case kindBytesList:
		v.BytesList = [][]byte{}
	case kindStringList:
		v.StringList = []string{}
	case kindInt32List:
		v.Int32List = []int32{}
	case kindInt64List:
		v.Int64List = []int64{}
	case kindFloatList:
		v.FloatList = []float32{}
	case kindDoubleList:
		v.DoubleList = []float64{}
	case kindBoolList:
		v.BoolList = []bool{}
	}
}

func dedupe(v *Value) {
	v.Int32List = dedupeSlice(v.Int32List)
	v.Int64List = dedupeSlice(v.Int64List)
	v.FloatList = dedupeSlice(v.FloatList)
	v.DoubleList = dedupeSlice(v.DoubleList)
	v.BoolList = dedupeSlice(v.BoolList)
	v.StringList = dedupeSlice(v.StringList)
	if v.BytesList != nil {
		seen := map[string]bool{}
		out := v.BytesList[:0]
		for _, b := range v.BytesList {
			if !seen[string(b)] {
				seen[string(b)] = true
				out = append(out, b)
			}
		}
		v.BytesList = out
	}
}

func dedupeSlice[T comparable](s []T) []T {
	if s == nil {
		return nil
	}
	seen := make(map[T]bool, len(s))
	out := s[:0]
	for _, e := range s {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

// ParseTimestampText parses the timestamp strings Feast clients send: RFC 3339 with a
// "T" or a space between date and time, optional fraction, and "Z", a ±hh:mm offset or
// no zone (read as UTC, as Feast reads naive datetimes).
func ParseTimestampText(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a timestamp (want RFC 3339, e.g. 2021-04-12T10:59:42Z)", s)
}

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}
