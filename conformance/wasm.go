package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
)

// WasmOptions configures how a plugin under test is loaded.
type WasmOptions struct {
	// Config is the larder_init object; nil = {}.
	Config json.RawMessage
	Limits host.Limits
	Pool   host.PoolConfig
	// Breaker tunes the crash-loop breaker; zero = the host's default.
	Breaker host.BreakerConfig
	// CacheDir is the compilation cache ("" = the host's default, "-" = none).
	CacheDir string
	// SQLGrants names the sql capabilities to bind to the case's database; nil = every
	// sql capability the plugin's manifest requests.
	SQLGrants []string
	// Redis binds every redis capability the plugin requests to this server (a redis://
	// URL or Feast connection_string; RedisType is Feast's redis_type). Each case gets its
	// own key namespace, derived from its directory, so cases never see each other's keys
	// and a reopen sees the same ones. "" binds none: such a plugin fails every case,
	// saying so.
	Redis     string
	RedisType string
	// Postgres binds the plugin's sql capabilities to this PostgreSQL database (a DSN)
	// instead of an SQLite file, each case in its own schema, derived from its directory.
	Postgres string
	// DynamoDB binds every dynamodb capability the plugin requests to this endpoint
	// (dynalite, DynamoDB Local), each case under its own table namespace.
	DynamoDB string
}

// DBFile is the SQLite database, inside a case's directory, that a plugin's sql
// capabilities are bound to.
const DBFile = "online.db"

// WasmTarget is a Target that loads the online store module at path through the real
// host (host.LoadOnlineStore), binding its sql capabilities to a fresh SQLite database
// in each case's directory.
func WasmTarget(path string, o WasmOptions) Target {
	var (
		once   sync.Once
		grants []capName
		gerr   error
	)
	return Target{
		Name: path,
		Open: func(ctx context.Context, dir string) (host.OnlineStore, error) {
			once.Do(func() {
				grants, gerr = sqlGrantNames(ctx, path, o)
			})
			if gerr != nil {
				return nil, gerr
			}
			s, err := openWasm(ctx, path, dir, o, grants)
			if err != nil {
				return nil, err // not a typed nil inside the interface
			}
			return s, nil
		},
	}
}

// OpenWasm loads the online store module at path with its sql capabilities bound to
// dir/online.db.
func OpenWasm(ctx context.Context, path, dir string, o WasmOptions) (*host.WasmOnlineStore, error) {
	grants, err := sqlGrantNames(ctx, path, o)
	if err != nil {
		return nil, err
	}
	return openWasm(ctx, path, dir, o, grants)
}

func openWasm(ctx context.Context, path, dir string, o WasmOptions, grants []capName) (*host.WasmOnlineStore, error) {
	cfg := pluginConfig(path, o)
	for _, g := range grants {
		switch g.kind {
		case abi.CapSQL:
			sg := &host.SQLGrant{Path: filepath.Join(dir, DBFile)}
			if o.Postgres != "" {
				sg = &host.SQLGrant{DSN: o.Postgres, Schema: PostgresSchema(dir)}
			}
			cfg.Grants = append(cfg.Grants, host.Grant{Kind: abi.CapSQL, Name: g.name, SQL: sg})
		case capDynamoDB:
			if o.DynamoDB == "" {
				return nil, fmt.Errorf("plugin %s asks for the dynamodb capability %q and no DynamoDB endpoint is bound: pass --dynamodb URL (or set LARDER_DYNAMODB_ENDPOINT)", path, g.name)
			}
			cfg.Grants = append(cfg.Grants, host.Grant{Kind: capDynamoDB, Name: g.name, Dynamo: &host.DynamoGrant{
				Endpoint: o.DynamoDB, Namespace: "c" + RedisNamespace(dir)[len("larder-conformance:"):len("larder-conformance:")+16] + "_"}})
		case abi.CapRedis:
			if o.Redis == "" {
				return nil, fmt.Errorf("plugin %s asks for the redis capability %q and no Redis server is bound: pass --redis URL (or set LARDER_REDIS_URL)", path, g.name)
			}
			cfg.Grants = append(cfg.Grants, host.Grant{Kind: abi.CapRedis, Name: g.name, Redis: &host.RedisGrant{
				Connection: o.Redis, Type: o.RedisType, KeyPrefix: RedisNamespace(dir)}})
		}
	}
	s, err := host.LoadOnlineStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("loading online store plugin %s: %w", path, err)
	}
	return s, nil
}

