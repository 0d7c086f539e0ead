package host

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/registry"
	"github.com/larder-dev/larder/host/repo"
)

// ChangeOp is what happens to an object or table.
type ChangeOp string

const (
	OpCreate ChangeOp = "create"
	OpUpdate ChangeOp = "update"
	OpDelete ChangeOp = "delete"
)

// Plan is the difference between the feature repo's definitions and the stored registry:
// what Apply changes, or would change when run dry.
type Plan struct {
	Project string
	// Objects are the registry objects created, updated or deleted, by kind in the order
	// projects, entities, data sources, feature views, on-demand feature views, feature
	// services; unchanged objects are not listed.
	Objects []ObjectChange
	// Tables are the online-store tables created, updated (their features or join keys
	// changed) or deleted.
	Tables []TableChange
	// Applied is true once the changes are stored.
	Applied bool
}

// ObjectChange is one registry object that differs.
type ObjectChange struct {
	Kind string // "entity", "feature view", …
	Name string
	Op   ChangeOp
	// Fields names the spec fields that changed, for OpUpdate (e.g. "ttl", "features").
	Fields []string
}

// TableChange is one online-store table (one per online feature view) that differs.
type TableChange struct {
	View string
	Op   ChangeOp
}

// HasChanges reports whether anything differs.
func (p *Plan) HasChanges() bool { return len(p.Objects) > 0 || len(p.Tables) > 0 }

