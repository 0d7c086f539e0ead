package conformance

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/larder-dev/larder/host/feast"
)

func TestEmbeddedCasesLoad(t *testing.T) {
	cases, err := LoadCases()
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]int{}
	for _, c := range cases {
		groups[c.Group]++
		if c.Description == "" {
			t.Errorf("case %s has no description", c.Name)
		}
	}
	for _, g := range []string{"types", "missing", "overwrite", "views", "composite", "update", "teardown", "bulk", "concurrency", "isolation", "persistence", "robustness"} {
		if groups[g] == 0 {
			t.Errorf("no cases in group %s", g)
		}
	}
	fx, err := LoadFixtures()
	if err != nil {
		t.Fatal(err)
	}
	if len(fx) < 8 {
		t.Errorf("%d fixtures, want at least 8", len(fx))
	}
}

// TestCaseFileErrors: a mistake in a case file fails loading with a message naming the
// file, the case and the step, instead of silently checking nothing.
func TestCaseFileErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"not json", `{"cases": [`, "parsing conformance cases"},
		{"unknown field", `{"cases": [{"name": "a", "stepz": []}]}`, `unknown field "stepz"`},
		{"no name", `{"cases": [{"steps": [{"op": "reopen"}]}]}`, "case 0 has no name"},
		{"no steps", `{"cases": [{"name": "a"}]}`, `case "a": no steps`},
		{"unknown op", `{"cases": [{"name": "a", "steps": [{"op": "upsert", "project": "p"}]}]}`, `step 1 (upsert): unknown op`},
		{"no project", `{"cases": [{"name": "a", "steps": [{"op": "update"}]}]}`, "project is required"},
		{"bad value type", `{"cases": [{"name": "a", "steps": [{"op": "write", "project": "p", "view": "v", "features": ["f"],
			"rows": [{"key": {"id": {"int64": 1}}, "values": {"f": {"int65": 1}}}]}]}]}`, `unknown value type "int65"`},
		{"value of unwritten feature", `{"cases": [{"name": "a", "steps": [{"op": "write", "project": "p", "view": "v", "features": ["f"],
			"rows": [{"key": {"id": {"int64": 1}}, "values": {"g": {"int64": 1}}}]}]}]}`, `writes "g", which is not in features`},
		{"cell count", `{"cases": [{"name": "a", "steps": [{"op": "read", "project": "p", "views": [{"name": "v", "features": ["f", "g"],
			"keys": [{"key": {"id": {"int64": 1}}, "expect": ["NOT_FOUND"]}]}]}]}]}`, "expect has 1 cells for 2 features"},
		{"bad status", `{"cases": [{"name": "a", "steps": [{"op": "read", "project": "p", "views": [{"name": "v", "features": ["f"],
			"keys": [{"key": {"id": {"int64": 1}}, "expect": "MISSING"}]}]}]}]}`, `unknown status "MISSING"`},
		{"bad timestamp", `{"cases": [{"name": "a", "steps": [{"op": "write", "project": "p", "view": "v", "features": ["f"], "event_ts": "yesterday", "rows": []}]}]}`, "not RFC 3339"},
		{"int32 overflow", `{"cases": [{"name": "a", "steps": [{"op": "write", "project": "p", "view": "v", "features": ["f"],
			"rows": [{"key": {"id": {"int64": 1}}, "values": {"f": {"int32": 2147483648}}}]}]}]}`, "out of range"},
		{"bad raw batch", `{"cases": [{"name": "a", "steps": [{"op": "raw", "export": "larder_online_read",
			"input_batch": {"columns": [{"name": "x", "type": "DECIMAL", "values": []}]}}]}]}`, `unknown type "DECIMAL"`},
		{"bad expect_status", `{"cases": [{"name": "a", "steps": [{"op": "raw", "export": "larder_online_read", "expect_status": ["OOPS"]}]}]}`, `unknown status "OOPS"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadCasesFS(fstest.MapFS{"cases/bad.json": {Data: []byte(tt.file)}}, "cases")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "bad.json") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	_, err := loadCasesFS(fstest.MapFS{
		"cases/a.json": {Data: []byte(`{"cases": [{"name": "dup", "steps": [{"op": "reopen"}]}]}`)},
		"cases/b.json": {Data: []byte(`{"cases": [{"name": "dup", "steps": [{"op": "reopen"}]}]}`)},
	}, "cases")
	if err == nil || !strings.Contains(err.Error(), "already defined in cases/a.json") {
		t.Errorf("duplicate case names: error %v", err)
	}
}

func TestValueSpec(t *testing.T) {
	tests := []struct {
		json string
		want feast.Value
	}{
		{`{"int64": "-9223372036854775808"}`, feast.Int64Value(math.MinInt64)},
		{`{"int32": -5}`, feast.Int32Value(-5)},
		{`{"bytes": "AAH/"}`, feast.BytesValue([]byte{0, 1, 255})},
		{`{"string": "ü"}`, feast.StringValue("ü")},
		{`{"double": "-Inf"}`, feast.DoubleValue(math.Inf(-1))},
		{`{"float": 0.1}`, feast.FloatValue(0.1)},
		{`{"bool": true}`, feast.BoolValue(true)},
		{`{"unix_timestamp": 5}`, feast.UnixTimestampValue(5)},
		{`{"null": true}`, feast.NullValue()},
		{`{"empty": true}`, feast.Value{}},
		{`{"int64_list": [1, "2"]}`, feast.Int64ListValue([]int64{1, 2})},
		{`{"float_list": [0.5]}`, feast.FloatListValue([]float32{0.5})},
		{`{"bool_list": [true, false]}`, feast.BoolListValue([]bool{true, false})},
		{`{"bytes_list": ["AA=="]}`, feast.BytesListValue([][]byte{{0}})},
		{`{"string_set": ["a"]}`, feast.Value{Type: feast.TypeStringSet, StringList: []string{"a"}}},
		{`{"map": {"k": {"int64": 1}}}`, feast.MapValue(map[string]feast.Value{"k": feast.Int64Value(1)})},
		{`{"value_list": [{"string": "a"}]}`, feast.ValueListValue([]feast.Value{feast.StringValue("a")})},
		{`{"uuid": "u"}`, feast.UUIDValue("u")},
	}
	for _, tt := range tests {
		var s ValueSpec
		if err := json.Unmarshal([]byte(tt.json), &s); err != nil {
			t.Errorf("%s: %v", tt.json, err)
			continue
		}
		if !reflect.DeepEqual(s.V, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.json, s.V, tt.want)
		}
		if _, err := encodeValue(&s); err != nil {
			t.Errorf("%s: encoding: %v", tt.json, err)
		}
	}
	for _, bad := range []string{`5`, `{}`, `{"int64": 1, "string": "a"}`, `{"int64": 1.5}`, `{"bytes": "%%"}`, `{"double": "fast"}`, `{"bool": 1}`, `{"int64_list": 3}`} {
		var s ValueSpec
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s: accepted, want an error", bad)
		}
	}
}

// FuzzValueSpec: case-file values are parsed from JSON; whatever the input, parsing and
// encoding must return errors, not panic.
func FuzzValueSpec(f *testing.F) {
	for _, s := range []string{`{"int64": 5}`, `{"float_list": [1, "NaN"]}`, `{"map": {"a": {"null": true}}}`, `{"value_list": [{"value_list": []}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s ValueSpec
		if json.Unmarshal([]byte(in), &s) == nil {
			encodeValue(&s)
		}
	})
}
