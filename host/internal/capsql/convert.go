package capsql

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/larder-dev/larder/abi"
)

// paramValue converts row r of a request column into a SQLite parameter. Integers,
// booleans and timestamps bind as INTEGER (timestamps as Unix seconds, Feast's SQLite
// layout), floats as REAL, STRING as TEXT and BYTES as BLOB.
func paramValue(c *abi.Column, r int) (any, error) {
	if c.IsNull(r) {
		return nil, nil
	}
	switch c.Type {
	case abi.TypeInt32:
		return int64(c.Int32(r)), nil
	case abi.TypeInt64:
		return c.Int64(r), nil
	case abi.TypeUnixTimestamp:
		return floorDiv(c.Timestamp(r), 1e6), nil
	case abi.TypeBool:
		if c.Bool(r) {
			return int64(1), nil
		}
		return int64(0), nil
	case abi.TypeDouble:
		return c.Float64(r), nil
	case abi.TypeFloat:
		return float64(c.Float32(r)), nil
	case abi.TypeBytes:
		if b := c.Bytes(r); b != nil {
			return b, nil
		}
		return []byte{}, nil // a zero-length BLOB, not NULL
	case abi.TypeString:
		// The bytes live in guest memory that does not change during the host call and
		// the driver copies them when binding, so no Go string copy is needed.
		b := c.Bytes(r)
		if len(b) == 0 {
			return "", nil
		}
		return unsafe.String(&b[0], len(b)), nil
	case abi.TypeStatus:
		return int64(c.Status(r)), nil
	}
	return nil, fmt.Errorf("type %s cannot be a SQL parameter", c.Type)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

// Text timestamp layouts found in SQLite databases (Feast wrote ISO text before it
// switched to epoch seconds).
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

func parseTextTime(s string) (time.Time, bool) {
	s = strings.TrimSuffix(s, "Z")
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// appendValue converts one SQLite value to the requested result type (spec §6.1) and
// returns roughly how many bytes it adds to the response.
func appendValue(cb *abi.ColumnBuilder, t abi.Type, v any) (int, error) {
	if v == nil {
		cb.AppendNull()
		return 1, nil
	}
	switch x := v.(type) {
	case int64:
		switch t {
		case abi.TypeInt64:
			cb.AppendInt64(x)
		case abi.TypeInt32:
			if x < math.MinInt32 || x > math.MaxInt32 {
				return 0, fmt.Errorf("INTEGER %d does not fit INT32", x)
			}
			cb.AppendInt32(int32(x))
		case abi.TypeBool:
			cb.AppendBool(x != 0)
		case abi.TypeUnixTimestamp:
			if x > math.MaxInt64/1_000_000 || x < math.MinInt64/1_000_000 {
				return 0, fmt.Errorf("INTEGER %d is out of range as Unix seconds", x)
			}
			cb.AppendTimestamp(x * 1e6)
		case abi.TypeDouble:
			cb.AppendFloat64(float64(x))
		case abi.TypeFloat:
			cb.AppendFloat32(float32(x))
		default:
			return 0, fmt.Errorf("INTEGER cannot be returned as %s", t)
		}
		return 8, nil
	case float64:
		switch t {
		case abi.TypeDouble:
			cb.AppendFloat64(x)
		case abi.TypeFloat:
			cb.AppendFloat32(float32(x))
		default:
			return 0, fmt.Errorf("REAL cannot be returned as %s", t)
		}
		return 8, nil
	case bool: // a column declared BOOLEAN
		switch t {
		case abi.TypeBool:
			cb.AppendBool(x)
		case abi.TypeInt64, abi.TypeInt32:
			var n int32
			if x {
				n = 1
			}
			if t == abi.TypeInt64 {
				cb.AppendInt64(int64(n))
			} else {
				cb.AppendInt32(n)
			}
		default:
			return 0, fmt.Errorf("BOOLEAN cannot be returned as %s", t)
		}
		return 1, nil
	case []byte:
		switch t {
		case abi.TypeBytes:
			cb.AppendBytes(x)
		case abi.TypeString:
			if !utf8.Valid(x) {
				return 0, fmt.Errorf("BLOB is not valid UTF-8, cannot be returned as STRING")
			}
			cb.AppendBytes(x)
		default:
			return 0, fmt.Errorf("BLOB cannot be returned as %s", t)
		}
		return len(x) + 4, nil
	case string:
		switch t {
		case abi.TypeString:
			if !utf8.ValidString(x) {
				return 0, fmt.Errorf("TEXT is not valid UTF-8")
			}
			cb.AppendString(x)
		case abi.TypeBytes:
			cb.AppendString(x)
		case abi.TypeUnixTimestamp:
			tm, ok := parseTextTime(x)
			if !ok {
				return 0, fmt.Errorf("TEXT %q is not a timestamp", x)
			}
			cb.AppendTimestamp(tm.UnixMicro())
		default:
			return 0, fmt.Errorf("TEXT cannot be returned as %s", t)
		}
		return len(x) + 4, nil
	case time.Time: // a column declared TIMESTAMP, DATETIME or DATE
		switch t {
		case abi.TypeUnixTimestamp:
			cb.AppendTimestamp(x.UnixMicro())
		case abi.TypeInt64:
			cb.AppendInt64(x.Unix())
		case abi.TypeString:
			cb.AppendString(x.UTC().Format(time.RFC3339Nano))
		default:
			return 0, fmt.Errorf("TIMESTAMP cannot be returned as %s", t)
		}
		return 8, nil
	}
	return 0, fmt.Errorf("unsupported SQLite value of Go type %T", v)
}
