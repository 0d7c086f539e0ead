package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/internal/wasm"
	"github.com/larder-dev/larder/host/offlineengine"
	"github.com/larder-dev/larder/host/pgengine"
)

// Offline writes (push to the offline store) and pull-all, through the offline plugin
// (ABI spec §9.8, §9.9). Both are optional exports: a plugin without them answers
// UNIMPLEMENTED, which the server reports as 501.

// PullAllPlanner is an offline store that plans pull-all (spec §9.8).
type PullAllPlanner interface {
	PlanPullAll(ctx context.Context, req PullAllPlanRequest) (*offlineengine.Plan, error)
}

// OfflineWritePlanner is an offline store that plans offline writes (spec §9.9).
type OfflineWritePlanner interface {
	PlanWrite(ctx context.Context, req OfflineWritePlanRequest) (*offlineengine.WritePlan, error)
}

// PullAllPlanRequest is the input of larder_offline_plan_pull_all: a pull-latest request
// whose window bounds may be absent (zero Start or End = unbounded on that side).
type PullAllPlanRequest struct {
	Project        string
	View           string
	Source         OfflineSource
	JoinKeys       []PlanColumn
	FeatureColumns []PlanColumn
	Start, End     time.Time
}

// MarshalJSON encodes the request as spec §9.8 has it (absent bounds as null).
func (r PullAllPlanRequest) MarshalJSON() ([]byte, error) {
	bound := func(t time.Time) *int64 {
		if t.IsZero() {
			return nil
		}
		us := t.UnixMicro()
		return &us
	}
	return json.Marshal(struct {
		Project        string        `json:"project"`
		View           string        `json:"view"`
		Source         OfflineSource `json:"source"`
		JoinKeys       []PlanColumn  `json:"join_keys"`
		FeatureColumns []PlanColumn  `json:"feature_columns"`
		Start          *int64        `json:"start"`
		End            *int64        `json:"end"`
	}{r.Project, r.View, sourceJSON(r.Source), columnsJSON(r.JoinKeys), columnsJSON(r.FeatureColumns), bound(r.Start), bound(r.End)})
}

// OfflineWritePlanRequest is the input of larder_offline_plan_write (spec §9.9).
type OfflineWritePlanRequest struct {
	Project string
	View    string
	Source  OfflineSource
	// SourceColumns is the target file's schema as the engine reads it.
	SourceColumns []offlineengine.SourceColumn
	// Columns are the pushed columns, as the client named them, with the types the host
	// gave them; RowCount the number of pushed rows.
	Columns  []PlanColumn
	RowCount int
}

// MarshalJSON encodes the request as spec §9.9 has it.
func (r OfflineWritePlanRequest) MarshalJSON() ([]byte, error) {
	type srcCol struct {
		Name       string `json:"name"`
		EngineType string `json:"engine_type"`
	}
	cols := make([]srcCol, len(r.SourceColumns))
	for i, c := range r.SourceColumns {
		cols[i] = srcCol{c.Name, c.EngineType}
	}
	type rows struct {
		Relation  string       `json:"relation"`
		RowColumn string       `json:"row_column"`
		Count     int          `json:"count"`
		Columns   []PlanColumn `json:"columns"`
	}
	return json.Marshal(struct {
		Project       string        `json:"project"`
		View          string        `json:"view"`
		Source        OfflineSource `json:"source"`
		SourceColumns []srcCol      `json:"source_columns"`
		Rows          rows          `json:"rows"`
	}{r.Project, r.View, sourceJSON(r.Source), cols, rows{offlineengine.RowsRelation, offlineengine.RowIndexColumn, r.RowCount, columnsJSON(r.Columns)}})
}

var (
	_ PullAllPlanner      = (*WasmOfflineStore)(nil)
	_ OfflineWritePlanner = (*WasmOfflineStore)(nil)
)

// PlanPullAll asks the plugin for the plan of req and validates it.
func (s *WasmOfflineStore) PlanPullAll(ctx context.Context, req PullAllPlanRequest) (*offlineengine.Plan, error) {
	if !s.w.Has(wasm.ExpOfflinePlanPullAll) {
		return nil, fmt.Errorf("offline store plugin %s does not plan pull-all (no %s export): %w",
			s.Info().Manifest.ID, abi.ExportOfflinePlanPullAll, abi.ErrUnimplemented)
	}
	return callPlanner(ctx, s, wasm.ExpOfflinePlanPullAll, req, offlineengine.DecodePlan, "the pull-all request for "+req.View, "pull-all of feature view "+req.View)
}

