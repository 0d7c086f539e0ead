package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/feast"
)

// ValueSpec is a Feast Value written in case files as a one-member JSON object whose key
// is the lower-case Feast ValueType name:
//
//	{"int64": 5}  {"string": "x"}  {"bytes": "<base64>"}  {"double": "NaN"}
//	{"float_list": [1.5, -0]}  {"unix_timestamp": 1700000000}  {"null": true}
//	{"empty": true}   (a Value with no oneof member set: zero bytes on the wire)
//	{"map": {"a": {"int64": 1}}}  {"value_list": [{"int64": 1}, {"string": "a"}]}
//
// Integers may be JSON numbers or strings (int64 extremes do not survive float64).
// Floats may be numbers or "NaN", "Inf", "-Inf", "-0".
type ValueSpec struct {
	V    feast.Value
	text string // the JSON it came from, for messages
}

func (s *ValueSpec) String() string {
	if s == nil {
		return "<not written>"
	}
	return s.text
}

func (s *ValueSpec) MarshalJSON() ([]byte, error) { return []byte(s.text), nil }

func (s *ValueSpec) UnmarshalJSON(b []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("value %s: want an object like {\"int64\": 5}: %w", b, err)
	}
	if len(obj) != 1 {
		return fmt.Errorf("value %s: want exactly one member naming the type", b)
	}
	for k, raw := range obj {
		v, err := parseValue(k, raw)
		if err != nil {
			return fmt.Errorf("value %s: %w", b, err)
		}
		s.V = v
	}
	var compact bytes.Buffer
	if json.Compact(&compact, b) == nil {
		s.text = compact.String()
	} else {
		s.text = string(b)
	}
	return nil
}

func parseValue(key string, raw json.RawMessage) (feast.Value, error) {
	switch key {
	case "empty":
		return feast.Value{}, nil
	case "null":
		return feast.NullValue(), nil
	}
	t, err := feast.ParseValueType(strings.ToUpper(key))
	if err != nil || t == feast.TypeInvalid {
		return feast.Value{}, fmt.Errorf("unknown value type %q", key)
	}
	v := feast.Value{Type: t}
	elem, isList := t.Elem()
	if !isList {
		elem = t
	}
	if t == feast.TypeValueList || t == feast.TypeValueSet {
		var items []*ValueSpec
		if err := json.Unmarshal(raw, &items); err != nil {
			return v, err
		}
		v.Values = make([]feast.Value, len(items))
		for i, it := range items {
			v.Values[i] = it.V
		}
		return v, nil
	}
	if t == feast.TypeMap || t == feast.TypeStruct {
		var m map[string]*ValueSpec
		if err := json.Unmarshal(raw, &m); err != nil {
			return v, err
		}
		v.Map = make(map[string]feast.Value, len(m))
		for k, it := range m {
			v.Map[k] = it.V
		}
		return v, nil
	}
	if isList {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return v, fmt.Errorf("%s wants a JSON array: %w", key, err)
		}
		// Empty lists must still be non-nil so the intent "empty list" is explicit.
		for _, it := range items {
			e, err := parseValue(strings.ToLower(elem.String()), it)
			if err != nil {
				return v, err
			}
			switch elem {
			case feast.TypeBytes:
				v.BytesList = append(v.BytesList, e.Bytes)
			case feast.TypeString, feast.TypeJSON, feast.TypeUUID, feast.TypeTimeUUID, feast.TypeDecimal:
				v.StringList = append(v.StringList, e.Str)
			case feast.TypeInt32:
				v.Int32List = append(v.Int32List, int32(e.Int))
			case feast.TypeInt64, feast.TypeUnixTimestamp:
				v.Int64List = append(v.Int64List, e.Int)
			case feast.TypeDouble:
				v.DoubleList = append(v.DoubleList, e.Float)
			case feast.TypeFloat:
				v.FloatList = append(v.FloatList, float32(e.Float))
			case feast.TypeBool:
				v.BoolList = append(v.BoolList, e.Bool)
			default:
				return v, fmt.Errorf("lists of %v are not supported in case files", elem)
			}
		}
		return v, nil
	}
	switch t {
	case feast.TypeBytes:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return v, fmt.Errorf("bytes wants a base64 string: %w", err)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return v, fmt.Errorf("bytes %q is not base64: %w", s, err)
		}
		v.Bytes = b
	case feast.TypeString, feast.TypeJSON, feast.TypeUUID, feast.TypeTimeUUID, feast.TypeDecimal:
		if err := json.Unmarshal(raw, &v.Str); err != nil {
			return v, fmt.Errorf("%s wants a string: %w", key, err)
		}
	case feast.TypeInt32, feast.TypeInt64, feast.TypeUnixTimestamp:
		n, err := parseInt(raw)
		if err != nil {
			return v, fmt.Errorf("%s: %w", key, err)
		}
		if t == feast.TypeInt32 && (n < math.MinInt32 || n > math.MaxInt32) {
			return v, fmt.Errorf("int32 %d out of range", n)
		}
		v.Int = n
	case feast.TypeDouble, feast.TypeFloat:
		f, err := parseFloat(raw)
		if err != nil {
			return v, fmt.Errorf("%s: %w", key, err)
		}
		if t == feast.TypeFloat {
			f = float64(float32(f))
		}
		v.Float = f
	case feast.TypeBool:
		if err := json.Unmarshal(raw, &v.Bool); err != nil {
			return v, fmt.Errorf("bool wants true or false: %w", err)
		}
	default:
		return v, fmt.Errorf("value type %v is not supported in case files", t)
	}
	return v, nil
}

