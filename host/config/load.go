package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/yamlpos"
)

// FileName is the name of the config file at the root of a feature repo.
const FileName = "feature_store.yaml"

// LoadOptions tune Load. The zero value is ready to use.
type LoadOptions struct {
	// LookupEnv resolves ${VAR} references; os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)
	// PluginsDir is where first-party plugin modules are found, as
	// <PluginsDir>/<online|offline>/<name>.wasm. Empty means "built into the binary":
	// Store.Module stays empty for first-party stores.
	PluginsDir string
}

// Load reads and validates a feature_store.yaml.
func Load(path string) (*Config, error) { return LoadWith(path, LoadOptions{}) }

// LoadWith is Load with options.
func LoadWith(path string, o LoadOptions) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading feature store config: %w", err)
	}
	return Parse(path, data, o)
}

// Parse validates the contents of a feature_store.yaml named file (used in messages and to
// find the repo directory).
func Parse(file string, data []byte, o LoadOptions) (*Config, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("locating feature store config %s: %w", file, err)
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	docs, err := yamlpos.ParseDocuments(file, data)
	if err != nil {
		return nil, yamlpos.ErrorList{err.(*yamlpos.Error)}
	}
	d := &yamlpos.Decoder{File: file}
	switch {
	case len(docs) == 0 || yamlpos.IsNull(docs[0]):
		d.Errorf(nil, "", "empty file: at least `project` is required")
		return nil, d.Errs.Err()
	case len(docs) > 1:
		d.Errorf(docs[1], "", "expected one YAML document, found %d", len(docs))
		return nil, d.Errs.Err()
	}
	expandEnv(d, docs[0], "", o.LookupEnv)
	p := parser{d: d, opts: o, cfg: &Config{File: abs, RepoDir: filepath.Dir(abs)}}
	p.top(docs[0])
	if err := d.Errs.Err(); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

type parser struct {
	d    *yamlpos.Decoder
	opts LoadOptions
	cfg  *Config
}

var topKeys = []string{
	"project", "registry", "provider", "online_store", "offline_store",
	"entity_key_serialization_version", "feature_server", "auth",
	"batch_engine", "stream_engine",
}

// Feast requires project names to be alphanumeric with underscores (they prefix table
// names), starting with a letter.
var projectRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

func (p *parser) top(doc *yaml.Node) {
	d, c := p.d, p.cfg
	m := d.Mapping(doc, "", topKeys)
	if m == nil {
		return
	}
	if d.Require(m, "", "project") {
		if s, ok := d.Str(m.Get("project"), "project"); ok {
			if !projectRE.MatchString(s) {
				d.Errorf(m.Get("project"), "project", "invalid project name %q: use letters, digits and underscores, starting with a letter", s)
			}
			c.Project = s
		}
	}

	c.Provider = "local"
	if n := m.Get("provider"); !yamlpos.IsNull(n) {
		if s, ok := d.Str(n, "provider"); ok {
			switch {
			case s == "local" || s == "gcp" || s == "aws":
				c.Provider = s
			case strings.Contains(s, "."):
				d.Errorf(n, "provider", "custom Python providers (%q) are not supported: larder runs stores as Wasm plugins; choose them with online_store/offline_store", s)
			default:
				d.Errorf(n, "provider", "unknown provider %q (known: local, gcp, aws)", s)
			}
		}
	}

	p.registry(m)

	c.OnlineStore = p.storeSection(m, "online_store", KindOnline)
	c.OfflineStore = p.storeSection(m, "offline_store", KindOffline)

	c.EntityKeySerializationVersion = 3
	if n := m.Get("entity_key_serialization_version"); !yamlpos.IsNull(n) {
		if v, ok := d.Int(n, "entity_key_serialization_version"); ok {
			if v != 2 && v != 3 {
				d.Errorf(n, "entity_key_serialization_version", "unsupported version %d (supported: 3, and the deprecated 2)", v)
			}
			c.EntityKeySerializationVersion = int(v)
		}
	}

	c.FeatureServer = FeatureServer{Type: "local"}
	if n := m.Get("feature_server"); !yamlpos.IsNull(n) {
		fm := d.Mapping(n, "feature_server", nil)
		if fm != nil {
			opts := map[string]any{}
			for _, k := range fm.Keys() {
				path := yamlpos.Key("feature_server", k)
				switch k {
				case "type":
					c.FeatureServer.Type, _ = d.Str(fm.Get(k), path)
				case "enabled":
					c.FeatureServer.Enabled, _ = d.Bool(fm.Get(k), path)
				default:
					opts[k], _ = d.Any(fm.Get(k), path)
				}
			}
			if len(opts) > 0 {
				c.FeatureServer.Options = opts
			}
		}
	}

	c.Auth = Auth{Type: "no_auth"}
	if n := m.Get("auth"); !yamlpos.IsNull(n) {
		am := d.Mapping(n, "auth", nil)
		if am != nil {
			opts := map[string]any{}
			for _, k := range am.Keys() {
				path := yamlpos.Key("auth", k)
				if k == "type" {
					t, ok := d.Str(am.Get(k), path)
					if ok && t != "no_auth" && t != "oidc" && t != "kubernetes" {
						d.Errorf(am.Get(k), path, "unknown auth type %q (known: no_auth, oidc, kubernetes)", t)
					}
					c.Auth.Type = t
					continue
				}
				opts[k], _ = d.Any(am.Get(k), path)
			}
			if len(opts) > 0 {
				c.Auth.Options = opts
			}
		}
	}

	for _, k := range []string{"batch_engine", "stream_engine"} {
		p.engine(m, k)
	}
}

// engine accepts Feast's batch_engine/stream_engine only when it names the local engine:
// Larder materializes in process, and silently ignoring `type: spark.engine` would
// mislead an operator about where work runs.
func (p *parser) engine(m *yamlpos.Map, key string) {
	n := m.Get(key)
	if yamlpos.IsNull(n) {
		return
	}
	t := ""
	if n.Kind == yaml.ScalarNode {
		t, _ = p.d.Str(n, key)
	} else if em := p.d.Mapping(n, key, nil); em != nil {
		n = em.Get("type")
		t, _ = p.d.Str(n, yamlpos.Key(key, "type"))
	} else {
		return
	}
	if t != "local" {
		p.d.Errorf(n, key, "%q is not supported: larder runs materialization in process (only \"local\" is accepted)", t)
	}
}

var registryKeys = []string{"path", "registry_type", "cache_ttl_seconds", "cache_mode", "enable_online_feature_view_versioning"}

func (p *parser) registry(m *yamlpos.Map) {
	d, r := p.d, &p.cfg.Registry
	r.Type, r.CacheTTL, r.CacheMode = RegistryFile, 600*time.Second, "sync"
	n := m.Get("registry")
	if yamlpos.IsNull(n) {
		r.Path = p.resolve("data/registry.db")
		return
	}
	r.Line = n.Line
	if n.Kind == yaml.ScalarNode {
		if s, ok := d.Str(n, "registry"); ok {
			r.Path = p.registryPath(s, r.Type)
		}
		return
	}
	rm := d.Mapping(n, "registry", registryKeys)
	if rm == nil {
		return
	}
	if t := rm.Get("registry_type"); !yamlpos.IsNull(t) {
		if s, ok := d.Str(t, "registry.registry_type"); ok {
			switch s {
			case RegistryFile, RegistrySQL:
				r.Type = s
			case "remote":
				d.Errorf(t, "registry.registry_type", "remote registries are not supported yet (supported: file, sql)")
			default:
				d.Errorf(t, "registry.registry_type", "unknown registry type %q (supported: file, sql)", s)
			}
		}
	}
	if d.Require(rm, "registry", "path") {
		if s, ok := d.Str(rm.Get("path"), "registry.path"); ok {
			r.Path = p.registryPath(s, r.Type)
		}
	}
	if t := rm.Get("cache_ttl_seconds"); !yamlpos.IsNull(t) {
		if v, ok := d.Int(t, "registry.cache_ttl_seconds"); ok {
			if v < 0 {
				d.Errorf(t, "registry.cache_ttl_seconds", "must be >= 0 (0 means never refresh)")
			}
			r.CacheTTL = time.Duration(v) * time.Second
		}
	}
	if t := rm.Get("cache_mode"); !yamlpos.IsNull(t) {
		if s, ok := d.Str(t, "registry.cache_mode"); ok {
			if s != "sync" && s != "thread" {
				d.Errorf(t, "registry.cache_mode", "unknown cache mode %q (known: sync, thread)", s)
			}
			r.CacheMode = s
		}
	}
	if t := rm.Get("enable_online_feature_view_versioning"); !yamlpos.IsNull(t) {
		r.EnableOnlineVersioning, _ = d.Bool(t, "registry.enable_online_feature_view_versioning")
	}
}

func (p *parser) registryPath(s, typ string) string {
	if typ == RegistrySQL {
		return s
	}
	return p.resolve(s)
}

// resolve makes a local path absolute against the repo dir. URLs (s3://, gs://,
// postgresql://…) are returned as written; file:// is stripped.
func (p *parser) resolve(s string) string {
	if rest, ok := strings.CutPrefix(s, "file://"); ok {
		s = rest
	} else if strings.Contains(s, "://") {
		return s
	}
	if s == "" || filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(p.cfg.RepoDir, s)
}

// First-party plugin per store type. Feast's "file" and "dask" offline stores read files;
// the duckdb plugin does that job.
var (
	onlinePlugins  = map[string]string{"sqlite": "sqlite", "redis": "redis", "postgres": "postgres", "dynamodb": "dynamodb"}
	offlinePlugins = map[string]string{"file": "duckdb", "dask": "duckdb", "duckdb": "duckdb", "postgres": "postgres_offline"}
	storeDefaults  = map[string]string{KindOnline: "sqlite", KindOffline: "file"}
)

// storeSection parses online_store or offline_store. Absent means the provider's default;
// null means disabled (nil).
func (p *parser) storeSection(m *yamlpos.Map, key, kind string) *Store {
	d := p.d
	n := m.Get(key)
	if !m.Has(key) {
		if p.cfg.Provider != "local" {
			d.Errorf(m.Node, key, "required with provider %q: larder has no built-in %s default for it", p.cfg.Provider, key)
			return nil
		}
		return p.firstParty(nil, key, kind, storeDefaults[kind], nil)
	}
	if yamlpos.IsNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		t, _ := d.Str(n, key)
		return p.store(n, nil, key, kind, t)
	}
	sm := d.Mapping(n, key, nil)
	if sm == nil {
		return nil
	}
	t := storeDefaults[kind]
	if tn := sm.Get("type"); !yamlpos.IsNull(tn) {
		t, _ = d.Str(tn, yamlpos.Key(key, "type"))
	}
	return p.store(n, sm, key, kind, t)
}

