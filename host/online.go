package host

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/registry"
)

// Column is one named column of a request: an entity column of /get-online-features or
// a column of a pushed frame. Values holds each element's raw JSON text, so typing can
// follow Feast's rules (which tell 1 from 1.0) once the target type is known.
type Column struct {
	Name   string
	Values []json.RawMessage
}

// OnlineFeaturesRequest asks for features of a set of entity rows (Feast's
// GetOnlineFeaturesRequest). Exactly one of Features and FeatureService is set.
type OnlineFeaturesRequest struct {
	// Entities are the entity columns in request order; all have the same length, the
	// number of entity rows.
	Entities []Column
	// Features are references "feature_view:feature".
	Features []string
	// FeatureService names a feature service whose projections give the features.
	FeatureService string
	// FullFeatureNames names feature columns "view__feature" instead of "feature".
	FullFeatureNames bool
}

// OnlineFeaturesResponse is Feast's columnar response: FeatureNames[i] names Results[i],
// and each result holds one entry per entity row. Join-key columns come first (in
// request order), then each feature view's features.
type OnlineFeaturesResponse struct {
	FeatureNames []string
	Results      []FeatureVector
	// FeatureViews names the feature views read, in response order, each once (what
	// Feast reports as feature_view_metadata when asked).
	FeatureViews []string
	Stats        OnlineStats
}

// FeatureVector is one response column.
type FeatureVector struct {
	Values          []feast.Value
	Statuses        []abi.FieldStatus
	EventTimestamps []time.Time // the Unix epoch where Feast reports none
}

// OnlineStats describes how a retrieval went, for metrics and logs.
type OnlineStats struct {
	EntityRows   int
	Features     int // feature columns, join keys excluded
	FeatureViews int
	StoreReads   int           // OnlineStore.Read calls made (one per store)
	ReadDuration time.Duration // time spent in OnlineStore.Read, summed over stores
	Views        []ViewStats
}

// ViewStats counts the statuses of the values read from one feature view.
type ViewStats struct {
	Name                             string
	Present, NotFound, OutsideMaxAge int
}

// GetOnlineFeatures reads the latest feature values of a set of entity rows (Feast's
// /get-online-features): it resolves the references against the cached registry,
// serializes each distinct entity key once, reads every view in one call to the online
// store and applies each view's TTL. Client mistakes are *RequestError values.
func (fs *FeatureStore) GetOnlineFeatures(ctx context.Context, req OnlineFeaturesRequest) (*OnlineFeaturesResponse, error) {
	cat, err := fs.servingCatalog(ctx)
	if err != nil {
		return nil, err
	}
	store, err := fs.onlineStore(ctx)
	if err != nil {
		return nil, err
	}
	env := onlineEnv{cat: cat, storeOf: func(*viewDef) OnlineStore { return store }, keyVersion: fs.keyVersion(), now: fs.opts.Now()}
	if len(cat.odfvs) > 0 { // on-demand feature views: odfv_serve.go
		idx, err := fs.odfvIndex(ctx)
		if err != nil {
			return nil, err
		}
		env.cat = idx.cat
		return env.getOnlineFeaturesODFV(ctx, req, idx)
	}
	return env.getOnlineFeatures(ctx, req)
}

