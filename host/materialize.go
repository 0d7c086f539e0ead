package host

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/offlineengine"
	"github.com/larder-dev/larder/host/registry"
	"github.com/larder-dev/larder/host/repo"
)

// MaterializeRequest loads, for every selected feature view, the latest value per entity
// with an event timestamp in [Start, End) from the offline store into the online store.
type MaterializeRequest struct {
	Start, End time.Time
	// FeatureViews selects views by name; nil means every online feature view with a
	// batch source.
	FeatureViews []string
	// Progress, when set, receives a progress report: a bar redrawn in place on a
	// terminal, plain lines otherwise.
	Progress io.Writer
}

// MaterializeIncrementalRequest materializes each selected view from where its last
// materialization ended (or now − ttl, or the Unix epoch for a view without ttl, when it
// has none) up to End.
type MaterializeIncrementalRequest struct {
	End          time.Time
	FeatureViews []string
	Progress     io.Writer
}

// materializeBatchRows is the number of rows per online-store write.
const materializeBatchRows = 4096

// Materialize runs a materialization over one window for every selected view, recording
// the window in each view's materialization intervals (as Feast does) once the view's
// rows are written.
func (fs *FeatureStore) Materialize(ctx context.Context, req MaterializeRequest) error {
	if !req.Start.Before(req.End) {
		return Requestf(BadRequest, "start", "start (%s) must be before end (%s)", fmtTime(req.Start), fmtTime(req.End))
	}
	views, err := fs.materializableViews(req.FeatureViews)
	if err != nil {
		return err
	}
	windows := make([]window, len(views))
	for i := range views {
		windows[i] = window{req.Start.UTC(), req.End.UTC()}
	}
	p := newProgress(req.Progress)
	p.printf("Materializing %d feature %s from %s to %s into the %s online store.\n\n",
		len(views), plural(len(views), "view", "views"), fmtTime(req.Start), fmtTime(req.End), fs.onlineStoreName())
	return fs.materialize(ctx, views, windows, p)
}

// MaterializeIncremental materializes each selected view from the end of its latest
// materialization interval up to End.
func (fs *FeatureStore) MaterializeIncremental(ctx context.Context, req MaterializeIncrementalRequest) error {
	views, err := fs.materializableViews(req.FeatureViews)
	if err != nil {
		return err
	}
	end := req.End.UTC()
	now := fs.opts.Now().UTC()
	windows := make([]window, len(views))
	for i, v := range views {
		switch {
		case !v.lastEnd.IsZero():
			windows[i].start = v.lastEnd
		case v.ttl > 0:
			windows[i].start = now.Add(-v.ttl)
		default:
			// No ttl: every value ever written is still valid, so load all history.
			windows[i].start = time.Unix(0, 0).UTC()
		}
		windows[i].end = end
	}
	p := newProgress(req.Progress)
	p.printf("Materializing %d feature %s to %s into the %s online store.\n\n",
		len(views), plural(len(views), "view", "views"), fmtTime(end), fs.onlineStoreName())
	return fs.materialize(ctx, views, windows, p)
}

type window struct{ start, end time.Time }

func (fs *FeatureStore) materialize(ctx context.Context, views []*matView, windows []window, p *progress) error {
	if len(views) == 0 {
		return nil
	}
	online, err := fs.onlineStore(ctx)
	if err != nil {
		return err
	}
	offline, err := fs.offlineStore(ctx)
	if err != nil {
		return err
	}
	for i, v := range views {
		w := windows[i]
		if !w.start.Before(w.end) {
			p.printf("%s: already materialized up to %s, nothing to do.\n", v.name, fmtTime(w.start))
			continue
		}
		p.printf("%s from %s to %s:\n", v.name, fmtTime(w.start), fmtTime(w.end))
		n, err := fs.materializeView(ctx, online, offline, v, w, p)
		if err != nil {
			p.abort()
			return fmt.Errorf("materializing feature view %s: %w", v.name, err)
		}
		if err := fs.recordInterval(v.name, w); err != nil {
			return fmt.Errorf("materializing feature view %s: %d rows written, but recording the interval failed: %w", v.name, n, err)
		}
	}
	return nil
}

