package feast

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestValueTypeNames(t *testing.T) {
	tests := []struct {
		t    ValueType
		name string
	}{
		{TypeInvalid, "INVALID"}, {TypeInt64, "INT64"}, {TypeUnixTimestampList, "UNIX_TIMESTAMP_LIST"},
		{TypeNull, "NULL"}, {TypeJSON, "JSON"}, {TypeZonedTimestamp, "ZONED_TIMESTAMP"},
		{TypePDFBytes, "PDF_BYTES"}, {ValueType(9), "ValueType(9)"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.name {
			t.Errorf("%d.String() = %q, want %q", tt.t, got, tt.name)
		}
		if tt.t.Known() {
			back, err := ParseValueType(tt.name)
			if err != nil || back != tt.t {
				t.Errorf("ParseValueType(%q) = %v, %v", tt.name, back, err)
			}
		}
	}
	if got, _ := ParseValueType("UNKNOWN"); got != TypeInvalid {
		t.Errorf("UNKNOWN = %v", got)
	}
	if _, err := ParseValueType("INT128"); err == nil || !strings.Contains(err.Error(), "INT128") {
		t.Errorf("ParseValueType(INT128) error = %v", err)
	}
	if l, _ := TypeInt32.ListOf(); l != TypeInt32List {
		t.Errorf("INT32 list = %v", l)
	}
	if e, _ := TypeUnixTimestampSet.Elem(); e != TypeUnixTimestamp || !TypeUnixTimestampSet.IsSet() || TypeInt64List.IsSet() {
		t.Errorf("set relations wrong")
	}
}

func TestUnmarshalValueRules(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want Value
	}{
		{"empty", "", Value{}},
		{"unpacked int64 list", "7206" + "0801" + "0802" + "0803", Int64ListValue([]int64{1, 2, 3})},
		{"mixed packed and unpacked", "7205" + "0801" + "0a0102", Int64ListValue([]int64{1, 2})},
		{"list member repeated is merged", "72030a0101" + "72030a0102", Int64ListValue([]int64{1, 2})},
		{"last oneof member wins", "2001" + "120178", StringValue("x")},
		{"scalar repeated: last wins", "2001" + "2002", Int64Value(2)},
		{"int32 sign-extended", "18ffffffffffffffffff01", Int32Value(-1)},
		{"int32 truncates 64-bit varint", "188180808010", Int32Value(1)},
		{"bool non-zero", "3802", BoolValue(true)},
		{"map entry without value", "a201050a030a016b", MapValue(map[string]Value{"k": {}})},
		{"map entry without key", "a201040a021200", MapValue(map[string]Value{"": {}})},
		{"unpacked floats", "8201050d0000c03f", FloatListValue([]float32{1.5})},
		{"null", "980100", NullValue()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnmarshalValue(mustHex(t, tt.hex))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestUnknownValueFieldsSurvive(t *testing.T) {
	// field 49 (a future oneof member) then int64_val, then field 4 with a foreign wire type.
	in := mustHex(t, "8a0303616263"+"2005"+"2203787878")
	v, err := UnmarshalValue(in)
	if err != nil {
		t.Fatal(err)
	}
	if v.Type != TypeInt64 || v.Int != 5 {
		t.Fatalf("got %+v", v)
	}
	out, err := MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, "2005"+"8a0303616263"+"2203787878"); !bytes.Equal(out, want) {
		t.Errorf("re-encoded %x, want %x", out, want)
	}
}

func TestUnmarshalValueErrors(t *testing.T) {
	tests := []struct {
		name, hex, want string
	}{
		{"truncated tag", "a2", "truncated"},
		{"truncated length", "1205616263", "truncated"},
		{"bad utf-8 string", "1202c328", "UTF-8"},
		{"bad utf-8 in list", "62040a02c328", "UTF-8"},
		{"bad utf-8 map key", "a201070a050a01ff1200", "UTF-8"},
		{"truncated packed varint", "7203" + "0a01ff", "packed"},
		{"truncated packed double", "7a05" + "0a03000000", "packed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := UnmarshalValue(mustHex(t, tt.hex))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	// Nesting beyond the limit.
	v := Value{}
	for i := 0; i < maxDepth+2; i++ {
		v = ValueListValue([]Value{v})
	}
	if _, err := MarshalValue(v); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("deep marshal error = %v", err)
	}
	enc, _ := AppendValue(nil, ValueListValue(nil))
	for i := 0; i < maxDepth+2; i++ {
		inner := enc
		enc = []byte{0xd2, 0x02}
		enc = appendLen(enc, len(inner)+1+lenSize(len(inner)))
		enc = append(enc, 0x0a)
		enc = appendLen(enc, len(inner))
		enc = append(enc, inner...)
	}
	if _, err := UnmarshalValue(enc); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("deep unmarshal error = %v", err)
	}
}

func appendLen(b []byte, n int) []byte {
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

func lenSize(n int) int { return len(appendLen(nil, n)) }

func TestMarshalValueErrors(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		want string
	}{
		{"type without field", Value{Type: TypePDFBytes}, "PDF_BYTES"},
		{"unknown type", Value{Type: 9}, "ValueType(9)"},
		{"bad utf-8", StringValue("\xff"), "UTF-8"},
		{"bad utf-8 list", StringListValue([]string{"ok", "\xff"}), "UTF-8"},
		{"bad utf-8 key", MapValue(map[string]Value{"\xff": {}}), "UTF-8"},
	}
	for _, tt := range tests {
		if _, err := MarshalValue(tt.v); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

func TestEntityKeyErrors(t *testing.T) {
	tests := []struct {
		name    string
		keys    []string
		vals    []Value
		version int
		want    string
	}{
		{"float key", []string{"k"}, []Value{FloatValue(1)}, 3, `join key "k" has a FLOAT value`},
		{"bool key", []string{"k"}, []Value{BoolValue(true)}, 3, "BOOL"},
		{"list key", []string{"k"}, []Value{Int64ListValue([]int64{1})}, 3, "INT64_LIST"},
		{"null key", []string{"k"}, []Value{{}}, 3, `join key "k" has no value`},
		{"explicit null", []string{"k"}, []Value{NullValue()}, 3, "no value"},
		{"length mismatch", []string{"a", "b"}, []Value{Int64Value(1)}, 3, "2 join keys but 1 values"},
		{"duplicate key", []string{"a", "a"}, []Value{Int64Value(1), Int64Value(2)}, 3, `"a" appears twice`},
		{"version 4", []string{"a"}, []Value{Int64Value(1)}, 4, "version 4"},
		{"v1 int64 overflow", []string{"a"}, []Value{Int64Value(1 << 40)}, 1, "4 bytes"},
		{"int32 out of range", []string{"a"}, []Value{{Type: TypeInt32, Int: 1 << 40}}, 3, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SerializeEntityKey(tt.keys, tt.vals, tt.version)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrEntityKey) {
				t.Errorf("error = %v, want ErrEntityKey mentioning %q", err, tt.want)
			}
		})
	}
}

func TestEntityKeyV1AndPrefix(t *testing.T) {
	got, err := SerializeEntityKey([]string{"driver_id"}, []Value{Int64Value(1001)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := "020000006472697665725f69640400000004000000e9030000"; hex.EncodeToString(got) != want {
		t.Errorf("v1 = %x, want %s", got, want)
	}
	ek, err := DeserializeEntityKeyV2(got, []string{"driver_id"}, 1)
	if err != nil || !reflect.DeepEqual(ek.Values[0], Int64Value(1001)) {
		t.Errorf("v1 decode = %+v, %v", ek, err)
	}
	p, _ := SerializeEntityKeyPrefix([]string{"driver_id", "customer_id"}, 3)
	full, _ := SerializeEntityKey([]string{"driver_id", "customer_id"}, []Value{Int64Value(1), StringValue("c")}, 3)
	if !bytes.HasPrefix(full, p) {
		t.Errorf("prefix %x is not a prefix of %x", p, full)
	}
}

func TestDeserializeEntityKeyErrors(t *testing.T) {
	tests := []struct{ name, hex, want string }{
		{"empty", "", "too short"},
		{"huge count", "ffffffff", "claims"},
		{"non-string key type", "01000000" + "04000000" + "01000000" + "61", "want STRING"},
		{"key overruns", "01000000" + "02000000" + "09000000" + "61", "exceeds"},
		{"value header truncated", "01000000" + "02000000" + "01000000" + "61" + "0400", "truncated"},
		{"value overruns", "01000000" + "02000000" + "01000000" + "61" + "04000000" + "08000000" + "00", "exceeds"},
		{"bad int64 length", "01000000" + "02000000" + "01000000" + "61" + "04000000" + "02000000" + "0000", "want 8"},
		{"float value", "01000000" + "02000000" + "01000000" + "61" + "06000000" + "04000000" + "00000000", "FLOAT"},
		{"count mismatch", "02000000" + "02000000" + "01000000" + "61" + "02000000" + "01000000" + "62" + "02000000" + "00000000", "2 join keys but 1 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DeserializeEntityKey(mustHex(t, tt.hex))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	// Feast strips NULs that padded key names in old data.
	ek, err := DeserializeEntityKey(mustHex(t, "01000000"+"02000000"+"03000000"+"610000"+"02000000"+"01000000"+"62"))
	if err != nil || ek.JoinKeys[0] != "a" {
		t.Errorf("NUL stripping: %+v, %v", ek, err)
	}
	if _, err := DeserializeEntityKeyV2(mustHex(t, "02000000"+"62"), []string{"a"}, 2); err == nil {
		t.Error("v2 with wrong key name accepted")
	}
}

func TestEntityKeyProto(t *testing.T) {
	ek := EntityKey{JoinKeys: []string{"driver_id"}, Values: []Value{Int64Value(1001)}}
	b, err := MarshalEntityKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	if want := "0a096472697665725f69641203" + "20e907"; hex.EncodeToString(b) != want {
		t.Errorf("EntityKey proto = %x, want %s", b, want)
	}
	back, err := UnmarshalEntityKey(b)
	if err != nil || !reflect.DeepEqual(back, ek) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

func TestValueJSON(t *testing.T) {
	tests := []struct {
		v    Value
		want string
	}{
		{Value{}, "null"},
		{DoubleValue(1e6), "1000000.0"},
		{DoubleValue(-1.5e-7), "-1.5e-07"},
		{FloatValue(0.1), "0.10000000149011612"},
		{StringValue("\x7f\u00e9\U0001F600\x1f"), "\"\x7f\u00e9\U0001F600\\u001f\""},
		{StringValue("bad\xffutf8"), "\"bad\ufffdutf8\""},
		{Value{Type: TypeScalarMap, Bytes: []byte{1}}, "null"},
		{Value{Type: TypeZonedTimestamp, Int: NullTimestamp}, "null"},
		{Value{Type: TypeZonedTimestamp, Int: 0, Str: "UTC-07:00"}, `"1969-12-31T17:00:00-07:00"`},
		{Value{Type: TypeZonedTimestamp, Int: 0, Str: "Nowhere/Special"}, `"1970-01-01T00:00:00+00:00"`},
		{Value{Type: TypeFloatSet, FloatList: []float32{float32(pyNaN)}}, `["NaN"]`},
		{MapValue(map[string]Value{"z": {}, "a": Int64Value(1)}), `{"a":1,"z":null}`},
	}
	for _, tt := range tests {
		if got := string(AppendValueJSON(nil, tt.v)); got != tt.want {
			t.Errorf("JSON(%v) = %s, want %s", tt.v.Type, got, tt.want)
		}
	}
}

func TestFormatTimestampPython(t *testing.T) {
	// Python's strftime("%Y") does not pad years before 1000.
	ts := TimestampOf(time.Date(999, 5, 6, 7, 8, 9, 120_000_000, time.UTC))
	if got := FormatTimestamp(ts); got != "999-05-06T07:08:09.120Z" {
		t.Errorf("got %s", got)
	}
	if got := TimestampOf(time.Time{}); !got.IsZero() {
		t.Errorf("zero time → %+v", got)
	}
	now := time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.UTC)
	if back := TimestampOf(now).Time(); !back.Equal(now) {
		t.Errorf("round trip %v", back)
	}
}

func TestCoercionExtras(t *testing.T) {
	tests := []struct {
		json string
		typ  ValueType
		want Value
	}{
		{`"2022-05-13 10:59:42+00:00"`, TypeUnixTimestamp, UnixTimestampValue(1652439582)},
		{`"2022-05-13T10:59:42Z"`, TypeUnixTimestamp, UnixTimestampValue(1652439582)},
		{`"1652439582"`, TypeUnixTimestamp, UnixTimestampValue(1652439582)},
		{`2.0`, TypeUnixTimestamp, UnixTimestampValue(2)},
		{`"AAH/"`, TypeBytes, BytesValue([]byte{0, 1, 0xff})},
		{`"AAH/"`, TypeImageBytes, BytesValue([]byte{0, 1, 0xff})},
		{`[3, 1, 3, null]`, TypeInt64List, Int64ListValue([]int64{3, 1, 3, 0})},
		{`[3, 1, 3]`, TypeInt64Set, Value{Type: TypeInt64Set, Int64List: []int64{3, 1}}},
		{`["a", "b", "a"]`, TypeStringSet, Value{Type: TypeStringSet, StringList: []string{"a", "b"}}},
		{`[null, "2022-05-13T10:59:42Z"]`, TypeUnixTimestampList, UnixTimestampListValue([]int64{NullTimestamp, 1652439582})},
		{`["AAH/", null]`, TypeBytesList, BytesListValue([][]byte{{0, 1, 0xff}, nil})},
		{`[]`, TypeStringList, StringListValue([]string{})},
		{`5`, TypeStruct, Value{Type: TypeStruct, Map: map[string]Value{"_value": StringValue("5")}}},
		{`"{\"a\": [{\"b\": 1}]}"`, TypeMap, MapValue(map[string]Value{"a": {Type: TypeMapList, MapList: []map[string]Value{{"b": Int64Value(1)}}}})},
		{`{"a": 1, "a": 2}`, TypeMap, MapValue(map[string]Value{"a": Int64Value(2)})},
		{`{"k": "é\u0001", "n": -0, "f": 1e400, "u": "\ud83d\ude00"}`, TypeJSON, JSONValue(`{"k": "\u00e9\u0001", "n": 0, "f": Infinity, "u": "\ud83d\ude00"}`)},
		{`[[[1], [2]], null]`, TypeValueList, ValueListValue([]Value{ValueListValue([]Value{Int64ListValue([]int64{1}), Int64ListValue([]int64{2})}), {}})},
		{`-0`, TypeString, StringValue("0")},
		{`123456789012345678901234567890`, TypeString, StringValue("123456789012345678901234567890")},
		{`1e400`, TypeString, StringValue("inf")},
		{`false`, TypeString, StringValue("False")},
		{`" 7 "`, TypeInt32, Int32Value(7)},
		{`"nan"`, TypeFloat, FloatValue(float32(pyNaN))},
		{`null`, TypeInt64, Value{}},
		{`  1  `, TypeInt64, Int64Value(1)},
	}
	for _, tt := range tests {
		t.Run(tt.json+"→"+tt.typ.String(), func(t *testing.T) {
			got, err := ValueFromJSON([]byte(tt.json), tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			gb, _ := MarshalValue(got)
			wb, _ := MarshalValue(tt.want)
			if !bytes.Equal(gb, wb) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestCoercionErrors(t *testing.T) {
	tests := []struct {
		json string
		typ  ValueType
		want string
	}{
		{`1.5`, TypeInt64, "cannot convert JSON value 1.5 to INT64: not an integer"},
		{`[1]`, TypeInt64, "JSON value [1] to INT64: expected a number"},
		{`{"a":1}`, TypeString, `JSON value {"a":1} to STRING: expected a string`},
		{`"abc"`, TypeUnixTimestamp, "epoch seconds or an RFC 3339"},
		{`["a"]`, TypeInt32List, `JSON value "a" to INT32: list elements must be integers`},
		{`[true]`, TypeInt64List, "must be integers"},
		{`[1, null]`, TypeInt64Set, "a set cannot hold null"},
		{`"x"`, TypeInt64List, "expected an array"},
		{`[1]`, TypeMapList, "list elements must be objects"},
		{`{"a": []}`, TypeMap, `map key "a"`},
		{`[1]`, TypeValueList, "elements must be arrays"},
		{`{}`, TypeScalarMap, "cannot be given as JSON"},
		{`"2021-01-01T00:00:00Z"`, TypeZonedTimestamp, "cannot be given as JSON"},
		{`[1,`, TypeInt64List, "invalid JSON"},
		{`01`, TypeInt64, "invalid JSON number"},
		{`9223372036854775808`, TypeInt64, "out of range"},
		{`1e19`, TypeInt64, "out of range"},
		{`"%%"`, TypeBytes, "not valid base64"},
		{`[[1]]`, TypeInvalid, "nested lists"},
		{`[1, null]`, TypeInvalid, "null elements"},
		{`"` + strings.Repeat("x", 200) + `"`, TypeInt64, "..."},
	}
	for _, tt := range tests {
		_, err := ValueFromJSON([]byte(tt.json), tt.typ)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValueFromJSON(%s, %v) error = %v, want it to contain %q", tt.json, tt.typ, err, tt.want)
		}
	}
}

func TestValuesFromJSONColumn(t *testing.T) {
	col := func(s ...string) []json.RawMessage {
		out := make([]json.RawMessage, len(s))
		for i := range s {
			out[i] = json.RawMessage(s[i])
		}
		return out
	}
	vals, typ, err := ValuesFromJSON(col("null", "[]", "[1.5]", "[2]"), TypeInvalid)
	if err != nil || typ != TypeDoubleList {
		t.Fatalf("typ %v, err %v", typ, err)
	}
	if vals[0].Type != TypeInvalid || vals[1].Type != TypeDoubleList || vals[3].DoubleList[0] != 2 {
		t.Errorf("vals %+v", vals)
	}
	vals, typ, err = ValuesFromJSON(col("null", "null"), TypeInvalid)
	if err != nil || typ != TypeInvalid || len(vals) != 2 {
		t.Errorf("all-null column: %v %v %v", vals, typ, err)
	}
	if _, _, err := ValuesFromJSON(col("null", "[]"), TypeInvalid); err == nil {
		t.Error("column of only empty lists inferred a type")
	}
	_, _, err = ValuesFromJSON(col("1", "2", "x"), TypeInt64)
	if err == nil || !strings.Contains(err.Error(), "element 2") {
		t.Errorf("error = %v, want element 2", err)
	}
	_, _, err = ValuesFromJSON(col("1", `"x"`), TypeInvalid)
	if err == nil || !strings.Contains(err.Error(), `element 1: cannot convert JSON value "x" to INT64`) {
		t.Errorf("error = %v", err)
	}
	for _, c := range []struct {
		json string
		want ValueType
	}{{"1", TypeInt64}, {"1.0", TypeDouble}, {`"s"`, TypeString}, {"true", TypeBool}, {"{}", TypeMap},
		{`[{"a":1}]`, TypeMapList}, {"[true]", TypeBoolList}, {"null", TypeInvalid}, {"[]", TypeInvalid}} {
		if got, err := InferValueType([]byte(c.json)); err != nil || got != c.want {
			t.Errorf("InferValueType(%s) = %v, %v; want %v", c.json, got, err, c.want)
		}
	}
}

func TestEntityKeyManyJoinKeysSorted(t *testing.T) {
	keys := []string{"k9", "k1", "k10", "k0", "k5", "k3", "k7", "k2", "k8", "k6", "k4"}
	vals := make([]Value, len(keys))
	for i, k := range keys {
		vals[i] = StringValue("v" + k)
	}
	b, err := SerializeEntityKey(keys, vals, 3)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := DeserializeEntityKey(b)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string(nil), keys...)
	sort.Strings(want)
	if !reflect.DeepEqual(ek.JoinKeys, want) {
		t.Errorf("keys %v, want %v", ek.JoinKeys, want)
	}
	for i, k := range ek.JoinKeys {
		if ek.Values[i].Str != "v"+k {
			t.Errorf("value of %s = %q", k, ek.Values[i].Str)
		}
	}
}
