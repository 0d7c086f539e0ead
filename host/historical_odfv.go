package host

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/offlineengine"
)

// On-demand feature views in historical retrieval.
//
// A request that names ODFV outputs is planned as the plain features it asks for plus
// every source feature of its ODFVs (Feast's hidden reads), always with full feature names
// so that a hidden read can never collide with a requested column. Each joined batch the
// engine produces then goes through the ODFVs' transformations — the same loaded, pooled,
// limited modules that serve online — before it is written: the hidden reads are dropped,
// the requested plain features get the names the caller asked for, and the ODFV outputs
// are appended, typed by their declared schema. Request-source fields are columns of the
// entity rows, as in Feast's get_historical_features.

// histODFV is what the ODFVs of a historical request add to it: the transformations to
// run and how the planned columns become the result's.
type histODFV struct {
	wants     []*odfvWant
	fullNames bool // the caller's full_feature_names (the plan always uses full names)
	// regular maps the planned (full) name of each requested plain feature to its name in
	// the result; planned features not in it are hidden reads, dropped.
	regular map[string]string
}

// historicalGroups resolves the request's features into the read groups to plan and the
// full_feature_names the plan is made with. x is nil when the request names no on-demand
// feature view: then the groups are the request's own.
func (fs *FeatureStore) historicalGroups(ctx context.Context, cat *catalog, req HistoricalRequest) (groups []*readGroup, fullNames bool, x *histODFV, err error) {
	switch {
	case req.FeatureService != "" && len(req.Features) > 0:
		return nil, false, nil, Requestf(BadRequest, "features", "give features or a feature service, not both")
	case req.FeatureService == "" && len(req.Features) == 0:
		return nil, false, nil, Requestf(BadRequest, "features", "no features requested")
	}
	if !namesODFV(cat, req) {
		if req.FeatureService != "" {
			groups, err = cat.resolveService(req.FeatureService, offlineRead)
		} else {
			groups, err = cat.resolveRefs(req.Features, offlineRead)
		}
		return groups, req.FullFeatureNames, nil, err
	}
	idx, err := fs.odfvIndex(ctx)
	if err != nil {
		return nil, false, nil, err
	}
	x = &histODFV{fullNames: req.FullFeatureNames, regular: map[string]string{}}
	if req.FeatureService != "" {
		groups, err = x.resolveService(cat, idx, req.FeatureService)
	} else {
		groups, err = x.resolveRefs(cat, idx, req.Features)
	}
	if err != nil {
		return nil, false, nil, err
	}
	return groups, true, x, nil
}

// namesODFV tells whether the request's references or feature service name an ODFV.
func namesODFV(cat *catalog, req HistoricalRequest) bool {
	if len(cat.odfvs) == 0 {
		return false
	}
	if req.FeatureService != "" {
		if svc := cat.services[req.FeatureService]; svc != nil {
			for _, p := range svc.projections {
				if cat.odfvs[p.view] {
					return true
				}
			}
		}
		return false
	}
	for _, ref := range req.Features {
		if view, _, ok := odfvRef(ref); ok && cat.odfvs[view] {
			return true
		}
	}
	return false
}

// want records that an ODFV is computed under prefix. Offline, every ODFV is computed from
// its sources, write_to_online_store or not: the offline store holds no ODFV values.
func (x *histODFV) want(d *odfvDef, prefix, field string) (*odfvWant, error) {
	if d.unsupported != "" {
		return nil, Requestf(Unprocessable, field, "on-demand feature view %q cannot be computed: %s", d.name, d.unsupported)
	}
	for _, w := range x.wants {
		if w.def == d && w.prefix == prefix {
			return w, nil
		}
	}
	w := &odfvWant{def: d, prefix: prefix}
	x.wants = append(x.wants, w)
	return w, nil
}

func (x *histODFV) userName(prefix, feature string) string {
	if x.fullNames {
		return prefix + "__" + feature
	}
	return feature
}

