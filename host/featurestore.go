package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/larder-dev/larder/host/config"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/registry"
)

// FeatureStore is a feature repo opened for use: its feature_store.yaml, its registry
// (cached, refreshed per cache_ttl_seconds) and its stores, loaded as plugins on first use.
// It is safe for concurrent use.
type FeatureStore struct {
	cfg      *config.Config
	opts     OpenOptions
	log      *slog.Logger
	regStore *registry.FileStore

	// Stores are loaded once, on first use: plan and registry-dump need none, serve
	// loads them before it listens (Warm).
	storeMu sync.Mutex
	online  OnlineStore
	offline OfflineStore
	// odfvMods caches on-demand feature views' modules by sha256 (odfv.go).
	odfvMods odfvModules

	// The registry cache. snap is replaced, never mutated; refreshing is set while a
	// background reload runs.
	snap       atomic.Pointer[snapshot]
	loadMu     sync.Mutex
	refreshing atomic.Bool

	// writeMu serialises read-modify-write cycles of the registry file in this process
	// (apply, teardown, materialization intervals).
	writeMu sync.Mutex

	closed atomic.Bool
}

// OpenOptions configure Open. The zero value is usable.
type OpenOptions struct {
	// ConfigFile is the feature_store.yaml to use; default <repoDir>/feature_store.yaml
	// (Feast's `-f`).
	ConfigFile string
	// PluginDir is where first-party plugin modules are looked for; empty means
	// DefaultPluginDirs().
	PluginDir string
	// CacheDir is the plugins' compilation cache: "" = DefaultCacheDir(), "-" = none.
	CacheDir string
	// Logger receives plugin logs and background errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock (materialization windows, registry timestamps); nil = time.Now.
	Now func() time.Time
	// RegistryTTL, when RegistryTTLSet, overrides the registry's cache_ttl_seconds
	// (`serve --registry_ttl_sec`); 0 then means never refresh.
	RegistryTTL    time.Duration
	RegistryTTLSet bool
	// OnlineStore, when set, serves instead of the online_store section's plugin (an
	// embedder's own store; the native side of paired benchmarks). Close closes it.
	OnlineStore OnlineStore
}

// Open reads the repo's feature_store.yaml and prepares the registry. It neither loads
// plugins nor reads the feature definitions: commands that need them do so.
func Open(ctx context.Context, repoDir string, opts OpenOptions) (*FeatureStore, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	file := opts.ConfigFile
	if file == "" {
		file = filepath.Join(repoDir, config.FileName)
	}
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	if opts.RegistryTTLSet {
		cfg.Registry.CacheTTL = opts.RegistryTTL
	}
	if cfg.Registry.Type != config.RegistryFile {
		return nil, fmt.Errorf("%s:%d: registry type %q is not supported yet (use a registry file path)",
			cfg.File, cfg.Registry.Line, cfg.Registry.Type)
	}
	if strings.Contains(cfg.Registry.Path, "://") && !strings.HasPrefix(cfg.Registry.Path, "file://") {
		return nil, fmt.Errorf("%s:%d: registry %q: only local registry files are supported yet",
			cfg.File, cfg.Registry.Line, cfg.Registry.Path)
	}
	return &FeatureStore{
		cfg:      cfg,
		opts:     opts,
		log:      opts.Logger,
		regStore: registry.NewFileStore(strings.TrimPrefix(cfg.Registry.Path, "file://")),
	}, nil
}

// Config returns the parsed feature_store.yaml.
func (fs *FeatureStore) Config() *config.Config { return fs.cfg }

// Project is the project this store serves.
func (fs *FeatureStore) Project() string { return fs.cfg.Project }

// RepoDir is the feature repo directory.
func (fs *FeatureStore) RepoDir() string { return fs.cfg.RepoDir }

// keyVersion is the configured entity-key serialization version.
func (fs *FeatureStore) keyVersion() int {
	if v := fs.cfg.EntityKeySerializationVersion; v != 0 {
		return v
	}
	return feast.DefaultEntityKeySerializationVersion
}

