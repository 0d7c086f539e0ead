package sdk

import (
	"encoding/json"

	"github.com/larder-dev/larder/abi"
)

// HistoricalPlanner is implemented by offline stores that plan historical retrieval
// (spec §9.6). It is a separate interface so stores that only materialize keep compiling;
// the SDK answers UNIMPLEMENTED for a store without it.
type HistoricalPlanner interface {
	PlanHistorical(req *HistoricalRequest) (*QueryPlan, error)
}

// EntitySource is the entity rows of a historical request: a file or an engine query.
type EntitySource struct {
	Path           string       `json:"path"`
	FileFormat     string       `json:"file_format"`
	Query          string       `json:"query"`
	TimestampField string       `json:"timestamp_field"`
	Columns        []PlanColumn `json:"columns"`
	// Table is a table the host loaded the entity rows into (a database dialect's
	// temporary table), and RowColumn its column numbering them in source order (1, 2, …;
	// not among Columns).
	Table     string `json:"table,omitempty"`
	RowColumn string `json:"row_column,omitempty"`
}

// HistoricalJoinKey is a view's join key and the entity column it is matched with.
type HistoricalJoinKey struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	EntityColumn string `json:"entity_column"`
}

// HistoricalView is one feature view of a historical request.
type HistoricalView struct {
	Name      string              `json:"name"`
	NameToUse string              `json:"name_to_use"`
	Source    OfflineSource       `json:"source"`
	JoinKeys  []HistoricalJoinKey `json:"join_keys"`
	Features  []PlanColumn        `json:"features"`
	TTL       int64               `json:"ttl"` // µs; 0 = unbounded look-back
}

// HistoricalRequest is the input of larder_offline_plan_historical (spec §9.6).
type HistoricalRequest struct {
	Project          string           `json:"project"`
	Entities         EntitySource     `json:"entities"`
	Views            []HistoricalView `json:"views"`
	FullFeatureNames bool             `json:"full_feature_names"`
}

func (in *instance) callOfflineHistorical(export string, input []byte) error {
	hp, ok := in.offline.(HistoricalPlanner)
	if !ok {
		return Errorf(abi.ErrUnimplemented, "%s: this offline store does not plan historical retrieval", export)
	}
	var req HistoricalRequest
	if err := json.Unmarshal(input, &req); err != nil {
		return Errorf(abi.ErrBadArgument, "%s: decoding the request JSON: %v", export, err)
	}
	plan, err := hp.PlanHistorical(&req)
	if err != nil {
		return err
	}
	if plan == nil {
		return Errorf(abi.ErrInternal, "%s: the plugin returned no plan and no error", export)
	}
	out, err := json.Marshal(plan)
	if err != nil {
		return Errorf(abi.ErrInternal, "%s: encoding the plan: %v", export, err)
	}
	in.result = append(in.result[:0], out...)
	return nil
}