// resolveRefs splits "view:feature" references into ODFV outputs and plain features and
// resolves the plain ones plus the hidden reads.
func (x *histODFV) resolveRefs(cat *catalog, idx *odfvIndex, refs []string) ([]*readGroup, error) {
	var inner []string
	var origin []int // inner[i] is refs[origin[i]], or a hidden read (-1)
	have := map[string]bool{}
	for i, ref := range refs {
		view, feature, ok := odfvRef(ref)
		d := idx.defs[view]
		if !ok || d == nil {
			inner = append(inner, ref)
			origin = append(origin, i)
			have[ref] = true
			if ok {
				x.regular[view+"__"+feature] = x.userName(view, feature)
			}
			continue
		}
		field := "features[" + strconv.Itoa(i) + "]"
		w, err := x.want(d, d.name, field)
		if err != nil {
			return nil, err
		}
		k, ok := d.index[feature]
		if !ok {
			return nil, Requestf(NotFound, field, "feature %q not found in on-demand feature view %q", feature, view)
		}
		if containsInt(w.outputs, k) {
			return nil, Requestf(BadRequest, field, "feature reference %q is requested twice", ref)
		}
		w.outputs = append(w.outputs, k)
	}
	for _, w := range x.wants {
		for _, s := range w.def.sources {
			for _, f := range s.features {
				if ref := s.view + ":" + f; !have[ref] {
					inner = append(inner, ref)
					origin = append(origin, -1)
					have[ref] = true
				}
			}
		}
	}
	groups, err := cat.resolveRefs(inner, offlineRead)
	if re, ok := AsRequestError(err); ok {
		// Point at the caller's reference, not at its position in the inner list.
		if j, perr := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(re.Field, "features["), "]")); perr == nil && j < len(origin) && origin[j] >= 0 {
			re.Field = "features[" + strconv.Itoa(origin[j]) + "]"
		}
	}
	return groups, err
}

// resolveService resolves a feature service whose projections include ODFVs: the plain
// projections as they are, each hidden read added to an unaliased projection of its view
// (or to one of its own).
func (x *histODFV) resolveService(cat *catalog, idx *odfvIndex, name string) ([]*readGroup, error) {
	svc := cat.services[name]
	plain := &serviceDef{name: svc.name}
	for _, p := range svc.projections {
		d := idx.defs[p.view]
		if d == nil {
			p.features = append([]string(nil), p.features...)
			plain.projections = append(plain.projections, p)
			continue
		}
		prefix := d.name
		if p.alias != "" {
			prefix = p.alias
		}
		w, err := x.want(d, prefix, "feature_service")
		if err != nil {
			return nil, err
		}
		if len(p.features) == 0 {
			for k := range d.outputs {
				if !containsInt(w.outputs, k) {
					w.outputs = append(w.outputs, k)
				}
			}
		}
		for _, f := range p.features {
			k, ok := d.index[f]
			if !ok {
				return nil, Requestf(Unprocessable, "feature_service",
					"feature service %q projects feature %q, which on-demand feature view %q does not have", svc.name, f, d.name)
			}
			if !containsInt(w.outputs, k) {
				w.outputs = append(w.outputs, k)
			}
		}
	}
	nameProjected(cat, plain.projections, x.regular, x.userName)
	addHiddenReads(plain, x.wants)
	if len(plain.projections) == 0 {
		return nil, nil
	}
	c := *cat
	c.services = map[string]*serviceDef{svc.name: plain}
	return c.resolveService(svc.name, offlineRead)
}

// ---- the stage ----

// odfvStage turns each joined batch into the result's: pass-through columns kept (or
// renamed), hidden reads dropped, ODFV outputs appended.
type odfvStage struct {
	cols []offlineengine.Column // the result's columns
	keep []int                  // planned column of each pass-through result column
	runs []odfvRun
	// rows counts the rows transformed so far, for messages.
	rows int64

	out   offlineengine.Batch
	store []any

	open func() error                     // opens the caller's output (deferOpen)
	next func(*offlineengine.Batch) error // the caller's write, once open
}

// odfvRun is one ODFV of the request: where its inputs are in a planned batch and which
// of its outputs the result has.
type odfvRun struct {
	want   *odfvWant
	inputs []int      // planned column of each of def.inputs
	from   []abi.Type // planned column types, in the same order
}