// servingCatalog returns the serving index of the cached registry, built once per
// registry version.
func (fs *FeatureStore) servingCatalog(ctx context.Context) (*catalog, error) {
	snap, err := fs.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	v, err := snap.derive("serving.catalog", func(reg *registry.Registry) (any, error) {
		return buildCatalog(reg, fs.cfg.Project), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*catalog), nil
}

// epoch is what Feast reports as the event timestamp of entity columns and missing values.
var epoch = time.Unix(0, 0).UTC()

// onlineEnv is everything one retrieval needs besides the request: the registry's serving
// index, the store each view lives in, the entity-key encoding and the clock used for TTL.
type onlineEnv struct {
	cat        *catalog
	storeOf    func(*viewDef) OnlineStore
	keyVersion int
	now        time.Time
}

// typedColumn is a request column converted to Values of one Feast type.
type typedColumn struct {
	col    int
	typ    feast.ValueType
	values []feast.Value
}

// keySet holds the serialized entity keys of one set of join keys: the distinct keys in
// first-seen order and, per entity row, which of them the row uses.
type keySet struct {
	keys [][]byte
	row  []int32
}

// storeRead gathers the views one store is asked for in a request.
type storeRead struct {
	store  OnlineStore
	req    ReadRequest
	groups []int // index into groups, per req.Views entry
}

func (e *onlineEnv) getOnlineFeatures(ctx context.Context, req OnlineFeaturesRequest) (*OnlineFeaturesResponse, error) {
	groups, err := e.resolve(req)
	if err != nil {
		return nil, err
	}
	rows, err := entityRows(req.Entities)
	if err != nil {
		return nil, err
	}

	// Which request columns are join keys, under which name they are returned, and
	// which type each must have.
	colByKey, outCols, err := e.entityColumns(req.Entities, groups)
	if err != nil {
		return nil, err
	}
	if err := checkJoinKeys(groups, colByKey); err != nil {
		return nil, err
	}

	resp := &OnlineFeaturesResponse{}
	resp.FeatureNames = make([]string, 0, len(outCols)+8)
	for _, oc := range outCols {
		resp.FeatureNames = append(resp.FeatureNames, oc.name)
	}
	if resp.FeatureNames, err = outputNames(groups, req.FullFeatureNames, resp.FeatureNames); err != nil {
		return nil, err
	}
	resp.Results = make([]FeatureVector, len(resp.FeatureNames))

	typed := typedCache{entities: req.Entities}
	// Join-key columns: typed as the (last) requested view declares them, as Feast
	// does; keys no requested view uses are typed by inference.
	entityType := map[int]feast.ValueType{}
	for _, g := range groups {
		for _, ec := range g.view.entityColumns {
			if c, ok := colByKey[g.requestColumn(ec.name)]; ok {
				entityType[c] = ec.typ
			}
		}
	}
	for i, oc := range outCols {
		vals, err := typed.get(oc.col, entityType[oc.col])
		if err != nil {
			return nil, err
		}
		resp.Results[i] = entityVector(vals, rows)
	}

	// Serialize each distinct set of entity keys once, deduplicating rows.
	sets := map[string]*keySet{}
	groupKeys := make([]*keySet, len(groups))
	for gi, g := range groups {
		ks, err := e.keysFor(g, colByKey, &typed, sets, rows)
		if err != nil {
			return nil, err
		}
		groupKeys[gi] = ks
	}

	// One Read per store with every view batched.
	var reads []*storeRead
	for gi, g := range groups {
		st := e.storeOf(g.view)
		var sr *storeRead
		for _, r := range reads {
			if r.store == st {
				sr = r
				break
			}
		}
		if sr == nil {
			sr = &storeRead{store: st, req: ReadRequest{Project: e.cat.project}}
			reads = append(reads, sr)
		}
		names := make([]string, len(g.features))
		for i, fi := range g.features {
			names[i] = g.view.features[fi].name
		}
		sr.req.Views = append(sr.req.Views, ReadView{Name: g.view.name, Features: names, EntityKeys: groupKeys[gi].keys})
		sr.groups = append(sr.groups, gi)
	}

	for _, g := range groups {
		if !containsString(resp.FeatureViews, g.view.name) {
			resp.FeatureViews = append(resp.FeatureViews, g.view.name)
		}
	}
	resp.Stats = OnlineStats{EntityRows: rows, FeatureViews: len(groups), Views: make([]ViewStats, len(groups))}
	resp.Stats.Features = len(resp.FeatureNames) - len(outCols)
	if rows == 0 {
		for gi, g := range groups {
			resp.Stats.Views[gi].Name = g.view.name
			for i := range g.features {
				resp.Results[g.firstCol+i] = FeatureVector{Values: []feast.Value{}, Statuses: []abi.FieldStatus{}, EventTimestamps: []time.Time{}}
			}
		}
		return resp, nil
	}
	for _, sr := range reads {
		start := time.Now()
		res, err := sr.store.Read(ctx, sr.req)
		resp.Stats.ReadDuration += time.Since(start)
		resp.Stats.StoreReads++
		if err != nil {
			return nil, fmt.Errorf("reading online features of %s: %w", viewList(sr.req.Views), err)
		}
		if res == nil || len(res.Views) != len(sr.req.Views) {
			got := 0
			if res != nil {
				got = len(res.Views)
			}
			return nil, fmt.Errorf("reading online features of %s: store returned %d views for %d requested", viewList(sr.req.Views), got, len(sr.req.Views))
		}
		for vi, gi := range sr.groups {
			if err := e.fill(resp, groups[gi], groupKeys[gi], sr.req.Views[vi], res.Views[vi], &resp.Stats.Views[gi]); err != nil {
				return nil, err
			}
		}
	}
	return resp, nil
}

func (e *onlineEnv) resolve(req OnlineFeaturesRequest) ([]*readGroup, error) {
	switch {
	case req.FeatureService != "" && len(req.Features) > 0:
		return nil, Requestf(BadRequest, "features", "give either features or feature_service, not both")
	case req.FeatureService != "":
		return e.cat.resolveService(req.FeatureService, onlineRead)
	case len(req.Features) > 0:
		return e.cat.resolveRefs(req.Features, onlineRead)
	}
	return nil, Requestf(BadRequest, "features", "no features requested: give a list of \"<feature view>:<feature>\" references in features, or a feature_service")
}

// entityRows checks that the entity columns are there and equally long, and returns their length.
func entityRows(cols []Column) (int, error) {
	if len(cols) == 0 {
		return 0, Requestf(BadRequest, "entities", "no entity columns: give each join key's values, e.g. {\"driver_id\": [1001, 1002]}")
	}
	rows := len(cols[0].Values)
	for _, c := range cols[1:] {
		if len(c.Values) != rows {
			return 0, Requestf(BadRequest, "entities",
				"entity columns have different lengths: %q has %d values but %q has %d; all entity columns must have one value per entity row",
				cols[0].Name, rows, c.Name, len(c.Values))
		}
	}
	return rows, nil
}

// outCol is a join-key column returned in the response.
type outCol struct {
	name string // the join key (an entity named by its entity name is returned under its join key)
	col  int    // index in the request's entity columns
}

// entityColumns maps the request's entity columns to join keys. A column named after a
// join key (or, deprecated, an entity name) is returned in the response; other columns
// are ignored, as Feast ignores them.
func (e *onlineEnv) entityColumns(cols []Column, groups []*readGroup) (map[string]int, []outCol, error) {
	aliases := map[string]bool{}
	for _, g := range groups {
		for _, c := range g.joinKeyMap {
			aliases[c] = true
		}
	}
	colByKey := make(map[string]int, len(cols))
	out := make([]outCol, 0, len(cols))
	for i, c := range cols {
		key := c.Name
		if !aliases[key] {
			jk, ok := e.cat.joinKeys[key]
			if !ok {
				continue
			}
			key = jk
		}
		if prev, dup := colByKey[key]; dup {
			return nil, nil, Requestf(BadRequest, "entities."+c.Name,
				"join key %q is given twice (as %q and %q)", key, cols[prev].Name, c.Name)
		}
		colByKey[key] = i
		out = append(out, outCol{name: key, col: i})
	}
	return colByKey, out, nil
}

// checkJoinKeys reports every join key a requested view needs that the request lacks.
func checkJoinKeys(groups []*readGroup, colByKey map[string]int) error {
	var missing []string
	for _, g := range groups {
		for _, ec := range g.view.entityColumns {
			c := g.requestColumn(ec.name)
			if _, ok := colByKey[c]; !ok && !containsString(missing, c) {
				missing = append(missing, c)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return Requestf(BadRequest, "entities", "missing join key values for %s: the requested features need them", quoteList(missing))
}

// typedCache converts each (entity column, type) pair once per request.
type typedCache struct {
	entities []Column
	done     []typedColumn
}

func (t *typedCache) get(col int, typ feast.ValueType) ([]feast.Value, error) {
	for _, d := range t.done {
		if d.col == col && d.typ == typ {
			return d.values, nil
		}
	}
	c := t.entities[col]
	var vals []feast.Value
	if typ == feast.TypeInvalid {
		// Not a join key of any requested view: Feast infers the type from the values.
		var err error
		vals, _, err = feast.ValuesFromJSON(c.Values, feast.TypeInvalid)
		if err != nil {
			return nil, Requestf(BadRequest, "entities."+c.Name, "%s", err)
		}
	} else {
		vals = make([]feast.Value, len(c.Values))
		for i, raw := range c.Values {
			v, err := feast.ValueFromJSON(raw, typ)
			if err != nil {
				return nil, Requestf(BadRequest, "entities."+c.Name+"["+strconv.Itoa(i)+"]", "%s", err)
			}
			vals[i] = v
		}
	}
	t.done = append(t.done, typedColumn{col: col, typ: typ, values: vals})
	return vals, nil
}

func entityVector(vals []feast.Value, rows int) FeatureVector {
	fv := FeatureVector{Values: vals, Statuses: make([]abi.FieldStatus, rows), EventTimestamps: make([]time.Time, rows)}
	for i := range fv.Statuses {
		fv.Statuses[i] = abi.FieldPresent
		fv.EventTimestamps[i] = epoch
	}
	return fv
}

// dummyKey is the serialized entity key of entity-less views (join key __dummy_id,
// value ""), per serialization version.
func dummyKey(version int) ([]byte, error) {
	return feast.SerializeEntityKey([]string{dummyEntityJoinKey}, []feast.Value{feast.StringValue("")}, version)
}

// keysFor returns the serialized, deduplicated entity keys of a group, sharing the work
// with every other group that has the same join keys, columns and types.
func (e *onlineEnv) keysFor(g *readGroup, colByKey map[string]int, typed *typedCache, sets map[string]*keySet, rows int) (*keySet, error) {
	var sig strings.Builder
	for _, ec := range g.view.entityColumns {
		sig.WriteString(ec.name)
		sig.WriteByte(0)
		sig.WriteString(g.requestColumn(ec.name))
		sig.WriteByte(0)
		sig.WriteString(strconv.Itoa(int(ec.typ)))
		sig.WriteByte(0)
	}
	if ks, ok := sets[sig.String()]; ok {
		return ks, nil
	}
	ks := &keySet{row: make([]int32, rows)}
	sets[sig.String()] = ks
	if g.view.entityless() {
		k, err := dummyKey(e.keyVersion)
		if err != nil {
			return nil, err
		}
		ks.keys = [][]byte{k} // every row reads the one dummy key
		return ks, nil
	}

	n := len(g.view.entityColumns)
	joinKeys := make([]string, n)
	cols := make([][]feast.Value, n)
	names := make([]string, n)
	for i, ec := range g.view.entityColumns {
		joinKeys[i] = ec.name
		ci := colByKey[g.requestColumn(ec.name)]
		names[i] = typed.entities[ci].Name
		vals, err := typed.get(ci, ec.typ)
		if err != nil {
			return nil, err
		}
		cols[i] = vals
	}
	rowVals := make([]feast.Value, n)
	seen := make(map[string]int32, rows)
	buf := make([]byte, 0, rows*(24+n*32))
	for r := 0; r < rows; r++ {
		for i := range cols {
			rowVals[i] = cols[i][r]
			if rowVals[i].IsNull() {
				return nil, Requestf(BadRequest, "entities."+names[i]+"["+strconv.Itoa(r)+"]",
					"join key value is null; every entity row needs a value for %q", joinKeys[i])
			}
		}
		start := len(buf)
		var err error
		buf, err = feast.AppendEntityKey(buf, joinKeys, rowVals, e.keyVersion)
		if err != nil {
			return nil, Requestf(BadRequest, "entities["+strconv.Itoa(r)+"]", "cannot build the entity key of feature view %q: %s", g.view.name, err)
		}
		key := buf[start:len(buf):len(buf)]
		if idx, ok := seen[string(key)]; ok {
			ks.row[r] = idx
			buf = buf[:start]
			continue
		}
		idx := int32(len(ks.keys))
		seen[string(key)] = idx
		ks.keys = append(ks.keys, key)
		ks.row[r] = idx
	}
	return ks, nil
}

// fill decodes what the store returned for one group into the group's response columns.
func (e *onlineEnv) fill(resp *OnlineFeaturesResponse, g *readGroup, ks *keySet, rv ReadView, got []FeatureValue, st *ViewStats) error {
	nf := len(rv.Features)
	if len(got) != len(rv.EntityKeys)*nf {
		return fmt.Errorf("reading online features of view %q: store returned %d values for %d entity keys × %d features",
			rv.Name, len(got), len(rv.EntityKeys), nf)
	}
	st.Name = g.view.name
	rows := len(ks.row)
	ttl := g.view.ttl
	// Each distinct stored value is decoded once, straight into the first row that
	// uses it; rows sharing an entity key copy it from there.
	first := make([]int32, len(got))
	for f := 0; f < nf; f++ {
		vec := FeatureVector{
			Values:          make([]feast.Value, rows),
			Statuses:        make([]abi.FieldStatus, rows),
			EventTimestamps: make([]time.Time, rows),
		}
		for r := 0; r < rows; r++ {
			i := int(ks.row[r])*nf + f
			fv := &got[i]
			switch fv.Status {
			case abi.FieldPresent:
				if first[i] == 0 {
					v, err := feast.UnmarshalValue(fv.Value)
					if err != nil {
						return fmt.Errorf("decoding the stored value of %s:%s (entity key %x): %w", rv.Name, rv.Features[f], rv.EntityKeys[ks.row[r]], err)
					}
					vec.Values[r] = v
					first[i] = int32(r) + 1
				} else {
					vec.Values[r] = vec.Values[first[i]-1]
				}
				vec.EventTimestamps[r] = fv.EventTS.UTC()
				// Feast's Go server: past the view's TTL the value is still returned,
				// flagged OUTSIDE_MAX_AGE (the Python server does not check TTL online).
				if ttl > 0 && e.now.Sub(fv.EventTS) > ttl {
					vec.Statuses[r] = abi.FieldOutsideMaxAge
					st.OutsideMaxAge++
				} else {
					vec.Statuses[r] = abi.FieldPresent
					st.Present++
				}
			case abi.FieldNotFound:
				vec.Statuses[r] = abi.FieldNotFound
				vec.EventTimestamps[r] = epoch
				st.NotFound++
			default:
				return fmt.Errorf("reading online features of %s:%s: store returned status %v; only PRESENT and NOT_FOUND are valid",
					rv.Name, rv.Features[f], fv.Status)
			}
		}
		resp.Results[g.firstCol+f] = vec
	}
	return nil
}

func viewList(vs []ReadView) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name
	}
	if len(names) == 1 {
		return "feature view " + quoteList(names)
	}
	return "feature views " + quoteList(names)
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
