package feast

import (
	"encoding/base64"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// AppendValueJSON appends v rendered as Feast's Python feature server renders a Value in
// /get-online-features responses (feature_server_utils._value_to_native followed by
// Starlette's json.dumps(ensure_ascii=False, separators=(",", ":"))):
//
//   - unset and null_val → null; scalar_map_val → null (Feast does not render it either)
//   - bytes → base64 (standard alphabet, padded); byte lists element-wise
//   - int32/int64/unix_timestamp → JSON integers (unix_timestamp as epoch seconds)
//   - double → Python's repr of the double; float → repr of the float32 widened to
//     double (0.7037263512611389); NaN and ±Inf → "NaN", "Infinity", "-Infinity" strings
//   - strings, json, uuid, decimal → JSON strings (non-ASCII unescaped, as Python)
//   - lists and sets → arrays; list_val/set_val → nested arrays; map/struct → objects
//     with keys in sorted order (Python's order is the map's hash order, so unstable)
//   - zoned_timestamp → ISO 8601 in its zone ("2023-11-14T23:13:20+01:00"), or null for
//     the NaT sentinel
func AppendValueJSON(dst []byte, v Value) []byte {
	return appendValueJSON(dst, &v, 0)
}

func appendValueJSON(b []byte, v *Value, depth int) []byte {
	if depth > maxDepth {
		return append(b, "null"...)
	}
	switch kindOf(v.Type) {
	case kindBytes:
		return appendBase64(b, v.Bytes)
	case kindString:
		return AppendJSONString(b, v.Str)
	case kindInt32, kindInt64:
		return strconv.AppendInt(b, v.Int, 10)
	case kindDouble:
		return appendFloatJSON(b, v.Float)
	case kindFloat:
		return appendFloatJSON(b, float64(float32(v.Float)))
	case kindBool:
		return strconv.AppendBool(b, v.Bool)
	case kindBytesList:
		return appendJSONList(b, v.BytesList, appendBase64)
	case kindStringList:
		return appendJSONList(b, v.StringList, AppendJSONString)
	case kindInt32List:
		return appendJSONList(b, v.Int32List, func(b []byte, e int32) []byte { return strconv.AppendInt(b, int64(e), 10) })
	case kindInt64List:
		return appendJSONList(b, v.Int64List, func(b []byte, e int64) []byte { return strconv.AppendInt(b, e, 10) })
	case kindDoubleList:
		return appendJSONList(b, v.DoubleList, appendFloatJSON)
	case kindFloatList:
		return appendJSONList(b, v.FloatList, func(b []byte, e float32) []byte { return appendFloatJSON(b, float64(e)) })
	case kindBoolList:
		return appendJSONList(b, v.BoolList, strconv.AppendBool)
	case kindValues:
		b = append(b, '[')
		for i := range v.Values {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValueJSON(b, &v.Values[i], depth+1)
		}
		return append(b, ']')
	case kindMap:
		return appendMapJSON(b, v.Map, depth)
	case kindMapList:
		b = append(b, '[')
		for i, m := range v.MapList {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendMapJSON(b, m, depth+1)
		}
		return append(b, ']')
	case kindZoned:
		if v.Int == NullTimestamp {
			return append(b, "null"...)
		}
		b = append(b, '"')
		b = appendZoned(b, v.Int, v.Str)
		return append(b, '"')
	}
	return append(b, "null"...)
}

func appendMapJSON(b []byte, m map[string]Value, depth int) []byte {
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, k)
		b = append(b, ':')
		e := m[k]
		b = appendValueJSON(b, &e, depth+1)
	}
	return append(b, '}')
}

func appendBase64(b []byte, raw []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, raw)
	return append(b, '"')
}

func appendFloatJSON(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	return AppendPyFloat(b, f)
}