// Warm loads every configured store now, so that serving never loads a plugin on a
// request and a missing or broken plugin stops `serve` before it listens.
func (fs *FeatureStore) Warm(ctx context.Context) error {
	if _, err := fs.Registry(ctx); err != nil {
		return err
	}
	if fs.cfg.OnlineStore != nil {
		if _, err := fs.onlineStore(ctx); err != nil {
			return err
		}
	}
	// On-demand feature views' modules load with the registry, not on a request.
	if _, err := fs.odfvIndex(ctx); err != nil {
		return err
	}
	if fs.cfg.OfflineStore != nil {
		if _, err := fs.offlineStore(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the plugins.
func (fs *FeatureStore) Close(ctx context.Context) error {
	if fs.closed.Swap(true) {
		return nil
	}
	fs.storeMu.Lock()
	defer fs.storeMu.Unlock()
	var errs []error
	if fs.online != nil {
		errs = append(errs, fs.online.Close(ctx))
	}
	if fs.offline != nil {
		errs = append(errs, fs.offline.Close(ctx))
	}
	errs = append(errs, fs.odfvMods.close(ctx))
	return errors.Join(errs...)
}

// Health reports whether the store can serve: the registry is readable and the online
// store plugin is loaded and not tripped by its crash-loop breaker.
func (fs *FeatureStore) Health(ctx context.Context) error {
	if fs.closed.Load() {
		return errors.New("feature store is closed")
	}
	snap, err := fs.snapshot(ctx)
	if err != nil {
		return err
	}
	if snap.missing {
		return fmt.Errorf("registry %s does not exist yet (run `larder apply`)", fs.regStore.Path())
	}
	if fs.cfg.OnlineStore == nil {
		return nil
	}
	st, err := fs.onlineStore(ctx)
	if err != nil {
		return err
	}
	if h, ok := st.(interface{ Health() Health }); ok {
		if hh := h.Health(); !hh.Healthy() {
			return fmt.Errorf("online store plugin is %s (last fault: %s)", hh.State, hh.LastFault)
		}
	}
	return nil
}

// ---- registry cache ----

// snapshot is one version of the registry as read from disk, plus whatever the serving
// code derives from it. It is immutable: a refresh makes a new snapshot.
type snapshot struct {
	reg     *registry.Registry
	missing bool      // no registry file yet: reg is empty
	loaded  time.Time // when it was read (or confirmed unchanged)
	modTime time.Time // file identity, to skip re-parsing an unchanged file
	size    int64

	memoMu sync.Mutex
	memo   map[string]*memoEntry
}

type memoEntry struct {
	once sync.Once
	v    any
	err  error
}

// derive returns what build computes from the snapshot's registry, computing it at most
// once per snapshot: the serving index, say, is built once per registry version and
// shared by every request.
func (s *snapshot) derive(key string, build func(*registry.Registry) (any, error)) (any, error) {
	s.memoMu.Lock()
	if s.memo == nil {
		s.memo = map[string]*memoEntry{}
	}
	e := s.memo[key]
	if e == nil {
		e = &memoEntry{}
		s.memo[key] = e
	}
	s.memoMu.Unlock()
	e.once.Do(func() { e.v, e.err = build(s.reg) })
	return e.v, e.err
}

// Registry returns the cached registry. Treat it as read-only: it is shared.
func (fs *FeatureStore) Registry(ctx context.Context) (*registry.Registry, error) {
	s, err := fs.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return s.reg, nil
}

// snapshot returns the cached registry snapshot. The first call reads the registry; later
// calls never wait for the disk: once the cache is older than cache_ttl_seconds they
// start one background refresh and keep answering from the current snapshot until it
// lands (Feast's "sync" cache mode refreshes inline; serving stale for a moment keeps
// every request off the registry parser, which is the point of the cache).
func (fs *FeatureStore) snapshot(ctx context.Context) (*snapshot, error) {
	s := fs.snap.Load()
	if s == nil {
		fs.loadMu.Lock()
		defer fs.loadMu.Unlock()
		if s = fs.snap.Load(); s != nil {
			return s, nil
		}
		s, err := fs.readSnapshot(nil)
		if err != nil {
			return nil, err
		}
		fs.snap.Store(s)
		return s, nil
	}
	ttl := fs.cfg.Registry.CacheTTL
	if ttl > 0 && fs.opts.Now().Sub(s.loaded) >= ttl && fs.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer fs.refreshing.Store(false)
			if err := fs.Refresh(); err != nil {
				fs.log.Warn("refreshing the registry cache", slog.String("registry", fs.regStore.Path()), slog.String("error", err.Error()))
			}
		}()
	}
	return s, nil
}

// Refresh re-reads the registry now (if the file changed) and replaces the cache.
func (fs *FeatureStore) Refresh() error {
	fs.loadMu.Lock()
	defer fs.loadMu.Unlock()
	s, err := fs.readSnapshot(fs.snap.Load())
	if err != nil {
		return err
	}
	fs.snap.Store(s)
	return nil
}

// readSnapshot reads the registry file; when it is the same file as prev's (same
// modification time and size) it reuses prev's registry and derived data.
func (fs *FeatureStore) readSnapshot(prev *snapshot) (*snapshot, error) {
	now := fs.opts.Now()
	st, err := os.Stat(fs.regStore.Path())
	if errors.Is(err, os.ErrNotExist) {
		return &snapshot{reg: &registry.Registry{}, missing: true, loaded: now}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading registry: %w", err)
	}
	if prev != nil && !prev.missing && st.ModTime().Equal(prev.modTime) && st.Size() == prev.size {
		return &snapshot{reg: prev.reg, loaded: now, modTime: prev.modTime, size: prev.size, memo: prev.copyMemo()}, nil
	}
	reg, err := fs.regStore.Load()
	if err != nil {
		return nil, err
	}
	return &snapshot{reg: reg, loaded: now, modTime: st.ModTime(), size: st.Size()}, nil
}

func (s *snapshot) copyMemo() map[string]*memoEntry {
	s.memoMu.Lock()
	defer s.memoMu.Unlock()
	m := make(map[string]*memoEntry, len(s.memo))
	for k, v := range s.memo {
		m[k] = v
	}
	return m
}

// loadForUpdate reads the registry afresh from disk for a read-modify-write cycle (the
// cache may be stale, and another process may have written it). Call with writeMu held.
func (fs *FeatureStore) loadForUpdate() (*registry.Registry, bool, error) {
	reg, err := fs.regStore.Load()
	if errors.Is(err, os.ErrNotExist) {
		return &registry.Registry{}, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return reg, false, nil
}

// saveRegistry writes reg atomically and makes it the cached snapshot. Call with writeMu
// held.
func (fs *FeatureStore) saveRegistry(reg *registry.Registry) error {
	if err := fs.regStore.Save(reg); err != nil {
		return err
	}
	fs.loadMu.Lock()
	defer fs.loadMu.Unlock()
	s := &snapshot{reg: reg, loaded: fs.opts.Now()}
	if st, err := os.Stat(fs.regStore.Path()); err == nil {
		s.modTime, s.size = st.ModTime(), st.Size()
	}
	fs.snap.Store(s)
	return nil
}

// ---- plugins ----

// PluginDirEnv names the environment variable holding the directory of first-party
// plugin modules.
const PluginDirEnv = "LARDER_PLUGIN_DIR"

// FindPlugin returns the first existing first-party plugin module named name among dirs,
// trying <dir>/<name>.wasm (the layout `make plugins` builds) and then
// <dir>/<kind>/<name>.wasm (kind "online" or "offline"). Empty dirs are skipped. It
// returns "" when there is none.
func FindPlugin(dirs []string, kind, name string) string {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		cands := []string{filepath.Join(d, name+".wasm")}
		if kind != "" {
			cands = append(cands, filepath.Join(d, kind, name+".wasm"))
		}
		for _, c := range cands {
			if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
				if abs, err := filepath.Abs(c); err == nil {
					return abs
				}
				return c
			}
		}
	}
	return ""
}

