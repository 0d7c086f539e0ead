package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/arrowout"
	"github.com/larder-dev/larder/host/internal/wasm"
	"github.com/larder-dev/larder/host/offlineengine"
	"github.com/larder-dev/larder/host/pgengine"
	"github.com/larder-dev/larder/host/registry"
)

// HistoricalPlanner is an offline store that plans historical retrieval (spec §9.6). It is
// separate from OfflineStore because the export is optional.
type HistoricalPlanner interface {
	PlanHistorical(ctx context.Context, req HistoricalPlanRequest) (*offlineengine.Plan, error)
}

// HistoricalPlanRequest is the input of larder_offline_plan_historical, as spec §9.6 has it.
type HistoricalPlanRequest struct {
	Project          string           `json:"project"`
	Entities         EntitySource     `json:"entities"`
	Views            []HistoricalView `json:"views"`
	FullFeatureNames bool             `json:"full_feature_names"`
}

// EntitySource is where the entity rows come from: a Parquet or CSV file, or a query.
type EntitySource struct {
	Path           string       `json:"path"`
	FileFormat     string       `json:"file_format"`
	Query          string       `json:"query"`
	TimestampField string       `json:"timestamp_field"`
	Columns        []PlanColumn `json:"columns"`
	// Table and RowColumn: the temporary table a database engine holds the entity rows
	// in, and its row-number column (offline_pg.go).
	Table     string `json:"table,omitempty"`
	RowColumn string `json:"row_column,omitempty"`
}

// HistoricalJoinKey is a view's join key and the entity column matched with it.
type HistoricalJoinKey struct {
	Name         string   `json:"name"`
	Type         abi.Type `json:"-"`
	EntityColumn string   `json:"entity_column"`
}

// MarshalJSON writes the type by name.
func (k HistoricalJoinKey) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name         string `json:"name"`
		Type         string `json:"type"`
		EntityColumn string `json:"entity_column"`
	}{k.Name, k.Type.String(), k.EntityColumn})
}

// HistoricalView is one feature view of a historical request.
type HistoricalView struct {
	Name      string              `json:"name"`
	NameToUse string              `json:"name_to_use"`
	Source    OfflineSource       `json:"source"`
	JoinKeys  []HistoricalJoinKey `json:"join_keys"`
	Features  []PlanColumn        `json:"features"`
	TTL       int64               `json:"ttl"` // µs; 0 = unbounded
}

// PlanHistorical asks the plugin for the plan of a point-in-time join. A plugin without
// the export gets no call: the answer is UNIMPLEMENTED, as spec §9.1 has it.
func (s *WasmOfflineStore) PlanHistorical(ctx context.Context, req HistoricalPlanRequest) (*offlineengine.Plan, error) {
	if !s.w.Has(wasm.ExpOfflinePlanHistorical) {
		return nil, fmt.Errorf("offline store plugin %s does not plan historical retrieval (no %s export): %w",
			s.Info().Manifest.ID, abi.ExportOfflinePlanHistorical, abi.ErrUnimplemented)
	}
	return callPlanner(ctx, s, wasm.ExpOfflinePlanHistorical, req, offlineengine.DecodePlan, "the historical request", "historical retrieval")
}

// HistoricalRequest asks for point-in-time-correct feature values for every row of an
// entity source (Feast's get_historical_features).
type HistoricalRequest struct {
	// EntitiesPath is a Parquet or CSV file of entity rows (format by extension); or
	// EntitiesQuery is a SELECT the engine runs instead, reading only EngineAccess.
	EntitiesPath  string
	EntitiesQuery string
	// TimestampColumn is the entity rows' timestamp; "" means event_timestamp, or the
	// only timestamp column when there is no event_timestamp (as Feast infers it).
	TimestampColumn string
	// Features ("view:feature") or FeatureService selects the features.
	Features         []string
	FeatureService   string
	FullFeatureNames bool
	// EngineAccess lists further files or directories EntitiesQuery may read.
	EngineAccess offlineengine.Access
	// Engine tunes the DuckDB execution (its Access is set from the request).
	Engine offlineengine.Options
}

// HistoricalResult describes a finished historical retrieval.
type HistoricalResult struct {
	Columns []offlineengine.Column
	Rows    int64
}

// StreamHistoricalFeatures plans the request and streams its result: open receives the
// result's columns before any row (also when there are none) and returns the function
// that receives each batch.
func (fs *FeatureStore) StreamHistoricalFeatures(ctx context.Context, req HistoricalRequest,
	open func(cols []offlineengine.Column) (func(*offlineengine.Batch) error, error)) (*HistoricalResult, error) {
	res, _, err := fs.streamHistorical(ctx, req, open, "")
	return res, err
}