func (p *parser) store(n *yaml.Node, sm *yamlpos.Map, key, kind, t string) *Store {
	d := p.d
	at := n
	if sm != nil && sm.Get("type") != nil {
		at = sm.Get("type")
	}
	plugins := onlinePlugins
	if kind == KindOffline {
		plugins = offlinePlugins
	}
	switch {
	case t == TypeWasm:
		if sm == nil {
			d.Errorf(n, key, "type: wasm needs a mapping with path and sha256")
			return nil
		}
		return p.wasmStore(sm, key, kind)
	case plugins[t] != "":
		return p.firstParty(sm, key, kind, t, n)
	case strings.Contains(t, "."):
		d.Errorf(at, yamlpos.Key(key, "type"), "Python store classes (%q) are not supported: build the store as a Wasm plugin and use type: wasm", t)
	default:
		d.Errorf(at, yamlpos.Key(key, "type"), "unknown %s type %q (known: %s, wasm)", key, t, strings.Join(sortedKeys(plugins), ", "))
	}
	return nil
}

func (p *parser) firstParty(sm *yamlpos.Map, key, kind, t string, n *yaml.Node) *Store {
	d := p.d
	plugins := onlinePlugins
	dir := "online"
	if kind == KindOffline {
		plugins, dir = offlinePlugins, "offline"
	}
	s := &Store{Kind: kind, Type: t, Plugin: plugins[t], File: p.d.File, Limits: DefaultLimits()}
	if n != nil {
		s.Line = n.Line
	}
	if p.opts.PluginsDir != "" {
		s.Module = filepath.Join(p.opts.PluginsDir, dir, s.Plugin+".wasm")
	}
	opts := map[string]any{}
	for _, k := range sm.Keys() {
		path := yamlpos.Key(key, k)
		v := sm.Get(k)
		switch k {
		case "type":
		case "sha256":
			s.SHA256 = p.sha256(v, path)
		case "limits":
			p.limits(v, path, &s.Limits)
		case "grants":
			s.Grants = p.grants(v, path)
		case "engine":
			if !yamlpos.IsNull(v) {
				p.storeEngine(v, path, kind, &s.Engine)
			}
		default:
			val, _ := d.Any(v, path)
			if str, ok := val.(string); ok && k == "path" {
				val = p.resolve(str)
			}
			opts[k] = val
		}
	}
	// Feast's sqlite default path, so that a bare `type: sqlite` still names a file.
	if s.Plugin == "sqlite" && opts["path"] == nil {
		opts["path"] = p.resolve("data/online.db")
	}
	if len(opts) > 0 {
		s.Options = opts
	}
	var at *yaml.Node
	if sm != nil {
		at = sm.Node
	}
	s.Config = p.json(opts, at, key)
	return s
}

