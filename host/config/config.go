package config

import (
	"encoding/json"
	"time"

	"github.com/larder-dev/larder/host/internal/yamlpos"
)

// Error is one problem in feature_store.yaml, with its file, line and full key path.
type Error = yamlpos.Error

// ErrorList is every problem Load found, in line order. Load returns it (as error) when
// the file is invalid; use errors.As to inspect positions.
type ErrorList = yamlpos.ErrorList

// Config is a parsed and validated feature_store.yaml. All relative paths in it have been
// resolved against RepoDir; all ${ENV} references have been substituted.
type Config struct {
	// File is the absolute path of the feature_store.yaml this came from.
	File string
	// RepoDir is the directory of File: the feature repo root, against which Feast (and
	// Larder) resolve relative paths.
	RepoDir string

	// Project namespaces everything: registry objects and online tables (<project>_<view>).
	Project string
	// Registry is where the registry file (or database) lives.
	Registry Registry
	// Provider is Feast's provider name. Larder runs everything in process, so it only
	// decides defaults; "local" unless set.
	Provider string
	// OnlineStore is nil when the file says `online_store: null` (online serving disabled).
	OnlineStore *Store
	// OfflineStore is nil when the file says `offline_store: null`.
	OfflineStore *Store
	// EntityKeySerializationVersion selects Feast's entity-key encoding (2 or 3; default 3).
	EntityKeySerializationVersion int
	// FeatureServer holds the feature_server section (Feast's MCP and server options).
	FeatureServer FeatureServer
	// Auth holds the auth section; Type is "no_auth" unless set.
	Auth Auth
}

// Registry types.
const (
	RegistryFile = "file"
	RegistrySQL  = "sql"
)

// Registry is the `registry` key, given either as a bare path or as a mapping.
type Registry struct {
	// Path is the registry file (resolved against RepoDir) or, for a URL such as
	// postgresql://… or s3://…, the URL as written.
	Path string
	// Type is RegistryFile (default) or RegistrySQL.
	Type string
	// CacheTTL is how long a server trusts its cached registry before re-reading it;
	// Feast's default is 600s, and 0 means never refresh.
	CacheTTL time.Duration
	// CacheMode is "sync" (refresh on the request that finds the cache stale, Feast's
	// default) or "thread" (refresh in the background).
	CacheMode string
	// EnableOnlineVersioning is Feast's enable_online_feature_view_versioning.
	EnableOnlineVersioning bool
	// Line is where the registry key is, for errors reported later.
	Line int
}

// Store kinds, matching the plugin manifest kinds of the ABI.
const (
	KindOnline  = "online_store"
	KindOffline = "offline_store"
)

// TypeWasm is the store type that loads a third-party module.
const TypeWasm = "wasm"

// Store is an online_store or offline_store section: which plugin to load and how to
// sandbox and configure it.
//
// A first-party store (`type: sqlite`, `redis`, …) has Plugin set to the plugin's name
// and Options holding the Feast keys of that store (path, connection_string, …). Some of
// those keys are capability bindings (a database file, a DSN with a password); the host's
// first-party plugin table decides which become grants, because the guest must never see
// credentials. A third-party store (`type: wasm`) has Plugin empty, Module and SHA256 set,
// and Config holding its `config` section, passed to larder_init as is.
type Store struct {
	// Kind is KindOnline or KindOffline.
	Kind string
	// Type is the type as written (after aliasing: "file" and "dask" offline stores are
	// served by the duckdb plugin, so Type stays "file" but Plugin is "duckdb").
	Type string
	// Plugin names the first-party plugin; empty for type: wasm.
	Plugin string
	// Module is the path of the .wasm to load. For a first-party plugin it is
	// <plugins dir>/<online|offline>/<plugin>.wasm when LoadOptions.PluginsDir is set, and
	// empty otherwise (use the plugin built into the binary).
	Module string
	// SHA256 is the expected lowercase hex digest of Module; always set for type: wasm,
	// optional for first-party plugins.
	SHA256 string
	// Limits bounds the plugin's sandbox; defaults from the ABI spec §7 fill what is unset.
	Limits Limits
	// Grants are the capabilities the operator grants the plugin (deny by default).
	Grants []Grant
	// Engine tunes the host's embedded DuckDB engine that runs an offline store's plans
	// (the `engine` key; offline_store only). Zero values keep the engine's defaults.
	Engine Engine
	// Options are the store-specific keys of a first-party store (relative `path` values
	// resolved), as plain JSON-compatible values. Nil for type: wasm.
	Options map[string]any
	// Config is the JSON object passed to the plugin's larder_init for type: wasm (the
	// `config` key; "{}" when absent). For first-party stores it is the JSON of Options.
	Config json.RawMessage
	// File and Line locate the section, for errors reported when the plugin is loaded.
	File string
	Line int
}