// streamHistorical is StreamHistoricalFeatures, except that when parquetPath is set and
// the rows need nothing from Go (a DuckDB plan, no on-demand feature views), DuckDB
// writes the result to parquetPath itself and open is never called; direct tells which.
func (fs *FeatureStore) streamHistorical(ctx context.Context, req HistoricalRequest,
	open func(cols []offlineengine.Column) (func(*offlineengine.Batch) error, error), parquetPath string) (_ *HistoricalResult, direct bool, err error) {
	st, err := fs.offlineStore(ctx)
	if err != nil {
		return nil, false, err
	}
	hp, ok := st.(HistoricalPlanner)
	if !ok {
		return nil, false, Requestf(Unprocessable, "offline_store", "the offline store does not support historical retrieval")
	}
	preq, access, odfv, err := fs.historicalPlanRequest(ctx, req)
	if err != nil {
		return nil, false, err
	}
	pg := fs.offlinePostgres()
	var ents *pgengine.Entities
	if pg != nil {
		ents = postgresEntities(preq, fs.engineOptions(offlineengine.Options{Access: access})) // the entity file goes to a temporary table
	}
	plan, err := hp.PlanHistorical(ctx, *preq)
	if err != nil {
		if errors.Is(err, abi.ErrBadArgument) {
			return nil, false, Requestf(Unprocessable, "", "%v", err)
		}
		return nil, false, err
	}
	cols := plan.ResultSchema
	var stage *odfvStage // on-demand feature views, applied batch by batch (historical_odfv.go)
	if odfv != nil {
		if stage, err = odfv.stage(preq.Entities.Columns, plan.ResultSchema); err != nil {
			return nil, false, err
		}
		cols = stage.cols
		open = stage.deferOpen(ctx, open)
	}
	opts := fs.engineOptions(req.Engine)
	opts.Access = access
	if parquetPath != "" && pg == nil && stage == nil && plan.Dialect == offlineengine.DialectDuckDB {
		// No row needs Go: DuckDB's own Parquet writer is several times faster than
		// streaming the rows out (RATIONALE.md, historical result path).
		n, err := offlineengine.ExecuteToParquet(ctx, plan, opts, parquetPath)
		if err != nil {
			return nil, false, fmt.Errorf("running the historical retrieval: %w", err)
		}
		return &HistoricalResult{Columns: cols, Rows: n}, true, nil
	}
	write, err := open(cols)
	if err != nil {
		return nil, false, err
	}
	n, err := executePlan(ctx, pg, plan, opts, ents, write)
	if err == nil && stage != nil {
		err = stage.finish()
	}
	if err != nil {
		return nil, false, fmt.Errorf("running the historical retrieval: %w", err)
	}
	return &HistoricalResult{Columns: cols, Rows: n}, false, nil
}