var wasmKeys = []string{"type", "path", "sha256", "limits", "grants", "engine", "config"}

func (p *parser) wasmStore(sm *yamlpos.Map, key, kind string) *Store {
	d := p.d
	for _, k := range sm.Keys() {
		if !contains(wasmKeys, k) {
			d.Errorf(sm.KeyNode(k), yamlpos.Key(key, k), "unknown key for type: wasm (known keys: %s; plugin settings go under config)", strings.Join(wasmKeys, ", "))
		}
	}
	s := &Store{Kind: kind, Type: TypeWasm, File: d.File, Line: sm.Node.Line, Limits: DefaultLimits(), Config: json.RawMessage("{}")}
	if d.Require(sm, key, "path", "sha256") {
		if str, ok := d.Str(sm.Get("path"), yamlpos.Key(key, "path")); ok {
			if !strings.HasSuffix(str, ".wasm") {
				d.Errorf(sm.Get("path"), yamlpos.Key(key, "path"), "expected a .wasm module, got %q", str)
			}
			s.Module = p.resolve(str)
		}
		s.SHA256 = p.sha256(sm.Get("sha256"), yamlpos.Key(key, "sha256"))
	}
	if v := sm.Get("limits"); !yamlpos.IsNull(v) {
		p.limits(v, yamlpos.Key(key, "limits"), &s.Limits)
	}
	if v := sm.Get("grants"); !yamlpos.IsNull(v) {
		s.Grants = p.grants(v, yamlpos.Key(key, "grants"))
	}
	if v := sm.Get("engine"); !yamlpos.IsNull(v) {
		p.storeEngine(v, yamlpos.Key(key, "engine"), kind, &s.Engine)
	}
	if v := sm.Get("config"); !yamlpos.IsNull(v) {
		path := yamlpos.Key(key, "config")
		if v.Kind != yaml.MappingNode {
			d.Errorf(v, path, "expected a mapping (it is passed to the plugin's larder_init as a JSON object)")
		} else if val, ok := d.Any(v, path); ok {
			s.Config = p.json(val, v, path)
		}
	}
	return s
}

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (p *parser) sha256(n *yaml.Node, path string) string {
	s, ok := p.d.Str(n, path)
	if !ok {
		return ""
	}
	s = strings.ToLower(strings.TrimPrefix(s, "sha256:"))
	if !sha256RE.MatchString(s) {
		p.d.Errorf(n, path, "expected 64 hex digits (the module's SHA-256, e.g. from `sha256sum plugin.wasm`)")
		return ""
	}
	return s
}

