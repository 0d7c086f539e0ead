package host

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/larder-dev/larder/host/internal/capdynamo"
	"github.com/larder-dev/larder/host/internal/cappg"
	"github.com/larder-dev/larder/host/internal/capredis"
	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/larder-dev/larder/host/internal/capsql"
	"github.com/larder-dev/larder/host/internal/wasm"
)

// PluginConfig says which module to load and how to confine it.
type PluginConfig struct {
	// Path of the .wasm module.
	Path string
	// SHA256 pins the module's digest (hex, "sha256:" prefix allowed). Required for
	// third-party modules by the config layer; empty here means not pinned.
	SHA256 string
	// Config is the JSON object passed to larder_init; nil means {}.
	Config json.RawMessage
	Limits Limits
	Pool   PoolConfig
	// Breaker tunes the crash-loop breaker.
	Breaker BreakerConfig
	// Grants bind the capabilities the plugin may open; everything else is denied.
	Grants []Grant
	// CacheDir holds compiled code across runs; "" = DefaultCacheDir(), "-" = no disk cache.
	CacheDir string
	// Logger receives what the plugin logs; nil discards it.
	Logger *slog.Logger
}

// Limits confine one plugin. Zero values take the defaults in brackets (spec §7).
type Limits struct {
	MemoryBytes    uint64        // linear memory cap [64 MiB]
	CallTimeout    time.Duration // deadline of serve and init calls [5 s]
	ApplyTimeout   time.Duration // deadline of update and teardown calls [5 min]
	MaxOutputBytes int           // result and capability response size [64 MiB]
	MaxLogBytes    int           // plugin log bytes kept per call [64 KiB]
	MaxModuleBytes int           // module file size [32 MiB]
	// TrustedNoInterrupt turns off the per-loop deadline checks for a reviewed
	// first-party plugin: a guest that never returns can then not be stopped. See
	// RATIONALE.md, "Why are plugin loops instrumented instead of using
	// WithCloseOnContextDone?".
	TrustedNoInterrupt bool
	// ForceCloseOnContextDone stops calls with wazero's WithCloseOnContextDone even
	// when the module's loops could be instrumented (for comparison and as an escape
	// hatch).
	ForceCloseOnContextDone bool
}

// PoolConfig bounds the instances of a plugin; each serves one call at a time.
type PoolConfig struct {
	Min               int // kept warm [1]
	Max               int // at most [2 × GOMAXPROCS]
	RecycleAfterCalls int // replace an instance after this many calls [never]
}

// BreakerConfig: Faults faults within Window make the plugin unhealthy; calls then fail
// fast for Cooldown, after which one trial call decides.
type BreakerConfig struct {
	Faults   int // [5]; negative disables the breaker
	Window   time.Duration
	Cooldown time.Duration
}

// Grant binds a capability name the plugin asks for to a real resource.
type Grant struct {
	Kind   string   // capability kind, e.g. "sql"
	Name   string   // the name the plugin opens, e.g. "online"
	Phases []string // phases it may be used in (init, serve, apply, teardown); empty = all
	SQL    *SQLGrant
	Redis  *RedisGrant
	Dynamo *DynamoGrant
}

// SQLGrant binds a `sql` capability to an SQLite database (Path) or a PostgreSQL one (DSN).
type SQLGrant struct {
	Path        string // database file, created when missing
	TablePrefix string // every table the plugin touches must start with it; "" = any
	// DSN binds PostgreSQL instead (postgres:// URL or key=value string); Schema is its
	// search_path schema, created when missing ("" = the user's name, as in Feast).
	DSN    string
	Schema string
}