// GetHistoricalFeatures writes the request's training data to the Parquet file out. The
// file appears only when complete: rows go to a temporary file next to it, renamed at
// the end, so a failure leaves no partial output. DuckDB writes that file itself unless
// the rows must pass through Go (on-demand feature views, a PostgreSQL offline store).
func (fs *FeatureStore) GetHistoricalFeatures(ctx context.Context, req HistoricalRequest, out string) (res *HistoricalResult, err error) {
	if out == "" {
		return nil, Requestf(BadRequest, "out", "no output file given")
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("creating the output file next to %s: %w", out, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var pw *arrowout.ParquetWriter
	res, direct, err := fs.streamHistorical(ctx, req, func(cols []offlineengine.Column) (func(*offlineengine.Batch) error, error) {
		// Only the Writer: the Parquet writer would close the file itself, before the sync.
		pw, err = arrowout.NewParquetWriter(struct{ io.Writer }{tmp}, cols)
		if err != nil {
			return nil, fmt.Errorf("writing %s: %w", out, err)
		}
		return func(b *offlineengine.Batch) error {
			if err := pw.Write(b); err != nil {
				return fmt.Errorf("writing %s: %w", out, err)
			}
			return nil
		}, nil
	}, tmp.Name())
	if err != nil {
		return nil, err
	}
	if !direct {
		if err = pw.Close(); err != nil {
			return nil, fmt.Errorf("writing %s: %w", out, err)
		}
	}
	if err = tmp.Sync(); err != nil {
		return nil, fmt.Errorf("writing %s: %w", out, err)
	}
	if err = tmp.Close(); err != nil {
		return nil, fmt.Errorf("writing %s: %w", out, err)
	}
	if err = os.Rename(tmp.Name(), out); err != nil {
		return nil, fmt.Errorf("moving the finished output into place at %s: %w", out, err)
	}
	return res, nil
}

// historicalPlanRequest resolves the request against the registry and the entity source
// and returns the plugin's input and what the engine may read.
func (fs *FeatureStore) historicalPlanRequest(ctx context.Context, req HistoricalRequest) (_ *HistoricalPlanRequest, access offlineengine.Access, odfv *histODFV, err error) {
	cat, err := fs.servingCatalog(ctx)
	if err != nil {
		return nil, access, nil, err
	}
	// The plain features plus, when on-demand feature views are named, their sources.
	groups, fullNames, odfv, err := fs.historicalGroups(ctx, cat, req)
	if err != nil {
		return nil, access, nil, err
	}
	reg, err := fs.Registry(ctx)
	if err != nil {
		return nil, access, nil, err
	}

	// The entity source, described by the engine itself.
	es := EntitySource{Query: req.EntitiesQuery, TimestampField: req.TimestampColumn}
	var from string
	var params []any
	switch {
	case req.EntitiesPath != "" && req.EntitiesQuery != "":
		return nil, access, nil, Requestf(BadRequest, "entities", "give an entity file or an entity query, not both")
	case req.EntitiesPath != "":
		p, err := filepath.Abs(req.EntitiesPath)
		if err != nil {
			return nil, access, nil, fmt.Errorf("resolving the entity file %s: %w", req.EntitiesPath, err)
		}
		if _, err := os.Stat(p); err != nil {
			return nil, access, nil, Requestf(Unprocessable, "entities", "cannot read the entity file: %v", err)
		}
		es.Path, es.FileFormat = p, "parquet"
		from = "read_parquet($1)"
		if strings.EqualFold(filepath.Ext(p), ".csv") {
			es.FileFormat, from = "csv", "read_csv_auto($1)"
		}
		params = []any{p}
		access.Paths = append(access.Paths, p)
	case req.EntitiesQuery != "":
		from = "(" + strings.TrimRight(strings.TrimSpace(req.EntitiesQuery), "; \t\r\n") + ")"
		access.Paths = append(access.Paths, req.EngineAccess.Paths...)
		access.Directories = append(access.Directories, req.EngineAccess.Directories...)
	default:
		return nil, access, nil, Requestf(BadRequest, "entities", "no entity rows given (a file or a query)")
	}
	var cols []offlineengine.Column
	if pg := fs.offlinePostgres(); pg != nil && req.EntitiesQuery != "" {
		cols, err = pgengine.Describe(ctx, *pg, req.EntitiesQuery) // SQL for the offline store's database
	} else {
		cols, err = offlineengine.Describe(ctx, from, params, fs.engineOptions(offlineengine.Options{Access: access}))
	}
	if err != nil {
		return nil, access, nil, Requestf(Unprocessable, "entities", "reading the entity source: %v", err)
	}
	for _, c := range cols {
		es.Columns = append(es.Columns, PlanColumn{Name: c.Name, Type: c.Type})
	}
	if es.TimestampField == "" {
		es.TimestampField, err = inferTimestampColumn(cols)
		if err != nil {
			return nil, access, nil, err
		}
	}

	preq := &HistoricalPlanRequest{Project: fs.cfg.Project, Entities: es, FullFeatureNames: fullNames}
	for gi, g := range groups {
		fv := findFeatureView(reg, fs.cfg.Project, g.view.name)
		field := "features"
		if req.FeatureService != "" {
			field = "feature_service " + req.FeatureService
		}
		if fv == nil || fv.Spec.BatchSource == nil {
			return nil, access, nil, Requestf(Unprocessable, field, "feature view %q has no batch source to read history from", g.view.name)
		}
		mv, err := fs.matViewOf(reg, fv)
		if err != nil {
			return nil, access, nil, err
		}
		hv := HistoricalView{Name: g.view.name, NameToUse: g.prefix, Source: mv.source, TTL: g.view.ttl.Microseconds()}
		for _, k := range mv.keys {
			hv.JoinKeys = append(hv.JoinKeys, HistoricalJoinKey{Name: k.name, Type: k.plain, EntityColumn: g.requestColumn(k.name)})
		}
		for _, fi := range g.features {
			name := g.view.features[fi].name
			var col *matColumn
			for i := range mv.features {
				if mv.features[i].name == name {
					col = &mv.features[i]
				}
			}
			if col == nil {
				return nil, access, nil, fmt.Errorf("feature %s:%s is in the serving catalog but not in the registry view (group %d)", g.view.name, name, gi)
			}
			hv.Features = append(hv.Features, PlanColumn{Name: name, Type: col.plain})
		}
		preq.Views = append(preq.Views, hv)
		if mv.source.Path == "" {
			// A database source: nothing for the file sandbox to read.
		} else if st, err := os.Stat(mv.source.Path); err == nil && st.IsDir() {
			access.Directories = append(access.Directories, mv.source.Path)
		} else {
			access.Paths = append(access.Paths, mv.source.Path)
		}
	}
	return preq, access, odfv, nil
}

// inferTimestampColumn picks the entity timestamp as Feast does: event_timestamp, else
// the only timestamp column.
func inferTimestampColumn(cols []offlineengine.Column) (string, error) {
	var stamps []string
	for _, c := range cols {
		if c.Name == "event_timestamp" {
			return c.Name, nil
		}
		if c.Type == abi.TypeUnixTimestamp {
			stamps = append(stamps, c.Name)
		}
	}
	if len(stamps) == 1 {
		return stamps[0], nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = strconv.Quote(c.Name) + " " + c.Type.String()
	}
	return "", Requestf(Unprocessable, "entities",
		"the entity rows have no event_timestamp column and %d other timestamp columns: name the timestamp column (columns: %s)",
		len(stamps), strings.Join(names, ", "))
}

func findFeatureView(reg *registry.Registry, project, name string) *registry.FeatureView {
	for _, fv := range reg.FeatureViews {
		if fv.Spec != nil && fv.Spec.Project == project && fv.Spec.Name == name {
			return fv
		}
	}
	return nil
}