// stage checks the plan's columns against the request and prepares the transformation
// of its batches. entities are the entity rows' columns, which the plan returns first.
func (x *histODFV) stage(entities []PlanColumn, planned []offlineengine.Column) (*odfvStage, error) {
	if len(planned) < len(entities) {
		return nil, fmt.Errorf("the offline plugin's plan returns %d columns, fewer than the %d entity columns", len(planned), len(entities))
	}
	for i, e := range entities {
		if planned[i].Name != e.Name {
			return nil, fmt.Errorf("the offline plugin's plan returns column %q at position %d, where entity column %q belongs", planned[i].Name, i, e.Name)
		}
	}
	byName := make(map[string]int, len(planned))
	for i, c := range planned {
		byName[c.Name] = i
	}
	s := &odfvStage{}
	for i := range entities {
		s.keep = append(s.keep, i)
		s.cols = append(s.cols, planned[i])
	}
	for i := len(entities); i < len(planned); i++ {
		if name, ok := x.regular[planned[i].Name]; ok {
			s.keep = append(s.keep, i)
			s.cols = append(s.cols, offlineengine.Column{Name: name, Type: planned[i].Type})
		}
	}

	// Request data: every field of every ODFV, all missing ones reported at once.
	var missing []string
	for _, w := range x.wants {
		for _, inp := range w.def.inputs {
			if inp.view != "" {
				continue
			}
			if j, ok := byName[inp.name]; (!ok || j >= len(entities)) && !containsString(missing, inp.name) {
				missing = append(missing, inp.name)
			}
		}
	}
	if len(missing) > 0 {
		names := make([]string, len(entities))
		for i, e := range entities {
			names[i] = e.Name
		}
		return nil, Requestf(Unprocessable, "entities",
			"missing request data %s: the requested on-demand feature views read them from the entity rows, which have columns %s",
			quoteList(missing), quoteList(names))
	}

	for _, w := range x.wants {
		d := w.def
		r := odfvRun{want: w}
		for _, inp := range d.inputs {
			var j int
			var what string
			if inp.view != "" {
				var ok bool
				j, ok = byName[inp.view+"__"+inp.name]
				if !ok || j < len(entities) {
					return nil, fmt.Errorf("on-demand feature view %q: the offline plugin's plan has no column for source feature %s:%s", d.name, inp.view, inp.name)
				}
				what = "source feature " + inp.view + ":" + inp.name
			} else {
				j = byName[inp.name]
				what = "entity column " + strconv.Quote(inp.name)
			}
			if !convertible(planned[j].Type, inp.atype) {
				return nil, Requestf(Unprocessable, "entities", "on-demand feature view %q reads %q as %s, but the %s has type %s",
					d.name, inp.name, inp.atype, what, planned[j].Type)
			}
			r.inputs = append(r.inputs, j)
			r.from = append(r.from, planned[j].Type)
		}
		for _, k := range w.outputs {
			s.cols = append(s.cols, offlineengine.Column{Name: x.userName(w.prefix, d.outputs[k].Name), Type: d.outputs[k].Type})
		}
		s.runs = append(s.runs, r)
	}

	seen := make(map[string]bool, len(s.cols))
	var dup []string
	for _, c := range s.cols {
		if seen[c.Name] && !containsString(dup, c.Name) {
			dup = append(dup, c.Name)
		}
		seen[c.Name] = true
	}
	if len(dup) > 0 {
		hint := "set full_feature_names to true, or request features with different names"
		if x.fullNames {
			hint = "request each feature once, and rename entity columns that clash with feature names"
		}
		return nil, Requestf(BadRequest, "features", "duplicate column names %s in the result: %s", quoteList(dup), hint)
	}
	s.out.Schema = s.cols
	return s, nil
}

// convertible says whether values of a planned column can be an ODFV input of type to,
// by the widening online retrieval applies (appendFeastValue).
func convertible(from, to abi.Type) bool {
	if from == to {
		return true
	}
	num := func(t abi.Type) bool {
		return t == abi.TypeInt32 || t == abi.TypeInt64 || t == abi.TypeFloat || t == abi.TypeDouble
	}
	switch to {
	case abi.TypeDouble, abi.TypeFloat:
		return num(from)
	case abi.TypeInt64, abi.TypeInt32:
		return from == abi.TypeInt32 || from == abi.TypeInt64 // INT32 range-checked per value
	case abi.TypeDoubleList:
		return from == abi.TypeFloatList
	}
	return false
}

