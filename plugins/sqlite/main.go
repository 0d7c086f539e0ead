// Command sqlite is Larder's SQLite online store plugin: Feast's SQLite online-store layout
// (one table "{project}_{view}" per feature view, one row per entity and feature) reached
// through the host's sql capability named "online". See README.md.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o sqlite.wasm .
package main

import (
	"github.com/larder-dev/larder/abi"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// version of this plugin, reported in its manifest.
const version = "0.1.0"

func init() {
	sdk.RegisterOnlineStore(sdk.Plugin{
		ID:      "sqlite",
		Version: version,
		Capabilities: []sdk.Capability{{
			Kind:   sdk.CapSQL,
			Name:   "online",
			Phases: []string{abi.PhaseServe, abi.PhaseApply, abi.PhaseTeardown},
		}},
		ConfigSchema: []byte(`{"type":"object","additionalProperties":false}`),
	}, func() sdk.OnlineStore { return newStore(sdk.SQL("online")) })
}

// main is never run: a -buildmode=c-shared module only runs init functions and exports.
func main() {}
