// Package sdktest runs an sdk-go plugin's tests twice with one test body:
//
//   - natively (plain `go test`, no Wasm): NativeOnlineStore drives the plugin registered
//     by the test binary's own init functions, with sdktest playing the host. Capabilities
//     are the host's real implementations (the sql capability on a real SQLite file), so a
//     plugin is debugged with ordinary Go tools against the semantics it will get in Wasm.
//   - as Wasm through the real host: BuildWasm compiles the plugin package for wasip1 and
//     WasmOnlineStore loads the module with host.LoadOnlineStore.
//
// Both return a host.OnlineStore, so a test written against that interface checks the
// plugin's logic and then its build:
//
//	func TestStore(t *testing.T) {
//		for name, open := range map[string]func(*testing.T, sdktest.Options) host.OnlineStore{
//			"native": sdktest.NativeOnlineStore,
//			"wasm":   func(t *testing.T, o sdktest.Options) host.OnlineStore { return sdktest.WasmOnlineStore(t, sdktest.BuildWasm(t, "."), o) },
//		} { ... }
//	}
//
// Natively, every call into the plugin holds one process-wide lock (the SDK keeps
// per-instance buffers in package state, as a Wasm module does), so native stores may be
// used from parallel tests but calls never overlap.
package sdktest
