package repo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/host/feast"
)

// writeRepo writes files (path → content) into a fresh directory.
func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const fakeModule = "\x00asm\x01\x00\x00\x00"

func fakeModuleSum() string {
	s := sha256.Sum256([]byte(fakeModule))
	return hex.EncodeToString(s[:])
}

func TestLoadMultiFileRepo(t *testing.T) {
	t.Parallel()
	dir := writeRepo(t, map[string]string{
		"feature_store.yaml":         "project: p\n", // not a definition file
		"staging/feature_store.yaml": "project: p\n", // nor are per-environment copies
		".github/ci.yml":             "on: push\n",   // hidden dirs are skipped
		"docker-compose.yml":         "services: {}\n",
		".larderignore":              "# not definitions\ndocker-compose.yml\n",
		"transforms/odfv.wasm":       fakeModule,
		"entities.yaml": `project:
  description: Driver statistics
  tags: {team: rides}
entities:
  - name: driver
    join_keys: [driver_id]
    value_type: Int64
    owner: ml@example.com
  - name: rider
---
entities:
  - name: city
    join_keys: [city_code]
    value_type: STRING
`,
		"views/drivers.yml": `sources:
  - name: stats
    type: file
    path: data/stats.csv
    timestamp_field: ts
    created_timestamp_column: created
    field_mapping: {trips: avg_daily_trips}
  - name: stats_push
    type: push
    batch_source: stats
  - name: req
    type: request
    schema:
      - {name: val_to_add, dtype: Int64}
feature_views:
  - name: driver_stats
    entities: [driver, rider]
    ttl: 2h30m
    schema:
      - {name: rider, dtype: String}
      - {name: conv_rate, dtype: Float32, description: conversion, tags: {pii: "false"}}
      - {name: avg_daily_trips, dtype: Int64}
      - {name: history, dtype: Array(Float64)}
      - {name: labels, dtype: Set(String)}
      - {name: embedding, dtype: Array(Float32), vector_index: true, vector_search_metric: COSINE, vector_length: 8}
    source: stats_push
    online: false
    offline: true
  - name: global_stats
    schema:
      - {name: total, dtype: INT64}
    source: stats
on_demand_feature_views:
  - name: conv_plus
    sources: [driver_stats, req]
    schema:
      - {name: conv_rate_plus_val, dtype: Float64}
    module: transforms/odfv.wasm
    sha256: ` + strings.ToUpper(fakeModuleSum()) + `
    function: conv_plus_v2
    write_to_online_store: true
`,
		"services.yaml": `feature_services:
  - name: model_v1
    description: first model
    features:
      - view: driver_stats
        features: [conv_rate, avg_daily_trips]
      - conv_plus
      - view: driver_stats
        alias: origin_stats
        join_key_map: {driver_id: origin_driver_id}
`,
	})
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"entities.yaml", "services.yaml", "views/drivers.yml"}; !reflect.DeepEqual(r.Files, want) {
		t.Errorf("files = %v, want %v", r.Files, want)
	}
	if r.Project == nil || r.Project.Description != "Driver statistics" || r.Project.Tags["team"] != "rides" {
		t.Errorf("project = %+v", r.Project)
	}
	if len(r.Entities) != 3 {
		t.Fatalf("entities = %d", len(r.Entities))
	}
	driver, rider, city := r.Entity("driver"), r.Entity("rider"), r.Entity("city")
	if driver.JoinKey != "driver_id" || driver.ValueType != feast.TypeInt64 || driver.Owner != "ml@example.com" || driver.Pos != (Pos{"entities.yaml", 5}) {
		t.Errorf("driver = %+v", driver)
	}
	if rider.JoinKey != "rider" || rider.ValueType != feast.TypeInvalid {
		t.Errorf("rider = %+v (join key defaults to the name)", rider)
	}
	if city.JoinKey != "city_code" || city.ValueType != feast.TypeString || city.Pos != (Pos{"entities.yaml", 12}) {
		t.Errorf("city = %+v", city)
	}

	stats := r.Source("stats")
	if stats.Type != SourceFile || stats.FileFormat != FormatCSV || stats.Path != "data/stats.csv" || stats.TimestampField != "ts" ||
		stats.CreatedTimestampColumn != "created" || stats.FieldMapping["trips"] != "avg_daily_trips" {
		t.Errorf("stats = %+v", stats)
	}
	if p := r.Source("stats_push"); p.Type != SourcePush || p.BatchSource != "stats" {
		t.Errorf("push = %+v", p)
	}
	if q := r.Source("req"); q.Type != SourceRequest || len(q.Schema) != 1 || q.Schema[0].Type != feast.TypeInt64 {
		t.Errorf("request = %+v", q)
	}

	fv := r.FeatureView("driver_stats")
	if fv.TTL != 150*time.Minute || fv.Online || !fv.Offline || fv.Source != "stats_push" {
		t.Errorf("fv = %+v", fv)
	}
	var cols, feats []string
	for _, c := range fv.EntityColumns {
		cols = append(cols, c.Name+":"+c.Type.String())
	}
	for _, f := range fv.Features {
		feats = append(feats, f.Name+":"+f.Type.String())
	}
	if want := []string{"driver_id:INT64", "rider:STRING"}; !reflect.DeepEqual(cols, want) {
		t.Errorf("entity columns = %v, want %v", cols, want)
	}
	if want := []string{"conv_rate:FLOAT", "avg_daily_trips:INT64", "history:DOUBLE_LIST", "labels:STRING_SET", "embedding:FLOAT_LIST"}; !reflect.DeepEqual(feats, want) {
		t.Errorf("features = %v, want %v", feats, want)
	}
	if f, _ := fv.Feature("embedding"); !f.VectorIndex || f.VectorLength != 8 || f.VectorSearchMetric != "COSINE" {
		t.Errorf("embedding = %+v", f)
	}
	if f, _ := fv.Feature("conv_rate"); f.Description != "conversion" || f.Tags["pii"] != "false" || f.Pos != (Pos{"views/drivers.yml", 21}) {
		t.Errorf("conv_rate = %+v", f)
	}
	if g := r.FeatureView("global_stats"); len(g.Entities) != 0 || !g.Online || g.TTL != 0 || len(g.Features) != 1 {
		t.Errorf("global_stats = %+v", g)
	}

	o := r.OnDemandFeatureView("conv_plus")
	if o.SHA256 != fakeModuleSum() || o.Function != "conv_plus_v2" || o.Mode != ModeWasm || !o.WriteToOnlineStore ||
		!reflect.DeepEqual(o.Sources, []string{"driver_stats", "req"}) || o.Module != "transforms/odfv.wasm" {
		t.Errorf("odfv = %+v", o)
	}

	svc := r.FeatureService("model_v1")
	want := []Projection{
		{View: "driver_stats", Features: []string{"conv_rate", "avg_daily_trips"}, Pos: Pos{"services.yaml", 5}},
		{View: "conv_plus", All: true, Features: []string{"conv_rate_plus_val"}, Pos: Pos{"services.yaml", 7}},
		{View: "driver_stats", All: true, Features: []string{"conv_rate", "avg_daily_trips", "history", "labels", "embedding"},
			Alias: "origin_stats", JoinKeyMap: map[string]string{"driver_id": "origin_driver_id"}, Pos: Pos{"services.yaml", 8}},
	}
	if svc.Description != "first model" || !reflect.DeepEqual(svc.Features, want) {
		t.Errorf("service = %+v\nwant %+v", svc.Features, want)
	}
}