// PlanWrite asks the plugin for the write plan of req and validates it.
func (s *WasmOfflineStore) PlanWrite(ctx context.Context, req OfflineWritePlanRequest) (*offlineengine.WritePlan, error) {
	if !s.w.Has(wasm.ExpOfflinePlanWrite) {
		return nil, fmt.Errorf("offline store plugin %s cannot take writes (no %s export): %w",
			s.Info().Manifest.ID, abi.ExportOfflinePlanWrite, abi.ErrUnimplemented)
	}
	return callPlanner(ctx, s, wasm.ExpOfflinePlanWrite, req, offlineengine.DecodeWritePlan, "the offline write request for "+req.View, "the offline write to feature view "+req.View)
}

// ---- pull-all ----

// PullAllRequest reads every row of a feature view's batch source in [Start, End)
// (Feast's pull_all_from_table_or_query).
type PullAllRequest struct {
	FeatureView string
	// Features selects features of the view; empty = all, in the view's order.
	Features []string
	// Start and End bound the event timestamp, Start inclusive, End exclusive; a zero
	// time leaves that side unbounded.
	Start, End time.Time
	// Engine tunes the execution (batch size, memory limit); its Access is set by the host.
	Engine offlineengine.Options
}

// PullAllResult describes a finished pull-all.
type PullAllResult struct {
	// Columns: the view's join keys, __event_ts, __created_ts, then the features.
	Columns []offlineengine.Column
	Rows    int64
}

// PullAll plans req with the offline store and streams every matching row of the view's
// batch source through fn, in no particular order.
func (fs *FeatureStore) PullAll(ctx context.Context, req PullAllRequest, fn func(*offlineengine.Batch) error) (*PullAllResult, error) {
	if !req.Start.IsZero() && !req.End.IsZero() && req.End.Before(req.Start) {
		return nil, Requestf(BadRequest, "end", "end %s is before start %s", req.End.UTC().Format(time.RFC3339), req.Start.UTC().Format(time.RFC3339))
	}
	snap, err := fs.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	fv := findFeatureView(snap.reg, fs.cfg.Project, req.FeatureView)
	if fv == nil {
		return nil, Requestf(NotFound, "feature_view", "feature view %q is not in the registry of project %s", req.FeatureView, fs.cfg.Project)
	}
	if fv.Spec.BatchSource == nil {
		return nil, Requestf(Unprocessable, "feature_view", "feature view %q has no batch source", req.FeatureView)
	}
	v, err := fs.matViewOf(snap.reg, fv)
	if err != nil {
		return nil, err
	}
	store, err := fs.offlineStore(ctx)
	if err != nil {
		return nil, err
	}
	planner, ok := store.(PullAllPlanner)
	if !ok {
		return nil, fmt.Errorf("the offline store does not plan pull-all: %w", abi.ErrUnimplemented)
	}
	// A zero bound stays zero through UTC(): it is sent as null (unbounded).
	pr := PullAllPlanRequest{Project: fs.cfg.Project, View: v.name, Source: v.source, Start: req.Start.UTC(), End: req.End.UTC()}
	for _, k := range v.keys {
		pr.JoinKeys = append(pr.JoinKeys, PlanColumn{Name: k.name, Type: k.plain})
	}
	features := v.features
	if len(req.Features) > 0 {
		features = nil
		byName := make(map[string]matColumn, len(v.features))
		for _, f := range v.features {
			byName[f.name] = f
		}
		for i, name := range req.Features {
			f, ok := byName[name]
			if !ok {
				return nil, Requestf(NotFound, fmt.Sprintf("features[%d]", i), "feature view %q has no feature %q", v.name, name)
			}
			features = append(features, f)
		}
	}
	for _, f := range features {
		pr.FeatureColumns = append(pr.FeatureColumns, PlanColumn{Name: f.name, Type: f.plain})
	}
	plan, err := planner.PlanPullAll(ctx, pr)
	if err != nil {
		return nil, err
	}
	opts := fs.engineOptions(req.Engine)
	opts.Access = sourceAccess(v.source.Path)
	var pg *pgengine.Config
	if ws, ok := store.(*WasmOfflineStore); ok {
		pg = ws.pg
	}
	n, err := executePlan(ctx, pg, plan, opts, nil, fn)
	if err != nil {
		return nil, fmt.Errorf("reading feature view %s from %s: %w", v.name, v.source.describe(), err)
	}
	return &PullAllResult{Columns: plan.ResultSchema, Rows: n}, nil
}

// sourceAccess grants the engine read access to a source file or directory (none for a
// database source, which has no path).
func sourceAccess(path string) offlineengine.Access {
	if path == "" {
		return offlineengine.Access{}
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return offlineengine.Access{Directories: []string{path}}
	}
	return offlineengine.Access{Paths: []string{path}}
}

// ---- push to the offline store ----