// materializeView streams the view's pull-latest result into the online store and
// returns the number of rows written. Converting a batch (Feast Values, entity keys) and
// writing the previous one overlap: the engine's callback converts into one of two
// buffers while a second goroutine writes the other, so neither waits for the other.
func (fs *FeatureStore) materializeView(ctx context.Context, online OnlineStore, offline OfflineStore, v *matView, w window, p *progress) (int64, error) {
	const buffers = 2
	free := make(chan *rowWriter, buffers)
	for i := 0; i < buffers; i++ {
		rw, err := newRowWriter(v, fs.cfg.Project, fs.keyVersion())
		if err != nil {
			return 0, err
		}
		free <- rw
	}
	type job struct {
		req   WriteRequest
		rw    *rowWriter
		total int64
	}
	jobs := make(chan job)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	p.start()

	var written int64
	writerDone := make(chan error, 1)
	go func() {
		var err error
		for j := range jobs {
			if err == nil {
				if err = online.Write(ctx, j.req); err != nil {
					err = fmt.Errorf("writing %d rows to the online store: %w", len(j.req.Rows), err)
					cancel(err) // stops the engine too
				} else {
					written += int64(len(j.req.Rows))
					p.update(written, j.total, time.Since(start))
				}
			}
			free <- j.rw
		}
		writerDone <- err
	}()

	opts := fs.engineOptions(offlineengine.Options{BatchSize: materializeBatchRows, CountRows: p.tty})
	_, _, err := pullLatest(ctx, offline, v.pullRequest(fs.cfg.Project, w.start, w.end), opts, func(b *offlineengine.Batch) error {
		var rw *rowWriter
		select {
		case rw = <-free:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		req, err := rw.request(b)
		if err != nil {
			free <- rw
			return err
		}
		select {
		case jobs <- job{req, rw, b.Total}:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(jobs)
	werr := <-writerDone
	if werr != nil {
		return written, werr // the root cause; err is then its echo from the engine
	}
	if err != nil {
		return written, err
	}
	p.done(written, time.Since(start))
	return written, nil
}

// recordInterval appends w to the view's materialization intervals in the registry.
func (fs *FeatureStore) recordInterval(view string, w window) error {
	fs.writeMu.Lock()
	defer fs.writeMu.Unlock()
	reg, missing, err := fs.loadForUpdate()
	if err != nil {
		return err
	}
	if missing {
		return fmt.Errorf("registry %s disappeared", fs.regStore.Path())
	}
	for _, fv := range reg.FeatureViews {
		if fv.Spec == nil || fv.Spec.Project != fs.cfg.Project || fv.Spec.Name != view {
			continue
		}
		if fv.Meta == nil {
			fv.Meta = &registry.FeatureViewMeta{}
		}
		s, e := feast.TimestampOf(w.start), feast.TimestampOf(w.end)
		fv.Meta.MaterializationIntervals = append(fv.Meta.MaterializationIntervals,
			&registry.MaterializationInterval{StartTime: &s, EndTime: &e})
		return fs.saveRegistry(reg)
	}
	// The view was deleted by an apply while it was being materialized: nothing to record.
	return nil
}

// materializableViews resolves the selection against the registry as it is on disk now
// (not the cache: a CLI run must see the latest apply).
func (fs *FeatureStore) materializableViews(names []string) ([]*matView, error) {
	reg, missing, err := fs.loadForUpdate()
	if err != nil {
		return nil, err
	}
	if missing {
		return nil, Requestf(Unprocessable, "", "registry %s does not exist yet: run `larder apply` first", fs.regStore.Path())
	}
	byName := map[string]*registry.FeatureView{}
	var all []*registry.FeatureView
	for _, fv := range reg.FeatureViews {
		if fv.Spec != nil && fv.Spec.Project == fs.cfg.Project {
			byName[fv.Spec.Name] = fv
			all = append(all, fv)
		}
	}
	var out []*matView
	if names == nil {
		for _, fv := range all {
			if !fv.Spec.Online || fv.Spec.BatchSource == nil {
				continue // nothing to load, or nowhere to load it into
			}
			v, err := fs.matViewOf(reg, fv)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	seen := map[string]bool{}
	for i, n := range names {
		field := "feature_views[" + strconv.Itoa(i) + "]"
		fv := byName[n]
		if fv == nil {
			return nil, Requestf(NotFound, field, "feature view %q is not in the registry of project %s", n, fs.cfg.Project)
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		if !fv.Spec.Online {
			return nil, Requestf(Unprocessable, field, "feature view %q is not online (online: false): there is nothing to materialize it into", n)
		}
		if fv.Spec.BatchSource == nil {
			return nil, Requestf(Unprocessable, field, "feature view %q has no batch source to materialize from", n)
		}
		v, err := fs.matViewOf(reg, fv)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// matViewOf extracts what materialization needs from a registry feature view.
func (fs *FeatureStore) matViewOf(reg *registry.Registry, fv *registry.FeatureView) (*matView, error) {
	s := fv.Spec
	v := &matView{name: s.Name, ttl: s.TTL.Std()}
	src := s.BatchSource
	pg, isPG, err := postgresSource(src)
	if isPG {
		if err != nil {
			return nil, Requestf(Unprocessable, "feature view "+s.Name, "batch source %q: %v", src.Name, err)
		}
		v.source = pg
	} else if src.Type != registry.SourceBatchFile || src.FileOptions == nil || src.FileOptions.URI == "" {
		return nil, Requestf(Unprocessable, "feature view "+s.Name,
			"batch source %q is a %s source; this build reads file and PostgreSQL sources only", src.Name, src.Type)
	}
	if !isPG {
		path, err := fs.sourcePath(src.FileOptions.URI)
		if err != nil {
			return nil, Requestf(Unprocessable, "feature view "+s.Name, "batch source %q: %v", src.Name, err)
		}
		format := "parquet"
		if strings.EqualFold(filepath.Ext(path), ".csv") {
			format = "csv"
		}
		v.source = OfflineSource{Name: src.Name, Path: path, FileFormat: format, TimestampField: src.TimestampField,
			CreatedTimestampColumn: src.CreatedTimestampColumn, FieldMapping: src.FieldMapping}
	}
	for _, k := range viewKeyColumns(reg, s) {
		c, err := newMatColumn("join key", k.Name, k.ValueType)
		if err != nil {
			return nil, Requestf(Unprocessable, "feature view "+s.Name, "%v", err)
		}
		v.keys = append(v.keys, c)
	}
	for _, f := range s.Features {
		c, err := newMatColumn("feature", f.Name, f.ValueType)
		if err != nil {
			return nil, Requestf(Unprocessable, "feature view "+s.Name, "%v", err)
		}
		v.features = append(v.features, c)
	}
	if fv.Meta != nil {
		for _, iv := range fv.Meta.MaterializationIntervals {
			if iv.EndTime != nil {
				if t := iv.EndTime.Time(); t.After(v.lastEnd) {
					v.lastEnd = t.UTC()
				}
			}
		}
	}
	return v, nil
}

// viewKeyColumns returns a view's join-key columns with their types: entity_columns, or
// for registries without them the entities' join keys and value types. Entity-less
// views have none.
func viewKeyColumns(reg *registry.Registry, s *registry.FeatureViewSpec) []*registry.FeatureSpec {
	if len(s.Entities) == 1 && s.Entities[0] == repo.DummyEntityName {
		return nil
	}
	if len(s.EntityColumns) > 0 {
		var out []*registry.FeatureSpec
		for _, c := range s.EntityColumns {
			if c.Name != repo.DummyEntityJoinKey {
				out = append(out, c)
			}
		}
		return out
	}
	var out []*registry.FeatureSpec
	for _, name := range s.Entities {
		for _, e := range reg.Entities {
			if e.Spec != nil && e.Spec.Name == name && e.Spec.Project == s.Project {
				out = append(out, &registry.FeatureSpec{Name: e.Spec.JoinKey, ValueType: e.Spec.ValueType})
			}
		}
	}
	return out
}

// sourcePath resolves a file source URI: relative paths are relative to the repo (as in
// Feast), file:// URIs are local paths, object-store URIs are not readable yet.
func (fs *FeatureStore) sourcePath(uri string) (string, error) {
	if rest, ok := strings.CutPrefix(uri, "file://"); ok {
		uri = rest
	} else if strings.Contains(uri, "://") {
		return "", fmt.Errorf("path %q: only local files are supported yet", uri)
	}
	if !filepath.IsAbs(uri) {
		uri = filepath.Join(fs.cfg.RepoDir, uri)
	}
	return filepath.Clean(uri), nil
}

func (fs *FeatureStore) onlineStoreName() string {
	if s := fs.cfg.OnlineStore; s != nil {
		if s.Plugin != "" {
			return s.Type
		}
		return filepath.Base(s.Module)
	}
	return "(none)"
}

// ---- progress ----

// progress reports materialization progress: on a terminal a bar redrawn in place, like
// Feast's tqdm bar; otherwise plain lines, one per 10% and one when a view is done.
type progress struct {
	w        io.Writer
	tty      bool
	lastTick int // last 10% step printed (plain mode)
	drawn    bool
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, tty: isTerminal(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

func (p *progress) printf(format string, args ...any) { fmt.Fprintf(p.w, format, args...) }

func (p *progress) start() { p.lastTick, p.drawn = 0, false }

func (p *progress) update(done, total int64, elapsed time.Duration) {
	if p.tty {
		p.bar(done, total, elapsed)
		return
	}
	if total <= 0 {
		return
	}
	if tick := int(done * 10 / total); tick > p.lastTick && done < total {
		p.lastTick = tick
		p.printf("  %d%% (%d/%d rows)\n", tick*10, done, total)
	}
}

func (p *progress) done(rows int64, elapsed time.Duration) {
	if p.tty {
		p.bar(rows, rows, elapsed)
		p.printf("\n")
		return
	}
	p.printf("  100%% (%d rows in %s)\n", rows, elapsed.Round(time.Millisecond))
}

// abort ends a bar left half drawn, so the error that follows starts on its own line.
func (p *progress) abort() {
	if p.tty && p.drawn {
		p.printf("\n")
	}
}

func (p *progress) bar(done, total int64, elapsed time.Duration) {
	const width = 40
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	fill := int(frac * width)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	totalText := "?"
	if total >= 0 {
		totalText = strconv.FormatInt(total, 10)
	}
	p.printf("\r%3d%%|%s%s| %d/%s [%s, %.0f rows/s]", int(frac*100), strings.Repeat("█", fill),
		strings.Repeat(" ", width-fill), done, totalText, elapsed.Round(time.Millisecond), rate)
	p.drawn = true
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ---- rows ----

// matColumn is a join key or feature of a view being materialized, with its Feast type
// and the ABI type the offline plan reads it as.
type matColumn struct {
	name  string
	typ   feast.ValueType
	plain abi.Type
}

// matView is one feature view as materialization needs it, extracted from the registry.
type matView struct {
	name     string
	keys     []matColumn // entity columns; empty for an entity-less view
	features []matColumn
	source   OfflineSource
	ttl      time.Duration
	lastEnd  time.Time // end of the latest materialization interval; zero = never materialized
}

// planType is the ABI type an offline plan reads a Feast type as: the type itself for
// the primitive and list types, its textual or list form for the types Feast stores as
// strings or repeated values (JSON, UUID, DECIMAL, sets), and an error for the nested
// types (MAP, STRUCT, VALUE_LIST) that files cannot hold as plain columns.
func planType(t feast.ValueType) (abi.Type, error) {
	switch t {
	case feast.TypeBytes, feast.TypeString, feast.TypeInt32, feast.TypeInt64, feast.TypeDouble,
		feast.TypeFloat, feast.TypeBool, feast.TypeUnixTimestamp, feast.TypeBytesList,
		feast.TypeStringList, feast.TypeInt32List, feast.TypeInt64List, feast.TypeDoubleList,
		feast.TypeFloatList, feast.TypeBoolList, feast.TypeUnixTimestampList:
		return abi.Type(t), nil
	case feast.TypePDFBytes, feast.TypeImageBytes:
		return abi.TypeBytes, nil
	case feast.TypeJSON, feast.TypeUUID, feast.TypeTimeUUID, feast.TypeDecimal:
		return abi.TypeString, nil
	case feast.TypeJSONList, feast.TypeUUIDList, feast.TypeTimeUUIDList, feast.TypeDecimalList,
		feast.TypeUUIDSet, feast.TypeTimeUUIDSet, feast.TypeDecimalSet:
		return abi.TypeStringList, nil
	}
	if t.IsSet() {
		if e, ok := t.Elem(); ok {
			if l, ok := e.ListOf(); ok {
				return planType(l)
			}
		}
	}
	return 0, fmt.Errorf("type %s cannot be materialized from a file source", t)
}

func newMatColumn(what, name string, t feast.ValueType) (matColumn, error) {
	p, err := planType(t)
	if err != nil {
		return matColumn{}, fmt.Errorf("%s %q: %w", what, name, err)
	}
	return matColumn{name: name, typ: t, plain: p}, nil
}

// pullRequest is the offline request that materializes v over [start, end).
func (v *matView) pullRequest(project string, start, end time.Time) PullLatestRequest {
	r := PullLatestRequest{Project: project, View: v.name, Source: v.source, Start: start, End: end}
	for _, k := range v.keys {
		r.JoinKeys = append(r.JoinKeys, PlanColumn{Name: k.name, Type: k.plain})
	}
	for _, f := range v.features {
		r.FeatureColumns = append(r.FeatureColumns, PlanColumn{Name: f.name, Type: f.plain})
	}
	return r
}

// rowWriter turns result batches of a pull-latest plan (join keys, __event_ts,
// __created_ts, features; spec §9.3) into online-store write requests.
type rowWriter struct {
	v          *matView
	project    string
	keyVersion int
	dummy      []byte // the entity key of an entity-less view
	keyVals    []feast.Value
	joinKeys   []string
	featNames  []string
	buf        []byte // backing store of the batch's serialized keys and values
}

func newRowWriter(v *matView, project string, keyVersion int) (*rowWriter, error) {
	w := &rowWriter{v: v, project: project, keyVersion: keyVersion, keyVals: make([]feast.Value, len(v.keys))}
	for _, k := range v.keys {
		w.joinKeys = append(w.joinKeys, k.name)
	}
	for _, f := range v.features {
		w.featNames = append(w.featNames, f.name)
	}
	if len(v.keys) == 0 {
		k, err := dummyKey(keyVersion)
		if err != nil {
			return nil, err
		}
		w.dummy = k
	}
	return w, nil
}

// request converts one batch. The returned request aliases w's buffers: it is valid until
// the next call.
func (w *rowWriter) request(b *offlineengine.Batch) (WriteRequest, error) {
	nk := len(w.v.keys)
	if len(b.Schema) != nk+2+len(w.v.features) {
		return WriteRequest{}, fmt.Errorf("the plan returns %d columns, materialization expects %d", len(b.Schema), nk+2+len(w.v.features))
	}
	req := WriteRequest{Project: w.project, View: w.v.name, Features: w.featNames, Rows: make([]WriteRow, len(b.Rows))}
	w.buf = w.buf[:0]
	type span struct{ start, end int }
	spans := make([]span, 0, len(b.Rows)*(1+len(w.v.features)))
	for i, r := range b.Rows {
		if len(w.v.keys) > 0 {
			for j, k := range w.v.keys {
				val, err := toValue(r[j], k.typ)
				if err != nil {
					return WriteRequest{}, fmt.Errorf("join key %q: %w", k.name, err)
				}
				if val.IsNull() {
					return WriteRequest{}, fmt.Errorf("join key %q is null in a result row", k.name)
				}
				w.keyVals[j] = val
			}
			start := len(w.buf)
			var err error
			if w.buf, err = feast.AppendEntityKey(w.buf, w.joinKeys, w.keyVals, w.keyVersion); err != nil {
				return WriteRequest{}, err
			}
			spans = append(spans, span{start, len(w.buf)})
		}
		ev, ok := r[nk].(time.Time)
		if !ok {
			return WriteRequest{}, fmt.Errorf("row without an event timestamp (%T)", r[nk])
		}
		row := WriteRow{EventTS: ev, Values: make([][]byte, len(w.v.features))}
		if c, ok := r[nk+1].(time.Time); ok {
			row.CreatedTS = c
		}
		for j, f := range w.v.features {
			val, err := toValue(r[nk+2+j], f.typ)
			if err != nil {
				return WriteRequest{}, fmt.Errorf("feature %q: %w", f.name, err)
			}
			start := len(w.buf)
			// A null source value is written as Feast writes it: an empty Value, which
			// replaces whatever the store held.
			if !val.IsNull() {
				if w.buf, err = feast.AppendValue(w.buf, val); err != nil {
					return WriteRequest{}, fmt.Errorf("feature %q: %w", f.name, err)
				}
			}
			spans = append(spans, span{start, len(w.buf)})
		}
		req.Rows[i] = row
	}
	// Slice only now: appending may have moved w.buf.
	k := 0
	for i := range req.Rows {
		if len(w.v.keys) > 0 {
			req.Rows[i].EntityKey = w.buf[spans[k].start:spans[k].end:spans[k].end]
			k++
		} else {
			req.Rows[i].EntityKey = w.dummy
		}
		for j := range req.Rows[i].Values {
			req.Rows[i].Values[j] = w.buf[spans[k].start:spans[k].end:spans[k].end]
			k++
		}
	}
	return req, nil
}

// toValue converts a value of an offline result (offlineengine.Batch's Go types) to a
// Feast Value of type t; nil gives the empty Value.
func toValue(v any, t feast.ValueType) (feast.Value, error) {
	if v == nil {
		return feast.Value{}, nil
	}
	mismatch := func() (feast.Value, error) {
		return feast.Value{}, fmt.Errorf("cannot store a %T as %s", v, t)
	}
	switch x := v.(type) {
	case []byte:
		switch t {
		case feast.TypeBytes, feast.TypePDFBytes, feast.TypeImageBytes:
			return feast.Value{Type: t, Bytes: x}, nil
		}
	case string:
		switch t {
		case feast.TypeString, feast.TypeJSON, feast.TypeUUID, feast.TypeTimeUUID, feast.TypeDecimal:
			return feast.Value{Type: t, Str: x}, nil
		}
	case int32:
		if t == feast.TypeInt32 {
			return feast.Int32Value(x), nil
		}
	case int64:
		if t == feast.TypeInt64 {
			return feast.Int64Value(x), nil
		}
	case float64:
		if t == feast.TypeDouble {
			return feast.DoubleValue(x), nil
		}
	case float32:
		if t == feast.TypeFloat {
			return feast.FloatValue(x), nil
		}
	case bool:
		if t == feast.TypeBool {
			return feast.BoolValue(x), nil
		}
	case time.Time:
		if t == feast.TypeUnixTimestamp {
			// Feast stores timestamps as whole seconds.
			return feast.UnixTimestampValue(x.Unix()), nil
		}
	case [][]byte:
		if e, _ := t.Elem(); e == feast.TypeBytes || e == feast.TypePDFBytes || e == feast.TypeImageBytes {
			return feast.Value{Type: t, BytesList: x}, nil
		}
	case []string:
		if _, ok := t.Elem(); ok && mustPlan(t) == abi.TypeStringList {
			return feast.Value{Type: t, StringList: x}, nil
		}
	case []int32:
		if e, _ := t.Elem(); e == feast.TypeInt32 {
			return feast.Value{Type: t, Int32List: x}, nil
		}
	case []int64:
		if e, _ := t.Elem(); e == feast.TypeInt64 {
			return feast.Value{Type: t, Int64List: x}, nil
		}
	case []float64:
		if e, _ := t.Elem(); e == feast.TypeDouble {
			return feast.Value{Type: t, DoubleList: x}, nil
		}
	case []float32:
		if e, _ := t.Elem(); e == feast.TypeFloat {
			return feast.Value{Type: t, FloatList: x}, nil
		}
	case []bool:
		if e, _ := t.Elem(); e == feast.TypeBool {
			return feast.Value{Type: t, BoolList: x}, nil
		}
	case []time.Time:
		if e, _ := t.Elem(); e == feast.TypeUnixTimestamp {
			secs := make([]int64, len(x))
			for i, ts := range x {
				secs[i] = ts.Unix()
			}
			return feast.Value{Type: t, Int64List: secs}, nil
		}
	}
	return mismatch()
}

func mustPlan(t feast.ValueType) abi.Type {
	p, _ := planType(t)
	return p
}
