package repo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/registry"
)

// Feast's Python class paths, stored in DataSource.data_source_class_type: Feast picks the
// class to rebuild a source from them, so a registry we write must carry them to be
// readable by Feast.
const (
	classFileSource = "feast.infra.offline_stores.file_source.FileSource"
	classPushSource = "feast.data_source.PushSource"
	// ClassPostgresSource is Feast's PostgreSQLSource, a CUSTOM_SOURCE whose options are
	// the JSON {"name", "query", "table"}.
	ClassPostgresSource = "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource"
	classRequestSource  = "feast.data_source.RequestSource"
)

// Feast's reserved entity for entity-less views, and the version string Feast 0.5x+
// writes into every view spec.
const (
	DummyEntityName    = "__dummy"
	DummyEntityJoinKey = "__dummy_id"
	latestVersion      = "latest"
)

// WasmUDF is what a Larder on-demand feature view stores in its
// FeatureTransformationV2.user_defined_function: Mode "wasm", Name the export, Body the
// module bytes (so a registry is self-contained and serves exactly what was applied), and
// BodyText this struct as JSON (readable by `larder registry-dump`; Feast cannot run it
// and does not try, since the spec's mode is "wasm").
type WasmUDF struct {
	Module   string `json:"module"`   // path as written in the definition, for humans
	SHA256   string `json:"sha256"`   // digest of Body
	Function string `json:"function"` // export name
}

// DecodeWasmUDF reads a Larder ODFV's function back from the registry and checks the
// module bytes against the recorded digest.
func DecodeWasmUDF(udf *registry.UserDefinedFunction) (WasmUDF, []byte, error) {
	var w WasmUDF
	if udf == nil || udf.Mode != ModeWasm {
		return w, nil, fmt.Errorf("not a wasm transformation")
	}
	if err := json.Unmarshal([]byte(udf.BodyText), &w); err != nil {
		return w, nil, fmt.Errorf("decoding wasm transformation %q: %w", udf.Name, err)
	}
	sum := sha256.Sum256(udf.Body)
	if got := hex.EncodeToString(sum[:]); got != w.SHA256 {
		return w, nil, fmt.Errorf("wasm transformation %q: module digest %s does not match the recorded %s", udf.Name, got, w.SHA256)
	}
	return w, udf.Body, nil
}

// ToRegistry converts the definitions into Feast registry objects for project, as
// `feast apply` would register the equivalent Python definitions: the Registry returned
// holds the project, entities (plus Feast's __dummy entity when a view has none), data
// sources, feature views, on-demand feature views (module bytes read from disk and checked
// against their sha256 again) and feature services. Meta (timestamps, materialization
// intervals) is left unset: apply sets it when merging into the stored registry.
func (r *Repo) ToRegistry(project string) (*registry.Registry, error) {
	if r.Project != nil && r.Project.Name != "" && r.Project.Name != project {
		return nil, fmt.Errorf("%s:%d: project.name: %q does not match the project %q of feature_store.yaml",
			r.Project.File, r.Project.Line, r.Project.Name, project)
	}
	c := converter{r: r, project: project}
	out := &registry.Registry{}

	ps := &registry.ProjectSpec{Name: project}
	if p := r.Project; p != nil {
		ps.Description, ps.Owner, ps.Tags = p.Description, p.Owner, p.Tags
	}
	out.Projects = []*registry.Project{{Spec: ps}}

	needDummy := false
	for _, e := range r.Entities {
		out.Entities = append(out.Entities, &registry.Entity{Spec: &registry.EntitySpec{
			Name: e.Name, ValueType: e.ValueType, Description: e.Description, JoinKey: e.JoinKey,
			Tags: e.Tags, Project: project, Owner: e.Owner,
		}})
	}
	for _, s := range r.Sources {
		ds := c.source(s, true)
		ds.Project = project
		out.DataSources = append(out.DataSources, ds)
	}
	for _, fv := range r.FeatureViews {
		spec := c.featureView(fv)
		needDummy = needDummy || len(fv.Entities) == 0
		out.FeatureViews = append(out.FeatureViews, &registry.FeatureView{Spec: spec})
	}
	for _, o := range r.OnDemandFeatureViews {
		spec, err := c.odfv(o)
		if err != nil {
			return nil, err
		}
		needDummy = needDummy || spec.Entities[0] == DummyEntityName
		out.OnDemandFeatureViews = append(out.OnDemandFeatureViews, &registry.OnDemandFeatureView{Spec: spec})
	}
	if needDummy {
		// Feast registers the dummy entity (type UNKNOWN) whenever a view has no entity.
		out.Entities = append(out.Entities, &registry.Entity{Spec: &registry.EntitySpec{
			Name: DummyEntityName, JoinKey: DummyEntityJoinKey, Project: project,
		}})
	}
	for _, svc := range r.FeatureServices {
		spec := &registry.FeatureServiceSpec{Name: svc.Name, Project: project, Tags: svc.Tags, Description: svc.Description, Owner: svc.Owner}
		for _, p := range svc.Features {
			spec.Features = append(spec.Features, c.projection(p))
		}
		out.FeatureServices = append(out.FeatureServices, &registry.FeatureService{Spec: spec})
	}
	return out, nil
}