var limitKeys = []string{"memory", "call_timeout", "apply_timeout", "max_output_bytes", "max_log_bytes", "max_module_bytes", "max_instances"}

var engineKeys = []string{"memory_limit", "threads", "temp_directory"}

// storeEngine parses the `engine` section of an offline store. It is the host's, not the
// plugin's: it never reaches the plugin's config.
func (p *parser) storeEngine(n *yaml.Node, path, kind string, e *Engine) {
	d := p.d
	if kind != KindOffline {
		d.Errorf(n, path, "only an offline_store has an engine (the DuckDB database its plans run in)")
		return
	}
	em := d.Mapping(n, path, engineKeys)
	if em == nil {
		return
	}
	if v := em.Get("memory_limit"); !yamlpos.IsNull(v) {
		kp := yamlpos.Key(path, "memory_limit")
		if str, ok := d.Str(v, kp); ok {
			b, err := parseBytes(str)
			switch {
			case err != nil:
				d.Errorf(v, kp, "%v", err)
			case b < 16<<20:
				d.Errorf(v, kp, "must be at least 16MiB, got %d bytes", b)
			default:
				e.MemoryBytes = b
			}
		}
	}
	if v := em.Get("threads"); !yamlpos.IsNull(v) {
		kp := yamlpos.Key(path, "threads")
		if i, ok := d.Int(v, kp); ok {
			if i < 1 || i > 1024 {
				d.Errorf(v, kp, "must be between 1 and 1024, got %d", i)
			} else {
				e.Threads = int(i)
			}
		}
	}
	if v := em.Get("temp_directory"); !yamlpos.IsNull(v) {
		kp := yamlpos.Key(path, "temp_directory")
		if str, ok := d.Str(v, kp); ok {
			if str == "" {
				d.Errorf(v, kp, "must not be empty (omit it for the OS temp directory)")
			} else {
				e.TempDirectory = p.resolve(str)
			}
		}
	}
}