// DefaultPluginDirs are where first-party plugins are looked for when no directory is
// configured: $LARDER_PLUGIN_DIR, plugins/ next to the running binary (the build puts the
// binary at build/larder and the plugins in build/plugins), and ./build/plugins.
func DefaultPluginDirs() []string {
	dirs := []string{os.Getenv(PluginDirEnv)}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dirs = append(dirs, filepath.Join(filepath.Dir(exe), "plugins"))
	}
	return append(dirs, filepath.Join("build", "plugins"))
}

func (fs *FeatureStore) pluginDirs() []string {
	if fs.opts.PluginDir != "" {
		return []string{fs.opts.PluginDir}
	}
	return DefaultPluginDirs()
}

// onlineStore returns the online store, loading its plugin on first use.
func (fs *FeatureStore) onlineStore(ctx context.Context) (OnlineStore, error) {
	fs.storeMu.Lock()
	defer fs.storeMu.Unlock()
	if fs.online != nil {
		return fs.online, nil
	}
	if fs.closed.Load() {
		return nil, errors.New("feature store is closed")
	}
	if fs.opts.OnlineStore != nil {
		fs.online = fs.opts.OnlineStore
		return fs.online, nil
	}
	if fs.cfg.OnlineStore == nil {
		return nil, Requestf(Unprocessable, "online_store", "%s has no online store (online_store: null)", fs.cfg.File)
	}
	pc, err := fs.pluginConfig(fs.cfg.OnlineStore, "online")
	if err != nil {
		return nil, err
	}
	st, err := LoadOnlineStore(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: loading the online store: %w", fs.cfg.OnlineStore.File, fs.cfg.OnlineStore.Line, err)
	}
	fs.online = st
	return st, nil
}