// Engine is the `engine` section of an offline store: resources of the DuckDB database the
// host opens for each offline read, retrieval or write. A request may still override
// them (`larder historical --memory-limit`).
type Engine struct {
	// MemoryBytes is DuckDB's memory_limit (`memory_limit`, e.g. 4GiB); beyond it joins,
	// aggregates and sorts spill to disk. 0 keeps DuckDB's default, 80% of RAM, which is
	// per database: concurrent retrievals each get that much.
	MemoryBytes uint64
	// Threads caps DuckDB's worker threads (`threads`); 0 means one per core.
	Threads int
	// TempDirectory is where each database's private spill directory is created
	// (`temp_directory`, relative to the repo directory); "" means the OS temp directory.
	TempDirectory string
}

// Limits are the per-plugin sandbox limits (ABI spec §7). Zero never means unlimited:
// Load fills every unset limit with DefaultLimits.
type Limits struct {
	MemoryBytes    uint64        // linear memory cap (`memory`, e.g. 64MiB)
	CallTimeout    time.Duration // per-call deadline while serving (`call_timeout`)
	ApplyTimeout   time.Duration // per-call deadline in apply/teardown (`apply_timeout`)
	MaxOutputBytes uint64        // largest result a call may return (`max_output_bytes`)
	MaxLogBytes    uint64        // log bytes per call (`max_log_bytes`)
	MaxModuleBytes uint64        // largest .wasm accepted (`max_module_bytes`)
	MaxInstances   int           // instance pool size (`max_instances`)
}

// DefaultLimits returns the ABI spec §7 defaults (and a pool of 8 instances).
func DefaultLimits() Limits {
	return Limits{
		MemoryBytes:    64 << 20,
		CallTimeout:    5 * time.Second,
		ApplyTimeout:   5 * time.Minute,
		MaxOutputBytes: 64 << 20,
		MaxLogBytes:    64 << 10,
		MaxModuleBytes: 32 << 20,
		MaxInstances:   8,
	}
}

// Grant binds one capability a plugin asks for (by kind and name in its manifest) to a
// real resource. Binding fields that do not apply to the kind are empty.
type Grant struct {
	Kind   string   // capability kind, e.g. "sql"
	Name   string   // the name the plugin asks for, e.g. "online"
	Phases []string // phases the grant is valid in; empty means every phase
	// Path is a database file (resolved against RepoDir).
	Path string
	// DSN is a connection string (postgres://…, redis://…).
	DSN string
	// TablePrefix limits a sql grant to tables whose names start with it.
	TablePrefix string
	// KeyPrefix limits a key-value grant to keys that start with it.
	KeyPrefix string
	// Operations limits the grant to these operations (e.g. QUERY, EXEC); empty means all
	// the kind allows in the phase.
	Operations []string
	Line       int
}

// FeatureServer is the feature_server section. Options holds every key but type and
// enabled, as plain values.
type FeatureServer struct {
	Type    string
	Enabled bool
	Options map[string]any
}

// Auth is the auth section: no_auth (default), oidc or kubernetes, with their keys in
// Options.
type Auth struct {
	Type    string
	Options map[string]any
}
