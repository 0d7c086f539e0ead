// Command postgres_offline is Larder's PostgreSQL offline store plugin: Feast's
// PostgreSQL offline store (PostgreSQLSource over a table or a query) as query plans in
// PostgreSQL's dialect, which the host runs on its own connection to the configured
// database (ABI spec §9, "plan, don't move data"). It asks for no capabilities and never
// sees the connection settings: it only writes SQL.
//
// It is a module of its own rather than a second kind inside plugins/postgres because a
// module's manifest declares exactly one kind (spec §3.2).
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o postgres_offline.wasm .
package main

import (
	sdk "github.com/larder-dev/larder/sdk-go"

	"github.com/larder-dev/larder/plugins/postgres_offline/planner"
)

// version of this plugin, reported in its manifest.
const version = "0.1.0"

func init() {
	sdk.RegisterOfflineStore(sdk.Plugin{
		ID:           "postgres_offline",
		Version:      version,
		ConfigSchema: []byte(`{"type":"object"}`),
		Features:     []string{"pull_latest", "historical", "postgres"},
	}, func() sdk.OfflineStore { return store{} })
}

// store keeps no state: a plan depends only on its request.
type store struct{}

// Init accepts the offline store's remaining options; the host keeps the connection
// settings (host, user, password, …) to itself and none of the rest changes a plan.
func (store) Init([]byte) error { return nil }

func (store) PlanHistorical(req *sdk.HistoricalRequest) (*sdk.QueryPlan, error) {
	return planner.PlanHistorical(req)
}

func (store) PlanPullLatest(req *sdk.PullLatestRequest) (*sdk.QueryPlan, error) {
	return planner.PlanPullLatest(req)
}

// main is never run: a -buildmode=c-shared module only runs init functions and exports.
func main() {}
