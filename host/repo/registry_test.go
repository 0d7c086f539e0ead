package repo

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/registry"
)

func TestScaffoldToRegistry(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "quickstart")
	if err := ScaffoldWith(dir, ScaffoldOptions{Now: scaffoldNow}); err != nil {
		t.Fatal(err)
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := r.ToRegistry("quickstart")
	if err != nil {
		t.Fatal(err)
	}
	// Through the wire format and back, as apply and serve will see it.
	reg, err = registry.Unmarshal(reg.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.Projects) != 1 || reg.Projects[0].Spec.Name != "quickstart" {
		t.Errorf("projects = %+v", reg.Projects)
	}
	if len(reg.Entities) != 1 {
		t.Fatalf("entities = %d, want 1 (no entity-less view, so no __dummy)", len(reg.Entities))
	}
	if e := reg.Entities[0].Spec; e.Name != "driver" || e.JoinKey != "driver_id" || e.ValueType != feast.TypeInt64 || e.Project != "quickstart" {
		t.Errorf("entity = %+v", e)
	}

	// The shape Feast 0.67 writes for the same quickstart view (see
	// host/registry/testdata/feast-0.67.0), minus the columns its template adds.
	var fv *registry.FeatureViewSpec
	for _, v := range reg.FeatureViews {
		if v.Spec.Name == "driver_hourly_stats" {
			fv = v.Spec
		}
	}
	if fv == nil {
		t.Fatal("driver_hourly_stats missing")
	}
	if !reflect.DeepEqual(fv.Entities, []string{"driver"}) || fv.TTL.Std() != 24*time.Hour || !fv.Online || fv.Project != "quickstart" ||
		fv.Tags["team"] != "driver_performance" || fv.StreamSource != nil || fv.Version != "latest" {
		t.Errorf("feature view = %+v", fv)
	}
	if len(fv.EntityColumns) != 1 || fv.EntityColumns[0].Name != "driver_id" || fv.EntityColumns[0].ValueType != feast.TypeInt64 {
		t.Errorf("entity columns = %+v", fv.EntityColumns)
	}
	var feats []string
	for _, f := range fv.Features {
		feats = append(feats, f.Name+":"+f.ValueType.String())
	}
	if want := []string{"conv_rate:FLOAT", "acc_rate:FLOAT", "avg_daily_trips:INT64"}; !reflect.DeepEqual(feats, want) {
		t.Errorf("features = %v", feats)
	}
	b := fv.BatchSource
	if b == nil || b.Type != registry.SourceBatchFile || b.Name != "driver_hourly_stats_source" || b.FileOptions.URI != "data/driver_stats.parquet" ||
		b.TimestampField != "event_timestamp" || b.CreatedTimestampColumn != "created" || b.DataSourceClassType != classFileSource {
		t.Errorf("batch source = %+v", b)
	}

	for _, v := range reg.FeatureViews {
		if v.Spec.Name != "driver_hourly_stats_fresh" {
			continue
		}
		s := v.Spec.StreamSource
		if s == nil || s.Type != registry.SourcePush || s.Name != "driver_stats_push_source" || s.TimestampField != "event_timestamp" ||
			s.BatchSource == nil || s.BatchSource.Name != "driver_hourly_stats_source" || v.Spec.BatchSource.Name != "driver_hourly_stats_source" {
			t.Errorf("fresh view sources = %+v / %+v", s, v.Spec.BatchSource)
		}
	}

	var kinds []string
	for _, ds := range reg.DataSources {
		kinds = append(kinds, ds.Name+":"+ds.Type.String()+":"+ds.DataSourceClassType)
	}
	if want := []string{
		"driver_hourly_stats_source:BATCH_FILE:" + classFileSource,
		"vals_to_add:REQUEST_SOURCE:" + classRequestSource,
		"driver_stats_push_source:PUSH_SOURCE:" + classPushSource,
	}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("data sources = %v", kinds)
	}

	for _, s := range reg.FeatureServices {
		if s.Spec.Name != "driver_activity_v1" {
			continue
		}
		p := s.Spec.Features
		if len(p) != 1 || p[0].FeatureViewName != "driver_hourly_stats" || len(p[0].FeatureColumns) != 1 ||
			p[0].FeatureColumns[0].Name != "conv_rate" || p[0].FeatureColumns[0].ValueType != feast.TypeFloat {
			t.Errorf("driver_activity_v1 = %+v", p)
		}
	}
}

