package sdk

import (
	"encoding/json"

	"github.com/larder-dev/larder/abi"
)

// PullAllPlanner is implemented by offline stores that plan pull-all (spec §9.8): every row
// of a source in a time window, as Feast's pull_all_from_table_or_query returns it. The SDK
// answers UNIMPLEMENTED for a store without it.
type PullAllPlanner interface {
	PlanPullAll(req *PullAllRequest) (*QueryPlan, error)
}

// PullAllRequest is the input of larder_offline_plan_pull_all (spec §9.8): the fields of a
// pull-latest request, with either bound of the window possibly absent (nil = unbounded).
type PullAllRequest struct {
	Project        string        `json:"project"`
	View           string        `json:"view"`
	Source         OfflineSource `json:"source"`
	JoinKeys       []PlanColumn  `json:"join_keys"`
	FeatureColumns []PlanColumn  `json:"feature_columns"`
	Start          *int64        `json:"start"` // µs since the Unix epoch, inclusive; nil = no lower bound
	End            *int64        `json:"end"`   // µs since the Unix epoch, exclusive; nil = no upper bound
}

// WritePlanner is implemented by offline stores that plan offline writes (spec §9.9): the
// rows of a push appended to a feature view's batch source. The plan reads the pushed rows
// from a relation the host registers; they never enter the plugin. The SDK answers
// UNIMPLEMENTED for a store without it.
type WritePlanner interface {
	PlanWrite(req *OfflineWriteRequest) (*WritePlan, error)
}

// SourceColumn is a column of the write's target as the host's engine reads it; EngineType
// is the dialect's type name (for DuckDB e.g. BIGINT, TIMESTAMPTZ, DECIMAL(10,2)).
type SourceColumn struct {
	Name       string `json:"name"`
	EngineType string `json:"engine_type"`
}

// PushedRows describes the relation holding the pushed rows: its name, its columns (as the
// client named them, typed by the host), the extra column numbering the rows in push order
// (0, 1, …; not among Columns) and the row count.
type PushedRows struct {
	Relation  string       `json:"relation"`
	RowColumn string       `json:"row_column"`
	Count     int64        `json:"count"`
	Columns   []PlanColumn `json:"columns"`
}

// OfflineWriteRequest is the input of larder_offline_plan_write (spec §9.9).
type OfflineWriteRequest struct {
	Project       string         `json:"project"`
	View          string         `json:"view"`
	Source        OfflineSource  `json:"source"`
	SourceColumns []SourceColumn `json:"source_columns"`
	Rows          PushedRows     `json:"rows"`
}

// WritePlan is the output of larder_offline_plan_write (spec §9.9): one SELECT yielding the
// complete new contents of the source, which the host writes and swaps in.
type WritePlan struct {
	Dialect string      `json:"dialect"`
	SQL     string      `json:"sql"`
	Params  []PlanParam `json:"params"`
}

// callOfflineOptional runs the optional offline exports added after pull-latest and
// historical: pull-all and write.
func (in *instance) callOfflineOptional(export string, input []byte) error {
	if in.offline == nil {
		return Errorf(abi.ErrUnimplemented, "%s: this plugin is a %s, not an offline store", export, registration.kind)
	}
	var out any
	switch export {
	case abi.ExportOfflinePlanPullAll:
		pp, ok := in.offline.(PullAllPlanner)
		if !ok {
			return Errorf(abi.ErrUnimplemented, "%s: this offline store does not plan pull-all", export)
		}
		var req PullAllRequest
		if err := json.Unmarshal(input, &req); err != nil {
			return Errorf(abi.ErrBadArgument, "%s: decoding the request JSON: %v", export, err)
		}
		plan, err := pp.PlanPullAll(&req)
		if err != nil {
			return err
		}
		if plan == nil {
			return Errorf(abi.ErrInternal, "%s: the plugin returned no plan and no error", export)
		}
		out = plan
	case abi.ExportOfflinePlanWrite:
		wp, ok := in.offline.(WritePlanner)
		if !ok {
			return Errorf(abi.ErrUnimplemented, "%s: this offline store does not plan writes", export)
		}
		var req OfflineWriteRequest
		if err := json.Unmarshal(input, &req); err != nil {
			return Errorf(abi.ErrBadArgument, "%s: decoding the request JSON: %v", export, err)
		}
		plan, err := wp.PlanWrite(&req)
		if err != nil {
			return err
		}
		if plan == nil {
			return Errorf(abi.ErrInternal, "%s: the plugin returned no plan and no error", export)
		}
		out = plan
	default:
		return Errorf(abi.ErrUnimplemented, "unknown export %s", export)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return Errorf(abi.ErrInternal, "%s: encoding the plan: %v", export, err)
	}
	in.result = append(in.result[:0], b...)
	return nil
}
