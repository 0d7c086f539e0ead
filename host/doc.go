// Package host is the core of Larder: configuration, registry, online retrieval,
// materialization and the Wasm runtime that runs every store and transformation as a
// sandboxed plugin.
//
// # Plugins
//
// LoadOnlineStore loads an online_store plugin (a core Wasm module speaking ABI v1, see
// abi/spec/v1/README.md) and returns a *WasmOnlineStore, an OnlineStore safe for
// concurrent use. LoadPlugin loads a plugin of any kind for inspection. Both take a
// PluginConfig: the module path and optional sha256 pin, the JSON passed to larder_init,
// Limits (memory, deadlines, output, log and module size), the instance Pool, the
// crash-loop Breaker and the capability Grants.
//
// Loading reads the module within its size limit, checks the digest, compiles it once
// per digest (the compiled code is cached on disk in CacheDir, DefaultCacheDir() by
// default), finds the version marker export larder_abi_v<M>_<m> before instantiating,
// checks the required exports and their types and that every import is provided, then
// instantiates the first instance (running _initialize for Go reactors), reads the
// manifest from larder_describe and configures the instance with larder_init.
//
// A call that outlives its deadline is stopped: at load the module's loops are
// instrumented to check a flag the host sets at the deadline (RATIONALE.md explains why
// this replaces wazero's WithCloseOnContextDone, which remains the fallback).
//
// Each plugin gets its own wazero runtime (memory limits are runtime-wide) and a bounded
// pool of pre-warmed instances; a call takes an instance, runs, and returns it. An
// instance that trapped, ran past its deadline, hit the memory cap or returned invalid
// or oversized output is closed and replaced in the background, never reused. A non-OK
// status is an answer, not a fault: the instance stays. After repeated faults the
// breaker reports the plugin unhealthy and calls fail fast with ErrUnhealthy until a
// trial call succeeds.
//
// # Errors
//
// Every plugin error wraps a fault sentinel (ErrTrap, ErrDeadline, ErrMemoryLimit,
// ErrBadOutput, ErrOutputTooLarge, ErrABIVersion, ErrMissingExport, ErrUnhealthy, ...)
// or, for a non-OK status, the abi sentinel of that status (abi.ErrNotFound, ...)
// through *PluginStatusError with the plugin's larder_last_error message. FaultClass
// names the class ("trap", "deadline", "status", ...) for reports and metrics.
//
// # Capabilities
//
// Plugins reach nothing outside their memory except through host functions of the
// larder_v1 module, deny by default: cap_open of a name without a Grant fails with
// PERMISSION_DENIED. Every export call runs in a phase (init, serve, apply, teardown);
// a grant lists the phases it is valid in and schema changes are allowed only in apply
// and teardown. The `sql` capability binds a name to an embedded SQLite database,
// optionally limited to tables with a prefix.
//
// The package hosttest builds the fixture plugins of conformance/fixtures and runs soak
// tests against plugins.
package host