func TestODFVAndEntitylessToRegistry(t *testing.T) {
	t.Parallel()
	dir := writeRepo(t, map[string]string{
		"t/plus.wasm": fakeModule,
		"defs.yaml": base + `  - name: totals
    schema: [{name: trips, dtype: Int64}]
    source: stats
on_demand_feature_views:
  - name: plus
    sources: [hourly, req]
    schema: [{name: conv_plus, dtype: Float64}]
    module: t/plus.wasm
    sha256: ` + fakeModuleSum() + `
    write_to_online_store: true
  - name: plus_read_time
    sources: [req]
    schema: [{name: v2, dtype: Int64}]
    module: t/plus.wasm
    sha256: ` + fakeModuleSum() + `
    function: double_it
feature_services:
  - name: svc
    features:
      - plus
      - {view: hourly, features: [acc_rate], alias: h2, join_key_map: {driver_id: other_driver}}
project:
  name: p
  description: demo
`,
	})
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ToRegistry("other"); err == nil || !strings.Contains(err.Error(), `defs.yaml:44: project.name: "p" does not match the project "other"`) {
		t.Errorf("project mismatch: %v", err)
	}
	reg, err := r.ToRegistry("p")
	if err != nil {
		t.Fatal(err)
	}
	reg, err = registry.Unmarshal(reg.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if reg.Projects[0].Spec.Description != "demo" {
		t.Errorf("project = %+v", reg.Projects[0].Spec)
	}
	last := reg.Entities[len(reg.Entities)-1].Spec
	if last.Name != DummyEntityName || last.JoinKey != DummyEntityJoinKey || last.ValueType != feast.TypeInvalid {
		t.Errorf("dummy entity = %+v", last)
	}
	for _, v := range reg.FeatureViews {
		if v.Spec.Name == "totals" && (!reflect.DeepEqual(v.Spec.Entities, []string{DummyEntityName}) || len(v.Spec.EntityColumns) != 0) {
			t.Errorf("entity-less view = %+v", v.Spec)
		}
	}
	odfvs := map[string]*registry.OnDemandFeatureViewSpec{}
	for _, o := range reg.OnDemandFeatureViews {
		odfvs[o.Spec.Name] = o.Spec
	}
	plus := odfvs["plus"]
	if plus.Mode != ModeWasm || !plus.WriteToOnlineStore || !reflect.DeepEqual(plus.Entities, []string{"driver"}) ||
		len(plus.EntityColumns) != 1 || plus.EntityColumns[0].Name != "driver_id" {
		t.Errorf("plus = %+v", plus)
	}
	if src := plus.Sources["hourly"]; src == nil || src.FeatureViewProjection == nil || len(src.FeatureViewProjection.FeatureColumns) != 2 {
		t.Errorf("plus sources[hourly] = %+v", src)
	}
	if src := plus.Sources["req"]; src == nil || src.RequestDataSource == nil || src.RequestDataSource.Type != registry.SourceRequest {
		t.Errorf("plus sources[req] = %+v", src)
	}
	w, body, err := DecodeWasmUDF(plus.FeatureTransformation.UserDefinedFunction)
	if err != nil || string(body) != fakeModule || w != (WasmUDF{Module: "t/plus.wasm", SHA256: fakeModuleSum(), Function: "plus"}) {
		t.Errorf("udf = %+v, %q, %v", w, body, err)
	}
	rt := odfvs["plus_read_time"]
	if !reflect.DeepEqual(rt.Entities, []string{DummyEntityName}) || rt.EntityColumns[0].Name != DummyEntityJoinKey || rt.FeatureTransformation.UserDefinedFunction.Name != "double_it" {
		t.Errorf("plus_read_time = %+v", rt)
	}

	p := reg.FeatureServices[0].Spec.Features
	if len(p) != 2 || p[0].FeatureViewName != "plus" || p[0].FeatureColumns[0].ValueType != feast.TypeDouble ||
		p[1].FeatureViewNameAlias != "h2" || p[1].JoinKeyMap["driver_id"] != "other_driver" || p[1].FeatureColumns[0].Name != "acc_rate" {
		t.Errorf("service projections = %+v", p)
	}

	// The module changed after validation: conversion must notice.
	if err := os.WriteFile(filepath.Join(dir, "t/plus.wasm"), []byte("\x00asm changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ToRegistry("p"); err == nil || !strings.Contains(err.Error(), "changed since it was validated") {
		t.Errorf("stale module: %v", err)
	}
	tampered := *plus.FeatureTransformation.UserDefinedFunction
	tampered.Body = []byte("other")
	if _, _, err := DecodeWasmUDF(&tampered); err == nil {
		t.Error("DecodeWasmUDF accepted a body that does not match its digest")
	}
}
