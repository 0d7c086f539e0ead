package feast

// Value is one feast.types.Value: which member of the `val` oneof is set (Type) and its
// payload. Only the payload field(s) named for Type are meaningful:
//
//	BYTES                                   Bytes
//	STRING, JSON, UUID, TIME_UUID, DECIMAL  Str
//	INT32, INT64, UNIX_TIMESTAMP            Int (epoch seconds for UNIX_TIMESTAMP)
//	DOUBLE, FLOAT                           Float (FLOAT is stored as float32 on the wire)
//	BOOL                                    Bool
//	NULL                                    nothing (null_val = NULL)
//	*_LIST / *_SET of bytes                 BytesList
//	of strings (STRING, JSON, UUID, TIME_UUID, DECIMAL)  StringList
//	of INT32                                Int32List
//	of INT64, UNIX_TIMESTAMP                Int64List
//	of DOUBLE / FLOAT / BOOL                DoubleList / FloatList / BoolList
//	VALUE_LIST, VALUE_SET                   Values (nested Values)
//	MAP, STRUCT                             Map
//	MAP_LIST, STRUCT_LIST                   MapList
//	ZONED_TIMESTAMP                         Int (epoch seconds) and Str (zone name)
//	SCALAR_MAP                              Bytes: the serialized ScalarMap, passed through
//
// Type == TypeInvalid is the empty Value (no oneof member set), which Feast uses for
// "missing"; TypeNull is an explicit null_val. Both render as JSON null.
type Value struct {
	Type ValueType

	Int   int64
	Float float64
	Bool  bool
	Str   string
	Bytes []byte

	BytesList  [][]byte
	StringList []string
	Int32List  []int32
	Int64List  []int64
	DoubleList []float64
	FloatList  []float32
	BoolList   []bool
	Values     []Value
	Map        map[string]Value
	MapList    []map[string]Value

	// unknown holds fields of the Value message this package does not know (a newer
	// Feast's oneof members), so decoding and re-encoding does not drop them.
	unknown []byte
}

// IsNull reports whether v is unset or an explicit null.
func (v Value) IsNull() bool { return v.Type == TypeInvalid || v.Type == TypeNull }

// Constructors for the common cases.

func BytesValue(b []byte) Value          { return Value{Type: TypeBytes, Bytes: b} }
func StringValue(s string) Value         { return Value{Type: TypeString, Str: s} }
func Int32Value(i int32) Value           { return Value{Type: TypeInt32, Int: int64(i)} }
func Int64Value(i int64) Value           { return Value{Type: TypeInt64, Int: i} }
func DoubleValue(f float64) Value        { return Value{Type: TypeDouble, Float: f} }
func FloatValue(f float32) Value         { return Value{Type: TypeFloat, Float: float64(f)} }
func BoolValue(b bool) Value             { return Value{Type: TypeBool, Bool: b} }
func UnixTimestampValue(sec int64) Value { return Value{Type: TypeUnixTimestamp, Int: sec} }
func NullValue() Value                   { return Value{Type: TypeNull} }
func JSONValue(s string) Value           { return Value{Type: TypeJSON, Str: s} }
func UUIDValue(s string) Value           { return Value{Type: TypeUUID, Str: s} }
func DecimalValue(s string) Value        { return Value{Type: TypeDecimal, Str: s} }
func BytesListValue(l [][]byte) Value    { return Value{Type: TypeBytesList, BytesList: l} }
func StringListValue(l []string) Value   { return Value{Type: TypeStringList, StringList: l} }
func Int32ListValue(l []int32) Value     { return Value{Type: TypeInt32List, Int32List: l} }
func Int64ListValue(l []int64) Value     { return Value{Type: TypeInt64List, Int64List: l} }
func DoubleListValue(l []float64) Value  { return Value{Type: TypeDoubleList, DoubleList: l} }
func FloatListValue(l []float32) Value   { return Value{Type: TypeFloatList, FloatList: l} }
func BoolListValue(l []bool) Value       { return Value{Type: TypeBoolList, BoolList: l} }
func MapValue(m map[string]Value) Value  { return Value{Type: TypeMap, Map: m} }
func ValueListValue(l []Value) Value     { return Value{Type: TypeValueList, Values: l} }
func UnixTimestampListValue(l []int64) Value {
	return Value{Type: TypeUnixTimestampList, Int64List: l}
}

// NullTimestamp is the sentinel Feast stores for a null element of a timestamp list
// (numpy's NaT as int64).
const NullTimestamp int64 = -1 << 63

// payload kinds: how each oneof member is laid out on the wire.
type payloadKind uint8

const (
	kindNone payloadKind = iota
	kindBytes
	kindString
	kindInt32
	kindInt64
	kindDouble
	kindFloat
	kindBool
	kindNull
	kindBytesList
	kindStringList
	kindInt32List
	kindInt64List
	kindDoubleList
	kindFloatList
	kindBoolList
	kindMap
	kindMapList
	kindValues
	kindZoned
	kindRawMessage
)

var payloadKinds = [...]payloadKind{
	TypeBytes: kindBytes, TypeString: kindString, TypeInt32: kindInt32, TypeInt64: kindInt64,
	TypeDouble: kindDouble, TypeFloat: kindFloat, TypeBool: kindBool, TypeUnixTimestamp: kindInt64,
	TypeBytesList: kindBytesList, TypeStringList: kindStringList, TypeInt32List: kindInt32List,
	TypeInt64List: kindInt64List, TypeDoubleList: kindDoubleList, TypeFloatList: kindFloatList,
	TypeBoolList: kindBoolList, TypeUnixTimestampList: kindInt64List, TypeNull: kindNull,
	TypeMap: kindMap, TypeMapList: kindMapList, TypeBytesSet: kindBytesList,
	TypeStringSet: kindStringList, TypeInt32Set: kindInt32List, TypeInt64Set: kindInt64List,
	TypeDoubleSet: kindDoubleList, TypeFloatSet: kindFloatList, TypeBoolSet: kindBoolList,
	TypeUnixTimestampSet: kindInt64List, TypeJSON: kindString, TypeJSONList: kindStringList,
	TypeStruct: kindMap, TypeStructList: kindMapList, TypeUUID: kindString, TypeTimeUUID: kindString,
	TypeUUIDList: kindStringList, TypeTimeUUIDList: kindStringList, TypeUUIDSet: kindStringList,
	TypeTimeUUIDSet: kindStringList, TypeValueList: kindValues, TypeValueSet: kindValues,
	TypeDecimal: kindString, TypeDecimalList: kindStringList, TypeDecimalSet: kindStringList,
	TypeScalarMap: kindRawMessage, TypeZonedTimestamp: kindZoned,
}

func kindOf(t ValueType) payloadKind {
	if t < 0 || int(t) >= len(payloadKinds) {
		return kindNone
	}
	return payloadKinds[t]
}
