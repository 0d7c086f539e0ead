// Package sdk is the Go SDK for Larder plugins: Wasm modules built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// A plugin is a package main with an empty main function. It registers itself from an
// init function, and the SDK provides every export the ABI requires (larder_alloc,
// larder_describe, larder_init, the kind's exports, the version marker larder_abi_v1_0):
//
//	func init() {
//		sdk.RegisterOnlineStore(sdk.Plugin{
//			ID: "sqlite", Version: "0.1.0",
//			Capabilities: []sdk.Capability{{Kind: sdk.CapSQL, Name: "online",
//				Phases: []string{abi.PhaseServe, abi.PhaseApply, abi.PhaseTeardown}}},
//		}, func() sdk.OnlineStore { return &store{db: sdk.SQL("online")} })
//	}
//
// Plugin code never uses unsafe or //go:wasmexport: the pointer plumbing is confined to
// the SDK's wasip1 file. Host resources are reached through capability clients (SQL, Log,
// Now), which the operator must grant.
//
// The same plugin code also compiles natively. Package sdktest then plays the host, so a
// plugin's tests run with plain `go test` against real SQLite, and again against the built
// .wasm through the real host.
//
// Memory: the SDK reuses one input arena, one output buffer and a set of capability
// response buffers per instance. Slices handed to plugin code (WriteBatch values, query
// results) alias those buffers and are valid only until the export call returns.
package sdk