func parseInt(raw json.RawMessage) (int64, error) {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer", raw)
	}
	return n, nil
}

func parseFloat(raw json.RawMessage) (float64, error) {
	s := strings.Trim(string(raw), `"`)
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "Inf", "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not a number", raw)
	}
	return f, nil
}

// encodeValue serializes a case value the way the host does before a write.
func encodeValue(s *ValueSpec) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	b, err := feast.MarshalValue(s.V)
	if err != nil {
		return nil, fmt.Errorf("encoding case value %s: %w", s, err)
	}
	// A Value with no member set is zero bytes, but still a written value: keep it
	// distinct from nil ("not written").
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// encodeKey serializes an entity key with Feast's v3 entity-key serialization.
func encodeKey(k KeySpec) ([]byte, error) {
	names := make([]string, 0, len(k))
	for n := range k {
		names = append(names, n)
	}
	sort.Strings(names)
	vals := make([]feast.Value, len(names))
	for i, n := range names {
		vals[i] = k[n].V
	}
	b, err := feast.SerializeEntityKey(names, vals, 3)
	if err != nil {
		return nil, fmt.Errorf("serializing entity key %v: %w", k, err)
	}
	return b, nil
}

// showValue renders serialized Value bytes for a failure message: the decoded value when
// the bytes parse, else the raw bytes and why they do not.
func showValue(b []byte) string {
	v, err := feast.UnmarshalValue(b)
	if err != nil {
		return fmt.Sprintf("undecodable bytes %x (%v)", b, err)
	}
	return fmt.Sprintf("%s (bytes %x)", describe(v), b)
}

func describe(v feast.Value) string {
	switch v.Type {
	case feast.TypeInvalid:
		return "empty Value"
	case feast.TypeNull:
		return "null"
	case feast.TypeBytes:
		return fmt.Sprintf("BYTES %x", v.Bytes)
	case feast.TypeString, feast.TypeJSON, feast.TypeUUID, feast.TypeTimeUUID, feast.TypeDecimal:
		return fmt.Sprintf("%v %q", v.Type, v.Str)
	case feast.TypeInt32, feast.TypeInt64, feast.TypeUnixTimestamp:
		return fmt.Sprintf("%v %d", v.Type, v.Int)
	case feast.TypeDouble, feast.TypeFloat:
		return fmt.Sprintf("%v %v", v.Type, v.Float)
	case feast.TypeBool:
		return fmt.Sprintf("BOOL %v", v.Bool)
	}
	switch {
	case v.BytesList != nil:
		return fmt.Sprintf("%v %x", v.Type, v.BytesList)
	case v.StringList != nil:
		return fmt.Sprintf("%v %q", v.Type, v.StringList)
	case v.Int32List != nil:
		return fmt.Sprintf("%v %v", v.Type, v.Int32List)
	case v.Int64List != nil:
		return fmt.Sprintf("%v %v", v.Type, v.Int64List)
	case v.DoubleList != nil:
		return fmt.Sprintf("%v %v", v.Type, v.DoubleList)
	case v.FloatList != nil:
		return fmt.Sprintf("%v %v", v.Type, v.FloatList)
	case v.BoolList != nil:
		return fmt.Sprintf("%v %v", v.Type, v.BoolList)
	}
	return fmt.Sprintf("%v %+v", v.Type, v)
}

var statusByName = map[string]abi.FieldStatus{
	"INVALID": abi.FieldInvalid, "PRESENT": abi.FieldPresent, "NULL_VALUE": abi.FieldNullValue,
	"NOT_FOUND": abi.FieldNotFound, "OUTSIDE_MAX_AGE": abi.FieldOutsideMaxAge,
}

func parseStatus(s string) (abi.FieldStatus, bool) {
	st, ok := statusByName[s]
	return st, ok
}
