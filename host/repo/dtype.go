package repo

import (
	"fmt"
	"strings"

	"github.com/larder-dev/larder/host/feast"
)

// Feast's Python type names (feast.types), keyed by their lowercase spelling without
// underscores so "Int64", "int64" and "INT64" all work. Float32 is Feast's FLOAT and
// Float64 its DOUBLE.
var scalarDTypes = map[string]feast.ValueType{
	"int32":         feast.TypeInt32,
	"int64":         feast.TypeInt64,
	"float32":       feast.TypeFloat,
	"float":         feast.TypeFloat,
	"float64":       feast.TypeDouble,
	"double":        feast.TypeDouble,
	"string":        feast.TypeString,
	"bytes":         feast.TypeBytes,
	"bool":          feast.TypeBool,
	"unixtimestamp": feast.TypeUnixTimestamp,
	"uuid":          feast.TypeUUID,
	"timeuuid":      feast.TypeTimeUUID,
	"decimal":       feast.TypeDecimal,
	"json":          feast.TypeJSON,
	"map":           feast.TypeMap,
	"pdfbytes":      feast.TypePDFBytes,
	"imagebytes":    feast.TypeImageBytes,
}

// Types with no YAML spelling yet: they need nested type information that Feast keeps in
// field tags, which this parser does not model.
var unsupportedDTypes = map[feast.ValueType]string{
	feast.TypeStruct:         "Struct types are not supported in YAML definitions yet",
	feast.TypeStructList:     "Struct types are not supported in YAML definitions yet",
	feast.TypeValueList:      "nested collections are not supported in YAML definitions yet",
	feast.TypeValueSet:       "nested collections are not supported in YAML definitions yet",
	feast.TypeScalarMap:      "SCALAR_MAP is not supported in YAML definitions yet",
	feast.TypeZonedTimestamp: "ZONED_TIMESTAMP is not supported in YAML definitions yet",
	feast.TypeNull:           "NULL is not a column type",
	feast.TypeInvalid:        "UNKNOWN is not a column type",
}

const dtypeHelp = "use a Feast type such as Int64, Float32, String, Bool, UnixTimestamp, Array(Float32), Set(String), Map, Json, or a ValueType name such as INT64_LIST"

// ParseDType parses a Feast dtype: a Python type name (Int64, Float32, String, Bytes, Bool,
// UnixTimestamp, Uuid, TimeUuid, Decimal, Json, Map, PdfBytes, ImageBytes), Array(T) or
// Set(T) of those, or a ValueType enum name (INT64, FLOAT_LIST, STRING_SET, …).
func ParseDType(s string) (feast.ValueType, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return feast.TypeInvalid, fmt.Errorf("empty dtype; %s", dtypeHelp)
	}
	if open := strings.IndexByte(s, '('); open > 0 && strings.HasSuffix(s, ")") {
		outer := strings.ToLower(strings.TrimSpace(s[:open]))
		inner := strings.TrimSpace(s[open+1 : len(s)-1])
		if outer != "array" && outer != "list" && outer != "set" {
			return feast.TypeInvalid, fmt.Errorf("unknown dtype %q; %s", s, dtypeHelp)
		}
		if strings.ContainsRune(inner, '(') {
			return feast.TypeInvalid, fmt.Errorf("dtype %q: nested collections are not supported in YAML definitions yet", s)
		}
		elem, err := ParseDType(inner)
		if err != nil {
			return feast.TypeInvalid, fmt.Errorf("dtype %q: element: %w", s, err)
		}
		if _, isColl := elem.Elem(); isColl {
			return feast.TypeInvalid, fmt.Errorf("dtype %q: nested collections are not supported in YAML definitions yet", s)
		}
		if outer == "set" {
			if t, ok := elem.SetOf(); ok {
				return t, nil
			}
			return feast.TypeInvalid, fmt.Errorf("dtype %q: Feast has no set of %s", s, elem)
		}
		if t, ok := elem.ListOf(); ok {
			return t, nil
		}
		return feast.TypeInvalid, fmt.Errorf("dtype %q: Feast has no array of %s", s, elem)
	}
	if t, ok := scalarDTypes[strings.ToLower(strings.ReplaceAll(s, "_", ""))]; ok {
		return t, nil
	}
	if t, err := feast.ParseValueType(strings.ToUpper(s)); err == nil {
		if msg, bad := unsupportedDTypes[t]; bad {
			return feast.TypeInvalid, fmt.Errorf("dtype %q: %s", s, msg)
		}
		return t, nil
	}
	return feast.TypeInvalid, fmt.Errorf("unknown dtype %q; %s", s, dtypeHelp)
}

// joinKeyTypes are the value types Feast's entity-key serialization accepts in Go
// (UNIX_TIMESTAMP works only in the Python SDK).
var joinKeyTypes = map[feast.ValueType]bool{
	feast.TypeString: true, feast.TypeBytes: true, feast.TypeInt32: true, feast.TypeInt64: true,
}