func TestEmptyRepo(t *testing.T) {
	t.Parallel()
	r, err := Load(writeRepo(t, map[string]string{"feature_store.yaml": "project: p\n", "empty.yaml": "# nothing yet\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Entities)+len(r.Sources)+len(r.FeatureViews)+len(r.FeatureServices) != 0 {
		t.Errorf("repo = %+v", r)
	}
}

// base is a valid file that broken test files refer to.
const base = `entities:
  - name: driver
    join_keys: [driver_id]
    value_type: INT64
sources:
  - name: stats
    type: file
    path: data/stats.parquet
    timestamp_field: event_timestamp
    created_timestamp_column: created
  - name: req
    type: request
    schema:
      - {name: val, dtype: Int64}
feature_views:
  - name: hourly
    entities: [driver]
    schema:
      - {name: conv_rate, dtype: Float32}
      - {name: acc_rate, dtype: Float32}
    source: stats
`

func TestBrokenDefinitions(t *testing.T) {
	t.Parallel()
	sum := fakeModuleSum()
	cases := []struct {
		name string
		bad  string   // contents of bad.yaml, loaded alongside base.yaml
		want []string // substrings of the error; the first names file:line and field
	}{
		{"unknown key in entity", `entities:
  - name: rider
    join_key: rider_id
`, []string{`bad.yaml:3: entities[rider].join_key: unknown key (did you mean "join_keys"?)`}},

		{"missing required source", `feature_views:
  - name: daily
    entities: [driver]
    schema:
      - {name: x, dtype: Int64}
`, []string{"bad.yaml:2: feature_views[daily].source: required"}},

		{"unknown dtype", `feature_views:
  - name: daily
    entities: [driver]
    schema:
      - {name: x, dtype: Int65}
    source: stats
`, []string{`bad.yaml:5: feature_views[daily].schema[0].dtype: unknown dtype "Int65"`}},

		{"unknown element dtype", `sources:
  - name: req2
    type: request
    schema:
      - {name: xs, dtype: "Array(Flaot32)"}
`, []string{`bad.yaml:5: sources[req2].schema[0].dtype: dtype "Array(Flaot32)": element: unknown dtype "Flaot32"`}},

		{"nested array", `sources:
  - name: req2
    type: request
    schema:
      - {name: xs, dtype: "Array(Array(Int64))"}
`, []string{"bad.yaml:5: sources[req2].schema[0].dtype:", "nested collections are not supported"}},

		{"duplicate feature view across files", `feature_views:
  - name: hourly
    entities: [driver]
    schema:
      - {name: x, dtype: Int64}
    source: stats
`, []string{`bad.yaml:2: feature_views[hourly].name: duplicate feature view name "hourly" (first defined at aaa_base.yaml:16)`}},

		{"odfv name clashes with feature view", `on_demand_feature_views:
  - name: hourly
    sources: [req]
    schema: [{name: y, dtype: Int64}]
    module: m.wasm
    sha256: ` + sum + `
`, []string{`bad.yaml:2: on_demand_feature_views[hourly].name: duplicate feature view name "hourly"`}},

		{"undefined entity", `feature_views:
  - name: daily
    entities: [drivr]
    schema:
      - {name: x, dtype: Int64}
    source: stats
`, []string{`bad.yaml:3: feature_views[daily].entities[0]: undefined entity "drivr" (did you mean "driver"?)`}},

		{"undefined source", `feature_views:
  - name: daily
    entities: [driver]
    schema:
      - {name: x, dtype: Int64}
    source: stat
`, []string{`bad.yaml:6: feature_views[daily].source: undefined source "stat" (did you mean "stats"?)`}},

		{"request source as view source", `feature_views:
  - name: daily
    schema:
      - {name: x, dtype: Int64}
    source: req
`, []string{`bad.yaml:5: feature_views[daily].source: "req" is a request source`}},

		{"undefined feature in service", `feature_services:
  - name: svc
    features:
      - view: hourly
        features: [conv_rate, acc_rte]
`, []string{`bad.yaml:5: feature_services[svc].features[0].features[1]: feature view "hourly" has no feature "acc_rte" (did you mean "acc_rate"?)`}},

		{"undefined view in service", `feature_services:
  - name: svc
    features: [hourly, daily]
`, []string{`bad.yaml:3: feature_services[svc].features[1]: undefined feature view "daily"`}},

		{"same view twice in service", `feature_services:
  - name: svc
    features:
      - hourly
      - view: hourly
        features: [conv_rate]
`, []string{`bad.yaml:5: feature_services[svc].features[1].view: feature view "hourly" is selected twice (first on line 4); give one an alias`}},

		{"join_key_map of a non join key", `feature_services:
  - name: svc
    features:
      - view: hourly
        join_key_map: {rider_id: r}
`, []string{`bad.yaml:4: feature_services[svc].features[0].join_key_map.rider_id: "rider_id" is not a join key of feature view "hourly" (join keys: driver_id)`}},

		{"two join keys", `entities:
  - name: trip
    join_keys: [driver_id, rider_id]
`, []string{"bad.yaml:3: entities[trip].join_keys: an entity has exactly one join key, got 2"}},

		{"float join key", `entities:
  - name: score
    value_type: Float32
`, []string{"bad.yaml:3: entities[score].value_type: FLOAT cannot be a join key type"}},

		{"invalid ttl", `feature_views:
  - name: daily
    entities: [driver]
    ttl: 1 day
    schema:
      - {name: x, dtype: Int64}
    source: stats
`, []string{`bad.yaml:4: feature_views[daily].ttl: invalid duration "1 day"`}},

		{"entity type unknown", `entities:
  - name: rider
feature_views:
  - name: daily
    entities: [rider]
    schema:
      - {name: x, dtype: Int64}
    source: stats
`, []string{`bad.yaml:5: feature_views[daily].entities[0]: entity "rider" has no value_type and the schema does not declare its join key "rider"`}},

		{"join key type mismatch", `feature_views:
  - name: daily
    entities: [driver]
    schema:
      - {name: driver_id, dtype: String}
      - {name: x, dtype: Int64}
    source: stats
`, []string{`bad.yaml:3: feature_views[daily].entities[0]: schema declares join key "driver_id" of entity "driver" as STRING (line 5) but the entity's value_type is INT64`}},

		{"timestamp in schema", `feature_views:
  - name: daily
    entities: [driver]
    schema:
      - {name: x, dtype: Int64}
      - {name: event_timestamp, dtype: UnixTimestamp}
    source: stats
`, []string{`bad.yaml:5: feature_views[daily].schema: field "event_timestamp" (line 6) is the timestamp column of source "stats"`}},

		{"duplicate field", `sources:
  - name: req2
    type: request
    schema:
      - {name: a, dtype: Int64}
      - {name: a, dtype: String}
`, []string{`bad.yaml:6: sources[req2].schema[1].name: duplicate field "a" (first on line 5)`}},

		{"reserved field name", `sources:
  - name: req2
    type: request
    schema:
      - {name: __entity_key, dtype: Bytes}
`, []string{"bad.yaml:5: sources[req2].schema[0].name: field names starting with __ are reserved"}},

		{"push batch source is a request source", `sources:
  - name: pushed
    type: push
    batch_source: req
`, []string{`bad.yaml:4: sources[pushed].batch_source: source "req" is a request source; a push source's batch_source must be a file or postgres source`}},

		{"key of another source type", `sources:
  - name: pushed
    type: push
    path: data/x.parquet
`, []string{"bad.yaml:4: sources[pushed].path: unknown key for a push source"}},

		{"unknown source type", `sources:
  - name: kafka
    type: kafka
`, []string{`bad.yaml:3: sources[kafka].type: unknown source type "kafka" (known: file, postgres, push, request)`}},

		{"csv format with parquet path", `sources:
  - name: f
    type: file
    path: data/f.parquet
    timestamp_field: ts
    file_format: csv
`, []string{`bad.yaml:6: sources[f].file_format: csv sources need a path ending in .csv, got "data/f.parquet"`}},

		{"file source without timestamp", `sources:
  - name: f
    type: file
    path: data/f.parquet
`, []string{"bad.yaml:2: sources[f].timestamp_field: required"}},

		{"odfv python mode", `on_demand_feature_views:
  - name: plus
    sources: [hourly, req]
    schema: [{name: y, dtype: Float64}]
    module: m.wasm
    sha256: ` + sum + `
    mode: pandas
`, []string{"bad.yaml:7: on_demand_feature_views[plus].mode: pandas transformations are not supported"}},

		{"odfv sha mismatch", `on_demand_feature_views:
  - name: plus
    sources: [hourly, req]
    schema: [{name: y, dtype: Float64}]
    module: m.wasm
    sha256: ` + strings.Repeat("ab", 32) + `
`, []string{"bad.yaml:6: on_demand_feature_views[plus].sha256: does not match module m.wasm (its sha256 is " + sum + ")"}},

		{"odfv missing module", `on_demand_feature_views:
  - name: plus
    sources: [hourly, req]
    schema: [{name: y, dtype: Float64}]
    module: missing.wasm
    sha256: ` + sum + `
`, []string{"bad.yaml:5: on_demand_feature_views[plus].module: module", "missing.wasm does not exist"}},

		{"odfv reads a file source", `on_demand_feature_views:
  - name: plus
    sources: [stats]
    schema: [{name: y, dtype: Float64}]
    module: m.wasm
    sha256: ` + sum + `
`, []string{`bad.yaml:3: on_demand_feature_views[plus].sources[0]: "stats" is a file source`}},

		{"odfv missing sha256", `on_demand_feature_views:
  - name: plus
    sources: [hourly]
    schema: [{name: y, dtype: Float64}]
    module: m.wasm
`, []string{"bad.yaml:2: on_demand_feature_views[plus].sha256: required"}},

		{"invalid name", `entities:
  - name: driver-id
`, []string{`bad.yaml:2: entities[0].name: invalid name "driver-id"`}},

		{"bool spelled yes", `feature_views:
  - name: daily
    entities: [driver]
    online: yes
    schema:
      - {name: x, dtype: Int64}
    source: stats
`, []string{`bad.yaml:4: feature_views[daily].online: expected true or false, got string "yes"`}},

		{"not a definitions file", `services:
  web: {image: nginx}
`, []string{"bad.yaml:1: not a feature definition document", ".larderignore"}},

		{"yaml syntax error", "entities:\n  - name: a\n   value_type: INT64\n",
			[]string{"bad.yaml:3: invalid YAML"}},

		{"view with only join keys", `feature_views:
  - name: daily
    entities: [driver]
    schema:
      - {name: driver_id, dtype: Int64}
    source: stats
`, []string{"bad.yaml:5: feature_views[daily].schema: declares no features"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := writeRepo(t, map[string]string{"aaa_base.yaml": base, "bad.yaml": tc.bad, "m.wasm": fakeModule})
			_, err := Load(dir)
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want ErrorList: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\ndoes not contain:\n%s", err, w)
				}
			}
			for _, e := range list {
				if e.File == "aaa_base.yaml" {
					t.Errorf("aaa_base.yaml is valid, but got %v", e)
				}
			}
		})
	}
}

