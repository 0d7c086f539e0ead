package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/larder-dev/larder/abi"
)

// BatchSpec is an LBF1 batch written out in a case file, for "raw" steps that send a
// well-formed batch with wrong content (a view index out of range, a missing column).
//
//	{"metadata": {"project": "p", "views": [...]},
//	 "columns": [{"name": "__view", "type": "INT32", "values": [5]},
//	             {"name": "__entity_key", "type": "BYTES", "values": [{"key": {"id": {"int64": 1}}}]}]}
//
// BYTES values are base64 strings, {"key": <entity key>} (serialized Feast v3) or
// {"value": <value>} (a serialized Feast Value); null is a null row.
type BatchSpec struct {
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Columns  []ColumnSpec    `json:"columns"`
}

// ColumnSpec is one column of a BatchSpec; Type is an abi type name ("INT32", "BYTES").
type ColumnSpec struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Values []json.RawMessage `json:"values"`
}

// encode builds the LBF1 region.
func (b *BatchSpec) encode() ([]byte, error) {
	batch := abi.Batch{}
	if len(b.Metadata) > 0 {
		batch.Metadata = b.Metadata
	}
	for i, cs := range b.Columns {
		t, ok := abi.ParseType(cs.Type)
		if !ok {
			return nil, fmt.Errorf("column %d (%s): unknown type %q", i, cs.Name, cs.Type)
		}
		if i == 0 {
			batch.Rows = len(cs.Values)
		} else if len(cs.Values) != batch.Rows {
			return nil, fmt.Errorf("column %s has %d values, the first column %d", cs.Name, len(cs.Values), batch.Rows)
		}
		cb := abi.NewColumnBuilder(cs.Name, t, len(cs.Values))
		for r, raw := range cs.Values {
			if err := appendRaw(cb, t, raw); err != nil {
				return nil, fmt.Errorf("column %s row %d: %w", cs.Name, r, err)
			}
		}
		batch.Columns = append(batch.Columns, cb.Column())
	}
	out, err := batch.Encode(nil)
	if err != nil {
		return nil, fmt.Errorf("encoding the raw batch: %w", err)
	}
	return out, nil
}

func appendRaw(cb *abi.ColumnBuilder, t abi.Type, raw json.RawMessage) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		cb.AppendNull()
		return nil
	}
	switch t {
	case abi.TypeBytes:
		var s string
		if json.Unmarshal(raw, &s) == nil {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return fmt.Errorf("%q is not base64: %w", s, err)
			}
			cb.AppendBytes(b)
			return nil
		}
		var obj struct {
			Key   KeySpec    `json:"key"`
			Value *ValueSpec `json:"value"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return err
		}
		switch {
		case obj.Key != nil:
			k, err := encodeKey(obj.Key)
			if err != nil {
				return err
			}
			cb.AppendBytes(k)
		case obj.Value != nil:
			v, err := encodeValue(obj.Value)
			if err != nil {
				return err
			}
			cb.AppendBytes(v)
		default:
			return fmt.Errorf("BYTES value %s: want base64, {\"key\": ...} or {\"value\": ...}", raw)
		}
	case abi.TypeString:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		cb.AppendString(s)
	case abi.TypeInt32, abi.TypeInt64, abi.TypeUnixTimestamp:
		n, err := parseInt(raw)
		if err != nil {
			return err
		}
		switch t {
		case abi.TypeInt32:
			cb.AppendInt32(int32(n))
		case abi.TypeInt64:
			cb.AppendInt64(n)
		default:
			cb.AppendTimestamp(n)
		}
	case abi.TypeBool:
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		cb.AppendBool(v)
	default:
		return fmt.Errorf("type %v is not supported in raw batches", t)
	}
	return nil
}