// offlineWrite is one file a push appends to, prepared (described, typed, planned) with
// the file's lock held, ready to run.
type offlineWrite struct {
	view   string // the first view fed by the push whose batch source is this file
	source OfflineSource
	target offlineengine.WriteTarget
	rel    *offlineengine.Relation
	plan   *offlineengine.WritePlan
	engine offlineengine.Options // feature_store.yaml's offline_store.engine
	unlock func()
}

// prepareOfflineWrites prepares the appends of a pushed frame to the batch sources of
// views, one per distinct file (several views fed by one push source usually share their
// batch source, and Feast would append the rows to it once per view). Everything that can
// reject the frame happens here, before anything is written: unknown columns, cells of the
// wrong type, and the plugin's checks (missing columns). On success every file's lock is
// held until release; on failure none is.
func (fs *FeatureStore) prepareOfflineWrites(ctx context.Context, views []*viewDef, df []Column) (_ []*offlineWrite, err error) {
	store, err := fs.offlineStore(ctx)
	if err != nil {
		return nil, err
	}
	planner, ok := store.(OfflineWritePlanner)
	if !ok {
		return nil, fmt.Errorf("the configured offline store cannot take writes: %w", abi.ErrUnimplemented)
	}
	snap, err := fs.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	var writes []*offlineWrite // locked so far: released here on failure
	defer func() {
		if err != nil {
			releaseOfflineWrites(writes)
		}
	}()
	byPath := map[string]bool{}
	var targets []*offlineWrite
	for _, v := range views {
		fv := findFeatureView(snap.reg, fs.cfg.Project, v.name)
		if fv == nil || fv.Spec.BatchSource == nil {
			return nil, Requestf(Unprocessable, "push_source_name", "feature view %q has no batch source to push offline rows to", v.name)
		}
		mv, err := fs.matViewOf(snap.reg, fv)
		if err != nil {
			return nil, err
		}
		if byPath[mv.source.Path] {
			continue
		}
		byPath[mv.source.Path] = true
		targets = append(targets, &offlineWrite{view: v.name, source: mv.source})
	}
	// Lock in path order, as every writer does, so two pushes to the same files cannot
	// each hold one and wait for the other.
	sort.Slice(targets, func(i, j int) bool { return targets[i].source.Path < targets[j].source.Path })
	for _, w := range targets {
		if w.source.Path == "" {
			return nil, fmt.Errorf("the batch source %q of feature view %q is %s; offline pushes append to Parquet or CSV files only: %w",
				w.source.Name, w.view, w.source.describe(), abi.ErrUnimplemented)
		}
		if st, err := os.Stat(w.source.Path); err != nil || !st.Mode().IsRegular() {
			return nil, Requestf(Unprocessable, "push_source_name",
				"the batch source %q of feature view %q is not a single file (%s); offline pushes append to one Parquet or CSV file", w.source.Name, w.view, w.source.Path)
		}
		w.unlock = offlineengine.LockFile(w.source.Path)
		writes = append(writes, w)
		if err := fs.prepareOfflineWrite(ctx, planner, w, df); err != nil {
			return nil, err
		}
	}
	return writes, nil
}

func releaseOfflineWrites(writes []*offlineWrite) {
	for _, w := range writes {
		if w.unlock != nil {
			w.unlock()
			w.unlock = nil
		}
	}
}

// readerOf is the engine's table expression for a source file, as plans read it.
func readerOf(src OfflineSource) string {
	if src.FileFormat == "csv" {
		return "read_csv_auto($1)"
	}
	return "read_parquet($1)"
}