func TestAllProblemsReported(t *testing.T) {
	t.Parallel()
	dir := writeRepo(t, map[string]string{"a.yaml": `entities:
  - name: e
    value_type: Float32
feature_views:
  - name: v
    entities: [x]
    schema:
      - {name: f, dtype: Nope}
    source: s
`})
	_, err := Load(dir)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 4 {
		t.Fatalf("want 4 problems (value_type, dtype, entity, source), got %v", err)
	}
	for i, line := range []int{3, 6, 8, 9} {
		if list[i].Line != line {
			t.Errorf("problem %d on line %d, want %d: %v", i, list[i].Line, line, list[i])
		}
	}
}

func TestParseDType(t *testing.T) {
	t.Parallel()
	ok := map[string]feast.ValueType{
		"Int32": feast.TypeInt32, "int64": feast.TypeInt64, "Float32": feast.TypeFloat, "Float64": feast.TypeDouble,
		"String": feast.TypeString, "Bytes": feast.TypeBytes, "Bool": feast.TypeBool, "UnixTimestamp": feast.TypeUnixTimestamp,
		"unix_timestamp": feast.TypeUnixTimestamp, "Uuid": feast.TypeUUID, "TimeUuid": feast.TypeTimeUUID, "Decimal": feast.TypeDecimal,
		"Json": feast.TypeJSON, "Map": feast.TypeMap, "PdfBytes": feast.TypePDFBytes, "ImageBytes": feast.TypeImageBytes,
		"Array(Int64)": feast.TypeInt64List, "Array( Float32 )": feast.TypeFloatList, "Array(Map)": feast.TypeMapList,
		"Array(Json)": feast.TypeJSONList, "Set(String)": feast.TypeStringSet, "Set(UnixTimestamp)": feast.TypeUnixTimestampSet,
		"INT64": feast.TypeInt64, "FLOAT_LIST": feast.TypeFloatList, "STRING_SET": feast.TypeStringSet, "DOUBLE": feast.TypeDouble,
	}
	for in, want := range ok {
		got, err := ParseDType(in)
		if err != nil || got != want {
			t.Errorf("ParseDType(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Int65", "Array(Int65)", "Set(Map)", "Set(Json)", "Array(Array(Int64))", "Array(INT64_LIST)",
		"Struct", "Array(Struct)", "NULL", "UNKNOWN", "VALUE_LIST", "Tuple(Int64)", "Array(PdfBytes)"} {
		if got, err := ParseDType(in); err == nil {
			t.Errorf("ParseDType(%q) = %v, want an error", in, got)
		}
	}
}

func FuzzLoadDefinitions(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte(scaffoldDefinitions))
	f.Add([]byte("feature_services:\n  - name: s\n    features: [{view: hourly, features: [a]}]\n---\nentities: [{name: e}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := newLoader(filepath.Join(os.TempDir(), "larder-fuzz-no-such-repo"))
		l.parseFile("fuzz.yaml", data)
		r, err := l.finish()
		if (r == nil) == (err == nil) {
			t.Fatalf("want exactly one of repo and error, got %v and %v", r, err)
		}
	})
}
