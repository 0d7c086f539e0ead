// Package conformance checks that an online store — a Wasm plugin loaded by the host, or a
// native Go store — behaves as ABI v1 (abi/spec/v1/README.md §8) and Feast's OnlineStore
// semantics require, and that the host survives hostile plugins.
//
// The semantic cases are data: JSON files in cases/ (embedded), each a named list of steps
// (update, write, read with expected cells, teardown, bulk and concurrent load). A thin
// engine runs them against a Target, a factory of fresh host.OnlineStore values, so the
// same cases run against host/nativestore and against any .wasm.
//
// Entry points:
//
//	conformance.RunOnlineStore(t, target)         // go test: one subtest per case
//	conformance.Run(ctx, target, opts) Report     // CLI (`larder conformance`), JSON report
//	conformance.RunOfflineStore(t, offlineTarget)  // offline plugins vs the reference join (pit/)
//	conformance.RunSandbox(t, sandboxOpts)        // hostile fixtures + soak under go test
//	conformance.Sandbox(ctx, sandboxOpts) Report
//
// README.md documents the case format, the report schema and how plugin authors use both.
package conformance