// deferOpen returns an open that hands the result's columns on only once the first batch
// is transformed (or at finish, for a result without rows): a transformation that fails on
// the first batch — a schema mismatch, a hostile plugin — fails the retrieval before
// anything is written, which over HTTP is a JSON error rather than a cut stream.
func (s *odfvStage) deferOpen(ctx context.Context, open func([]offlineengine.Column) (func(*offlineengine.Batch) error, error)) func([]offlineengine.Column) (func(*offlineengine.Batch) error, error) {
	return func(cols []offlineengine.Column) (func(*offlineengine.Batch) error, error) {
		s.open = func() error {
			next, err := open(cols)
			if err != nil {
				return err
			}
			s.next = next
			return nil
		}
		return func(b *offlineengine.Batch) error {
			out, err := s.apply(ctx, b)
			if err != nil {
				return err
			}
			if s.next == nil {
				if err := s.open(); err != nil {
					return err
				}
			}
			return s.next(out)
		}, nil
	}
}

// finish opens the output of a result without rows.
func (s *odfvStage) finish() error {
	if s.next != nil || s.open == nil {
		return nil
	}
	return s.open()
}

// apply transforms one batch. The returned batch is reused by the next call.
func (s *odfvStage) apply(ctx context.Context, b *offlineengine.Batch) (*offlineengine.Batch, error) {
	n := len(b.Rows)
	first := s.rows + 1
	s.rows += int64(n)
	outs := make([][]abi.Column, len(s.runs))
	for ri := range s.runs {
		r := &s.runs[ri]
		d := r.want.def
		in := &abi.Batch{Rows: n, Columns: make([]abi.Column, len(d.inputs))}
		for i, inp := range d.inputs {
			cb := abi.NewColumnBuilder(inp.name, inp.atype, n)
			j := r.inputs[i]
			for row := range b.Rows {
				if err := appendGoValue(cb, b.Rows[row][j]); err != nil {
					return nil, Requestf(Unprocessable, b.Schema[j].Name, "on-demand feature view %q: %s of result row %d: %v",
						d.name, b.Schema[j].Name, first+int64(row), err)
				}
			}
			in.Columns[i] = cb.Column()
		}
		res, err := runODFV(ctx, d, in)
		if err != nil {
			return nil, fmt.Errorf("result rows %d to %d: %w", first, s.rows, err)
		}
		outs[ri] = res.Columns
	}

	width := len(s.cols)
	if cap(s.store) < n*width {
		s.store = make([]any, n*width)
	}
	s.out.Rows = s.out.Rows[:0]
	s.out.Total = b.Total
	for row := 0; row < n; row++ {
		dst := s.store[row*width : (row+1)*width : (row+1)*width]
		src := b.Rows[row]
		c := 0
		for _, j := range s.keep {
			dst[c] = src[j]
			c++
		}
		for ri, r := range s.runs {
			for _, k := range r.want.outputs {
				dst[c] = goValueOfCell(&outs[ri][k], row)
				c++
			}
		}
		s.out.Rows = append(s.out.Rows, dst)
	}
	return &s.out, nil
}