// RedisGrant binds a `redis` capability (spec §6.2) to a Redis server, cluster or
// Sentinel-managed master.
type RedisGrant struct {
	// Connection is a redis:// or rediss:// URL or Feast's connection_string
	// ("host:port,db=0,ssl=true,password=…"; several host:port for a cluster or sentinels).
	Connection string
	// Type is Feast's redis_type: redis (default), redis_cluster or redis_sentinel.
	Type string
	// SentinelMaster names the master for redis_sentinel ["mymaster"].
	SentinelMaster string
	// KeyPrefix is a namespace the host prepends to every key the plugin names; "" = the
	// whole database (Feast's layout, shared with Feast).
	KeyPrefix string
	// Commands allow-lists commands (HMGET, HSET…); empty = all of §6.2.
	Commands []string
}

// DynamoGrant binds a `dynamodb` capability (spec §6.3). Credentials come from the AWS
// default chain (static dummy ones for a local Endpoint when none are set).
type DynamoGrant struct {
	Region   string // [us-east-1]
	Endpoint string // endpoint override (dynalite, DynamoDB Local); "" = AWS
	// Namespace is prepended to every table name by the host, invisibly to the plugin.
	Namespace string
	// TablePrefix: every table name the plugin uses must start with it; "" = any.
	TablePrefix string
}

// DefaultCacheDir is the compilation cache used when PluginConfig.CacheDir is empty.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "larder", "wazero")
}

// Manifest is what a plugin says about itself in larder_describe (spec §3.2).
type Manifest struct {
	ID           string
	Kind         string
	Version      string
	SDK          string
	Capabilities []CapabilityRequest
	ConfigSchema json.RawMessage
	Features     []string
	Raw          json.RawMessage // the manifest as the plugin returned it
}

// CapabilityRequest is one resource a plugin asks for.
type CapabilityRequest struct {
	Kind   string
	Name   string
	Phases []string
}

// PluginInfo is what was learned when loading a plugin.
type PluginInfo struct {
	Path          string
	SHA256        string
	ABIVersion    string // e.g. "1.0"
	Manifest      Manifest
	Exports       []string
	MemoryBytes   uint64
	Interruptible bool
	// InterruptMode is how a call is stopped at its deadline: "loop_flag" (loops check
	// a flag the host sets), "close_on_context_done" (wazero's own mechanism, for
	// modules the instrumentation cannot handle) or "none" (TrustedNoInterrupt).
	InterruptMode string
	// Ungranted lists requested capabilities that no grant binds; calls using them
	// will be refused with PERMISSION_DENIED.
	Ungranted []CapabilityRequest
}

// Health is a plugin's state: "healthy", "unhealthy" (the breaker is open: calls fail
// fast until RetryAt), "recovering" (a trial call decides) or "closed".
type Health struct {
	State          string
	Since          time.Time
	RetryAt        time.Time
	LastFault      string
	LastFaultClass string
	RecentFaults   int
	Instances      int
	IdleInstances  int
	Calls          uint64
	Faults         uint64
	Created        uint64
	Discarded      uint64
}

// Healthy reports whether calls currently go through.
func (h Health) Healthy() bool { return h.State == "healthy" }

// Plugin is a loaded Wasm plugin of any kind.
type Plugin struct {
	cfg  PluginConfig
	w    *wasm.Plugin
	info PluginInfo
}

// LoadPlugin loads and checks a plugin of any kind: size, digest, ABI version, exports,
// imports, manifest; it instantiates and initialises the first instance.
func LoadPlugin(ctx context.Context, cfg PluginConfig) (*Plugin, error) {
	return loadPlugin(ctx, cfg, "")
}