// WriteTo prints the plan for people, one line per change.
func (p *Plan) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	verb := map[ChangeOp]string{OpCreate: "Created", OpUpdate: "Updated", OpDelete: "Deleted"}
	if !p.Applied {
		verb = map[ChangeOp]string{OpCreate: "Will create", OpUpdate: "Will update", OpDelete: "Will delete"}
	}
	if len(p.Objects) == 0 {
		fmt.Fprintf(&b, "No changes to the registry of project %s.\n", p.Project)
	}
	for _, c := range p.Objects {
		fmt.Fprintf(&b, "%s %s %s", verb[c.Op], c.Kind, c.Name)
		if len(c.Fields) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(c.Fields, ", "))
		}
		b.WriteByte('\n')
	}
	if len(p.Tables) > 0 {
		b.WriteByte('\n')
	}
	for _, t := range p.Tables {
		fmt.Fprintf(&b, "%s online table for feature view %s\n", verb[t.Op], t.View)
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Apply makes the registry match the feature repo, the repo being the source of truth for
// its project: objects in the repo are created or updated, objects of the project that
// the repo no longer defines are deleted (as `feast apply` does), and the online store
// gets tables for the online feature views and drops the tables of the views that went.
//
// Nothing changes unless everything succeeds up to the write: definitions are parsed and
// validated first (an invalid repo returns the problems and leaves the registry and the
// store alone), the online store's Update runs next, and the registry is replaced
// atomically last. With dryRun, Apply only computes the plan (`larder plan`) and needs no
// plugin.
func (fs *FeatureStore) Apply(ctx context.Context, dryRun bool) (*Plan, error) {
	r, err := repo.Load(fs.cfg.RepoDir)
	if err != nil {
		return nil, err
	}
	desired, err := r.ToRegistry(fs.cfg.Project)
	if err != nil {
		return nil, err
	}
	fs.writeMu.Lock()
	defer fs.writeMu.Unlock()
	stored, missing, err := fs.loadForUpdate()
	if err != nil {
		return nil, err
	}
	merged, plan := mergeRegistry(stored, desired, fs.cfg.Project, fs.opts.Now())
	if dryRun {
		return plan, nil
	}
	if fs.cfg.OnlineStore != nil {
		st, err := fs.onlineStore(ctx)
		if err != nil {
			return nil, err
		}
		// Every apply re-asserts the tables (Update is idempotent), so an online database
		// lost or half-created by an earlier failure is repaired by applying again.
		keep, del := onlineTables(stored, merged, fs.cfg.Project)
		if err := st.Update(ctx, UpdateRequest{Project: fs.cfg.Project, TablesToKeep: keep, TablesToDelete: del}); err != nil {
			return nil, fmt.Errorf("updating the online store's tables (the registry was not changed): %w", err)
		}
	}
	if plan.HasChanges() || missing {
		if err := fs.saveRegistry(merged); err != nil {
			return nil, err
		}
	}
	plan.Applied = true
	return plan, nil
}

// Teardown removes the project's online tables and then its objects from the registry;
// the registry file itself is deleted when no other project is left in it (Feast deletes
// it outright). The returned plan lists what went.
func (fs *FeatureStore) Teardown(ctx context.Context) (*Plan, error) {
	fs.writeMu.Lock()
	defer fs.writeMu.Unlock()
	project := fs.cfg.Project
	stored, missing, err := fs.loadForUpdate()
	if err != nil {
		return nil, err
	}
	empty := &registry.Registry{}
	merged, plan := mergeRegistry(stored, empty, project, fs.opts.Now())
	var pm []*registry.ProjectMetadata
	for _, m := range merged.ProjectMetadata {
		if m.Project != project {
			pm = append(pm, m)
		}
	}
	merged.ProjectMetadata = pm
	if fs.cfg.OnlineStore != nil {
		_, del := onlineTables(stored, empty, project)
		if len(del) > 0 {
			st, err := fs.onlineStore(ctx)
			if err != nil {
				return nil, err
			}
			if err := st.Teardown(ctx, UpdateRequest{Project: project, TablesToKeep: []Table{}, TablesToDelete: del}); err != nil {
				return nil, fmt.Errorf("tearing down the online store's tables (the registry was not changed): %w", err)
			}
		}
	}
	if !missing {
		if registryEmpty(merged) {
			if err := os.Remove(fs.regStore.Path()); err != nil && !os.IsNotExist(err) {
				return nil, fmt.Errorf("removing registry %s: %w", fs.regStore.Path(), err)
			}
			fs.loadMu.Lock()
			fs.snap.Store(&snapshot{reg: &registry.Registry{}, missing: true, loaded: fs.opts.Now()})
			fs.loadMu.Unlock()
		} else if err := fs.saveRegistry(merged); err != nil {
			return nil, err
		}
	}
	plan.Applied = true
	return plan, nil
}

// registryEmpty reports whether r holds no object of any project (objects Larder does
// not model count, through their kept bytes).
func registryEmpty(r *registry.Registry) bool {
	probe := &registry.Registry{}
	return len(r.Entities) == 0 && len(r.FeatureViews) == 0 && len(r.FeatureServices) == 0 &&
		len(r.OnDemandFeatureViews) == 0 && len(r.DataSources) == 0 && len(r.StreamFeatureViews) == 0 &&
		len(r.Projects) == 0 && len(stripHeader(r).Marshal()) == len(probe.Marshal())
}

// stripHeader returns r without the fields every save rewrites and the objects counted
// separately, so what remains is only what Larder does not model.
func stripHeader(r *registry.Registry) *registry.Registry {
	c := *r
	c.RegistrySchemaVersion, c.VersionID, c.LastUpdated = "", "", nil
	c.Entities, c.FeatureViews, c.FeatureServices, c.OnDemandFeatureViews = nil, nil, nil, nil
	c.DataSources, c.StreamFeatureViews, c.Projects, c.ProjectMetadata = nil, nil, nil, nil
	return &c
}

// ---- diffing ----

// mergeRegistry returns stored with the project's objects replaced by desired's (merged
// with their stored metadata), and the plan of changes. stored is not modified.
func mergeRegistry(stored, desired *registry.Registry, project string, now time.Time) (*registry.Registry, *Plan) {
	out := *stored
	plan := &Plan{Project: project}
	ts := feast.TimestampOf(now)
	stamp := func() *feast.Timestamp { t := ts; return &t }

	out.Projects = mergeKind(plan, "project", stored.Projects, desired.Projects,
		func(o *registry.Project) (string, string) { return specProject(o.Spec), specName(o.Spec) },
		func(o *registry.Project) any { return o.Spec },
		func(s any) []byte {
			return (&registry.Registry{Projects: []*registry.Project{{Spec: s.(*registry.ProjectSpec)}}}).Marshal()
		},
		project,
		func(old, nu *registry.Project, _ []string) *registry.Project {
			m := &registry.Meta{CreatedTimestamp: stamp(), LastUpdatedTimestamp: stamp()}
			if old != nil && old.Meta != nil && old.Meta.CreatedTimestamp != nil {
				m.CreatedTimestamp = old.Meta.CreatedTimestamp
			}
			c := *nu
			c.Meta = m
			return &c
		})
	out.Entities = mergeKind(plan, "entity", stored.Entities, desired.Entities,
		func(o *registry.Entity) (string, string) { return o.Spec.Project, o.Spec.Name },
		func(o *registry.Entity) any { return o.Spec },
		func(s any) []byte {
			return (&registry.Registry{Entities: []*registry.Entity{{Spec: s.(*registry.EntitySpec)}}}).Marshal()
		},
		project,
		func(old, nu *registry.Entity, _ []string) *registry.Entity {
			c := *nu
			c.Meta = touchMeta(oldMeta(old), stamp())
			return &c
		})
	out.DataSources = mergeKind(plan, "data source", stored.DataSources, desired.DataSources,
		func(o *registry.DataSource) (string, string) { return o.Project, o.Name },
		func(o *registry.DataSource) any { c := *o; c.Meta = nil; return &c },
		func(s any) []byte {
			return (&registry.Registry{DataSources: []*registry.DataSource{s.(*registry.DataSource)}}).Marshal()
		},
		project,
		func(old, nu *registry.DataSource, _ []string) *registry.DataSource {
			c := *nu
			c.Meta = &registry.SourceMeta{CreatedTimestamp: stamp(), LastUpdatedTimestamp: stamp()}
			if old != nil && old.Meta != nil {
				m := *old.Meta
				if m.CreatedTimestamp == nil {
					m.CreatedTimestamp = stamp()
				}
				m.LastUpdatedTimestamp = stamp()
				c.Meta = &m
			}
			return &c
		})
	out.FeatureViews = mergeKind(plan, "feature view", stored.FeatureViews, desired.FeatureViews,
		func(o *registry.FeatureView) (string, string) { return o.Spec.Project, o.Spec.Name },
		func(o *registry.FeatureView) any { return o.Spec },
		func(s any) []byte {
			return (&registry.Registry{FeatureViews: []*registry.FeatureView{{Spec: s.(*registry.FeatureViewSpec)}}}).Marshal()
		},
		project,
		func(old, nu *registry.FeatureView, changed []string) *registry.FeatureView {
			c := *nu
			m := &registry.FeatureViewMeta{CreatedTimestamp: stamp(), LastUpdatedTimestamp: stamp()}
			if old != nil && old.Meta != nil {
				*m = *old.Meta
				if m.CreatedTimestamp == nil {
					m.CreatedTimestamp = stamp()
				}
				m.LastUpdatedTimestamp = stamp()
				// Values materialized under another schema or from another source do not
				// count: forget the intervals so materialize-incremental loads them again.
				if touchesData(changed) {
					m.MaterializationIntervals = nil
				}
			}
			c.Meta = m
			return &c
		})
	out.OnDemandFeatureViews = mergeKind(plan, "on demand feature view", stored.OnDemandFeatureViews, desired.OnDemandFeatureViews,
		func(o *registry.OnDemandFeatureView) (string, string) { return o.Spec.Project, o.Spec.Name },
		func(o *registry.OnDemandFeatureView) any { return o.Spec },
		func(s any) []byte {
			return (&registry.Registry{OnDemandFeatureViews: []*registry.OnDemandFeatureView{{Spec: s.(*registry.OnDemandFeatureViewSpec)}}}).Marshal()
		},
		project,
		func(old, nu *registry.OnDemandFeatureView, _ []string) *registry.OnDemandFeatureView {
			c := *nu
			m := &registry.OnDemandFeatureViewMeta{CreatedTimestamp: stamp(), LastUpdatedTimestamp: stamp()}
			if old != nil && old.Meta != nil {
				*m = *old.Meta
				if m.CreatedTimestamp == nil {
					m.CreatedTimestamp = stamp()
				}
				m.LastUpdatedTimestamp = stamp()
			}
			c.Meta = m
			return &c
		})
	out.FeatureServices = mergeKind(plan, "feature service", stored.FeatureServices, desired.FeatureServices,
		func(o *registry.FeatureService) (string, string) { return o.Spec.Project, o.Spec.Name },
		func(o *registry.FeatureService) any { return o.Spec },
		func(s any) []byte {
			return (&registry.Registry{FeatureServices: []*registry.FeatureService{{Spec: s.(*registry.FeatureServiceSpec)}}}).Marshal()
		},
		project,
		func(old, nu *registry.FeatureService, _ []string) *registry.FeatureService {
			c := *nu
			c.Meta = touchMeta(oldMeta(old), stamp())
			return &c
		})

	keepOld, _ := onlineTables(stored, stored, project)
	keepNew, _ := onlineTables(stored, &out, project)
	plan.Tables = tableChanges(keepOld, keepNew)
	return &out, plan
}

func specProject(s *registry.ProjectSpec) string {
	if s == nil {
		return ""
	}
	return s.Name
}

func specName(s *registry.ProjectSpec) string {
	if s == nil {
		return ""
	}
	return s.Name
}

type metaHolder interface {
	*registry.Entity | *registry.FeatureService
}

func oldMeta[T metaHolder](o T) *registry.Meta {
	switch v := any(o).(type) {
	case *registry.Entity:
		if v != nil {
			return v.Meta
		}
	case *registry.FeatureService:
		if v != nil {
			return v.Meta
		}
	}
	return nil
}

// touchMeta keeps the creation time of old (if any) and sets the update time.
func touchMeta(old *registry.Meta, now *feast.Timestamp) *registry.Meta {
	m := &registry.Meta{CreatedTimestamp: now, LastUpdatedTimestamp: now}
	if old != nil {
		c := *old
		if c.CreatedTimestamp == nil {
			c.CreatedTimestamp = now
		}
		c.LastUpdatedTimestamp = now
		m = &c
	}
	return m
}

// touchesData reports whether a feature view change affects what is materialized.
func touchesData(fields []string) bool {
	for _, f := range fields {
		switch f {
		case "entities", "features", "entity_columns", "batch_source":
			return true
		}
	}
	return false
}

// mergeKind merges one kind of object. Objects of other projects are kept in place; the
// project's objects become desired's, in desired's order, with merge deciding their
// metadata. Unchanged objects are kept as stored (metadata included).
func mergeKind[T any](plan *Plan, kind string, stored, desired []T, key func(T) (string, string),
	spec func(T) any, wrap func(any) []byte, project string, merge func(old, nu T, changed []string) T) []T {
	var out []T
	old := map[string]T{}
	for _, o := range stored {
		p, n := key(o)
		if p != project {
			out = append(out, o)
			continue
		}
		old[n] = o
	}
	seen := map[string]bool{}
	for _, d := range desired {
		_, n := key(d)
		seen[n] = true
		o, had := old[n]
		if !had {
			var zero T
			out = append(out, merge(zero, d, nil))
			plan.Objects = append(plan.Objects, ObjectChange{Kind: kind, Name: n, Op: OpCreate})
			continue
		}
		changed := specDiff(spec(o), spec(d), wrap)
		if len(changed) == 0 {
			out = append(out, o)
			continue
		}
		out = append(out, merge(o, d, changed))
		plan.Objects = append(plan.Objects, ObjectChange{Kind: kind, Name: n, Op: OpUpdate, Fields: changed})
	}
	var gone []string
	for n := range old {
		if !seen[n] {
			gone = append(gone, n)
		}
	}
	sort.Strings(gone)
	for _, n := range gone {
		plan.Objects = append(plan.Objects, ObjectChange{Kind: kind, Name: n, Op: OpDelete})
	}
	return out
}

// specDiff compares two specs (pointers to the same struct type) by their serialized
// bytes and returns the names of the exported fields that differ, in declaration order;
// nil when they are equal. Comparing bytes, not Go values, makes nil and empty the same,
// as they are on the wire.
func specDiff(a, b any, wrap func(any) []byte) []string {
	if string(wrap(a)) == string(wrap(b)) {
		return nil
	}
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := va.Type()
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		pa, pb := reflect.New(t), reflect.New(t)
		pa.Elem().Field(i).Set(va.Field(i))
		pb.Elem().Field(i).Set(vb.Field(i))
		if string(wrap(pa.Interface())) != string(wrap(pb.Interface())) {
			out = append(out, snake(f.Name))
		}
	}
	if len(out) == 0 {
		out = []string{"fields this version of Larder does not model"}
	}
	return out
}

