// Command postgres is Larder's PostgreSQL online store plugin: Feast's Postgres
// online-store layout (one table "{project}_{view}" per feature view in the configured
// schema, one row per entity and feature) reached through the host's sql capability named
// "online", which the operator binds to a PostgreSQL database. See README.md.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o postgres.wasm .
package main

import (
	"github.com/larder-dev/larder/abi"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// version of this plugin, reported in its manifest.
const version = "0.1.0"

func init() {
	sdk.RegisterOnlineStore(sdk.Plugin{
		ID:      "postgres",
		Version: version,
		Capabilities: []sdk.Capability{{
			Kind:   sdk.CapSQL,
			Name:   "online",
			Phases: []string{abi.PhaseServe, abi.PhaseApply, abi.PhaseTeardown},
		}},
		ConfigSchema: []byte(`{"type":"object"}`),
	}, func() sdk.OnlineStore { return newStore(sdk.SQL("online")) })
}

// main is never run: a -buildmode=c-shared module only runs init functions and exports.
func main() {}
