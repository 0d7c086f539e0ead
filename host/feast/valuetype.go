package feast

import (
	"fmt"
	"strconv"
)

// ValueType is Feast's feast.types.ValueType.Enum. Its numbers double as the field
// numbers of the matching member of the Value oneof (BYTES=1 ↔ bytes_val=1, …,
// ZONED_TIMESTAMP=48 ↔ zoned_timestamp_val=48), which is why Value.Type is a ValueType.
type ValueType int32

// ValueType numbers, from feast/types/Value.proto. PDFBytes and ImageBytes exist only in
// the Python SDK's enum (they store as bytes_val) but can appear in a registry.
const (
	TypeInvalid           ValueType = 0 // "UNKNOWN" in the Python SDK; an unset Value
	TypeBytes             ValueType = 1
	TypeString            ValueType = 2
	TypeInt32             ValueType = 3
	TypeInt64             ValueType = 4
	TypeDouble            ValueType = 5
	TypeFloat             ValueType = 6
	TypeBool              ValueType = 7
	TypeUnixTimestamp     ValueType = 8
	TypeBytesList         ValueType = 11
	TypeStringList        ValueType = 12
	TypeInt32List         ValueType = 13
	TypeInt64List         ValueType = 14
	TypeDoubleList        ValueType = 15
	TypeFloatList         ValueType = 16
	TypeBoolList          ValueType = 17
	TypeUnixTimestampList ValueType = 18
	TypeNull              ValueType = 19
	TypeMap               ValueType = 20
	TypeMapList           ValueType = 21
	TypeBytesSet          ValueType = 22
	TypeStringSet         ValueType = 23
	TypeInt32Set          ValueType = 24
	TypeInt64Set          ValueType = 25
	TypeDoubleSet         ValueType = 26
	TypeFloatSet          ValueType = 27
	TypeBoolSet           ValueType = 28
	TypeUnixTimestampSet  ValueType = 29
	TypePDFBytes          ValueType = 30
	TypeImageBytes        ValueType = 31
	TypeJSON              ValueType = 32
	TypeJSONList          ValueType = 33
	TypeStruct            ValueType = 34
	TypeStructList        ValueType = 35
	TypeUUID              ValueType = 36
	TypeTimeUUID          ValueType = 37
	TypeUUIDList          ValueType = 38
	TypeTimeUUIDList      ValueType = 39
	TypeUUIDSet           ValueType = 40
	TypeTimeUUIDSet       ValueType = 41
	TypeValueList         ValueType = 42
	TypeValueSet          ValueType = 43
	TypeDecimal           ValueType = 44
	TypeDecimalList       ValueType = 45
	TypeDecimalSet        ValueType = 46
	TypeScalarMap         ValueType = 47
	TypeZonedTimestamp    ValueType = 48
)

var valueTypeNames = map[ValueType]string{
	TypeInvalid: "INVALID", TypeBytes: "BYTES", TypeString: "STRING", TypeInt32: "INT32",
	TypeInt64: "INT64", TypeDouble: "DOUBLE", TypeFloat: "FLOAT", TypeBool: "BOOL",
	TypeUnixTimestamp: "UNIX_TIMESTAMP", TypeBytesList: "BYTES_LIST", TypeStringList: "STRING_LIST",
	TypeInt32List: "INT32_LIST", TypeInt64List: "INT64_LIST", TypeDoubleList: "DOUBLE_LIST",
	TypeFloatList: "FLOAT_LIST", TypeBoolList: "BOOL_LIST", TypeUnixTimestampList: "UNIX_TIMESTAMP_LIST",
	TypeNull: "NULL", TypeMap: "MAP", TypeMapList: "MAP_LIST", TypeBytesSet: "BYTES_SET",
	TypeStringSet: "STRING_SET", TypeInt32Set: "INT32_SET", TypeInt64Set: "INT64_SET",
	TypeDoubleSet: "DOUBLE_SET", TypeFloatSet: "FLOAT_SET", TypeBoolSet: "BOOL_SET",
	TypeUnixTimestampSet: "UNIX_TIMESTAMP_SET", TypePDFBytes: "PDF_BYTES", TypeImageBytes: "IMAGE_BYTES",
	TypeJSON: "JSON", TypeJSONList: "JSON_LIST", TypeStruct: "STRUCT", TypeStructList: "STRUCT_LIST",
	TypeUUID: "UUID", TypeTimeUUID: "TIME_UUID", TypeUUIDList: "UUID_LIST", TypeTimeUUIDList: "TIME_UUID_LIST",
	TypeUUIDSet: "UUID_SET", TypeTimeUUIDSet: "TIME_UUID_SET", TypeValueList: "VALUE_LIST",
	TypeValueSet: "VALUE_SET", TypeDecimal: "DECIMAL", TypeDecimalList: "DECIMAL_LIST",
	TypeDecimalSet: "DECIMAL_SET", TypeScalarMap: "SCALAR_MAP", TypeZonedTimestamp: "ZONED_TIMESTAMP",
}

