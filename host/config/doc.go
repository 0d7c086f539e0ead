// Package config reads feature_store.yaml: Feast's keys as Feast writes them (project,
// registry, provider, online_store, offline_store, entity_key_serialization_version,
// feature_server, auth, ${ENV_VAR} substitution), plus Larder's plugin loading: a store
// `type` names a first-party Wasm plugin, and `type: wasm` loads a third-party module
// with its sha256, sandbox limits, capability grants and init config.
//
// Start at Load, which returns a plain Config. Every problem in the file is reported with
// file:line and the full key path (e.g. "feature_store.yaml:9: online_store.limits.memry:
// unknown key (did you mean "memory"?)"); unknown keys are errors, except inside the
// store-specific parts that belong to a plugin (first-party store options, `config`),
// which the plugin's own config schema validates when it is loaded.
//
// Relative paths (registry, sqlite path, module path, grant paths) are resolved against the
// directory of feature_store.yaml, as Feast resolves them against the repo path.
package config
