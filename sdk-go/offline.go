package sdk

import (
	"encoding/json"

	"github.com/larder-dev/larder/abi"
)

// OfflineStore is what an offline store plugin implements (spec §9): it plans queries, it
// never moves data. Each method returns a QueryPlan the host executes on its own engine;
// bulk data never enters the plugin. A plan must depend only on the request and the
// plugin config (the same input gives the same plan).
//
// Methods return errors made with Errorf to choose the status the host sees (a request the
// plugin cannot plan is abi.ErrBadArgument); any other error is INTERNAL.
type OfflineStore interface {
	// Init receives the operator's plugin config, a JSON object ("{}" when none).
	Init(config []byte) error
	// PlanPullLatest plans materialization's read: per entity, the latest row in
	// [Start, End) (spec §9.4).
	PlanPullLatest(req *PullLatestRequest) (*QueryPlan, error)
}

// OfflineSource is the batch source of a feature view (spec §9.2).
type OfflineSource struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Table or Query name a database source (a PostgreSQL table, possibly schema-qualified,
	// or a SELECT), for plans in a database's dialect; Path is then empty.
	Table                  string            `json:"table,omitempty"`
	Query                  string            `json:"query,omitempty"`
	FileFormat             string            `json:"file_format"`
	TimestampField         string            `json:"timestamp_field"`
	CreatedTimestampColumn string            `json:"created_timestamp_column"`
	FieldMapping           map[string]string `json:"field_mapping"`
}

// PlanColumn is a named column with a type name of spec §5.3 (e.g. "INT64").
type PlanColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// PullLatestRequest is the input of larder_offline_plan_pull_latest (spec §9.2).
type PullLatestRequest struct {
	Project        string        `json:"project"`
	View           string        `json:"view"`
	Source         OfflineSource `json:"source"`
	JoinKeys       []PlanColumn  `json:"join_keys"`
	FeatureColumns []PlanColumn  `json:"feature_columns"`
	Start          int64         `json:"start"` // µs since the Unix epoch, inclusive
	End            int64         `json:"end"`   // µs since the Unix epoch, exclusive
}

// PlanParam is one positional parameter ($1, $2, …) of a plan. Value is a string, bool or
// number as JSON has them, an int64 of microseconds for UNIX_TIMESTAMP, base64 text for
// BYTES, or nil for NULL.
type PlanParam struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// QueryPlan is the output of a plan export (spec §9.3).
type QueryPlan struct {
	Dialect      string       `json:"dialect"`
	SQL          string       `json:"sql"`
	Params       []PlanParam  `json:"params"`
	ResultSchema []PlanColumn `json:"result_schema"`
}

// RegisterOfflineStore registers the plugin as an offline store. Call it exactly once, from
// an init function; newStore is called once per plugin instance.
func RegisterOfflineStore(p Plugin, newStore func() OfflineStore) {
	if newStore == nil {
		register(p, abi.KindOfflineStore, Errorf(abi.ErrInternal, "RegisterOfflineStore: newStore is nil"))
		return
	}
	register(p, abi.KindOfflineStore, nil)
	registration.newOffline = newStore
}

// callOffline runs one offline-kind export.
func (in *instance) callOffline(export string, input []byte) error {
	if in.offline == nil {
		return Errorf(abi.ErrUnimplemented, "%s: this plugin is a %s, not an offline store", export, registration.kind)
	}
	switch export {
	case abi.ExportOfflinePlanPullLatest:
		var req PullLatestRequest
		if err := json.Unmarshal(input, &req); err != nil {
			return Errorf(abi.ErrBadArgument, "%s: decoding the request JSON: %v", export, err)
		}
		plan, err := in.offline.PlanPullLatest(&req)
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
	case abi.ExportOfflinePlanHistorical:
		return in.callOfflineHistorical(export, input)
	}
	return Errorf(abi.ErrUnimplemented, "%s is reserved for a later ABI minor version", export)
}
