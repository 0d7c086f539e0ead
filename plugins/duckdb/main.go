// Command duckdb is Larder's default offline store plugin: Feast's file offline store
// (FileSource over Parquet or CSV) as query plans for the host's embedded DuckDB engine
// (ABI spec §9, "plan, don't move data"). It asks for no capabilities: it only writes SQL.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o duckdb.wasm .
package main

import (
	sdk "github.com/larder-dev/larder/sdk-go"

	"github.com/larder-dev/larder/plugins/duckdb/planner"
)

// version of this plugin, reported in its manifest.
const version = "0.1.0"

func init() {
	sdk.RegisterOfflineStore(sdk.Plugin{
		ID:           "duckdb",
		Version:      version,
		ConfigSchema: []byte(`{"type":"object"}`),
		Features:     []string{"pull_latest", "historical", "pull_all", "write", "parquet", "csv"},
	}, func() sdk.OfflineStore { return store{} })
}

// store keeps no state: a plan depends only on its request.
type store struct{}

// Init accepts Feast's file offline store options (none of which change the plans).
func (store) Init([]byte) error { return nil }

func (store) PlanHistorical(req *sdk.HistoricalRequest) (*sdk.QueryPlan, error) {
	return planner.PlanHistorical(req)
}

func (store) PlanPullLatest(req *sdk.PullLatestRequest) (*sdk.QueryPlan, error) {
	return planner.PlanPullLatest(req)
}

func (store) PlanPullAll(req *sdk.PullAllRequest) (*sdk.QueryPlan, error) {
	return planner.PlanPullAll(req)
}

func (store) PlanWrite(req *sdk.OfflineWriteRequest) (*sdk.WritePlan, error) {
	return planner.PlanWrite(req)
}

// main is never run: a -buildmode=c-shared module only runs init functions and exports.
func main() {}