type converter struct {
	r       *Repo
	project string
}

// source converts a source. Top-level copies carry Feast's class path; the batch source
// nested in a push source does not, as in registries Feast writes.
func (c *converter) source(s *Source, withClass bool) *registry.DataSource {
	ds := &registry.DataSource{Name: s.Name, Description: s.Description, Tags: s.Tags, Owner: s.Owner}
	switch s.Type {
	case SourceFile:
		ds.Type = registry.SourceBatchFile
		ds.TimestampField = s.TimestampField
		ds.CreatedTimestampColumn = s.CreatedTimestampColumn
		ds.DatePartitionColumn = s.DatePartitionColumn
		ds.FieldMapping = s.FieldMapping
		// Feast leaves file_format unset unless one is passed explicitly and reads
		// Parquet by default; CSV is recognised by the path's extension.
		ds.FileOptions = &registry.FileOptions{URI: s.Path}
		if withClass {
			ds.DataSourceClassType = classFileSource
		}
	case SourcePostgres:
		ds.Type = registry.SourceCustom
		ds.TimestampField = s.TimestampField
		ds.CreatedTimestampColumn = s.CreatedTimestampColumn
		ds.FieldMapping = s.FieldMapping
		cfg, _ := json.Marshal(map[string]string{"name": s.Name, "query": s.Query, "table": s.Table})
		ds.CustomOptions = &registry.CustomSourceOptions{Configuration: cfg}
		// Feast writes the class path on nested batch sources of this kind too: it is
		// how a reader knows what the custom options mean.
		ds.DataSourceClassType = ClassPostgresSource
	case SourcePush:
		ds.Type = registry.SourcePush
		if b := c.r.Source(s.BatchSource); b != nil {
			ds.BatchSource = c.source(b, false)
			ds.TimestampField = b.TimestampField
			ds.CreatedTimestampColumn = b.CreatedTimestampColumn
		}
		if withClass {
			ds.DataSourceClassType = classPushSource
		}
	case SourceRequest:
		ds.Type = registry.SourceRequest
		ds.RequestDataOptions = &registry.RequestDataOptions{Schema: featureSpecs(s.Schema)}
		if withClass {
			ds.DataSourceClassType = classRequestSource
		}
	}
	return ds
}

func (c *converter) featureView(fv *FeatureView) *registry.FeatureViewSpec {
	spec := &registry.FeatureViewSpec{
		Name: fv.Name, Project: c.project, Entities: fv.Entities, Features: featureSpecs(fv.Features),
		Tags: fv.Tags, TTL: registry.DurationOf(fv.TTL), Online: fv.Online, Offline: fv.Offline,
		Description: fv.Description, Owner: fv.Owner, EntityColumns: featureSpecs(fv.EntityColumns),
		Version: latestVersion,
	}
	if len(fv.Entities) == 0 {
		spec.Entities = []string{DummyEntityName}
	}
	if src := c.r.Source(fv.Source); src != nil {
		switch src.Type {
		case SourcePush:
			spec.StreamSource = c.source(src, true)
			if b := c.r.Source(src.BatchSource); b != nil {
				spec.BatchSource = c.source(b, true)
			}
		default:
			spec.BatchSource = c.source(src, true)
		}
	}
	return spec
}

