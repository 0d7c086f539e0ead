package host

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/registry"
)

// catalog is the serving index of one registry snapshot: everything the online and write
// paths look up, by name, prepared once per snapshot so that no request walks or parses
// the registry. It is immutable once built and shared by concurrent requests.
type catalog struct {
	project  string
	views    map[string]*viewDef
	services map[string]*serviceDef
	// pushViews maps a push source name to the views whose stream source it is, in
	// registry order; a push writes to all of them.
	pushViews map[string][]*viewDef
	// joinKeys maps every name a request may use for an entity column to the join key
	// it stands for: each entity's join key (to itself) and, deprecated but accepted by
	// Feast, each entity's name.
	joinKeys map[string]string
	// odfvs names the on-demand feature views: retrieval rejects them with a clear error
	// until transformations are served (the hook for that work).
	odfvs map[string]bool
}

// viewDef is one feature view (batch or stream) as serving sees it.
type viewDef struct {
	name     string
	features []featureDef
	index    map[string]int // feature name → position in features
	// entityColumns are the join keys with the dtypes the view declares for them
	// (FeatureViewSpec.entity_columns), in declaration order; empty for an entity-less view.
	entityColumns []featureDef
	ttl           time.Duration // 0 = values never expire
	online        bool

	// Write path: the columns of a pushed or written frame.
	timestampField         string
	createdTimestampColumn string
	fieldMapping           map[string]string // source column → feature or join key name
}

type featureDef struct {
	name string
	typ  feast.ValueType
}

// serviceDef is a feature service: the projections it serves, in order.
type serviceDef struct {
	name        string
	projections []projectionDef
}

// projectionDef selects features of a view, optionally under an alias and with join keys
// read from differently named request columns.
type projectionDef struct {
	view       string
	alias      string
	features   []string          // empty = every feature of the view
	joinKeyMap map[string]string // view join key → request column
}

// Feast's reserved names for entity-less feature views.
const (
	dummyEntityName    = "__dummy"
	dummyEntityJoinKey = "__dummy_id"
)

func (v *viewDef) entityless() bool { return len(v.entityColumns) == 0 }

// readGroup is one (view, projection) whose features a request reads: the unit that
// becomes one ReadView in the store call.
type readGroup struct {
	view       *viewDef
	prefix     string            // name used with full_feature_names: alias or view name
	features   []int             // positions in view.features, request order, no duplicates
	joinKeyMap map[string]string // view join key → request column (nil = identity)
	firstCol   int               // response column of features[0]; the rest follow
}

func (g *readGroup) requestColumn(joinKey string) string {
	if c, ok := g.joinKeyMap[joinKey]; ok {
		return c
	}
	return joinKey
}

// readPath says which store a resolution reads from. A view with online: false is never
// materialized, so online reads refuse it; historical retrieval reads its batch source
// like any other view's (Feast's offline-only views, used for training data).
type readPath uint8

const (
	onlineRead readPath = iota
	offlineRead
)

// resolveRefs turns "view:feature" references into read groups, one per view in order
// of first appearance, features in request order.
func (c *catalog) resolveRefs(refs []string, path readPath) ([]*readGroup, error) {
	var groups []*readGroup
	byView := map[string]*readGroup{}
	for i, ref := range refs {
		field := "features[" + strconv.Itoa(i) + "]"
		viewName, feature, ok := strings.Cut(ref, ":")
		if !ok || viewName == "" || feature == "" || strings.Contains(feature, ":") {
			return nil, Requestf(BadRequest, field,
				"malformed feature reference %q: want \"<feature view>:<feature>\"", ref)
		}
		if strings.Contains(viewName, "@") {
			return nil, Requestf(Unprocessable, field,
				"feature reference %q pins a feature view version; versioned feature views are not supported", ref)
		}
		g := byView[viewName]
		if g == nil {
			v, err := c.lookupView(viewName, field, path)
			if err != nil {
				return nil, err
			}
			g = &readGroup{view: v, prefix: v.name}
			byView[viewName] = g
			groups = append(groups, g)
		}
		fi, ok := g.view.index[feature]
		if !ok {
			return nil, Requestf(NotFound, field, "feature %q not found in feature view %q", feature, viewName)
		}
		if containsInt(g.features, fi) {
			// Feast's FeatureNameCollisionError: the response would have two columns
			// of the same name.
			return nil, Requestf(BadRequest, field, "feature reference %q is requested twice", ref)
		}
		g.features = append(g.features, fi)
	}
	return groups, nil
}

// resolveService turns a feature service's projections into read groups, in the order
// the service lists them.
func (c *catalog) resolveService(name string, path readPath) ([]*readGroup, error) {
	svc, ok := c.services[name]
	if !ok {
		return nil, Requestf(NotFound, "feature_service", "feature service %q not found in project %q", name, c.project)
	}
	groups := make([]*readGroup, 0, len(svc.projections))
	for _, p := range svc.projections {
		field := "feature_service"
		v, err := c.lookupView(p.view, field, path)
		if err != nil {
			return nil, Requestf(Unprocessable, field, "feature service %q: %s", name, err.(*RequestError).Msg)
		}
		g := &readGroup{view: v, prefix: v.name, joinKeyMap: p.joinKeyMap}
		if p.alias != "" {
			g.prefix = p.alias
		}
		if len(p.features) == 0 {
			g.features = make([]int, len(v.features))
			for i := range v.features {
				g.features[i] = i
			}
		}
		for _, f := range p.features {
			fi, ok := v.index[f]
			if !ok {
				return nil, Requestf(Unprocessable, field,
					"feature service %q projects feature %q, which feature view %q does not have", name, f, v.name)
			}
			if !containsInt(g.features, fi) {
				g.features = append(g.features, fi)
			}
		}
		groups = append(groups, g)
	}
	return groups, nil
}