func loadPlugin(ctx context.Context, cfg PluginConfig, kind string) (*Plugin, error) {
	grants, err := buildGrants(cfg)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", cfg.Path, err)
	}
	cacheDir := cfg.CacheDir
	switch cacheDir {
	case "":
		cacheDir = DefaultCacheDir()
	case "-":
		cacheDir = ""
	}
	opts := wasm.Options{
		Path: cfg.Path, SHA256: cfg.SHA256, Config: cfg.Config, Kind: kind,
		MemoryBytes: cfg.Limits.MemoryBytes, CallTimeout: cfg.Limits.CallTimeout,
		ApplyTimeout: cfg.Limits.ApplyTimeout, MaxOutputBytes: cfg.Limits.MaxOutputBytes,
		MaxLogBytes: cfg.Limits.MaxLogBytes, MaxModuleBytes: cfg.Limits.MaxModuleBytes,
		Interrupt: interruptMode(cfg.Limits),
		PoolMin:   cfg.Pool.Min, PoolMax: cfg.Pool.Max, RecycleAfterCalls: cfg.Pool.RecycleAfterCalls,
		BreakerFaults: cfg.Breaker.Faults, BreakerWindow: cfg.Breaker.Window, BreakerCooldown: cfg.Breaker.Cooldown,
		CacheDir: cacheDir, Grants: grants, Logger: cfg.Logger,
	}
	w, err := wasm.Open(ctx, opts)
	if err != nil {
		grants.Close()
		return nil, err
	}
	p := &Plugin{cfg: cfg, w: w}
	p.info = infoOf(cfg, w, grants)
	return p, nil
}

func interruptMode(l Limits) wasm.InterruptMode {
	switch {
	case l.TrustedNoInterrupt:
		return wasm.InterruptNone
	case l.ForceCloseOnContextDone:
		return wasm.InterruptCloseOnDone
	}
	return wasm.InterruptAuto
}

func buildGrants(cfg PluginConfig) (set *caps.Set, err error) {
	var bs []*caps.Binding
	// Providers hold connection pools (Redis, PostgreSQL): close the ones already built
	// when a later grant fails.
	defer func() {
		if err != nil {
			for _, b := range bs {
				b.Provider.Close()
			}
		}
	}()
	for i, g := range cfg.Grants {
		phases, err := caps.ParsePhases(g.Phases)
		if err != nil {
			return nil, fmt.Errorf("grant %d (%s/%s): %w", i, g.Kind, g.Name, err)
		}
		b := &caps.Binding{Kind: g.Kind, Name: g.Name, Phases: phases}
		switch g.Kind {
		case "sql":
			if g.SQL == nil {
				return nil, fmt.Errorf("grant %d (sql/%s): no SQLite database bound (SQL.Path)", i, g.Name)
			}
			maxResp := cfg.Limits.MaxOutputBytes
			if g.SQL.DSN != "" {
				prov, err := cappg.New(cappg.Options{DSN: g.SQL.DSN, Schema: g.SQL.Schema, TablePrefix: g.SQL.TablePrefix, MaxResponseBytes: maxResp})
				if err != nil {
					return nil, fmt.Errorf("grant %d (sql/%s): %w", i, g.Name, err)
				}
				b.Provider = prov
				break
			}
			prov, err := capsql.New(capsql.Options{Path: g.SQL.Path, TablePrefix: g.SQL.TablePrefix, MaxResponseBytes: maxResp})
			if err != nil {
				return nil, fmt.Errorf("grant %d (sql/%s): %w", i, g.Name, err)
			}
			b.Provider = prov
		case "redis":
			if g.Redis == nil {
				return nil, fmt.Errorf("grant %d (redis/%s): no Redis bound (Redis.Connection)", i, g.Name)
			}
			prov, err := capredis.New(capredis.Options{Connection: g.Redis.Connection, Type: g.Redis.Type,
				SentinelMaster: g.Redis.SentinelMaster, KeyPrefix: g.Redis.KeyPrefix, Commands: g.Redis.Commands,
				MaxResponseBytes: cfg.Limits.MaxOutputBytes})
			if err != nil {
				return nil, fmt.Errorf("grant %d (redis/%s): %w", i, g.Name, err)
			}
			b.Provider = prov
		case "dynamodb":
			if g.Dynamo == nil {
				return nil, fmt.Errorf("grant %d (dynamodb/%s): no DynamoDB bound (Dynamo)", i, g.Name)
			}
			prov, err := capdynamo.New(capdynamo.Options{Region: g.Dynamo.Region, Endpoint: g.Dynamo.Endpoint,
				Namespace: g.Dynamo.Namespace, TablePrefix: g.Dynamo.TablePrefix, MaxResponseBytes: cfg.Limits.MaxOutputBytes})
			if err != nil {
				return nil, fmt.Errorf("grant %d (dynamodb/%s): %w", i, g.Name, err)
			}
			b.Provider = prov
		default:
			return nil, fmt.Errorf("grant %d: unknown capability kind %q (this host provides: sql, redis, dynamodb)", i, g.Kind)
		}
		bs = append(bs, b)
	}
	return caps.NewSet(bs)
}