var valueTypeByName = func() map[string]ValueType {
	m := make(map[string]ValueType, len(valueTypeNames)+1)
	for t, n := range valueTypeNames {
		m[n] = t
	}
	m["UNKNOWN"] = TypeInvalid // the Python SDK's name for 0
	return m
}()

// String returns the proto enum name ("INT64"), or the number for values Feast does
// not define.
func (t ValueType) String() string {
	if n, ok := valueTypeNames[t]; ok {
		return n
	}
	return "ValueType(" + strconv.Itoa(int(t)) + ")"
}

// ParseValueType accepts a proto enum name such as "INT64" (and "UNKNOWN" for 0).
func ParseValueType(name string) (ValueType, error) {
	if t, ok := valueTypeByName[name]; ok {
		return t, nil
	}
	return TypeInvalid, fmt.Errorf("unknown Feast value type %q", name)
}

// Known reports whether t is a number Feast defines.
func (t ValueType) Known() bool {
	_, ok := valueTypeNames[t]
	return ok
}

// scalar → list and list → element relations. Sets share their element type.
var listOf = map[ValueType]ValueType{
	TypeBytes: TypeBytesList, TypeString: TypeStringList, TypeInt32: TypeInt32List,
	TypeInt64: TypeInt64List, TypeDouble: TypeDoubleList, TypeFloat: TypeFloatList,
	TypeBool: TypeBoolList, TypeUnixTimestamp: TypeUnixTimestampList, TypeMap: TypeMapList,
	TypeJSON: TypeJSONList, TypeStruct: TypeStructList, TypeUUID: TypeUUIDList,
	TypeTimeUUID: TypeTimeUUIDList, TypeDecimal: TypeDecimalList,
}

var setOf = map[ValueType]ValueType{
	TypeBytes: TypeBytesSet, TypeString: TypeStringSet, TypeInt32: TypeInt32Set,
	TypeInt64: TypeInt64Set, TypeDouble: TypeDoubleSet, TypeFloat: TypeFloatSet,
	TypeBool: TypeBoolSet, TypeUnixTimestamp: TypeUnixTimestampSet, TypeUUID: TypeUUIDSet,
	TypeTimeUUID: TypeTimeUUIDSet, TypeDecimal: TypeDecimalSet,
}

var elemOf = func() map[ValueType]ValueType {
	m := map[ValueType]ValueType{}
	for e, l := range listOf {
		m[l] = e
	}
	for e, s := range setOf {
		m[s] = e
	}
	return m
}()

// ListOf returns the *_LIST type whose elements are t, if Feast has one.
func (t ValueType) ListOf() (ValueType, bool) { l, ok := listOf[t]; return l, ok }

// SetOf returns the *_SET type whose elements are t, if Feast has one.
func (t ValueType) SetOf() (ValueType, bool) { s, ok := setOf[t]; return s, ok }

// Elem returns the element type of a *_LIST or *_SET type.
func (t ValueType) Elem() (ValueType, bool) { e, ok := elemOf[t]; return e, ok }

// IsSet reports whether t is one of the *_SET types (VALUE_SET included).
func (t ValueType) IsSet() bool {
	if t == TypeValueSet {
		return true
	}
	e, ok := elemOf[t]
	return ok && setOf[e] == t
}