func pluginConfig(path string, o WasmOptions) host.PluginConfig {
	return host.PluginConfig{Path: path, Config: o.Config, Limits: o.Limits, Pool: o.Pool, Breaker: o.Breaker, CacheDir: o.CacheDir}
}

// RedisNamespace is the key namespace of a case's redis grants: private to the case
// directory, stable across reopens.
func RedisNamespace(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "larder-conformance:" + hex.EncodeToString(sum[:8]) + ":"
}

// PostgresSchema is the schema of a case's PostgreSQL-bound sql grants: private to the
// case directory, stable across reopens.
func PostgresSchema(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "larder_conformance_" + hex.EncodeToString(sum[:8])
}

// capDynamoDB is the dynamodb capability's kind (spec §6.3).
const capDynamoDB = "dynamodb"

// capName is a capability a plugin requests, by kind and name.
type capName struct{ kind, name string }

// sqlGrantNames learns which sql and redis capabilities the plugin requests by loading
// it once without grants (loading succeeds; Info().Ungranted lists what it asked for).
func sqlGrantNames(ctx context.Context, path string, o WasmOptions) ([]capName, error) {
	var names []capName
	if o.SQLGrants != nil {
		for _, n := range o.SQLGrants {
			names = append(names, capName{abi.CapSQL, n})
		}
		if o.Redis == "" && o.DynamoDB == "" {
			return names, nil
		}
	}
	p, err := host.LoadPlugin(ctx, pluginConfig(path, o))
	if err != nil {
		return nil, fmt.Errorf("loading plugin %s to read its manifest: %w", path, err)
	}
	defer p.Close(context.WithoutCancel(ctx))
	for _, c := range p.Info().Manifest.Capabilities {
		if (c.Kind == abi.CapSQL && o.SQLGrants == nil) || c.Kind == abi.CapRedis || c.Kind == capDynamoDB {
			names = append(names, capName{c.Kind, c.Name})
		}
	}
	return names, nil
}

// InspectWasm identifies a module for the report: digest and size always, manifest and
// ABI version when it loads. A module that does not load returns partial info and the
// load error.
func InspectWasm(ctx context.Context, path string, config json.RawMessage) (*PluginInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	info := &PluginInfo{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	p, err := host.LoadPlugin(ctx, host.PluginConfig{Path: path, Config: config})
	if err != nil {
		return info, err
	}
	defer p.Close(context.WithoutCancel(ctx))
	pi := p.Info()
	info.ID, info.Kind, info.Version, info.SDK, info.ABI = pi.Manifest.ID, pi.Manifest.Kind, pi.Manifest.Version, pi.Manifest.SDK, pi.ABIVersion
	info.Features = pi.Manifest.Features
	return info, nil
}

// DefaultFixtureDeadline is the per-call deadline hostile fixtures run under: short, so
// the endless-loop fixture costs little; long enough that a memory bomb (tens of ms of
// CPU) reaches the memory cap before the deadline even on a loaded two-core machine.
const DefaultFixtureDeadline = 500 * time.Millisecond

// Fixture limits: small enough that a memory bomb hits the cap in tens of milliseconds
// (at 32 MiB a Go guest touching every byte needs ~300ms, past the deadline), large
// enough for a Go guest (which needs about 2.4 MiB to start).
const (
	fixtureMemory = 8 << 20
	fixtureOutput = 4 << 20
	fixturePool   = 8
)

// LoadFixture loads a hostile module with tight limits, every call (apply phase
// included) bounded by deadline, and the crash-loop breaker off: the sandbox cases
// measure the sandbox, and each call must really run the hostile code.
func LoadFixture(ctx context.Context, path string, config json.RawMessage, deadline time.Duration) (host.OnlineStore, error) {
	s, err := host.LoadOnlineStore(ctx, host.PluginConfig{
		Path:    path,
		Config:  config,
		Limits:  host.Limits{MemoryBytes: fixtureMemory, CallTimeout: deadline, ApplyTimeout: deadline, MaxOutputBytes: fixtureOutput},
		Pool:    host.PoolConfig{Min: 1, Max: fixturePool},
		Breaker: host.BreakerConfig{Faults: -1},
	})
	if err != nil {
		return nil, err // keep the fault unwrapped-by-prose: its class is the point
	}
	return s, nil
}