// AppendPyFloat appends Python's repr() of a finite double: the shortest digits that
// round-trip, in positional notation when the decimal exponent is in [-4, 16) and with
// a trailing ".0" for integral values ("1.0", "1e+16", "1e-05", "0.0001").
func AppendPyFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		// Python's repr spellings, for completeness: callers rendering JSON handle these.
		switch {
		case math.IsNaN(f):
			return append(b, "nan"...)
		case f > 0:
			return append(b, "inf"...)
		default:
			return append(b, "-inf"...)
		}
	}
	var buf [32]byte
	s := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // "-d.ddde±XX"
	if s[0] == '-' {
		b = append(b, '-')
		s = s[1:]
	}
	e := 0
	for s[e] != 'e' {
		e++
	}
	exp, _ := strconv.Atoi(string(s[e+1:]))
	var digits [24]byte
	nd := 0
	for _, c := range s[:e] {
		if c != '.' {
			digits[nd] = c
			nd++
		}
	}
	d := digits[:nd]
	decpt := exp + 1 // digits are d[0].d[1:] × 10^exp = 0.d × 10^decpt
	if decpt > -4 && decpt <= 16 {
		switch {
		case decpt <= 0:
			b = append(b, '0', '.')
			for i := 0; i < -decpt; i++ {
				b = append(b, '0')
			}
			b = append(b, d...)
		case decpt >= nd:
			b = append(b, d...)
			for i := nd; i < decpt; i++ {
				b = append(b, '0')
			}
			b = append(b, '.', '0')
		default:
			b = append(b, d[:decpt]...)
			b = append(b, '.')
			b = append(b, d[decpt:]...)
		}
		return b
	}
	b = append(b, d[0])
	if nd > 1 {
		b = append(b, '.')
		b = append(b, d[1:]...)
	}
	b = append(b, 'e')
	if exp < 0 {
		b = append(b, '-')
		exp = -exp
	} else {
		b = append(b, '+')
	}
	if exp < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(exp), 10)
}

// PyFloatRepr returns Python's repr() of f.
func PyFloatRepr(f float64) string { return string(AppendPyFloat(nil, f)) }

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string escaped the way Python's json.dumps does
// with ensure_ascii=False: only '"', '\\' and control characters are escaped (short forms
// for \b \f \n \r \t, else \u00XX with lowercase hex); everything else is written as
// UTF-8. Invalid UTF-8 bytes become U+FFFD so the output is always valid JSON.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

var zoneCache sync.Map // zone name → *time.Location

// zoneLocation resolves a ZonedTimestamp zone like Feast's _zone_from_name: "" is UTC,
// then an IANA name, then a fixed offset ("UTC", "GMT", "UTC-07:00", "+05:30",
// "+0530"); anything else falls back to UTC.
func zoneLocation(zone string) *time.Location {
	if zone == "" {
		return time.UTC
	}
	if l, ok := zoneCache.Load(zone); ok {
		return l.(*time.Location)
	}
	loc := resolveZone(zone)
	zoneCache.Store(zone, loc)
	return loc
}

func resolveZone(zone string) *time.Location {
	if loc, err := time.LoadLocation(zone); err == nil && zone != "Local" {
		return loc
	}
	text := trimSpace(zone)
	if text == "UTC" || text == "GMT" {
		return time.UTC
	}
	if len(text) >= 3 && (text[:3] == "UTC" || text[:3] == "GMT") {
		text = text[3:]
	}
	// [+-]HH:?MM
	if len(text) != 5 && len(text) != 6 {
		return time.UTC
	}
	sign := text[0]
	if sign != '+' && sign != '-' {
		return time.UTC
	}
	hh, mm := text[1:3], text[len(text)-2:]
	if len(text) == 6 && text[3] != ':' {
		return time.UTC
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || !isDigits(hh) || !isDigits(mm) {
		return time.UTC
	}
	off := (h*60 + m) * 60
	if sign == '-' {
		off = -off
	}
	return time.FixedZone(zone, off)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' || s[0] == '\f' || s[0] == '\v') {
		s = s[1:]
	}
	for len(s) > 0 {
		c := s[len(s)-1]
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// appendZoned renders Python's datetime.fromtimestamp(sec, tz).isoformat().
func appendZoned(b []byte, sec int64, zone string) []byte {
	t := time.Unix(sec, 0).In(zoneLocation(zone))
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	_, off := t.Zone()
	if off < 0 {
		b = append(b, '-')
		off = -off
	} else {
		b = append(b, '+')
	}
	b = append2(b, off/3600)
	b = append(b, ':')
	b = append2(b, off/60%60)
	if off%60 != 0 {
		b = append(b, ':')
		b = append2(b, off%60)
	}
	return b
}

// appendJSONList appends list as a JSON array, each element written by appendElem.
func appendJSONList[T any](b []byte, list []T, appendElem func([]byte, T) []byte) []byte {
	b = append(b, '[')
	for i, e := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendElem(b, e)
	}
	return append(b, ']')
}