func (c *catalog) lookupView(name, field string, path readPath) (*viewDef, error) {
	if v, ok := c.views[name]; ok {
		if !v.online && path == onlineRead {
			return nil, Requestf(Unprocessable, field, "feature view %q is not served online (online: false): it is never materialized; read it with historical retrieval", name)
		}
		return v, nil
	}
	if c.odfvs[name] {
		// Hook: on-demand feature views are served by the transformation kind (a later
		// issue); until then they are a clear, specific refusal rather than "not found".
		return nil, Requestf(Unprocessable, field,
			"%q is an on-demand feature view; serving on-demand feature views is not supported yet", name)
	}
	return nil, Requestf(NotFound, field, "feature view %q not found in project %q", name, c.project)
}

// outputNames assigns response column names to the groups' features and checks that no
// two features end up with the same name (Feast's FeatureNameCollisionError).
func outputNames(groups []*readGroup, fullNames bool, dst []string) ([]string, error) {
	seen := make(map[string]int, 16)
	var collided []string
	for _, g := range groups {
		g.firstCol = len(dst)
		for _, fi := range g.features {
			name := g.view.features[fi].name
			if fullNames {
				name = g.prefix + "__" + name
			}
			if n := seen[name]; n == 1 {
				collided = append(collided, name)
			}
			seen[name]++
			dst = append(dst, name)
		}
	}
	if len(collided) > 0 {
		hint := "set full_feature_names to true, or request features with different names"
		if fullNames {
			hint = "request each feature once"
		}
		return nil, Requestf(BadRequest, "features", "duplicate feature names %s in the response: %s",
			quoteList(collided), hint)
	}
	return dst, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func quoteList(s []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('"')
		b.WriteString(x)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// buildCatalog indexes the objects of project in a registry snapshot for serving.
func buildCatalog(reg *registry.Registry, project string) *catalog {
	c := &catalog{
		project:   project,
		views:     map[string]*viewDef{},
		services:  map[string]*serviceDef{},
		pushViews: map[string][]*viewDef{},
		joinKeys:  map[string]string{},
		odfvs:     map[string]bool{},
	}
	entityType := map[string]feast.ValueType{} // entity name → value type
	entityKey := map[string]string{}           // entity name → join key
	for _, e := range reg.Entities {
		s := e.Spec
		if s == nil || s.Project != project || s.Name == dummyEntityName {
			continue
		}
		jk := s.JoinKey
		if jk == "" {
			jk = s.Name // Feast's default join key is the entity name
		}
		entityKey[s.Name] = jk
		entityType[s.Name] = s.ValueType
		c.joinKeys[jk] = jk
		if _, taken := c.joinKeys[s.Name]; !taken {
			c.joinKeys[s.Name] = jk
		}
	}
	add := func(name string, entities []string, entityCols, features []*registry.FeatureSpec, ttl *registry.Duration,
		online bool, batch, stream *registry.DataSource) {
		v := &viewDef{name: name, ttl: ttl.Std(), online: online, index: make(map[string]int, len(features))}
		for _, f := range features {
			v.index[f.Name] = len(v.features)
			v.features = append(v.features, featureDef{name: f.Name, typ: f.ValueType})
		}
		for _, ec := range entityCols {
			if ec.Name != dummyEntityJoinKey {
				v.entityColumns = append(v.entityColumns, featureDef{name: ec.Name, typ: ec.ValueType})
			}
		}
		if len(entityCols) == 0 {
			// Registries written before entity_columns existed: the entities' join keys
			// with the entities' value types.
			for _, en := range entities {
				if jk, ok := entityKey[en]; ok {
					v.entityColumns = append(v.entityColumns, featureDef{name: jk, typ: entityType[en]})
				}
			}
		}
		if batch != nil {
			v.timestampField = batch.TimestampField
			v.createdTimestampColumn = batch.CreatedTimestampColumn
			v.fieldMapping = batch.FieldMapping
		}
		if stream != nil && (stream.Type == registry.SourcePush || stream.PushOptions != nil) {
			if v.timestampField == "" {
				v.timestampField = stream.TimestampField
			}
			c.pushViews[stream.Name] = append(c.pushViews[stream.Name], v)
		}
		c.views[name] = v
	}
	for _, fv := range reg.FeatureViews {
		if s := fv.Spec; s != nil && s.Project == project {
			add(s.Name, s.Entities, s.EntityColumns, s.Features, s.TTL, s.Online, s.BatchSource, s.StreamSource)
		}
	}
	for _, fv := range reg.StreamFeatureViews {
		if s := fv.Spec; s != nil && s.Project == project {
			add(s.Name, s.Entities, s.EntityColumns, s.Features, s.TTL, s.Online, s.BatchSource, s.StreamSource)
		}
	}
	for _, o := range reg.OnDemandFeatureViews {
		if o.Spec != nil && o.Spec.Project == project {
			c.odfvs[o.Spec.Name] = true
		}
	}
	for _, fs := range reg.FeatureServices {
		s := fs.Spec
		if s == nil || s.Project != project {
			continue
		}
		svc := &serviceDef{name: s.Name}
		for _, p := range s.Features {
			pd := projectionDef{view: p.FeatureViewName, alias: p.FeatureViewNameAlias, joinKeyMap: p.JoinKeyMap}
			for _, f := range p.FeatureColumns {
				pd.features = append(pd.features, f.Name)
			}
			svc.projections = append(svc.projections, pd)
		}
		c.services[s.Name] = svc
	}
	return c
}