func (c *converter) odfv(o *OnDemandFeatureView) (*registry.OnDemandFeatureViewSpec, error) {
	spec := &registry.OnDemandFeatureViewSpec{
		Name: o.Name, Project: c.project, Features: featureSpecs(o.Schema),
		Sources: map[string]*registry.OnDemandSource{}, Description: o.Description, Tags: o.Tags,
		Owner: o.Owner, Mode: o.Mode, WriteToOnlineStore: o.WriteToOnlineStore, Version: latestVersion,
	}
	for _, name := range o.Sources {
		if fv := c.r.FeatureView(name); fv != nil {
			spec.Sources[name] = &registry.OnDemandSource{FeatureViewProjection: &registry.FeatureViewProjection{
				FeatureViewName: fv.Name, FeatureColumns: featureSpecs(fv.Features),
			}}
			// A write-time ODFV is stored online under the entities of its inputs.
			if o.WriteToOnlineStore {
				for i, e := range fv.Entities {
					if !contains(spec.Entities, e) {
						spec.Entities = append(spec.Entities, e)
						spec.EntityColumns = append(spec.EntityColumns, featureSpecs(fv.EntityColumns[i:i+1])...)
					}
				}
			}
		} else if s := c.r.Source(name); s != nil {
			spec.Sources[name] = &registry.OnDemandSource{RequestDataSource: c.source(s, false)}
		}
	}
	if len(spec.Entities) == 0 {
		// As Feast does for an ODFV without entities.
		spec.Entities = []string{DummyEntityName}
		spec.EntityColumns = []*registry.FeatureSpec{{Name: DummyEntityJoinKey, ValueType: feast.TypeString}}
	}
	path := o.Module
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.r.Dir, path)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: on-demand feature view %s: reading module: %w", o.File, o.Line, o.Name, err)
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != o.SHA256 {
		return nil, fmt.Errorf("%s:%d: on-demand feature view %s: module %s changed since it was validated (sha256 %s, declared %s)",
			o.File, o.Line, o.Name, o.Module, got, o.SHA256)
	}
	text, _ := json.Marshal(WasmUDF{Module: o.Module, SHA256: o.SHA256, Function: o.Function})
	spec.FeatureTransformation = &registry.FeatureTransformation{UserDefinedFunction: &registry.UserDefinedFunction{
		Name: o.Function, Body: body, BodyText: string(text), Mode: ModeWasm,
	}}
	return spec, nil
}

func (c *converter) projection(p Projection) *registry.FeatureViewProjection {
	out := &registry.FeatureViewProjection{FeatureViewName: p.View, FeatureViewNameAlias: p.Alias, JoinKeyMap: p.JoinKeyMap}
	var fields func(string) (Field, bool)
	if fv := c.r.FeatureView(p.View); fv != nil {
		fields = fv.Feature
	} else if o := c.r.OnDemandFeatureView(p.View); o != nil {
		fields = o.Feature
	}
	for _, name := range p.Features {
		if f, ok := fields(name); ok {
			out.FeatureColumns = append(out.FeatureColumns, featureSpec(f))
		}
	}
	return out
}

func featureSpec(f Field) *registry.FeatureSpec {
	return &registry.FeatureSpec{
		Name: f.Name, ValueType: f.Type, Tags: f.Tags, Description: f.Description,
		VectorIndex: f.VectorIndex, VectorSearchMetric: f.VectorSearchMetric, VectorLength: int32(f.VectorLength),
	}
}

func featureSpecs(fs []Field) []*registry.FeatureSpec {
	if len(fs) == 0 {
		return nil
	}
	out := make([]*registry.FeatureSpec, len(fs))
	for i, f := range fs {
		out[i] = featureSpec(f)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