// snake turns a Go field name into the proto field name it mirrors: TTL → ttl,
// BatchSource → batch_source, VersionID → version_id.
func snake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && !unicode.IsUpper(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if i > 0 && (prevLower || nextLower && unicode.IsUpper(r[i-1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(c))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ---- online tables ----

// onlineTables returns the tables next needs in the online store and the tables of prev
// that next no longer has, for project: one table per online feature view (and per
// on-demand feature view written to the online store).
func onlineTables(prev, next *registry.Registry, project string) (keep, del []Table) {
	keep = tablesOf(next, project)
	want := map[string]bool{}
	for _, t := range keep {
		want[t.Name] = true
	}
	for _, t := range tablesOf(prev, project) {
		if !want[t.Name] {
			del = append(del, t)
		}
	}
	if keep == nil {
		keep = []Table{}
	}
	return keep, del
}

func tablesOf(r *registry.Registry, project string) []Table {
	var out []Table
	for _, fv := range r.FeatureViews {
		s := fv.Spec
		if s == nil || s.Project != project || !s.Online {
			continue
		}
		out = append(out, Table{Name: s.Name, Features: specNames(s.Features), JoinKeys: joinKeysOf(r, s.Entities, s.EntityColumns)})
	}
	for _, o := range r.OnDemandFeatureViews {
		s := o.Spec
		if s == nil || s.Project != project || !s.WriteToOnlineStore {
			continue
		}
		out = append(out, Table{Name: s.Name, Features: specNames(s.Features), JoinKeys: joinKeysOf(r, s.Entities, s.EntityColumns)})
	}
	return out
}

func specNames(fs []*registry.FeatureSpec) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

// joinKeysOf returns the join keys of a view: its entity columns, else its entities' join
// keys (registries written by older Feasts lack entity_columns).
func joinKeysOf(r *registry.Registry, entities []string, cols []*registry.FeatureSpec) []string {
	if len(cols) > 0 {
		return specNames(cols)
	}
	var out []string
	for _, name := range entities {
		if name == repo.DummyEntityName {
			out = append(out, repo.DummyEntityJoinKey)
			continue
		}
		for _, e := range r.Entities {
			if e.Spec != nil && e.Spec.Name == name {
				out = append(out, e.Spec.JoinKey)
			}
		}
	}
	return out
}

func tableChanges(before, after []Table) []TableChange {
	old := map[string]Table{}
	for _, t := range before {
		old[t.Name] = t
	}
	var out []TableChange
	seen := map[string]bool{}
	for _, t := range after {
		seen[t.Name] = true
		o, had := old[t.Name]
		switch {
		case !had:
			out = append(out, TableChange{View: t.Name, Op: OpCreate})
		case !reflect.DeepEqual(o.Features, t.Features) || !reflect.DeepEqual(o.JoinKeys, t.JoinKeys):
			out = append(out, TableChange{View: t.Name, Op: OpUpdate})
		}
	}
	for _, t := range before {
		if !seen[t.Name] {
			out = append(out, TableChange{View: t.Name, Op: OpDelete})
		}
	}
	return out
}

// ---- registry-dump ----

// RegistryDump returns the project's registry objects as JSON, in the spirit of
// `feast registry-dump` (protobuf JSON names in lowerCamelCase, enums by name, default
// values omitted, objects sorted by name). It reads the registry file afresh. Byte fields
// of more than 1 KiB (the Wasm module of an on-demand feature view) are summarised, not
// dumped.
func (fs *FeatureStore) RegistryDump(ctx context.Context) ([]byte, error) {
	reg, missing, err := fs.loadForUpdate()
	if err != nil {
		return nil, err
	}
	if missing {
		return nil, Requestf(Unprocessable, "", "registry %s does not exist yet: run `larder apply` first", fs.regStore.Path())
	}
	p := fs.cfg.Project
	out := map[string]any{"project": p}
	add := func(key string, objs any, name func(i int) (string, string)) {
		v := reflect.ValueOf(objs)
		type item struct {
			name string
			v    any
		}
		var items []item
		for i := 0; i < v.Len(); i++ {
			proj, n := name(i)
			if proj != p {
				continue
			}
			d, _ := dumpValue(v.Index(i))
			items = append(items, item{n, d})
		}
		sort.SliceStable(items, func(a, b int) bool { return items[a].name < items[b].name })
		list := make([]any, len(items))
		for i, it := range items {
			list[i] = it.v
		}
		out[key] = list
	}
	add("projects", reg.Projects, func(i int) (string, string) { n := specName(reg.Projects[i].Spec); return n, n })
	add("entities", reg.Entities, func(i int) (string, string) { s := reg.Entities[i].Spec; return s.Project, s.Name })
	add("dataSources", reg.DataSources, func(i int) (string, string) { s := reg.DataSources[i]; return s.Project, s.Name })
	add("featureViews", reg.FeatureViews, func(i int) (string, string) { s := reg.FeatureViews[i].Spec; return s.Project, s.Name })
	add("onDemandFeatureViews", reg.OnDemandFeatureViews, func(i int) (string, string) {
		s := reg.OnDemandFeatureViews[i].Spec
		return s.Project, s.Name
	})
	add("streamFeatureViews", reg.StreamFeatureViews, func(i int) (string, string) {
		s := reg.StreamFeatureViews[i].Spec
		return s.Project, s.Name
	})
	add("featureServices", reg.FeatureServices, func(i int) (string, string) { s := reg.FeatureServices[i].Spec; return s.Project, s.Name })
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the registry as JSON: %w", err)
	}
	return append(b, '\n'), nil
}

var (
	timestampType = reflect.TypeOf(feast.Timestamp{})
	durationType  = reflect.TypeOf(registry.Duration{})
	stringerType  = reflect.TypeOf((*fmt.Stringer)(nil)).Elem()
)

// dumpValue converts a registry value to plain JSON values; false means "default value,
// omit it".
func dumpValue(v reflect.Value) (any, bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, false
		}
		return dumpValue(v.Elem())
	}
	switch v.Type() {
	case timestampType:
		ts := v.Interface().(feast.Timestamp)
		return ts.Time().UTC().Format(time.RFC3339Nano), true
	case durationType:
		d := v.Interface().(registry.Duration)
		return strconv.FormatFloat(d.Std().Seconds(), 'f', -1, 64) + "s", true
	}
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			if x, ok := dumpValue(v.Field(i)); ok {
				m[lowerCamel(t.Field(i).Name)] = x
			}
		}
		return m, len(m) > 0
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := v.Bytes()
			if len(b) == 0 {
				return nil, false
			}
			if len(b) > 1024 {
				sum := sha256.Sum256(b)
				return fmt.Sprintf("<%d bytes, sha256 %s>", len(b), hex.EncodeToString(sum[:])), true
			}
			return base64.StdEncoding.EncodeToString(b), true
		}
		if v.Len() == 0 {
			return nil, false
		}
		l := make([]any, v.Len())
		for i := range l {
			l[i], _ = dumpValue(v.Index(i))
		}
		return l, true
	case reflect.Map:
		if v.Len() == 0 {
			return nil, false
		}
		m := map[string]any{}
		for _, k := range v.MapKeys() {
			x, _ := dumpValue(v.MapIndex(k))
			m[fmt.Sprint(k.Interface())] = x
		}
		return m, true
	case reflect.Bool:
		return v.Bool(), v.Bool()
	case reflect.String:
		return v.String(), v.String() != ""
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() == 0 {
			return nil, false
		}
		if v.Type().Implements(stringerType) {
			return v.Interface().(fmt.Stringer).String(), true
		}
		return v.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint(), v.Uint() != 0
	case reflect.Float32, reflect.Float64:
		return v.Float(), v.Float() != 0
	}
	return fmt.Sprint(v.Interface()), true
}

// lowerCamel turns a Go field name into its protobuf JSON name: BatchSource →
// batchSource, TTL → ttl, VersionID → versionId.
func lowerCamel(s string) string {
	parts := strings.Split(snake(s), "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