func (fs *FeatureStore) prepareOfflineWrite(ctx context.Context, planner OfflineWritePlanner, w *offlineWrite, df []Column) error {
	src := w.source
	w.engine = fs.engineOptions(offlineengine.Options{})
	opts := w.engine
	opts.Access = offlineengine.Access{Paths: []string{src.Path}}
	cols, err := offlineengine.DescribeSource(ctx, readerOf(src), []any{src.Path}, opts)
	if err != nil {
		return fmt.Errorf("reading the schema of the offline source %q (%s): %w", src.Name, src.Path, err)
	}
	w.target = offlineengine.WriteTarget{Path: src.Path, Format: src.FileFormat, Columns: cols}
	byName := make(map[string]offlineengine.SourceColumn, len(cols))
	names := make([]string, len(cols))
	for i, c := range cols {
		byName[c.Name] = c
		names[i] = c.Name
	}
	fromMapped := make(map[string]string, len(src.FieldMapping)) // mapped name → source column
	for s, m := range src.FieldMapping {
		fromMapped[m] = s
	}

	// Type each pushed column by the source column it lands in, so values keep the file's
	// precision (a DOUBLE stays a DOUBLE even when the view declares Float32).
	w.rel = &offlineengine.Relation{Columns: make([]offlineengine.Column, len(df))}
	n := len(df[0].Values)
	planCols := make([]PlanColumn, len(df))
	for i, c := range df {
		if len(c.Values) != n {
			return Requestf(BadRequest, "df."+c.Name, "column has %d values but column %q has %d; all columns need one value per row", len(c.Values), df[0].Name, n)
		}
		if c.Name == offlineengine.RowIndexColumn {
			return Requestf(BadRequest, "df."+c.Name, "column name %q is reserved for offline pushes", c.Name)
		}
		sc, ok := byName[c.Name]
		if !ok {
			if s, mapped := fromMapped[c.Name]; mapped {
				sc, ok = byName[s]
			}
		}
		if !ok {
			return Requestf(BadRequest, "df."+c.Name, "column %q is not a column of the offline source %q of feature view %q, whose columns are %s",
				c.Name, src.Name, w.view, quoteList(names))
		}
		if sc.Type == 0 {
			return Requestf(Unprocessable, "df."+c.Name, "source column %q is %s, which a pushed value cannot be written as", sc.Name, sc.EngineType)
		}
		w.rel.Columns[i] = offlineengine.Column{Name: c.Name, Type: sc.Type}
		planCols[i] = PlanColumn{Name: c.Name, Type: sc.Type}
	}
	w.rel.Rows = make([][]any, n)
	for r := 0; r < n; r++ {
		row := make([]any, len(df))
		for i, c := range df {
			v, err := offlineCell(c.Values[r], w.rel.Columns[i].Type)
			if err != nil {
				return Requestf(BadRequest, fmt.Sprintf("df.%s[%d]", c.Name, r), "%s", err)
			}
			row[i] = v
		}
		w.rel.Rows[r] = row
	}

	plan, err := planner.PlanWrite(ctx, OfflineWritePlanRequest{Project: fs.cfg.Project, View: w.view, Source: src,
		SourceColumns: cols, Columns: planCols, RowCount: n})
	if err != nil {
		// The plugin's BAD_ARGUMENT is about the pushed columns (the source itself passed
		// materialization's checks): the caller's mistake, with the plugin's message.
		var se *PluginStatusError
		if errors.As(err, &se) && errors.Is(err, abi.ErrBadArgument) {
			return Requestf(BadRequest, "df", "%s", se.Message)
		}
		return err
	}
	w.plan = plan
	return nil
}

// run executes a prepared write. A value the engine cannot cast to its column is the
// caller's mistake; the file is untouched either way on failure.
func (w *offlineWrite) run(ctx context.Context) (int64, error) {
	if len(w.rel.Rows) == 0 {
		return 0, nil // a frame of no rows appends nothing; it was still checked
	}
	n, err := offlineengine.ExecuteWrite(ctx, w.plan, w.rel, w.target, w.engine)
	if errors.Is(err, offlineengine.ErrValue) {
		return 0, Requestf(BadRequest, "df", "a pushed value does not fit its column of the offline source %q: %s", w.source.Name, err)
	}
	return n, err
}

// offlineCell converts a JSON cell of a pushed frame to the engine value of type t
// (offlineengine.Batch's conventions); JSON null is NULL.
func offlineCell(raw json.RawMessage, t abi.Type) (any, error) {
	if isJSONNull(raw) {
		return nil, nil
	}
	if t == abi.TypeUnixTimestamp {
		return parseEventTime(raw)
	}
	v, err := feast.ValueFromJSON(raw, feast.ValueType(t))
	if err != nil {
		return nil, err
	}
	if v.IsNull() {
		return nil, nil
	}
	switch t {
	case abi.TypeBytes:
		return v.Bytes, nil
	case abi.TypeString:
		return v.Str, nil
	case abi.TypeInt32:
		return int32(v.Int), nil
	case abi.TypeInt64:
		return v.Int, nil
	case abi.TypeDouble:
		return v.Float, nil
	case abi.TypeFloat:
		return float32(v.Float), nil
	case abi.TypeBool:
		return v.Bool, nil
	case abi.TypeBytesList:
		return v.BytesList, nil
	case abi.TypeStringList:
		return v.StringList, nil
	case abi.TypeInt32List:
		return v.Int32List, nil
	case abi.TypeInt64List:
		return v.Int64List, nil
	case abi.TypeDoubleList:
		return v.DoubleList, nil
	case abi.TypeFloatList:
		return v.FloatList, nil
	case abi.TypeBoolList:
		return v.BoolList, nil
	case abi.TypeUnixTimestampList:
		out := make([]time.Time, len(v.Int64List))
		for i, s := range v.Int64List {
			out[i] = time.Unix(s, 0).UTC()
		}
		return out, nil
	}
	return nil, fmt.Errorf("type %s cannot be pushed to an offline store", t)
}