// appendGoValue appends one engine value (offlineengine.Batch's Go types) to an ODFV
// input column, widening numbers as appendFeastValue does online.
func appendGoValue(cb *abi.ColumnBuilder, v any) error {
	if v == nil {
		cb.AppendNull()
		return nil
	}
	t := cb.Type()
	bad := func() error { return fmt.Errorf("a %T value cannot be passed as %s", v, t) }
	switch t {
	case abi.TypeDouble:
		switch x := v.(type) {
		case float64:
			cb.AppendFloat64(x)
		case float32:
			cb.AppendFloat64(float64(x))
		case int64:
			cb.AppendFloat64(float64(x))
		case int32:
			cb.AppendFloat64(float64(x))
		default:
			return bad()
		}
	case abi.TypeFloat:
		switch x := v.(type) {
		case float32:
			cb.AppendFloat32(x)
		case float64:
			cb.AppendFloat32(float32(x))
		case int64:
			cb.AppendFloat32(float32(x))
		case int32:
			cb.AppendFloat32(float32(x))
		default:
			return bad()
		}
	case abi.TypeInt64:
		switch x := v.(type) {
		case int64:
			cb.AppendInt64(x)
		case int32:
			cb.AppendInt64(int64(x))
		default:
			return bad()
		}
	case abi.TypeInt32:
		switch x := v.(type) {
		case int32:
			cb.AppendInt32(x)
		case int64:
			if x < math.MinInt32 || x > math.MaxInt32 {
				return fmt.Errorf("%d does not fit INT32", x)
			}
			cb.AppendInt32(int32(x))
		default:
			return bad()
		}
	case abi.TypeBool:
		x, ok := v.(bool)
		if !ok {
			return bad()
		}
		cb.AppendBool(x)
	case abi.TypeString:
		x, ok := v.(string)
		if !ok {
			return bad()
		}
		cb.AppendString(x)
	case abi.TypeBytes:
		x, ok := v.([]byte)
		if !ok {
			return bad()
		}
		cb.AppendBytes(x)
	case abi.TypeUnixTimestamp:
		x, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		cb.AppendTimestamp(x.UnixMicro())
	case abi.TypeStringList:
		x, ok := v.([]string)
		if !ok {
			return bad()
		}
		cb.AppendStringList(x)
	case abi.TypeBytesList:
		x, ok := v.([][]byte)
		if !ok {
			return bad()
		}
		cb.AppendBytesList(x)
	case abi.TypeInt32List:
		x, ok := v.([]int32)
		if !ok {
			return bad()
		}
		cb.AppendInt32List(x)
	case abi.TypeInt64List:
		x, ok := v.([]int64)
		if !ok {
			return bad()
		}
		cb.AppendInt64List(x)
	case abi.TypeFloatList:
		x, ok := v.([]float32)
		if !ok {
			return bad()
		}
		cb.AppendFloat32List(x)
	case abi.TypeDoubleList:
		switch x := v.(type) {
		case []float64:
			cb.AppendFloat64List(x)
		case []float32:
			cb.AppendFloat64List(listElems(0, len(x), func(i int) float64 { return float64(x[i]) }))
		default:
			return bad()
		}
	case abi.TypeBoolList:
		x, ok := v.([]bool)
		if !ok {
			return bad()
		}
		cb.AppendBoolList(x)
	case abi.TypeUnixTimestampList:
		x, ok := v.([]time.Time)
		if !ok {
			return bad()
		}
		cb.AppendTimestampList(listElems(0, len(x), func(i int) int64 { return x[i].UnixMicro() }))
	default:
		return bad()
	}
	return nil
}

// goValueOfCell converts row r of an ODFV output column (of its declared type, checked by
// the host) to the Go value offlineengine.Batch uses for the type; nil for null. Byte
// slices are copied: the output batch goes when the stage moves on.
func goValueOfCell(c *abi.Column, r int) any {
	if c.IsNull(r) {
		return nil
	}
	switch c.Type {
	case abi.TypeDouble:
		return c.Float64(r)
	case abi.TypeFloat:
		return c.Float32(r)
	case abi.TypeInt32:
		return c.Int32(r)
	case abi.TypeInt64:
		return c.Int64(r)
	case abi.TypeBool:
		return c.Bool(r)
	case abi.TypeString:
		return c.String(r)
	case abi.TypeBytes:
		return append([]byte(nil), c.Bytes(r)...)
	case abi.TypeUnixTimestamp:
		return time.UnixMicro(c.Timestamp(r)).UTC()
	}
	s, e := c.ListRange(r)
	switch c.Type {
	case abi.TypeStringList:
		return listElems(s, e, c.ElemString)
	case abi.TypeBytesList:
		return listElems(s, e, func(j int) []byte { return append([]byte(nil), c.ElemBytes(j)...) })
	case abi.TypeInt32List:
		return listElems(s, e, c.ElemInt32)
	case abi.TypeInt64List:
		return listElems(s, e, c.ElemInt64)
	case abi.TypeDoubleList:
		return listElems(s, e, c.ElemFloat64)
	case abi.TypeFloatList:
		return listElems(s, e, c.ElemFloat32)
	case abi.TypeBoolList:
		return listElems(s, e, c.ElemBool)
	case abi.TypeUnixTimestampList:
		return listElems(s, e, func(j int) time.Time { return time.UnixMicro(c.ElemInt64(j)).UTC() })
	}
	return nil
}