// wasm32 linear memory cannot exceed 4 GiB; below 1 MiB no real plugin starts.
const (
	minMemory = 1 << 20
	maxMemory = 4 << 30
)

func (p *parser) limits(n *yaml.Node, path string, l *Limits) {
	d := p.d
	lm := d.Mapping(n, path, limitKeys)
	if lm == nil {
		return
	}
	size := func(k string, dst *uint64) {
		v := lm.Get(k)
		if yamlpos.IsNull(v) {
			return
		}
		kp := yamlpos.Key(path, k)
		str, ok := d.Str(v, kp)
		if !ok {
			return
		}
		b, err := parseBytes(str)
		if err != nil {
			d.Errorf(v, kp, "%v", err)
			return
		}
		if b == 0 {
			d.Errorf(v, kp, "must be greater than 0")
			return
		}
		*dst = b
	}
	dur := func(k string, dst *time.Duration) {
		v := lm.Get(k)
		if yamlpos.IsNull(v) {
			return
		}
		kp := yamlpos.Key(path, k)
		t, ok := d.Duration(v, kp)
		if ok && t <= 0 {
			d.Errorf(v, kp, "must be greater than 0")
			return
		}
		if ok {
			*dst = t
		}
	}
	size("memory", &l.MemoryBytes)
	if v := lm.Get("memory"); !yamlpos.IsNull(v) && (l.MemoryBytes < minMemory || l.MemoryBytes > maxMemory) {
		d.Errorf(v, yamlpos.Key(path, "memory"), "must be between 1MiB and 4GiB (wasm32 limit), got %d bytes", l.MemoryBytes)
	}
	dur("call_timeout", &l.CallTimeout)
	dur("apply_timeout", &l.ApplyTimeout)
	size("max_output_bytes", &l.MaxOutputBytes)
	size("max_log_bytes", &l.MaxLogBytes)
	size("max_module_bytes", &l.MaxModuleBytes)
	if v := lm.Get("max_instances"); !yamlpos.IsNull(v) {
		kp := yamlpos.Key(path, "max_instances")
		if i, ok := d.Int(v, kp); ok {
			if i < 1 || i > 1024 {
				d.Errorf(v, kp, "must be between 1 and 1024, got %d", i)
			} else {
				l.MaxInstances = int(i)
			}
		}
	}
}

