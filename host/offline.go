package host

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/larder-dev/larder/host/internal/fault"
	"github.com/larder-dev/larder/host/internal/wasm"
	"github.com/larder-dev/larder/host/offlineengine"
	"github.com/larder-dev/larder/host/pgengine"
)

// OfflineStore is an offline store as the host uses it: a planner (ABI spec §9). It
// returns query plans and never data; the host runs the plans on its own engine
// (host/offlineengine), so bulk data never enters the plugin's sandbox.
type OfflineStore interface {
	// PlanPullLatest plans materialization's read (spec §9.2-9.4).
	PlanPullLatest(ctx context.Context, req PullLatestRequest) (*offlineengine.Plan, error)
	Close(ctx context.Context) error
}

// OfflineSource is a feature view's batch source as the offline store sees it.
type OfflineSource struct {
	Name string `json:"name"`
	// Path is absolute for local files; the engine is granted read access to it alone.
	Path string `json:"path"`
	// Table or Query is a database source (PostgreSQL): a table name, possibly
	// schema-qualified, or a SELECT. Path is then empty.
	Table                  string            `json:"table,omitempty"`
	Query                  string            `json:"query,omitempty"`
	FileFormat             string            `json:"file_format"`
	TimestampField         string            `json:"timestamp_field"`
	CreatedTimestampColumn string            `json:"created_timestamp_column"`
	FieldMapping           map[string]string `json:"field_mapping"`
}

// PlanColumn is a named column typed with an ABI type (spec §5.3).
type PlanColumn struct {
	Name string
	Type abi.Type
}

// MarshalJSON writes the type by name, as the spec's JSON does.
func (c PlanColumn) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}{c.Name, c.Type.String()})
}

// columnsJSON is cols as a plan request encodes them: absent columns as [], not null.
func columnsJSON(cols []PlanColumn) []PlanColumn {
	if cols == nil {
		return []PlanColumn{}
	}
	return cols
}

// sourceJSON is src as a plan request encodes it: an absent field mapping as {}, not null.
func sourceJSON(src OfflineSource) OfflineSource {
	if src.FieldMapping == nil {
		src.FieldMapping = map[string]string{}
	}
	return src
}

// PullLatestRequest asks for the latest row per entity in [Start, End) (spec §9.2).
type PullLatestRequest struct {
	Project        string
	View           string
	Source         OfflineSource
	JoinKeys       []PlanColumn
	FeatureColumns []PlanColumn
	Start, End     time.Time
}

// MarshalJSON encodes the request as spec §9.2 has it (times as µs since the epoch).
func (r PullLatestRequest) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Project        string        `json:"project"`
		View           string        `json:"view"`
		Source         OfflineSource `json:"source"`
		JoinKeys       []PlanColumn  `json:"join_keys"`
		FeatureColumns []PlanColumn  `json:"feature_columns"`
		Start          int64         `json:"start"`
		End            int64         `json:"end"`
	}{r.Project, r.View, sourceJSON(r.Source), columnsJSON(r.JoinKeys), columnsJSON(r.FeatureColumns), r.Start.UnixMicro(), r.End.UnixMicro()})
}

// WasmOfflineStore is an OfflineStore implemented by an offline_store-kind Wasm plugin
// (spec §9). It is safe for concurrent use.
type WasmOfflineStore struct {
	*Plugin
	// pg is where plans in PostgreSQL's dialect run: set for an offline store of type
	// postgres, nil otherwise.
	pg *pgengine.Config
}

var _ OfflineStore = (*WasmOfflineStore)(nil)

// LoadOfflineStore loads an offline_store plugin. Grants in cfg are ignored: an offline
// store only writes SQL, so every capability it asks for is denied.
func LoadOfflineStore(ctx context.Context, cfg PluginConfig) (*WasmOfflineStore, error) {
	cfg.Grants = nil
	if cfg.Pool == (PoolConfig{}) {
		// Planning is cheap and rare (once per feature view per materialization): one
		// warm instance, a second for overlapping materializations.
		cfg.Pool = PoolConfig{Min: 1, Max: 2}
	}
	p, err := loadPlugin(ctx, cfg, abi.KindOfflineStore)
	if err != nil {
		return nil, err
	}
	return &WasmOfflineStore{Plugin: p}, nil
}

// PlanPullLatest asks the plugin for the plan of req and validates it.
func (s *WasmOfflineStore) PlanPullLatest(ctx context.Context, req PullLatestRequest) (*offlineengine.Plan, error) {
	return callPlanner(ctx, s, wasm.ExpOfflinePlanPullLatest, req, offlineengine.DecodePlan, "the pull-latest request for "+req.View, "the offline read of feature view "+req.View)
}

// callPlanner sends req, as JSON, to the plugin's planning export exp and decodes the
// answer. A plan the host cannot use is the plugin's fault: the instance goes. Errors
// name what was being encoded (encoding) or planned (planning).
func callPlanner[P any](ctx context.Context, s *WasmOfflineStore, exp wasm.Export, req any,
	decode func([]byte) (P, error), encoding, planning string) (P, error) {
	var plan P
	in, err := json.Marshal(req)
	if err != nil {
		return plan, fmt.Errorf("encoding %s: %w", encoding, err)
	}
	err = s.w.Call(ctx, exp, caps.PhaseServe, in, func(out []byte) error {
		p, err := decode(out)
		if err != nil {
			return fmt.Errorf("%w: %v", fault.ErrBadOutput, err)
		}
		plan = p
		return nil
	})
	if err != nil {
		var none P
		return none, fmt.Errorf("planning %s: %w", planning, err)
	}
	return plan, nil
}

// pullLatest plans req with store and streams the result through fn, with the engine
// granted read access to the request's source only.
func pullLatest(ctx context.Context, store OfflineStore, req PullLatestRequest, opts offlineengine.Options,
	fn func(*offlineengine.Batch) error) (*offlineengine.Plan, int64, error) {
	plan, err := store.PlanPullLatest(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	access := offlineengine.Access{}
	if req.Source.Path == "" {
		// A database source: the DuckDB sandbox may read no file at all.
	} else if st, err := os.Stat(req.Source.Path); err == nil && st.IsDir() {
		access.Directories = []string{req.Source.Path}
	} else {
		access.Paths = []string{req.Source.Path}
	}
	opts.Access = access
	var pg *pgengine.Config
	if ws, ok := store.(*WasmOfflineStore); ok {
		pg = ws.pg
	}
	n, err := executePlan(ctx, pg, plan, opts, nil, fn)
	if err != nil {
		return plan, n, fmt.Errorf("reading feature view %s from %s: %w", req.View, req.Source.describe(), err)
	}
	return plan, n, nil
}
