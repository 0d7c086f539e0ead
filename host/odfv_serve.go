package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/feast"
)

// ---- online: /get-online-features ----

// odfvWant is an on-demand feature view a request asks for.
type odfvWant struct {
	def     *odfvDef
	prefix  string // name used with full_feature_names: the projection's alias or the ODFV's name
	outputs []int  // positions in def.outputs, request order
}

// getOnlineFeaturesODFV serves a request that may name on-demand feature views. The
// plain features and the ODFVs' source features (even those not requested: Feast's
// "hidden reads") are read in one retrieval, with full names so nothing collides; each
// ODFV then runs once on the whole batch of entity rows, with the request data taken from
// `entities` as Feast does; source features nobody asked for are dropped.
func (e *onlineEnv) getOnlineFeaturesODFV(ctx context.Context, req OnlineFeaturesRequest, idx *odfvIndex) (*OnlineFeaturesResponse, error) {
	inner, wants, regular, err := e.planODFV(req, idx)
	if err != nil {
		return nil, err
	}
	if len(wants) == 0 {
		return e.getOnlineFeatures(ctx, req)
	}
	var in *OnlineFeaturesResponse
	entityCols := 0
	if len(inner.Features) > 0 || inner.FeatureService != "" {
		if in, err = e.getOnlineFeatures(ctx, inner); err != nil {
			return nil, err
		}
		entityCols = len(in.FeatureNames) - in.Stats.Features
	} else {
		// Only request data: no store read, the join-key columns as Feast returns them.
		if in, err = e.entityOnly(req); err != nil {
			return nil, err
		}
		entityCols = len(in.FeatureNames)
	}
	rows := len(req.Entities[0].Values)

	resp := &OnlineFeaturesResponse{Stats: in.Stats}
	resp.FeatureNames = append(resp.FeatureNames, in.FeatureNames[:entityCols]...)
	resp.Results = append(resp.Results, in.Results[:entityCols]...)
	byInner := make(map[string]int, len(in.FeatureNames))
	for i := entityCols; i < len(in.FeatureNames); i++ {
		byInner[in.FeatureNames[i]] = i
		if user, ok := regular[in.FeatureNames[i]]; ok {
			resp.FeatureNames = append(resp.FeatureNames, user)
			resp.Results = append(resp.Results, in.Results[i])
		}
	}
	// The views read, hidden reads included.
	resp.FeatureViews = append(resp.FeatureViews, in.FeatureViews...)

	// Request data: every field of every requested ODFV, all missing ones reported at once.
	var missing []string
	for _, w := range wants {
		for _, inp := range w.def.inputs {
			if inp.view == "" && entityColumn(req.Entities, inp.name) < 0 && !containsString(missing, inp.name) {
				missing = append(missing, inp.name)
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		// Feast answers 404 (RequestDataNotFoundInEntityRowsException).
		return nil, Requestf(NotFound, "entities",
			"missing request data %s: the requested on-demand feature views need them in entities, one value per entity row", quoteList(missing))
	}

	for _, w := range wants {
		out, err := e.computeODFV(ctx, w.def, req, in, byInner, rows)
		if err != nil {
			return nil, err
		}
		for _, k := range w.outputs {
			name := w.def.outputs[k].Name
			if req.FullFeatureNames {
				name = w.prefix + "__" + name
			}
			vec := FeatureVector{Values: make([]feast.Value, rows), Statuses: make([]abi.FieldStatus, rows), EventTimestamps: make([]time.Time, rows)}
			col := &out.Columns[k]
			for r := 0; r < rows; r++ {
				vec.Values[r] = valueOfCell(col, r)
				// As Feast: a computed value is PRESENT (null included), stamped with the epoch.
				vec.Statuses[r] = abi.FieldPresent
				vec.EventTimestamps[r] = epoch
			}
			resp.FeatureNames = append(resp.FeatureNames, name)
			resp.Results = append(resp.Results, vec)
		}
		resp.FeatureViews = append(resp.FeatureViews, w.def.name)
	}
	if err := checkUniqueNames(resp.FeatureNames[entityCols:], req.FullFeatureNames); err != nil {
		return nil, err
	}
	resp.Stats.Features = len(resp.FeatureNames) - entityCols
	resp.Stats.FeatureViews = len(resp.FeatureViews)
	return resp, nil
}

// planODFV splits a request into the retrieval to run (plain features plus the ODFVs'
// source features, full names) and the ODFVs to compute. regular maps the retrieval's
// column name of each requested plain feature to its name in the response.
func (e *onlineEnv) planODFV(req OnlineFeaturesRequest, idx *odfvIndex) (OnlineFeaturesRequest, []*odfvWant, map[string]string, error) {
	inner := OnlineFeaturesRequest{Entities: req.Entities, FullFeatureNames: true}
	regular := map[string]string{}
	var wants []*odfvWant
	want := func(d *odfvDef, prefix, field string) (*odfvWant, error) {
		if why := d.onlineProblem(); why != "" {
			return nil, Requestf(Unprocessable, field, "on-demand feature view %q cannot be served: %s", d.name, why)
		}
		for _, w := range wants {
			if w.def == d && w.prefix == prefix {
				return w, nil
			}
		}
		w := &odfvWant{def: d, prefix: prefix}
		wants = append(wants, w)
		return w, nil
	}
	userName := func(prefix, feature string) string {
		if req.FullFeatureNames {
			return prefix + "__" + feature
		}
		return feature
	}

	switch {
	case req.FeatureService != "" && len(req.Features) > 0, req.FeatureService == "" && len(req.Features) == 0:
		return req, nil, nil, nil // the plain path reports the mistake
	case len(req.Features) > 0:
		have := map[string]bool{}
		for i, ref := range req.Features {
			view, feature, ok := odfvRef(ref)
			d, isODFV := idx.onDemand(view)
			if !ok || !isODFV {
				inner.Features = append(inner.Features, ref)
				have[ref] = true
				if ok {
					regular[view+"__"+feature] = userName(view, feature)
				}
				continue
			}
			field := "features[" + strconv.Itoa(i) + "]"
			w, err := want(d, d.name, field)
			if err != nil {
				return inner, nil, nil, err
			}
			k, ok := d.index[feature]
			if !ok {
				return inner, nil, nil, Requestf(NotFound, field, "feature %q not found in on-demand feature view %q", feature, view)
			}
			if containsInt(w.outputs, k) {
				return inner, nil, nil, Requestf(BadRequest, field, "feature reference %q is requested twice", ref)
			}
			w.outputs = append(w.outputs, k)
		}
		for _, w := range wants {
			for _, s := range w.def.sources {
				for _, f := range s.features {
					if ref := s.view + ":" + f; !have[ref] {
						inner.Features = append(inner.Features, ref)
						have[ref] = true
					}
				}
			}
		}
	default:
		svc, ok := e.cat.services[req.FeatureService]
		if !ok {
			return req, nil, nil, nil
		}
		plain := &serviceDef{name: svc.name}
		for _, p := range svc.projections {
			d, isODFV := idx.onDemand(p.view)
			if !isODFV {
				p.features = append([]string(nil), p.features...)
				plain.projections = append(plain.projections, p)
				continue
			}
			prefix := d.name
			if p.alias != "" {
				prefix = p.alias
			}
			w, err := want(d, prefix, "feature_service")
			if err != nil {
				return inner, nil, nil, err
			}
			if len(p.features) == 0 {
				for k := range d.outputs {
					w.outputs = append(w.outputs, k)
				}
			}
			for _, f := range p.features {
				k, ok := d.index[f]
				if !ok {
					return inner, nil, nil, Requestf(Unprocessable, "feature_service",
						"feature service %q projects feature %q, which on-demand feature view %q does not have", svc.name, f, d.name)
				}
				if !containsInt(w.outputs, k) {
					w.outputs = append(w.outputs, k)
				}
			}
		}
		if len(wants) == 0 {
			return req, nil, nil, nil
		}
		nameProjected(e.cat, plain.projections, regular, userName)
		addHiddenReads(plain, wants)
		if len(plain.projections) > 0 {
			cat := *e.cat
			cat.services = map[string]*serviceDef{svc.name: plain}
			e.cat = &cat
			inner.FeatureService = svc.name
		}
	}
	return inner, wants, regular, nil
}

// nameProjected maps, in regular, the full name (view__feature, or alias__feature) of each
// feature the projections read to its name in the result, as userName gives it. A
// projection without features reads its whole view.
func nameProjected(cat *catalog, projections []projectionDef, regular map[string]string, userName func(prefix, feature string) string) {
	for _, p := range projections {
		prefix := p.view
		if p.alias != "" {
			prefix = p.alias
		}
		feats := p.features
		if len(feats) == 0 {
			if v, ok := cat.views[p.view]; ok {
				for _, f := range v.features {
					feats = append(feats, f.name)
				}
			}
		}
		for _, f := range feats {
			regular[prefix+"__"+f] = userName(prefix, f)
		}
	}
}

// addHiddenReads adds to plain the source features the ODFVs of wants read: each joins an
// unaliased projection of the same view, or gets a projection of its own.
func addHiddenReads(plain *serviceDef, wants []*odfvWant) {
	for _, w := range wants {
		for _, s := range w.def.sources {
			var target *projectionDef
			for i := range plain.projections {
				if p := &plain.projections[i]; p.view == s.view && p.alias == "" && len(p.joinKeyMap) == 0 {
					target = p
					break
				}
			}
			switch {
			case target == nil:
				plain.projections = append(plain.projections, projectionDef{view: s.view, features: append([]string(nil), s.features...)})
			case len(target.features) == 0:
				// The whole view is read already.
			default:
				for _, f := range s.features {
					if !containsString(target.features, f) {
						target.features = append(target.features, f)
					}
				}
			}
		}
	}
}

// entityOnly answers the join-key columns of a request that reads no feature view.
func (e *onlineEnv) entityOnly(req OnlineFeaturesRequest) (*OnlineFeaturesResponse, error) {
	rows, err := entityRows(req.Entities)
	if err != nil {
		return nil, err
	}
	_, outCols, err := e.entityColumns(req.Entities, nil)
	if err != nil {
		return nil, err
	}
	resp := &OnlineFeaturesResponse{Stats: OnlineStats{EntityRows: rows}}
	typed := typedCache{entities: req.Entities}
	for _, oc := range outCols {
		vals, err := typed.get(oc.col, feast.TypeInvalid)
		if err != nil {
			return nil, err
		}
		resp.FeatureNames = append(resp.FeatureNames, oc.name)
		resp.Results = append(resp.Results, entityVector(vals, rows))
	}
	return resp, nil
}

func entityColumn(cols []Column, name string) int {
	for i, c := range cols {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// computeODFV builds the ODFV's input batch from the retrieval and the request data and
// runs the transformation.
func (e *onlineEnv) computeODFV(ctx context.Context, d *odfvDef, req OnlineFeaturesRequest, in *OnlineFeaturesResponse, byInner map[string]int, rows int) (*abi.Batch, error) {
	batch := &abi.Batch{Rows: rows, Columns: make([]abi.Column, len(d.inputs))}
	for i, inp := range d.inputs {
		cb := abi.NewColumnBuilder(inp.name, inp.atype, rows)
		if inp.view != "" {
			col, ok := byInner[inp.view+"__"+inp.name]
			if !ok {
				return nil, fmt.Errorf("on-demand feature view %q: source feature %s:%s was not read", d.name, inp.view, inp.name)
			}
			for r, v := range in.Results[col].Values {
				if err := appendFeastValue(cb, v); err != nil {
					return nil, Requestf(Unprocessable, "features", "on-demand feature view %q: the stored value of %s:%s (entity row %d) does not fit its declared type: %s",
						d.name, inp.view, inp.name, r, err)
				}
			}
		} else {
			c := req.Entities[entityColumn(req.Entities, inp.name)]
			for r, raw := range c.Values {
				if err := appendJSONCell(cb, raw, inp.ftype); err != nil {
					return nil, Requestf(BadRequest, "entities."+c.Name+"["+strconv.Itoa(r)+"]", "%s", err)
				}
			}
		}
		batch.Columns[i] = cb.Column()
	}
	return runODFV(ctx, d, batch)
}

// appendJSONCell appends one request or frame cell, converted to the input's Feast type
// by Feast's rules (feast.ValueFromJSON). Plain numbers for numeric inputs, the common
// case of request data, take a short path that gives the same values without building
// a Value.
func appendJSONCell(cb *abi.ColumnBuilder, raw json.RawMessage, t feast.ValueType) error {
	if tok := plainNumber(raw); tok != "" {
		switch t {
		case feast.TypeInt64, feast.TypeInt32:
			if i, err := strconv.ParseInt(tok, 10, 64); err == nil && (t == feast.TypeInt64 || i == int64(int32(i))) {
				if t == feast.TypeInt64 {
					cb.AppendInt64(i)
				} else {
					cb.AppendInt32(int32(i))
				}
				return nil
			}
		case feast.TypeDouble, feast.TypeFloat:
			if f, err := strconv.ParseFloat(tok, 64); err == nil {
				if t == feast.TypeDouble {
					cb.AppendFloat64(f)
				} else {
					cb.AppendFloat32(float32(f))
				}
				return nil
			}
		}
	}
	v, err := feast.ValueFromJSON(raw, t)
	if err != nil {
		return err
	}
	return appendFeastValue(cb, v)
}

// plainNumber returns raw when it is an integer token ("-12"), for the short path; ""
// otherwise (floats, strings, anything else go through feast.ValueFromJSON).
func plainNumber(raw json.RawMessage) string {
	if len(raw) == 0 || len(raw) > 18 {
		return ""
	}
	for i, c := range raw {
		if !(c >= '0' && c <= '9' || c == '-' && i == 0 && len(raw) > 1) {
			return ""
		}
	}
	return string(raw)
}

// runODFV runs the transformation; a plugin that rejects its input (BAD_ARGUMENT) is the
// request's problem, anything else the server's.
func runODFV(ctx context.Context, d *odfvDef, batch *abi.Batch) (*abi.Batch, error) {
	out, err := d.mod.TransformChunked(ctx, d.name, d.function, d.outputs, batch, odfvChunkRows)
	if err != nil {
		var se *PluginStatusError
		if errors.As(err, &se) && errors.Is(err, abi.ErrBadArgument) {
			return nil, Requestf(Unprocessable, "features", "on-demand feature view %q rejected its input: %s", d.name, se.Message)
		}
		return nil, fmt.Errorf("computing on-demand feature view %q: %w", d.name, err)
	}
	return out, nil
}

// checkUniqueNames is Feast's FeatureNameCollisionError over the final response columns.
func checkUniqueNames(names []string, fullNames bool) error {
	seen := make(map[string]bool, len(names))
	var dup []string
	for _, n := range names {
		if seen[n] && !containsString(dup, n) {
			dup = append(dup, n)
		}
		seen[n] = true
	}
	if len(dup) == 0 {
		return nil
	}
	hint := "set full_feature_names to true, or request features with different names"
	if fullNames {
		hint = "request each feature once"
	}
	return Requestf(BadRequest, "features", "duplicate feature names %s in the response: %s", quoteList(dup), hint)
}

// ---- write time: /push and /write-to-online-store ----

// writeODFVs prepares the writes of write-time ODFVs for a frame: their outputs computed
// from the frame (transform) or taken from it (transform_on_write false). Nothing is
// written here, so a bad frame writes nothing.
func (e *writeEnv) odfvWrite(ctx context.Context, d *odfvDef, df []Column, transform bool, now time.Time) (WriteRequest, error) {
	if why := d.onlineProblem(); why != "" {
		return WriteRequest{}, Requestf(Unprocessable, "feature_view_name", "on-demand feature view %q cannot be written: %s", d.name, why)
	}
	if len(df) == 0 {
		return WriteRequest{}, Requestf(BadRequest, "df", "the frame has no columns")
	}
	n := len(df[0].Values)
	byName := make(map[string]int, len(df))
	for i, c := range df {
		if len(c.Values) != n {
			return WriteRequest{}, Requestf(BadRequest, "df."+c.Name,
				"column has %d values but column %q has %d; all columns need one value per row", len(c.Values), df[0].Name, n)
		}
		name := c.Name
		if mapped, ok := d.store.fieldMapping[name]; ok {
			name = mapped
		}
		byName[name] = i
	}
	cell := func(col, row int) string { return "df." + df[col].Name + "[" + strconv.Itoa(row) + "]" }

	values := make([][]feast.Value, len(d.outputs)) // [output][row]
	if transform {
		var missing []string
		for _, inp := range d.inputs {
			if _, ok := byName[inp.name]; !ok {
				missing = append(missing, inp.name)
			}
		}
		if len(missing) > 0 {
			return WriteRequest{}, Requestf(BadRequest, "df",
				"missing columns %s: on-demand feature view %q computes its features from them (transform_on_write is true)", quoteList(missing), d.name)
		}
		batch := &abi.Batch{Rows: n, Columns: make([]abi.Column, len(d.inputs))}
		for i, inp := range d.inputs {
			col := byName[inp.name]
			cb := abi.NewColumnBuilder(inp.name, inp.atype, n)
			for r, raw := range df[col].Values {
				if err := appendJSONCell(cb, raw, inp.ftype); err != nil {
					return WriteRequest{}, Requestf(BadRequest, cell(col, r), "%s", err)
				}
			}
			batch.Columns[i] = cb.Column()
		}
		out, err := runODFV(ctx, d, batch)
		if err != nil {
			return WriteRequest{}, err
		}
		for k := range d.outputs {
			values[k] = make([]feast.Value, n)
			for r := 0; r < n; r++ {
				values[k][r] = valueOfCell(&out.Columns[k], r)
			}
		}
	} else {
		var missing []string
		for _, o := range d.outputs {
			if _, ok := byName[o.Name]; !ok {
				missing = append(missing, o.Name)
			}
		}
		if len(missing) > 0 {
			return WriteRequest{}, Requestf(BadRequest, "df",
				"missing columns %s: with transform_on_write false the frame must hold on-demand feature view %q's features", quoteList(missing), d.name)
		}
		for k, o := range d.outputs {
			col := byName[o.Name]
			values[k] = make([]feast.Value, n)
			for r, raw := range df[col].Values {
				v, err := feast.ValueFromJSON(raw, d.outTypes[k])
				if err != nil {
					return WriteRequest{}, Requestf(BadRequest, cell(col, r), "%s", err)
				}
				values[k][r] = v
			}
		}
	}

	// Entity keys and timestamps as for a feature view; a frame without the event
	// timestamp column is stamped with the time of the write.
	keys := *d.store
	keys.features, keys.index = nil, nil
	ts := keys.timestampField
	if ts == "" {
		ts = "event_timestamp"
	}
	if _, ok := byName[ts]; !ok {
		if _, ok := byName["event_timestamp"]; ok {
			ts = "event_timestamp"
		} else {
			stamp, _ := json.Marshal(now.UTC().Format(time.RFC3339Nano))
			vals := make([]json.RawMessage, n)
			for r := range vals {
				vals[r] = stamp
			}
			df = append(df[:len(df):len(df)], Column{Name: ts, Values: vals})
		}
	}
	keys.timestampField = ts
	w, err := e.rows(&keys, df)
	if err != nil {
		return WriteRequest{}, err
	}
	w.View = d.name
	w.Features = make([]string, len(d.outputs))
	for k, o := range d.outputs {
		w.Features[k] = o.Name
	}
	for r := range w.Rows {
		w.Rows[r].Values = make([][]byte, len(d.outputs))
		for k := range d.outputs {
			b, err := feast.MarshalValue(values[k][r])
			if err != nil {
				return WriteRequest{}, fmt.Errorf("on-demand feature view %q: encoding %s of row %d: %w", d.name, d.outputs[k].Name, r, err)
			}
			if b == nil {
				b = []byte{} // stored as the empty Value, as a null cell of a feature view
			}
			w.Rows[r].Values[k] = b
		}
	}
	return w, nil
}

// writeToOnlineStoreODFV handles /write-to-online-store of a write-time ODFV; handled is
// false when the name is not one.
func (fs *FeatureStore) writeToOnlineStoreODFV(ctx context.Context, env *writeEnv, req WriteToOnlineStoreRequest) (handled bool, err error) {
	if !env.cat.odfvs[req.FeatureViewName] {
		return false, nil
	}
	idx, err := fs.odfvIndex(ctx)
	if err != nil {
		return true, err
	}
	d := idx.defs[req.FeatureViewName]
	if d == nil {
		return false, nil
	}
	if !d.writeToOnline {
		return true, Requestf(Unprocessable, "feature_view_name",
			"%q is an on-demand feature view computed at request time; only on-demand feature views with write_to_online_store: true are stored online", d.name)
	}
	w, err := env.odfvWrite(ctx, d, req.DF, req.TransformOnWrite, fs.opts.Now())
	if err != nil {
		return true, err
	}
	if err := env.storeOf(d.store).Write(ctx, w); err != nil {
		return true, fmt.Errorf("writing %d rows to on-demand feature view %q: %w", len(w.Rows), d.name, err)
	}
	return true, nil
}

// pushODFVs prepares the writes of the write-time ODFVs that read a view fed by the push
// source (Feast computes them on push); the caller writes them after the push succeeded.
func (fs *FeatureStore) pushODFVs(ctx context.Context, env *writeEnv, req PushRequest) ([]WriteRequest, []*odfvDef, error) {
	if len(env.cat.odfvs) == 0 || req.To == PushOffline {
		return nil, nil, nil
	}
	idx, err := fs.odfvIndex(ctx)
	if err != nil {
		return nil, nil, err
	}
	defs := idx.pushODFVs[req.PushSourceName]
	var writes []WriteRequest
	for _, d := range defs {
		w, err := env.odfvWrite(ctx, d, req.DF, req.TransformOnWrite, fs.opts.Now())
		if err != nil {
			return nil, nil, fmt.Errorf("on-demand feature view %q (write_to_online_store, reads a view fed by push source %q): %w", d.name, req.PushSourceName, err)
		}
		writes = append(writes, w)
	}
	return writes, defs, nil
}

// ---- offline hook ----

// TransformBatch applies the on-demand feature view called odfv to a batch: the columns
// it reads (its source features and request fields, by bare name, of their declared
// types, spec §10.1) in, its features out, one row per input row. Large batches run in
// chunks. It is the hook historical retrieval uses to add ODFV columns to a training
// frame with the same module that serves online.
func (fs *FeatureStore) TransformBatch(ctx context.Context, odfv string, in *abi.Batch) (*abi.Batch, error) {
	idx, err := fs.odfvIndex(ctx)
	if err != nil {
		return nil, err
	}
	d := idx.defs[odfv]
	if d == nil {
		return nil, Requestf(NotFound, "odfv", "on-demand feature view %q not found in project %q", odfv, fs.cfg.Project)
	}
	if d.unsupported != "" {
		return nil, Requestf(Unprocessable, "odfv", "on-demand feature view %q cannot run: %s", odfv, d.unsupported)
	}
	batch := &abi.Batch{Rows: in.Rows, Columns: make([]abi.Column, 0, len(d.inputs))}
	var missing []string
	for _, inp := range d.inputs {
		c := in.Column(inp.name)
		switch {
		case c == nil:
			missing = append(missing, inp.name)
		case c.Type != inp.atype:
			return nil, Requestf(BadRequest, inp.name, "column %q is %s; on-demand feature view %q declares it %s", inp.name, c.Type, odfv, inp.atype)
		default:
			batch.Columns = append(batch.Columns, *c)
		}
	}
	if len(missing) > 0 {
		return nil, Requestf(BadRequest, "columns", "missing columns %s: on-demand feature view %q reads them", quoteList(missing), odfv)
	}
	return runODFV(ctx, d, batch)
}

// ODFVOutputs lists the features an on-demand feature view produces, with their types.
func (fs *FeatureStore) ODFVOutputs(ctx context.Context, odfv string) ([]OutputField, error) {
	idx, err := fs.odfvIndex(ctx)
	if err != nil {
		return nil, err
	}
	d := idx.defs[odfv]
	if d == nil {
		return nil, Requestf(NotFound, "odfv", "on-demand feature view %q not found in project %q", odfv, fs.cfg.Project)
	}
	return append([]OutputField(nil), d.outputs...), nil
}
