package repo

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/larder-dev/larder/host/registry"
)

// A postgres source is Feast's PostgreSQLSource: CUSTOM_SOURCE, Feast's class path, and
// the options JSON {"name", "query", "table"}, as feast apply writes it.
func TestPostgresSourceToRegistry(t *testing.T) {
	t.Parallel()
	dir := writeRepo(t, map[string]string{"defs.yaml": `entities:
  - name: driver
    join_keys: [driver_id]
    value_type: INT64
sources:
  - name: pg_stats
    type: postgres
    table: feast.driver_stats
    timestamp_field: event_timestamp
    created_timestamp_column: created
    field_mapping: {src_conv: conv_rate}
  - name: pg_query
    type: postgres
    query: SELECT * FROM driver_stats WHERE driver_id > 0
    timestamp_field: ts
  - name: pushed
    type: push
    batch_source: pg_query
feature_views:
  - name: hourly
    entities: [driver]
    schema: [{name: conv_rate, dtype: Float32}]
    source: pg_stats
  - name: pushed_view
    entities: [driver]
    schema: [{name: conv_rate, dtype: Float32}]
    source: pushed
`})
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := r.ToRegistry("p")
	if err != nil {
		t.Fatal(err)
	}
	if reg, err = registry.Unmarshal(reg.Marshal()); err != nil {
		t.Fatal(err)
	}
	byName := map[string]*registry.FeatureView{}
	for _, fv := range reg.FeatureViews {
		byName[fv.Spec.Name] = fv
	}
	check := func(ds *registry.DataSource, name, table, query, ts string) {
		t.Helper()
		if ds == nil || ds.Type != registry.SourceCustom || ds.DataSourceClassType != ClassPostgresSource || ds.Name != name || ds.TimestampField != ts {
			t.Fatalf("source %+v", ds)
		}
		var opts map[string]string
		if err := json.Unmarshal(ds.CustomOptions.Configuration, &opts); err != nil {
			t.Fatal(err)
		}
		if len(opts) != 3 || opts["name"] != name || opts["table"] != table || opts["query"] != query {
			t.Errorf("options %v", opts)
		}
	}
	bs := byName["hourly"].Spec.BatchSource
	check(bs, "pg_stats", "feast.driver_stats", "", "event_timestamp")
	if bs.CreatedTimestampColumn != "created" || bs.FieldMapping["src_conv"] != "conv_rate" {
		t.Errorf("source %+v", bs)
	}
	check(byName["pushed_view"].Spec.BatchSource, "pg_query", "", "SELECT * FROM driver_stats WHERE driver_id > 0", "ts")
}

func TestPostgresSourceErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, src, want string }{
		{"neither table nor query", "    timestamp_field: ts\n", "defs.yaml:2: sources[s]: a postgres source needs table or query"},
		{"no timestamp", "    table: t\n", "defs.yaml:2: sources[s].timestamp_field: required"},
		{"file key", "    table: t\n    timestamp_field: ts\n    path: x.parquet\n", "defs.yaml:6: sources[s].path: unknown key for a postgres source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeRepo(t, map[string]string{"defs.yaml": "sources:\n  - name: s\n    type: postgres\n" + tc.src})
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant one containing %q", err, tc.want)
			}
		})
	}
}