// offlineStore returns the offline store, loading its plugin on first use.
func (fs *FeatureStore) offlineStore(ctx context.Context) (OfflineStore, error) {
	fs.storeMu.Lock()
	defer fs.storeMu.Unlock()
	if fs.offline != nil {
		return fs.offline, nil
	}
	if fs.closed.Load() {
		return nil, errors.New("feature store is closed")
	}
	if fs.cfg.OfflineStore == nil {
		return nil, Requestf(Unprocessable, "offline_store", "%s has no offline store (offline_store: null)", fs.cfg.File)
	}
	pc, err := fs.pluginConfig(fs.cfg.OfflineStore, "offline")
	if err != nil {
		return nil, err
	}
	st, err := LoadOfflineStore(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: loading the offline store: %w", fs.cfg.OfflineStore.File, fs.cfg.OfflineStore.Line, err)
	}
	st.pg = offlinePostgresConfig(fs.cfg.OfflineStore)
	fs.offline = st
	return st, nil
}

// firstPartyBindings turns the Feast options of a first-party store that name resources
// (a database file, a DSN) into capability grants: the plugin never sees them, the host
// opens them on its behalf. It returns the grants and the options left for larder_init.
var firstPartyBindings = map[string]func(s *config.Store, project string) ([]Grant, map[string]any, error){
	// Feast's SQLite store keeps one table per view named <project>_<view> in `path`.
	"sqlite": func(s *config.Store, project string) ([]Grant, map[string]any, error) {
		rest := map[string]any{}
		path := ""
		for k, v := range s.Options {
			if k == "path" {
				p, ok := v.(string)
				if !ok || p == "" {
					return nil, nil, fmt.Errorf("%s:%d: online_store.path must be a file path", s.File, s.Line)
				}
				path = p
				continue
			}
			rest[k] = v
		}
		return []Grant{{Kind: "sql", Name: "online", SQL: &SQLGrant{Path: path, TablePrefix: project + "_"}}}, rest, nil
	},
	// Feast's Redis store: connection_string (with any password), redis_type and
	// sentinel_master bind the capability; key_ttl_seconds, skip_dedup and
	// full_scan_for_deletion go to the plugin.
	"redis": func(s *config.Store, project string) ([]Grant, map[string]any, error) {
		g := &RedisGrant{Connection: "localhost:6379"} // Feast's default connection_string
		rest := map[string]any{}
		for k, v := range s.Options {
			str, isStr := v.(string)
			switch k {
			case "connection_string", "redis_type", "sentinel_master":
				if !isStr {
					return nil, nil, fmt.Errorf("%s:%d: online_store.%s must be a string", s.File, s.Line, k)
				}
				switch k {
				case "connection_string":
					g.Connection = str
				case "redis_type":
					g.Type = str
				default:
					g.SentinelMaster = str
				}
			default:
				rest[k] = v
			}
		}
		return []Grant{{Kind: "redis", Name: "online", Redis: g}}, rest, nil
	},
	// Feast's Postgres online store: host, port, database, user, password, sslmode and the
	// ssl*_path keys make the DSN of the capability; db_schema its schema (default: the
	// user, as in Feast); tables are "{project}_{view}".
	"postgres": func(s *config.Store, project string) ([]Grant, map[string]any, error) {
		dsn, schema, rest := postgresConnection(s)
		return []Grant{{Kind: "sql", Name: "online", SQL: &SQLGrant{DSN: dsn, Schema: schema, TablePrefix: project + "_"}}}, rest, nil
	},
	// Feast's DynamoDB store: region and endpoint_url bind the capability (credentials come
	// from the AWS chain, never from the file); the rest (table_name_template,
	// consistent_reads…) goes to the plugin.
	"dynamodb": func(s *config.Store, project string) ([]Grant, map[string]any, error) {
		g := &DynamoGrant{}
		rest := map[string]any{}
		for k, v := range s.Options {
			switch k {
			case "region", "endpoint_url":
				str, ok := v.(string)
				if !ok {
					return nil, nil, fmt.Errorf("%s:%d: online_store.%s must be a string", s.File, s.Line, k)
				}
				if k == "region" {
					g.Region = str
				} else {
					g.Endpoint = str
				}
			default:
				rest[k] = v
			}
		}
		if g.Region == "" {
			return nil, nil, fmt.Errorf("%s:%d: online_store.region is required for type: dynamodb (as in Feast)", s.File, s.Line)
		}
		return []Grant{{Kind: "dynamodb", Name: "online", Dynamo: g}}, rest, nil
	},
	// The duckdb plugin only plans; Feast's file offline store options do not concern it.
	"duckdb": func(s *config.Store, project string) ([]Grant, map[string]any, error) {
		return nil, map[string]any{}, nil
	},
}

