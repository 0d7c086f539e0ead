package feast

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// jnode is a parsed JSON value that keeps what Python's json.loads would see: integer
// vs float literals (num keeps the literal text) and object key order.
type jnode struct {
	kind  jkind
	b     bool
	s     string // string value, or number literal
	isInt bool   // number literal without fraction or exponent
	arr   []*jnode
	keys  []string
	vals  []*jnode
}

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

// parseJSON parses one JSON value. Scalars take a fast path; arrays and objects go
// through encoding/json's tokenizer.
func parseJSON(raw []byte) (*jnode, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("empty JSON value")
	}
	switch c := raw[0]; {
	case c == 'n' && string(raw) == "null":
		return &jnode{kind: jNull}, nil
	case c == 't' && string(raw) == "true":
		return &jnode{kind: jBool, b: true}, nil
	case c == 'f' && string(raw) == "false":
		return &jnode{kind: jBool}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		isInt, ok := scanNumber(raw)
		if !ok {
			return nil, fmt.Errorf("invalid JSON number %s", quoteRaw(raw))
		}
		return &jnode{kind: jNumber, s: string(raw), isInt: isInt}, nil
	case c == '"' && simpleString(raw):
		return &jnode{kind: jString, s: string(raw[1 : len(raw)-1])}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	n, err := parseToken(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON %s: %w", quoteRaw(raw), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("invalid JSON %s: trailing data", quoteRaw(raw))
	}
	return n, nil
}

// simpleString reports whether raw is a quoted string with no escapes or control
// characters (and valid UTF-8), so the bytes between the quotes are its value.
func simpleString(raw []byte) bool {
	if len(raw) < 2 || raw[len(raw)-1] != '"' {
		return false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// scanNumber validates JSON number grammar and reports whether it is an integer literal.
func scanNumber(b []byte) (isInt, ok bool) {
	i := 0
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return false, false
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return false, false
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		isInt = false
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false, false
		}
	}
	return isInt, i == len(b)
}

func parseToken(dec *json.Decoder, depth int) (*jnode, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &jnode{kind: jNull}, nil
	case bool:
		return &jnode{kind: jBool, b: t}, nil
	case json.Number:
		isInt, _ := scanNumber([]byte(t))
		return &jnode{kind: jNumber, s: string(t), isInt: isInt}, nil
	case string:
		return &jnode{kind: jString, s: t}, nil
	case json.Delim:
		switch t {
		case '[':
			n := &jnode{kind: jArray}
			for dec.More() {
				e, err := parseToken(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.arr = append(n.arr, e)
			}
			_, err := dec.Token()
			return n, err
		case '{':
			n := &jnode{kind: jObject}
			index := map[string]int{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				e, err := parseToken(dec, depth+1)
				if err != nil {
					return nil, err
				}
				// Python's dict keeps the first position and the last value.
				if i, ok := index[k]; ok {
					n.vals[i] = e
					continue
				}
				index[k] = len(n.keys)
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, e)
			}
			_, err := dec.Token()
			return n, err
		}
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// text renders the node compactly for error messages.
func (n *jnode) text() string {
	var b []byte
	b = n.appendCompact(b)
	if len(b) > 80 {
		b = append(b[:77:77], "..."...)
	}
	return string(b)
}

func (n *jnode) appendCompact(b []byte) []byte {
	switch n.kind {
	case jNull:
		return append(b, "null"...)
	case jBool:
		return strconv.AppendBool(b, n.b)
	case jNumber:
		return append(b, n.s...)
	case jString:
		return AppendJSONString(b, n.s)
	case jArray:
		b = append(b, '[')
		for i, e := range n.arr {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendCompact(b)
			if len(b) > 100 {
				return append(b, "..."...)
			}
		}
		return append(b, ']')
	default:
		b = append(b, '{')
		for i, k := range n.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, k)
			b = append(b, ':')
			b = n.vals[i].appendCompact(b)
			if len(b) > 100 {
				return append(b, "..."...)
			}
		}
		return append(b, '}')
	}
}

func quoteRaw(raw []byte) string {
	if len(raw) > 80 {
		return string(raw[:77]) + "..."
	}
	return string(raw)
}

// appendPyDumps renders n as Python's json.dumps(obj) with default settings does
// (separators ", " and ": ", ensure_ascii=True, integers exact, floats by repr, an
// overflowing float literal as Infinity). Feast stores non-string JSON values that way.
func (n *jnode) appendPyDumps(b []byte) []byte {
	switch n.kind {
	case jNull:
		return append(b, "null"...)
	case jBool:
		return strconv.AppendBool(b, n.b)
	case jNumber:
		if n.isInt {
			return appendPyInt(b, n.s)
		}
		f, _ := strconv.ParseFloat(n.s, 64) // ±Inf on overflow, like Python's float()
		switch {
		case f > 0 && f*0 != 0:
			return append(b, "Infinity"...)
		case f < 0 && f*0 != 0:
			return append(b, "-Infinity"...)
		}
		return AppendPyFloat(b, f)
	case jString:
		return appendASCIIJSONString(b, n.s)
	case jArray:
		b = append(b, '[')
		for i, e := range n.arr {
			if i > 0 {
				b = append(b, ',', ' ')
			}
			b = e.appendPyDumps(b)
		}
		return append(b, ']')
	default:
		b = append(b, '{')
		for i, k := range n.keys {
			if i > 0 {
				b = append(b, ',', ' ')
			}
			b = appendASCIIJSONString(b, k)
			b = append(b, ':', ' ')
			b = n.vals[i].appendPyDumps(b)
		}
		return append(b, '}')
	}
}

// appendPyInt writes an integer literal as Python prints the int it parses to ("-0" → "0").
func appendPyInt(b []byte, lit string) []byte {
	digits := lit
	neg := false
	if digits[0] == '-' {
		neg = true
		digits = digits[1:]
	}
	if digits == "0" {
		return append(b, '0')
	}
	if neg {
		b = append(b, '-')
	}
	return append(b, digits...)
}

// appendASCIIJSONString is json.dumps' ensure_ascii=True string form: every non-ASCII
// character becomes \uXXXX (a surrogate pair above U+FFFF).
func appendASCIIJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			b = appendU4(b, int(r))
		case r >= 0x10000:
			r -= 0x10000
			b = appendU4(b, 0xd800+int(r>>10))
			b = appendU4(b, 0xdc00+int(r&0x3ff))
		default:
			b = append(b, byte(r))
		}
	}
	return append(b, '"')
}

func appendU4(b []byte, v int) []byte {
	return append(b, '\\', 'u', hexDigits[v>>12&0xf], hexDigits[v>>8&0xf], hexDigits[v>>4&0xf], hexDigits[v&0xf])
}