var (
	grantKeys = []string{"kind", "name", "phases", "path", "dsn", "table_prefix", "key_prefix", "operations"}
	grantRE   = regexp.MustCompile(`^[a-z][a-z0-9_.-]*$`)
	phases    = []string{abi.PhaseInit, abi.PhaseServe, abi.PhaseApply, abi.PhaseTeardown}
)

func (p *parser) grants(n *yaml.Node, path string) []Grant {
	d := p.d
	items, ok := d.Seq(n, path)
	if !ok {
		return nil
	}
	var out []Grant
	seen := map[string]int{}
	for i, it := range items {
		ip := yamlpos.Index(path, i)
		gm := d.Mapping(it, ip, grantKeys)
		if gm == nil || !d.Require(gm, ip, "kind", "name") {
			continue
		}
		g := Grant{Line: it.Line}
		g.Kind, _ = d.Str(gm.Get("kind"), yamlpos.Key(ip, "kind"))
		g.Name, _ = d.Str(gm.Get("name"), yamlpos.Key(ip, "name"))
		for _, f := range []struct {
			k string
			v string
		}{{"kind", g.Kind}, {"name", g.Name}} {
			if !grantRE.MatchString(f.v) {
				d.Errorf(gm.Get(f.k), yamlpos.Key(ip, f.k), "invalid %s %q: use lowercase letters, digits, '_', '-' and '.'", f.k, f.v)
			}
		}
		id := g.Kind + "/" + g.Name
		if prev, dup := seen[id]; dup {
			d.Errorf(it, ip, "duplicate grant of %s %q (first granted on line %d)", g.Kind, g.Name, prev)
		}
		seen[id] = it.Line
		if v := gm.Get("phases"); !yamlpos.IsNull(v) {
			list, _ := d.StrList(v, yamlpos.Key(ip, "phases"))
			pitems, _ := d.Seq(v, yamlpos.Key(ip, "phases"))
			for j, ph := range list {
				if !contains(phases, ph) {
					d.Errorf(pitems[j], yamlpos.Index(yamlpos.Key(ip, "phases"), j), "unknown phase %q (known: %s)", ph, strings.Join(phases, ", "))
				}
			}
			g.Phases = list
		}
		if v := gm.Get("path"); !yamlpos.IsNull(v) {
			s, _ := d.Str(v, yamlpos.Key(ip, "path"))
			g.Path = p.resolve(s)
		}
		g.DSN, _ = d.Str(gm.Get("dsn"), yamlpos.Key(ip, "dsn"))
		g.TablePrefix, _ = d.Str(gm.Get("table_prefix"), yamlpos.Key(ip, "table_prefix"))
		g.KeyPrefix, _ = d.Str(gm.Get("key_prefix"), yamlpos.Key(ip, "key_prefix"))
		if v := gm.Get("operations"); !yamlpos.IsNull(v) {
			g.Operations, _ = d.StrList(v, yamlpos.Key(ip, "operations"))
		}
		if g.Path != "" && g.DSN != "" {
			d.Errorf(it, ip, "set either path or dsn, not both")
		}
		out = append(out, g)
	}
	return out
}

// parseBytes accepts a plain byte count or a number with a unit: KiB, MiB, GiB (powers of
// two) or KB, MB, GB (powers of ten). Units are case-insensitive.
func parseBytes(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size %q: expected a number of bytes or e.g. 64MiB", s)
	}
	var n uint64
	if _, err := fmt.Sscan(s[:i], &n); err != nil {
		return 0, fmt.Errorf("invalid size %q: %v", s, err)
	}
	unit := strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := map[string]uint64{
		"": 1, "b": 1,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
		"kb": 1e3, "mb": 1e6, "gb": 1e9,
	}[unit]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (use KiB, MiB, GiB, KB, MB or GB)", s, s[i:])
	}
	if n > (1<<63)/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n * mult, nil
}

func (p *parser) json(v any, n *yaml.Node, path string) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		p.d.Errorf(n, path, "cannot be passed to the plugin as JSON: %v", err)
		return json.RawMessage("{}")
	}
	return b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
