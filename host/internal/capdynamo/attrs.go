package capdynamo

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute values travel in DynamoDB's own JSON shape: exactly one of
// {"S": string}, {"N": "number"}, {"B": base64}, {"BOOL": bool}, {"NULL": true},
// {"M": {name: value}}, {"L": [value]}, {"SS": […]}, {"NS": […]}, {"BS": [base64…]}.

const maxDepth = 32

var errShape = errors.New(`an attribute value is an object with exactly one of S, N, B, BOOL, NULL, M, L, SS, NS, BS`)

// decodeAttr parses one attribute value. A top-level item is accepted as a bare object of
// attributes too (depth 0, no type tag), and returned as M.
func decodeAttr(raw json.RawMessage, depth int) (types.AttributeValue, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errShape
	}
	if depth == 0 && !isTagged(m) {
		return decodeMap(m, depth)
	}
	if len(m) != 1 {
		return nil, errShape
	}
	for tag, v := range m {
		switch tag {
		case "S":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("S: %v", err)
			}
			return &types.AttributeValueMemberS{Value: s}, nil
		case "N":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("N must be a string holding a number: %v", err)
			}
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				return nil, fmt.Errorf("N %q is not a number", s)
			}
			return &types.AttributeValueMemberN{Value: s}, nil
		case "B":
			var b []byte
			if err := json.Unmarshal(v, &b); err != nil {
				return nil, fmt.Errorf("B must be standard base64: %v", err)
			}
			if b == nil {
				b = []byte{}
			}
			return &types.AttributeValueMemberB{Value: b}, nil
		case "BOOL":
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return nil, fmt.Errorf("BOOL: %v", err)
			}
			return &types.AttributeValueMemberBOOL{Value: b}, nil
		case "NULL":
			return &types.AttributeValueMemberNULL{Value: true}, nil
		case "M":
			var mm map[string]json.RawMessage
			if err := json.Unmarshal(v, &mm); err != nil || mm == nil {
				return nil, errors.New("M must be an object")
			}
			return decodeMap(mm, depth)
		case "L":
			var l []json.RawMessage
			if err := json.Unmarshal(v, &l); err != nil {
				return nil, errors.New("L must be an array")
			}
			out := &types.AttributeValueMemberL{Value: make([]types.AttributeValue, 0, len(l))}
			for i, e := range l {
				av, err := decodeAttr(e, depth+1)
				if err != nil {
					return nil, fmt.Errorf("L[%d]: %v", i, err)
				}
				out.Value = append(out.Value, av)
			}
			return out, nil
		case "SS", "NS":
			var l []string
			if err := json.Unmarshal(v, &l); err != nil {
				return nil, fmt.Errorf("%s must be an array of strings", tag)
			}
			if tag == "SS" {
				return &types.AttributeValueMemberSS{Value: l}, nil
			}
			return &types.AttributeValueMemberNS{Value: l}, nil
		case "BS":
			var l [][]byte
			if err := json.Unmarshal(v, &l); err != nil {
				return nil, errors.New("BS must be an array of base64 strings")
			}
			return &types.AttributeValueMemberBS{Value: l}, nil
		}
	}
	return nil, errShape
}

func isTagged(m map[string]json.RawMessage) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		switch k {
		case "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS":
			return true
		}
	}
	return false
}

func decodeMap(m map[string]json.RawMessage, depth int) (types.AttributeValue, error) {
	out := &types.AttributeValueMemberM{Value: make(map[string]types.AttributeValue, len(m))}
	for k, v := range m {
		av, err := decodeAttr(v, depth+1)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", k, err)
		}
		out.Value[k] = av
	}
	return out, nil
}

// keyString renders a key attribute for de-duplication and lookup.
func keyString(av types.AttributeValue) (string, bool) {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return "S" + v.Value, true
	case *types.AttributeValueMemberN:
		return "N" + v.Value, true
	case *types.AttributeValueMemberB:
		return "B" + string(v.Value), true
	}
	return "", false
}

// appendItem appends an item as an object of attribute values (names sorted, so the
// output is deterministic).
func appendItem(out []byte, item map[string]types.AttributeValue) []byte {
	names := make([]string, 0, len(item))
	for k := range item {
		names = append(names, k)
	}
	sort.Strings(names)
	out = append(out, '{')
	for i, k := range names {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, k)
		out = append(out, ':')
		out = appendAttr(out, item[k])
	}
	return append(out, '}')
}

func appendString(out []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(out, b...)
}

func appendB64(out []byte, b []byte) []byte {
	out = append(out, '"')
	out = base64.StdEncoding.AppendEncode(out, b)
	return append(out, '"')
}

func appendAttr(out []byte, av types.AttributeValue) []byte {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return append(appendString(append(out, `{"S":`...), v.Value), '}')
	case *types.AttributeValueMemberN:
		return append(appendString(append(out, `{"N":`...), v.Value), '}')
	case *types.AttributeValueMemberB:
		return append(appendB64(append(out, `{"B":`...), v.Value), '}')
	case *types.AttributeValueMemberBOOL:
		return append(out, `{"BOOL":`+strconv.FormatBool(v.Value)+`}`...)
	case *types.AttributeValueMemberNULL:
		return append(out, `{"NULL":true}`...)
	case *types.AttributeValueMemberM:
		return append(appendItem(append(out, `{"M":`...), v.Value), '}')
	case *types.AttributeValueMemberL:
		out = append(out, `{"L":[`...)
		for i, e := range v.Value {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendAttr(out, e)
		}
		return append(out, "]}"...)
	case *types.AttributeValueMemberSS, *types.AttributeValueMemberNS:
		tag, vals := "SS", []string(nil)
		if ss, ok := v.(*types.AttributeValueMemberSS); ok {
			vals = ss.Value
		} else {
			tag, vals = "NS", v.(*types.AttributeValueMemberNS).Value
		}
		b, _ := json.Marshal(vals)
		return append(append(out, `{"`+tag+`":`...), append(b, '}')...)
	case *types.AttributeValueMemberBS:
		out = append(out, `{"BS":[`...)
		for i, e := range v.Value {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendB64(out, e)
		}
		return append(out, "]}"...)
	}
	return append(out, `{"NULL":true}`...)
}
