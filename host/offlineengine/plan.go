package offlineengine

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/larder-dev/larder/abi"
)

// DialectDuckDB is the dialect this engine executes.
const DialectDuckDB = "duckdb"

// DialectPostgres is PostgreSQL's dialect, which host/pgengine executes on the offline
// store's database.
const DialectPostgres = "postgres"

// Bounds on a plan, so a misbehaving plugin cannot make the host parse or bind without end.
const (
	MaxSQLBytes      = 1 << 20
	MaxParams        = 4096
	MaxResultColumns = 4096
)

// Plan is a decoded and validated query plan (ABI spec §9.3).
type Plan struct {
	Dialect      string
	SQL          string
	Params       []any // Go values ready to bind: nil, string, int32, int64, float32, float64, bool, []byte, time.Time
	ResultSchema []Column
}

// Column is one result column: its name and its ABI type (a §5.3 scalar or list type).
type Column struct {
	Name string
	Type abi.Type
}

type wirePlan struct {
	Dialect      string       `json:"dialect"`
	SQL          string       `json:"sql"`
	Params       []wireParam  `json:"params"`
	ResultSchema []wireColumn `json:"result_schema"`
}

type wireParam struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

type wireColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// DecodePlan parses and validates a plan returned by a plugin. Errors name the offending
// field (e.g. `params[2].value`) and wrap abi.ErrBadArgument: a bad plan is the plugin's
// mistake, reported as such.
func DecodePlan(data []byte) (*Plan, error) {
	var w wirePlan
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, badPlan("decoding the plan JSON: %v", err)
	}
	if dec.More() {
		return nil, badPlan("the plan has trailing data after its JSON object")
	}
	if w.Dialect != DialectDuckDB && w.Dialect != DialectPostgres {
		return nil, badPlan("dialect %q is not executable by this host (supported: %q, %q)", w.Dialect, DialectDuckDB, DialectPostgres)
	}
	if strings.TrimSpace(w.SQL) == "" {
		return nil, badPlan("sql is empty")
	}
	if len(w.SQL) > MaxSQLBytes {
		return nil, badPlan("sql is %d bytes, more than the %d allowed", len(w.SQL), MaxSQLBytes)
	}
	if len(w.Params) > MaxParams {
		return nil, badPlan("%d params, more than the %d allowed", len(w.Params), MaxParams)
	}
	if len(w.ResultSchema) == 0 {
		return nil, badPlan("result_schema is empty")
	}
	if len(w.ResultSchema) > MaxResultColumns {
		return nil, badPlan("result_schema has %d columns, more than the %d allowed", len(w.ResultSchema), MaxResultColumns)
	}
	p := &Plan{Dialect: w.Dialect, SQL: w.SQL, Params: make([]any, len(w.Params)), ResultSchema: make([]Column, len(w.ResultSchema))}
	for i, wp := range w.Params {
		v, err := decodeParam(wp)
		if err != nil {
			return nil, badPlan("params[%d]: %v", i, err)
		}
		p.Params[i] = v
	}
	seen := make(map[string]bool, len(w.ResultSchema))
	for i, c := range w.ResultSchema {
		if c.Name == "" || !utf8.ValidString(c.Name) {
			return nil, badPlan("result_schema[%d].name is empty or not UTF-8", i)
		}
		if seen[c.Name] {
			return nil, badPlan("result_schema[%d].name %q appears twice", i, c.Name)
		}
		seen[c.Name] = true
		t, ok := abi.ParseType(c.Type)
		if !ok || t == abi.TypeStatus || t == abi.TypeNull {
			return nil, badPlan("result_schema[%d] (%q): type %q is not a value type of ABI spec §5.3", i, c.Name, c.Type)
		}
		p.ResultSchema[i] = Column{Name: c.Name, Type: t}
	}
	return p, nil
}

func decodeParam(wp wireParam) (any, error) {
	t, ok := abi.ParseType(wp.Type)
	if !ok || t.IsList() || t == abi.TypeStatus || t == abi.TypeNull {
		return nil, fmt.Errorf("type %q is not a scalar type of ABI spec §5.3", wp.Type)
	}
	raw := bytes.TrimSpace(wp.Value)
	if len(raw) == 0 {
		return nil, fmt.Errorf("value is missing (use null for NULL)")
	}
	if string(raw) == "null" {
		return nil, nil
	}
	switch t {
	case abi.TypeString:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("value is not a JSON string: %v", err)
		}
		return s, nil
	case abi.TypeBytes:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("value is not a base64 JSON string: %v", err)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("value is not standard base64: %v", err)
		}
		return b, nil
	case abi.TypeBool:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("value is not a JSON boolean: %v", err)
		}
		return b, nil
	case abi.TypeInt32, abi.TypeInt64, abi.TypeUnixTimestamp:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, fmt.Errorf("value is not a JSON number: %v", err)
		}
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("value %s is not a 64-bit integer", n)
		}
		switch t {
		case abi.TypeInt32:
			if i < math.MinInt32 || i > math.MaxInt32 {
				return nil, fmt.Errorf("value %d does not fit INT32", i)
			}
			return int32(i), nil
		case abi.TypeUnixTimestamp:
			return time.UnixMicro(i).UTC(), nil
		}
		return i, nil
	case abi.TypeDouble, abi.TypeFloat:
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("value is not a JSON number: %v", err)
		}
		if t == abi.TypeFloat {
			return float32(f), nil
		}
		return f, nil
	}
	return nil, fmt.Errorf("type %s cannot be a parameter", t)
}

func badPlan(format string, args ...any) error {
	return fmt.Errorf("invalid query plan: %s: %w", fmt.Sprintf(format, args...), abi.ErrBadArgument)
}
