package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/registry"
	"github.com/larder-dev/larder/host/repo"
)

// On-demand feature views (ODFVs) compiled to Wasm: how the serving paths find them.
//
// Per registry snapshot, odfvIndex turns every ODFV of the project into an odfvDef (its
// inputs and outputs typed for the transformation ABI, its module loaded) and extends the
// serving catalog with the write-time ODFVs (write_to_online_store), which are stored
// online under their own name and read like feature views. Modules are cached by sha256
// across snapshots, so a registry refresh that keeps a module does not reload it, and no
// request ever compiles or instantiates one.

// odfvChunkRows bounds one transformation call; larger batches (historical retrieval) are
// split, as spec §10.2 allows.
const odfvChunkRows = 8192

// odfvDef is one ODFV as serving sees it.
type odfvDef struct {
	name     string
	function string
	outputs  []OutputField
	outTypes []feast.ValueType // declared Feast types of outputs
	index    map[string]int    // output name → position

	// inputs are the transformation's input columns, in a fixed order: the source views'
	// features (as their projections list them), then the request fields.
	inputs  []odfvInput
	sources []odfvSource // feature-view sources

	writeToOnline bool
	// store is the view a write-time ODFV is stored and read under (nil otherwise).
	store *viewDef

	// unsupported says why the ODFV cannot be served (not a wasm ODFV, a type the ABI
	// cannot carry, a module that does not load); "" when it can.
	unsupported string
	// notOnline says why the ODFV cannot be served or written online while historical
	// retrieval can still compute it: a source view with online: false.
	notOnline string
	sha       string // the module's digest and bytes, as the registry holds them
	module    []byte
	mod       *WasmTransformation
}

// onlineProblem says why the ODFV cannot be served or written online; "" when it can.
func (d *odfvDef) onlineProblem() string {
	if d.unsupported != "" {
		return d.unsupported
	}
	return d.notOnline
}

// odfvInput is one input column: a source feature (view != "") or a request field.
type odfvInput struct {
	name  string
	view  string // source feature view; "" for a request field
	ftype feast.ValueType
	atype abi.Type
}

// odfvSource is a feature view an ODFV reads, with the features it reads.
type odfvSource struct {
	view     string
	features []string
}

// odfvIndex is the per-snapshot ODFV view of the registry.
type odfvIndex struct {
	defs map[string]*odfvDef
	// cat is the serving catalog plus the write-time ODFVs as views.
	cat *catalog
	// pushODFVs maps a push source to the write-time ODFVs that read a view it feeds.
	pushODFVs map[string][]*odfvDef
}

// onDemand returns the ODFV called name when it is computed at request time.
func (x *odfvIndex) onDemand(name string) (*odfvDef, bool) {
	d, ok := x.defs[name]
	return d, ok && !d.writeToOnline
}