func infoOf(cfg PluginConfig, w *wasm.Plugin, grants *caps.Set) PluginInfo {
	wi := w.Info()
	m := wi.Manifest
	inf := PluginInfo{
		Path: cfg.Path, SHA256: wi.Digest, ABIVersion: fmt.Sprintf("%d.%d", wi.ABIMajor, wi.ABIMinor),
		Exports: wi.Exports, MemoryBytes: wi.MemoryCap,
		Interruptible: wi.Interrupt != wasm.InterruptNone, InterruptMode: wi.Interrupt.String(),
		Manifest: Manifest{ID: m.ID, Kind: m.Kind, Version: m.Version, SDK: m.SDK,
			ConfigSchema: m.ConfigSchema, Features: m.Features, Raw: m.Raw},
	}
	for _, c := range m.Capabilities {
		cr := CapabilityRequest{Kind: c.Kind, Name: c.Name, Phases: c.Phases}
		inf.Manifest.Capabilities = append(inf.Manifest.Capabilities, cr)
		if grants.Lookup(c.Kind, c.Name) == nil {
			inf.Ungranted = append(inf.Ungranted, cr)
		}
	}
	return inf
}

// Info returns what was learned when loading the plugin.
func (p *Plugin) Info() PluginInfo { return p.info }

// Manifest returns the plugin's self-description.
func (p *Plugin) Manifest() Manifest { return p.info.Manifest }

// Health reports the breaker state and pool statistics.
func (p *Plugin) Health() Health {
	h := p.w.Health()
	return Health{State: h.State, Since: h.Since, RetryAt: h.RetryAt, LastFault: h.LastFault,
		LastFaultClass: h.LastFaultClass, RecentFaults: h.RecentFaults, Instances: h.Instances,
		IdleInstances: h.Idle, Calls: h.Calls, Faults: h.Faults, Created: h.Created, Discarded: h.Discarded}
}

// Close waits for calls in flight until ctx ends, then releases everything.
func (p *Plugin) Close(ctx context.Context) error { return p.w.Close(ctx) }

// exportByName maps the exports CallRaw accepts.
var exportByName = map[string]struct {
	e     wasm.Export
	phase caps.Phase
}{
	"larder_online_update":            {wasm.ExpOnlineUpdate, caps.PhaseApply},
	"larder_online_teardown":          {wasm.ExpOnlineTeardown, caps.PhaseTeardown},
	"larder_online_write":             {wasm.ExpOnlineWrite, caps.PhaseServe},
	"larder_online_read":              {wasm.ExpOnlineRead, caps.PhaseServe},
	"larder_offline_plan_pull_latest": {wasm.ExpOfflinePlanPullLatest, caps.PhaseServe},
}

// CallRaw calls a kind export with raw input bytes and returns a copy of the
// larder_result region (nil for exports without output). It is for the conformance
// suite, which must send malformed input; it runs in the export's usual phase.
func (p *Plugin) CallRaw(ctx context.Context, export string, input []byte, wantResult bool) ([]byte, error) {
	x, ok := exportByName[export]
	if !ok {
		return nil, fmt.Errorf("plugin %s: CallRaw: %q is not a kind export this host calls", p.info.Manifest.ID, export)
	}
	var out []byte
	var fn func([]byte) error
	if wantResult {
		fn = func(b []byte) error { out = append([]byte{}, b...); return nil }
	}
	err := p.w.Call(ctx, x.e, x.phase, input, fn)
	return out, err
}
