package offlineengine

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
)

func TestDecodePlan(t *testing.T) {
	good := `{"dialect":"duckdb","sql":"SELECT 1","params":[
		{"type":"STRING","value":"a"},{"type":"INT32","value":7},{"type":"INT64","value":9007199254740993},
		{"type":"DOUBLE","value":1.5},{"type":"FLOAT","value":2.5},{"type":"BOOL","value":true},
		{"type":"UNIX_TIMESTAMP","value":1618185600000000},{"type":"BYTES","value":"AAE="},{"type":"INT64","value":null}],
		"result_schema":[{"name":"a","type":"INT64"},{"name":"b","type":"FLOAT_LIST"}]}`
	p, err := DecodePlan([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	wantParams := []any{"a", int32(7), int64(9007199254740993), 1.5, float32(2.5), true,
		time.Date(2021, 4, 12, 0, 0, 0, 0, time.UTC), []byte{0, 1}, nil}
	if !reflect.DeepEqual(p.Params, wantParams) {
		t.Fatalf("params = %#v", p.Params)
	}
	if !reflect.DeepEqual(p.ResultSchema, []Column{{"a", abi.TypeInt64}, {"b", abi.TypeFloatList}}) {
		t.Fatalf("schema = %#v", p.ResultSchema)
	}

	bad := []struct{ name, json, want string }{
		{"not json", `{`, "decoding the plan JSON"},
		{"unknown field", `{"dialect":"duckdb","sql":"SELECT 1","result_schema":[{"name":"a","type":"INT64"}],"x":1}`, "unknown field"},
		{"trailing", `{"dialect":"duckdb","sql":"SELECT 1","result_schema":[{"name":"a","type":"INT64"}]} {}`, "trailing"},
		{"dialect", `{"dialect":"bigquery","sql":"SELECT 1","result_schema":[{"name":"a","type":"INT64"}]}`, `dialect "bigquery"`},
		{"empty sql", `{"dialect":"duckdb","sql":"  ","result_schema":[{"name":"a","type":"INT64"}]}`, "sql is empty"},
		{"no schema", `{"dialect":"duckdb","sql":"SELECT 1"}`, "result_schema is empty"},
		{"dup column", `{"dialect":"duckdb","sql":"SELECT 1","result_schema":[{"name":"a","type":"INT64"},{"name":"a","type":"INT64"}]}`, "appears twice"},
		{"status column", `{"dialect":"duckdb","sql":"SELECT 1","result_schema":[{"name":"a","type":"STATUS"}]}`, "not a value type"},
		{"empty name", `{"dialect":"duckdb","sql":"SELECT 1","result_schema":[{"name":"","type":"INT64"}]}`, "result_schema[0].name"},
		{"int32 range", `{"dialect":"duckdb","sql":"SELECT 1","params":[{"type":"INT32","value":4294967296}],"result_schema":[{"name":"a","type":"INT64"}]}`, "params[0]: value 4294967296 does not fit INT32"},
		{"int fraction", `{"dialect":"duckdb","sql":"SELECT 1","params":[{"type":"INT64","value":1.5}],"result_schema":[{"name":"a","type":"INT64"}]}`, "params[0]: value 1.5 is not a 64-bit integer"},
		{"list param", `{"dialect":"duckdb","sql":"SELECT 1","params":[{"type":"INT64_LIST","value":[1]}],"result_schema":[{"name":"a","type":"INT64"}]}`, "not a scalar type"},
		{"missing value", `{"dialect":"duckdb","sql":"SELECT 1","params":[{"type":"INT64"}],"result_schema":[{"name":"a","type":"INT64"}]}`, "value is missing"},
		{"bad base64", `{"dialect":"duckdb","sql":"SELECT 1","params":[{"type":"BYTES","value":"***"}],"result_schema":[{"name":"a","type":"INT64"}]}`, "base64"},
		{"string type", `{"dialect":"duckdb","sql":"SELECT 1","params":[{"type":"STRING","value":3}],"result_schema":[{"name":"a","type":"INT64"}]}`, "not a JSON string"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodePlan([]byte(c.json))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			if !errors.Is(err, abi.ErrBadArgument) {
				t.Fatalf("err %v does not wrap abi.ErrBadArgument", err)
			}
		})
	}
}

func FuzzDecodePlan(f *testing.F) {
	f.Add([]byte(`{"dialect":"duckdb","sql":"SELECT 1","params":[{"type":"INT64","value":1}],"result_schema":[{"name":"a","type":"INT64"}]}`))
	f.Add([]byte(`{"dialect":"duckdb","sql":"x","params":[{"type":"BYTES","value":"AA=="},{"type":"UNIX_TIMESTAMP","value":-1}],"result_schema":[{"name":"a","type":"STRING_LIST"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePlan(data)
		if err != nil {
			return
		}
		if p.Dialect != DialectDuckDB || len(p.ResultSchema) == 0 || len(p.Params) > MaxParams {
			t.Fatalf("accepted an invalid plan: %+v", p)
		}
		for _, c := range p.ResultSchema {
			if !c.Type.Valid() || c.Name == "" {
				t.Fatalf("accepted column %+v", c)
			}
		}
	})
}