// odfvIndex returns the snapshot's ODFV index, building it (and loading modules) once
// per registry version.
func (fs *FeatureStore) odfvIndex(ctx context.Context) (*odfvIndex, error) {
	snap, err := fs.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	cat, err := fs.servingCatalog(ctx)
	if err != nil {
		return nil, err
	}
	v, err := snap.derive("serving.odfv", func(reg *registry.Registry) (any, error) {
		x := buildODFVIndex(reg, fs.cfg.Project, cat)
		fs.odfvMods.load(context.WithoutCancel(ctx), fs, x)
		return x, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*odfvIndex), nil
}

// buildODFVIndex reads the project's ODFVs out of the registry (modules not loaded yet).
func buildODFVIndex(reg *registry.Registry, project string, base *catalog) *odfvIndex {
	x := &odfvIndex{defs: map[string]*odfvDef{}, pushODFVs: map[string][]*odfvDef{}}
	cat := *base
	cat.views = make(map[string]*viewDef, len(base.views)+4)
	for k, v := range base.views {
		cat.views[k] = v
	}
	x.cat = &cat
	for _, o := range reg.OnDemandFeatureViews {
		s := o.Spec
		if s == nil || s.Project != project {
			continue
		}
		d := odfvFromSpec(s, base)
		x.defs[d.name] = d
		if d.writeToOnline && d.store != nil {
			cat.views[d.name] = d.store
		}
	}
	// A push to a view feeds the write-time ODFVs that read it.
	for src, views := range base.pushViews {
		for _, d := range sortedDefs(x.defs) {
			if !d.writeToOnline || d.onlineProblem() != "" {
				continue
			}
			for _, s := range d.sources {
				if containsView(views, s.view) {
					x.pushODFVs[src] = append(x.pushODFVs[src], d)
					break
				}
			}
		}
	}
	return x
}

func sortedDefs(m map[string]*odfvDef) []*odfvDef {
	out := make([]*odfvDef, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func containsView(vs []*viewDef, name string) bool {
	for _, v := range vs {
		if v.name == name {
			return true
		}
	}
	return false
}

// abiTypeOf returns the LBF1 type that carries a Feast value type (the numbers agree,
// spec §5.3), or false for types the transformation ABI cannot carry (JSON, maps, sets…).
func abiTypeOf(vt feast.ValueType) (abi.Type, bool) {
	if vt >= feast.TypeBytes && vt <= feast.TypeUnixTimestampList && vt != 9 && vt != 10 {
		return abi.Type(vt), true
	}
	return 0, false
}

// odfvFromSpec builds an odfvDef; problems make it unsupported rather than failing the
// whole index, so one broken ODFV does not take the others down.
func odfvFromSpec(s *registry.OnDemandFeatureViewSpec, cat *catalog) *odfvDef {
	d := &odfvDef{name: s.Name, function: s.Name, index: map[string]int{}, writeToOnline: s.WriteToOnlineStore}
	fail := func(format string, args ...any) *odfvDef {
		if d.unsupported == "" {
			d.unsupported = fmt.Sprintf(format, args...)
		}
		return d
	}
	for _, f := range s.Features {
		t, ok := abiTypeOf(f.ValueType)
		if !ok {
			return fail("output %q has type %s, which a Wasm transformation cannot produce", f.Name, f.ValueType)
		}
		d.index[f.Name] = len(d.outputs)
		d.outputs = append(d.outputs, OutputField{Name: f.Name, Type: t})
		d.outTypes = append(d.outTypes, f.ValueType)
	}
	if len(d.outputs) == 0 {
		return fail("it declares no features")
	}
	var udf *registry.UserDefinedFunction
	if s.FeatureTransformation != nil {
		udf = s.FeatureTransformation.UserDefinedFunction
	}
	if udf == nil || udf.Mode != repo.ModeWasm {
		mode := s.Mode
		if udf != nil && udf.Mode != "" {
			mode = udf.Mode
		}
		// Not returning: the inputs are still worked out, for messages and tests.
		fail("its transformation is mode %q; Larder runs on-demand feature views compiled to Wasm (mode: wasm, built with sdk-go or sdk-rust; see docs/odfv.md)", mode)
	} else if w, body, err := repo.DecodeWasmUDF(udf); err != nil {
		fail("%v", err)
	} else {
		d.sha, d.module = w.SHA256, body
		if w.Function != "" {
			d.function = w.Function
		}
	}

	// Inputs: feature-view sources first (in name order: the registry keeps sources in a
	// map), then request fields.
	names := make([]string, 0, len(s.Sources))
	for n := range s.Sources {
		names = append(names, n)
	}
	sort.Strings(names)
	seen := map[string]string{}
	add := func(in odfvInput, from string) bool {
		if prev, dup := seen[in.name]; dup {
			fail("input %q comes from both %s and %s; rename one of them", in.name, prev, from)
			return false
		}
		t, ok := abiTypeOf(in.ftype)
		if !ok {
			fail("input %q (from %s) has type %s, which a Wasm transformation cannot receive", in.name, from, in.ftype)
			return false
		}
		in.atype = t
		seen[in.name] = from
		d.inputs = append(d.inputs, in)
		return true
	}
	var requests []*registry.DataSource
	for _, n := range names {
		src := s.Sources[n]
		switch {
		case src.FeatureViewProjection != nil || src.FeatureView != nil:
			view, cols := "", []*registry.FeatureSpec(nil)
			if p := src.FeatureViewProjection; p != nil {
				view, cols = p.FeatureViewName, p.FeatureColumns
			} else if fv := src.FeatureView; fv.Spec != nil {
				view, cols = fv.Spec.Name, fv.Spec.Features
			}
			v, ok := cat.views[view]
			if !ok {
				return fail("its source feature view %q does not exist in project %q", view, cat.project)
			}
			if !v.online && d.notOnline == "" {
				d.notOnline = fmt.Sprintf("its source feature view %q is not served online (online: false)", view)
			}
			if len(cols) == 0 {
				for _, f := range v.features {
					cols = append(cols, &registry.FeatureSpec{Name: f.name, ValueType: f.typ})
				}
			}
			vs := odfvSource{view: view}
			for _, c := range cols {
				if _, ok := v.index[c.Name]; !ok {
					return fail("it reads feature %q, which feature view %q does not have", c.Name, view)
				}
				if !add(odfvInput{name: c.Name, view: view, ftype: c.ValueType}, "feature view "+view) {
					return d
				}
				vs.features = append(vs.features, c.Name)
			}
			d.sources = append(d.sources, vs)
		case src.RequestDataSource != nil:
			requests = append(requests, src.RequestDataSource)
		}
	}
	for _, r := range requests {
		var fields []*registry.FeatureSpec
		if r.RequestDataOptions != nil {
			fields = r.RequestDataOptions.Schema
			if len(fields) == 0 {
				for n, t := range r.RequestDataOptions.DeprecatedSchema {
					fields = append(fields, &registry.FeatureSpec{Name: n, ValueType: t})
				}
				sort.Slice(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
			}
		}
		for _, f := range fields {
			if !add(odfvInput{name: f.Name, ftype: f.ValueType}, "request source "+r.Name) {
				return d
			}
		}
	}
	if len(d.inputs) == 0 {
		return fail("it has no sources")
	}
	if d.writeToOnline {
		d.store = odfvStoreView(s, d, cat)
	}
	return d
}

// odfvStoreView is the view a write-time ODFV is stored under: its outputs as features,
// its entity columns as join keys, the first source view's timestamp columns.
func odfvStoreView(s *registry.OnDemandFeatureViewSpec, d *odfvDef, cat *catalog) *viewDef {
	v := &viewDef{name: d.name, online: true, index: make(map[string]int, len(d.outputs))}
	for i, o := range d.outputs {
		v.index[o.Name] = i
		v.features = append(v.features, featureDef{name: o.Name, typ: d.outTypes[i]})
	}
	for _, ec := range s.EntityColumns {
		if ec.Name != dummyEntityJoinKey {
			v.entityColumns = append(v.entityColumns, featureDef{name: ec.Name, typ: ec.ValueType})
		}
	}
	for _, src := range d.sources {
		if sv := cat.views[src.view]; sv != nil {
			if len(s.EntityColumns) == 0 {
				v.entityColumns = append(v.entityColumns, sv.entityColumns...)
			}
			v.timestampField, v.createdTimestampColumn, v.fieldMapping = sv.timestampField, sv.createdTimestampColumn, sv.fieldMapping
			break
		}
	}
	return v
}

// ---- module cache ----

// odfvModules caches loaded transformation modules by sha256 for the life of the
// FeatureStore. A module no snapshot uses any more is closed after a grace period, so a
// request still running on the previous snapshot finishes with it.
type odfvModules struct {
	mu     sync.Mutex
	mods   map[string]*odfvModule
	closed bool
}

type odfvModule struct {
	x   *WasmTransformation
	gen uint64 // index generation that last used it
}

// odfvModuleGrace is how long an unused module stays open after a registry refresh.
const odfvModuleGrace = 30 * time.Second

var odfvGen struct {
	sync.Mutex
	n uint64
}

// load loads (or reuses) the module of every servable ODFV of x and records a load
// failure as the ODFV's reason for being unsupported.
func (m *odfvModules) load(ctx context.Context, fs *FeatureStore, x *odfvIndex) {
	odfvGen.Lock()
	odfvGen.n++
	gen := odfvGen.n
	odfvGen.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		for _, d := range x.defs {
			if d.unsupported == "" {
				d.unsupported = "the feature store is closed"
			}
		}
		return
	}
	if m.mods == nil {
		m.mods = map[string]*odfvModule{}
	}
	for _, d := range sortedDefs(x.defs) {
		if d.unsupported != "" {
			continue
		}
		sha, body := d.sha, d.module
		e := m.mods[sha]
		if e == nil {
			x, err := fs.loadODFVModule(ctx, d.name, sha, body)
			if err != nil {
				// Not cached: the next registry version tries again.
				fs.log.Warn("loading an on-demand feature view's module", slog.String("odfv", d.name), slog.String("error", err.Error()))
				d.unsupported = fmt.Sprintf("its module does not load: %v", err)
				continue
			}
			e = &odfvModule{x: x}
			m.mods[sha] = e
		}
		e.gen = gen
		d.mod = e.x
	}
	// Modules the newest index does not use are closed after the grace period, unless a
	// later index uses them again.
	for sha, e := range m.mods {
		if e.gen == gen {
			continue
		}
		sha, stale := sha, e.gen
		time.AfterFunc(odfvModuleGrace, func() {
			m.mu.Lock()
			cur := m.mods[sha]
			if cur == nil || cur.gen != stale || m.closed {
				m.mu.Unlock()
				return
			}
			delete(m.mods, sha)
			m.mu.Unlock()
			cur.x.Close(context.Background())
		})
	}
}

// close closes every module; later loads mark ODFVs unsupported.
func (m *odfvModules) close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var errs []error
	for _, e := range m.mods {
		if e.x != nil {
			errs = append(errs, e.x.Close(ctx))
		}
	}
	m.mods = nil
	return errors.Join(errs...)
}

// loadODFVModule writes the module (stored in the registry) to a content-addressed file
// and loads it as a transformation, pinned to its digest.
func (fs *FeatureStore) loadODFVModule(ctx context.Context, odfv, sha string, body []byte) (*WasmTransformation, error) {
	dir := fs.opts.CacheDir
	switch dir {
	case "":
		dir = DefaultCacheDir()
	case "-":
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "larder-odfv-modules")
	path := filepath.Join(dir, sha+".wasm")
	if got, err := fileDigest(path); err != nil || got != sha {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("on-demand feature view %s: %w", odfv, err)
		}
		tmp, err := os.CreateTemp(dir, sha+".*.tmp")
		if err != nil {
			return nil, fmt.Errorf("on-demand feature view %s: %w", odfv, err)
		}
		_, werr := tmp.Write(body)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			return nil, fmt.Errorf("on-demand feature view %s: writing its module: %w", odfv, err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			return nil, fmt.Errorf("on-demand feature view %s: %w", odfv, err)
		}
	}
	x, err := LoadTransformation(ctx, PluginConfig{Path: path, SHA256: sha, CacheDir: fs.opts.CacheDir, Logger: fs.log})
	if err != nil {
		return nil, fmt.Errorf("on-demand feature view %s: %w", odfv, err)
	}
	return x, nil
}

func fileDigest(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// ---- values between Feast and LBF1 ----

// appendFeastValue appends v to a column of the ODFV input's type, widening numbers the
// way Feast's pandas arithmetic would (an INT64 value into a DOUBLE input, say).
func appendFeastValue(cb *abi.ColumnBuilder, v feast.Value) error {
	if v.IsNull() {
		cb.AppendNull()
		return nil
	}
	t := cb.Type()
	bad := func() error { return fmt.Errorf("a %s value cannot be passed as %s", v.Type, t) }
	isInt := v.Type == feast.TypeInt32 || v.Type == feast.TypeInt64
	isFloat := v.Type == feast.TypeFloat || v.Type == feast.TypeDouble
	switch t {
	case abi.TypeDouble:
		switch {
		case isFloat:
			cb.AppendFloat64(v.Float)
		case isInt:
			cb.AppendFloat64(float64(v.Int))
		default:
			return bad()
		}
	case abi.TypeFloat:
		switch {
		case isFloat:
			cb.AppendFloat32(float32(v.Float))
		case isInt:
			cb.AppendFloat32(float32(v.Int))
		default:
			return bad()
		}
	case abi.TypeInt64:
		if !isInt {
			return bad()
		}
		cb.AppendInt64(v.Int)
	case abi.TypeInt32:
		if !isInt || v.Int < math.MinInt32 || v.Int > math.MaxInt32 {
			return bad()
		}
		cb.AppendInt32(int32(v.Int))
	case abi.TypeBool:
		if v.Type != feast.TypeBool {
			return bad()
		}
		cb.AppendBool(v.Bool)
	case abi.TypeString:
		if v.Type != feast.TypeString {
			return bad()
		}
		cb.AppendString(v.Str)
	case abi.TypeBytes:
		if v.Type != feast.TypeBytes && v.Type != feast.TypePDFBytes && v.Type != feast.TypeImageBytes {
			return bad()
		}
		cb.AppendBytes(v.Bytes)
	case abi.TypeUnixTimestamp:
		if v.Type != feast.TypeUnixTimestamp {
			return bad()
		}
		cb.AppendTimestamp(v.Int * 1_000_000)
	case abi.TypeStringList:
		if v.Type != feast.TypeStringList {
			return bad()
		}
		cb.AppendStringList(v.StringList)
	case abi.TypeBytesList:
		if v.Type != feast.TypeBytesList {
			return bad()
		}
		cb.AppendBytesList(v.BytesList)
	case abi.TypeInt32List:
		if v.Type != feast.TypeInt32List {
			return bad()
		}
		cb.AppendInt32List(v.Int32List)
	case abi.TypeInt64List:
		if v.Type != feast.TypeInt64List {
			return bad()
		}
		cb.AppendInt64List(v.Int64List)
	case abi.TypeDoubleList:
		switch v.Type {
		case feast.TypeDoubleList:
			cb.AppendFloat64List(v.DoubleList)
		case feast.TypeFloatList:
			l := make([]float64, len(v.FloatList))
			for i, f := range v.FloatList {
				l[i] = float64(f)
			}
			cb.AppendFloat64List(l)
		default:
			return bad()
		}
	case abi.TypeFloatList:
		if v.Type != feast.TypeFloatList {
			return bad()
		}
		cb.AppendFloat32List(v.FloatList)
	case abi.TypeBoolList:
		if v.Type != feast.TypeBoolList {
			return bad()
		}
		cb.AppendBoolList(v.BoolList)
	case abi.TypeUnixTimestampList:
		if v.Type != feast.TypeUnixTimestampList {
			return bad()
		}
		l := make([]int64, len(v.Int64List))
		for i, s := range v.Int64List {
			l[i] = s * 1_000_000
		}
		cb.AppendTimestampList(l)
	default:
		return bad()
	}
	return nil
}

// valueOfCell converts row r of an output column (of the declared type, checked by the
// host) to a Feast Value; null is the empty Value, which Feast's JSON renders as null.
// Slices are copied: the Value outlives the batch.
func valueOfCell(c *abi.Column, r int) feast.Value {
	if c.IsNull(r) {
		return feast.Value{}
	}
	switch c.Type {
	case abi.TypeDouble:
		return feast.DoubleValue(c.Float64(r))
	case abi.TypeFloat:
		return feast.FloatValue(c.Float32(r))
	case abi.TypeInt32:
		return feast.Int32Value(c.Int32(r))
	case abi.TypeInt64:
		return feast.Int64Value(c.Int64(r))
	case abi.TypeBool:
		return feast.BoolValue(c.Bool(r))
	case abi.TypeString:
		return feast.StringValue(string(c.Bytes(r)))
	case abi.TypeBytes:
		return feast.BytesValue(append([]byte(nil), c.Bytes(r)...))
	case abi.TypeUnixTimestamp:
		return feast.UnixTimestampValue(floorDiv(c.Timestamp(r), 1_000_000))
	}
	s, e := c.ListRange(r)
	switch c.Type {
	case abi.TypeStringList:
		return feast.StringListValue(listElems(s, e, c.ElemString))
	case abi.TypeBytesList:
		return feast.BytesListValue(listElems(s, e, func(j int) []byte { return append([]byte(nil), c.ElemBytes(j)...) }))
	case abi.TypeInt32List:
		return feast.Int32ListValue(listElems(s, e, c.ElemInt32))
	case abi.TypeInt64List:
		return feast.Int64ListValue(listElems(s, e, c.ElemInt64))
	case abi.TypeUnixTimestampList:
		return feast.UnixTimestampListValue(listElems(s, e, func(j int) int64 { return floorDiv(c.ElemInt64(j), 1_000_000) }))
	case abi.TypeDoubleList:
		return feast.DoubleListValue(listElems(s, e, c.ElemFloat64))
	case abi.TypeFloatList:
		return feast.FloatListValue(listElems(s, e, c.ElemFloat32))
	case abi.TypeBoolList:
		return feast.BoolListValue(listElems(s, e, c.ElemBool))
	}
	return feast.Value{}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// odfvRef splits "view:feature"; ok is false for anything else.
func odfvRef(ref string) (view, feature string, ok bool) {
	view, feature, ok = strings.Cut(ref, ":")
	return view, feature, ok && view != "" && feature != "" && !strings.Contains(feature, ":")
}

// listElems collects list elements [s, e) of a column, each read by elem.
func listElems[T any](s, e int, elem func(int) T) []T {
	l := make([]T, 0, e-s)
	for j := s; j < e; j++ {
		l = append(l, elem(j))
	}
	return l
}