// pluginConfig resolves a store section to the module to load and its sandbox.
func (fs *FeatureStore) pluginConfig(s *config.Store, kind string) (PluginConfig, error) {
	pc := PluginConfig{
		Path: s.Module, SHA256: s.SHA256, Config: s.Config, CacheDir: fs.opts.CacheDir, Logger: fs.log,
		Limits: Limits{
			MemoryBytes: s.Limits.MemoryBytes, CallTimeout: s.Limits.CallTimeout, ApplyTimeout: s.Limits.ApplyTimeout,
			MaxOutputBytes: int(s.Limits.MaxOutputBytes), MaxLogBytes: int(s.Limits.MaxLogBytes),
			MaxModuleBytes: int(s.Limits.MaxModuleBytes),
		},
		Pool: PoolConfig{Max: s.Limits.MaxInstances},
	}
	if s.Plugin != "" {
		if pc.Path == "" {
			pc.Path = FindPlugin(fs.pluginDirs(), kind, s.Plugin)
			if pc.Path == "" {
				return pc, fmt.Errorf("%s:%d: %s store type %q needs the %s plugin, and %s.wasm is in none of %s; build it with `make plugins` or point $%s at the directory holding it",
					s.File, s.Line, kind, s.Type, s.Plugin, s.Plugin, quoteList(nonEmpty(fs.pluginDirs())), PluginDirEnv)
			}
		}
		bind, ok := firstPartyBindings[s.Plugin]
		if !ok {
			return pc, fmt.Errorf("%s:%d: %s store type %q (plugin %s) is not available in this build yet", s.File, s.Line, kind, s.Type, s.Plugin)
		}
		grants, rest, err := bind(s, fs.cfg.Project)
		if err != nil {
			return pc, err
		}
		pc.Grants = grants
		if pc.Config, err = json.Marshal(rest); err != nil {
			return pc, fmt.Errorf("%s:%d: encoding the %s plugin config: %w", s.File, s.Line, s.Plugin, err)
		}
	}
	for _, g := range s.Grants {
		hg := Grant{Kind: g.Kind, Name: g.Name, Phases: g.Phases}
		switch g.Kind {
		case "sql":
			switch {
			case g.DSN != "":
				hg.SQL = &SQLGrant{DSN: g.DSN, TablePrefix: g.TablePrefix}
			case g.Path != "":
				hg.SQL = &SQLGrant{Path: g.Path, TablePrefix: g.TablePrefix}
			default:
				return pc, fmt.Errorf("%s:%d: grant sql %q needs a path (an SQLite database file) or a dsn (PostgreSQL)", s.File, g.Line, g.Name)
			}
		case "redis":
			if g.DSN == "" {
				return pc, fmt.Errorf("%s:%d: grant redis %q needs a dsn (a redis:// URL or a Feast connection_string)", s.File, g.Line, g.Name)
			}
			hg.Redis = &RedisGrant{Connection: g.DSN, KeyPrefix: g.KeyPrefix, Commands: g.Operations}
		default:
			return pc, fmt.Errorf("%s:%d: grant of kind %q: this host provides sql and redis capabilities", s.File, g.Line, g.Kind)
		}
		replaced := false
		for i := range pc.Grants {
			if pc.Grants[i].Kind == hg.Kind && pc.Grants[i].Name == hg.Name {
				pc.Grants[i], replaced = hg, true
			}
		}
		if !replaced {
			pc.Grants = append(pc.Grants, hg)
		}
	}
	return pc, nil
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
