package config

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func parse(t *testing.T, yml string, vars map[string]string) (*Config, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "repo", FileName)
	return Parse(file, []byte(yml), LoadOptions{LookupEnv: env(vars), PluginsDir: "/opt/larder/plugins"})
}

func TestQuickstartConfig(t *testing.T) {
	t.Parallel()
	c, err := parse(t, `project: my_project
# By default, the registry is a file
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online_store.db
entity_key_serialization_version: 3
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Project != "my_project" || c.Provider != "local" || c.EntityKeySerializationVersion != 3 {
		t.Errorf("top level = %q %q %d", c.Project, c.Provider, c.EntityKeySerializationVersion)
	}
	if want := filepath.Join(c.RepoDir, "data/registry.db"); c.Registry.Path != want || c.Registry.Type != RegistryFile || c.Registry.CacheTTL != 600*time.Second {
		t.Errorf("registry = %+v, want path %s", c.Registry, want)
	}
	on := c.OnlineStore
	if on == nil || on.Kind != KindOnline || on.Type != "sqlite" || on.Plugin != "sqlite" {
		t.Fatalf("online store = %+v", on)
	}
	if on.Module != "/opt/larder/plugins/online/sqlite.wasm" {
		t.Errorf("module = %q", on.Module)
	}
	dbPath := filepath.Join(c.RepoDir, "data/online_store.db")
	if on.Options["path"] != dbPath {
		t.Errorf("options = %v, want path %s", on.Options, dbPath)
	}
	var cfg map[string]any
	if err := json.Unmarshal(on.Config, &cfg); err != nil || cfg["path"] != dbPath {
		t.Errorf("config JSON = %s (%v)", on.Config, err)
	}
	if on.Limits != DefaultLimits() || on.Line != 6 {
		t.Errorf("limits/line = %+v / %d", on.Limits, on.Line)
	}
	off := c.OfflineStore
	if off == nil || off.Type != "file" || off.Plugin != "duckdb" || off.Module != "/opt/larder/plugins/offline/duckdb.wasm" {
		t.Errorf("offline store = %+v", off)
	}
	if c.Auth.Type != "no_auth" || c.FeatureServer.Type != "local" {
		t.Errorf("auth/feature server = %+v %+v", c.Auth, c.FeatureServer)
	}
}

func TestMinimalDefaults(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), FileName)
	c, err := Parse(file, []byte("project: p\n"), LoadOptions{LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if c.OnlineStore == nil || c.OnlineStore.Options["path"] != filepath.Join(c.RepoDir, "data/online.db") {
		t.Errorf("online store default = %+v", c.OnlineStore)
	}
	if c.OnlineStore.Module != "" {
		t.Errorf("without a plugins dir the module must be empty (built-in plugin), got %q", c.OnlineStore.Module)
	}
	if c.Registry.Path != filepath.Join(c.RepoDir, "data/registry.db") {
		t.Errorf("registry default = %q", c.Registry.Path)
	}
}

func TestDisabledStoresAndRegistryMapping(t *testing.T) {
	t.Parallel()
	c, err := parse(t, `project: p
registry:
  registry_type: sql
  path: postgresql://u:${PGPASS}@127.0.0.1:5432/feast
  cache_ttl_seconds: 0
  cache_mode: thread
online_store: null
offline_store:
  type: duckdb
feature_server:
  type: mcp
  enabled: true
  mcp_transport: sse
auth:
  type: oidc
  client_id: larder
`, map[string]string{"PGPASS": "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if c.OnlineStore != nil {
		t.Errorf("online_store: null must disable the online store, got %+v", c.OnlineStore)
	}
	want := Registry{Path: "postgresql://u:s3cret@127.0.0.1:5432/feast", Type: RegistrySQL, CacheTTL: 0, CacheMode: "thread", Line: 3}
	if c.Registry != want {
		t.Errorf("registry = %+v, want %+v", c.Registry, want)
	}
	if c.OfflineStore.Plugin != "duckdb" {
		t.Errorf("offline = %+v", c.OfflineStore)
	}
	if !c.FeatureServer.Enabled || c.FeatureServer.Type != "mcp" || c.FeatureServer.Options["mcp_transport"] != "sse" {
		t.Errorf("feature server = %+v", c.FeatureServer)
	}
	if c.Auth.Type != "oidc" || c.Auth.Options["client_id"] != "larder" {
		t.Errorf("auth = %+v", c.Auth)
	}
}

func TestWasmStore(t *testing.T) {
	t.Parallel()
	const sum = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
	c, err := parse(t, `project: p
online_store:
  type: wasm
  path: plugins/kv.wasm
  sha256: `+sum+`
  limits:
    memory: 128MiB
    call_timeout: 250ms
    max_output_bytes: 1MB
    max_instances: ${POOL:-4}
  grants:
    - kind: sql
      name: online
      phases: [serve, apply]
      path: ${DB_DIR}/online.db
      table_prefix: p_
    - kind: redis
      name: cache
      dsn: redis://127.0.0.1:${REDIS_PORT}/0
      key_prefix: "p:"
      operations: [GET, SET]
  config:
    shards: 3
    names: [a, b]
    nested: {x: 1.5, y: null}
`, map[string]string{"DB_DIR": "state", "REDIS_PORT": "6379"})
	if err != nil {
		t.Fatal(err)
	}
	s := c.OnlineStore
	if s.Type != TypeWasm || s.Plugin != "" || s.Module != filepath.Join(c.RepoDir, "plugins/kv.wasm") {
		t.Errorf("store = %+v", s)
	}
	if s.SHA256 != strings.ToLower(sum) {
		t.Errorf("sha256 = %q", s.SHA256)
	}
	wantLimits := DefaultLimits()
	wantLimits.MemoryBytes = 128 << 20
	wantLimits.CallTimeout = 250 * time.Millisecond
	wantLimits.MaxOutputBytes = 1e6
	wantLimits.MaxInstances = 4
	if s.Limits != wantLimits {
		t.Errorf("limits = %+v, want %+v", s.Limits, wantLimits)
	}
	wantGrants := []Grant{
		{Kind: "sql", Name: "online", Phases: []string{"serve", "apply"}, Path: filepath.Join(c.RepoDir, "state/online.db"), TablePrefix: "p_", Line: 12},
		{Kind: "redis", Name: "cache", DSN: "redis://127.0.0.1:6379/0", KeyPrefix: "p:", Operations: []string{"GET", "SET"}, Line: 17},
	}
	if !reflect.DeepEqual(s.Grants, wantGrants) {
		t.Errorf("grants = %+v\nwant %+v", s.Grants, wantGrants)
	}
	var cfg any
	if err := json.Unmarshal(s.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	wantCfg := map[string]any{"shards": 3.0, "names": []any{"a", "b"}, "nested": map[string]any{"x": 1.5, "y": nil}}
	if !reflect.DeepEqual(cfg, wantCfg) {
		t.Errorf("config = %s", s.Config)
	}
}

func TestEnvSubstitution(t *testing.T) {
	t.Parallel()
	c, err := parse(t, `project: ${PROJECT}
online_store:
  type: redis
  connection_string: "${REDIS_HOST:-localhost}:${REDIS_PORT}"
  key_ttl_seconds: ${TTL}
  literal: "$${NOT_A_VAR}"
  # ${IN_A_COMMENT} is ignored
  empty_with_default: ${EMPTY:-fallback}
  quoted_number: "${TTL}"
`, map[string]string{"PROJECT": "proj", "REDIS_PORT": "6380", "TTL": "604800", "EMPTY": ""})
	if err != nil {
		t.Fatal(err)
	}
	o := c.OnlineStore.Options
	want := map[string]any{
		"connection_string":  "localhost:6380",
		"key_ttl_seconds":    int64(604800), // a plain scalar is re-typed after substitution
		"literal":            "${NOT_A_VAR}",
		"empty_with_default": "fallback",
		"quoted_number":      "604800", // quoted stays a string
	}
	if c.Project != "proj" || !reflect.DeepEqual(o, want) {
		t.Errorf("project %q options %#v\nwant %#v", c.Project, o, want)
	}
}

func TestBareStoreType(t *testing.T) {
	t.Parallel()
	c, err := parse(t, "project: p\nonline_store: redis\noffline_store: dask\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.OnlineStore.Plugin != "redis" || c.OnlineStore.Line != 2 || string(c.OnlineStore.Config) != "{}" || c.OfflineStore.Plugin != "duckdb" {
		t.Errorf("stores = %+v / %+v", c.OnlineStore, c.OfflineStore)
	}
	if _, err := parse(t, "project: p\nonline_store: wasm\n", nil); err == nil || !strings.Contains(err.Error(), "feature_store.yaml:2: online_store: type: wasm needs a mapping") {
		t.Errorf("bare wasm: %v", err)
	}
}

func TestOfflineEngine(t *testing.T) {
	t.Parallel()
	c, err := parse(t, "project: p\noffline_store:\n  type: file\n  engine:\n    memory_limit: 2GiB\n    threads: 2\n    temp_directory: scratch\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := c.OfflineStore
	want := Engine{MemoryBytes: 2 << 30, Threads: 2, TempDirectory: filepath.Join(filepath.Dir(c.File), "scratch")}
	if s.Engine != want {
		t.Errorf("engine = %+v, want %+v", s.Engine, want)
	}
	if s.Options != nil || string(s.Config) != "{}" {
		t.Errorf("the engine section reached the plugin: options %v, config %s", s.Options, s.Config)
	}
	sum := strings.Repeat("ab", 32)
	c, err = parse(t, "project: p\noffline_store:\n  type: wasm\n  path: o.wasm\n  sha256: "+sum+"\n  engine: {memory_limit: 512MB}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.OfflineStore.Engine != (Engine{MemoryBytes: 512e6}) {
		t.Errorf("wasm store engine = %+v", c.OfflineStore.Engine)
	}
	c, err = parse(t, "project: p\noffline_store: file\n", nil)
	if err != nil || c.OfflineStore.Engine != (Engine{}) {
		t.Errorf("default engine = %+v (err %v), want the zero value", c.OfflineStore.Engine, err)
	}
}

func TestLoadFromDisk(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "missing", FileName))
	if err == nil || !strings.Contains(err.Error(), "reading feature store config") {
		t.Errorf("err = %v", err)
	}
}

func TestBrokenConfigs(t *testing.T) {
	t.Parallel()
	const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	cases := []struct {
		name string
		yml  string
		want []string // substrings of the error, file:line first
	}{
		{"unknown top-level key", "project: p\nonline_stor:\n  type: sqlite\n",
			[]string{"feature_store.yaml:2: online_stor: unknown key", `did you mean "online_store"?`}},
		{"missing project", "provider: local\n",
			[]string{"feature_store.yaml:1: project: required"}},
		{"invalid project name", "project: 1-bad\n",
			[]string{"feature_store.yaml:1: project: invalid project name"}},
		{"unknown online store type", "project: p\nonline_store:\n  type: memcached\n",
			[]string{"feature_store.yaml:3: online_store.type: unknown online_store type \"memcached\"", "dynamodb, postgres, redis, sqlite, wasm"}},
		{"python class store", "project: p\noffline_store:\n  type: feast_custom.file.CustomFileOfflineStore\n",
			[]string{"feature_store.yaml:3: offline_store.type: Python store classes", "type: wasm"}},
		{"wasm without sha256", "project: p\nonline_store:\n  type: wasm\n  path: kv.wasm\n",
			[]string{"feature_store.yaml:3: online_store.sha256: required"}},
		{"wasm bad sha256", "project: p\nonline_store:\n  type: wasm\n  path: kv.wasm\n  sha256: abc123\n",
			[]string{"feature_store.yaml:5: online_store.sha256: expected 64 hex digits"}},
		{"wasm path not a module", "project: p\nonline_store:\n  type: wasm\n  path: kv.so\n  sha256: " + sum + "\n",
			[]string{"feature_store.yaml:4: online_store.path: expected a .wasm module"}},
		{"wasm unknown key", "project: p\nonline_store:\n  type: wasm\n  path: kv.wasm\n  sha256: " + sum + "\n  connection_string: x\n",
			[]string{"feature_store.yaml:6: online_store.connection_string: unknown key for type: wasm", "plugin settings go under config"}},
		{"wasm config not a mapping", "project: p\nonline_store:\n  type: wasm\n  path: kv.wasm\n  sha256: " + sum + "\n  config: [1, 2]\n",
			[]string{"feature_store.yaml:6: online_store.config: expected a mapping"}},
		{"limits typo", "project: p\nonline_store:\n  type: sqlite\n  limits:\n    memry: 64MiB\n",
			[]string{"feature_store.yaml:5: online_store.limits.memry: unknown key", `did you mean "memory"?`}},
		{"limits bad size", "project: p\nonline_store:\n  type: redis\n  limits:\n    max_output_bytes: 64XB\n",
			[]string{"feature_store.yaml:5: online_store.limits.max_output_bytes: invalid size \"64XB\""}},
		{"limits memory too small", "project: p\nonline_store:\n  type: redis\n  limits:\n    memory: 4096\n",
			[]string{"feature_store.yaml:5: online_store.limits.memory: must be between 1MiB and 4GiB"}},
		{"limits bad timeout", "project: p\noffline_store:\n  type: duckdb\n  limits:\n    call_timeout: fast\n",
			[]string{"feature_store.yaml:5: offline_store.limits.call_timeout: invalid duration \"fast\""}},
		{"engine on an online store", "project: p\nonline_store:\n  type: sqlite\n  engine:\n    threads: 2\n",
			[]string{"feature_store.yaml:5: online_store.engine: only an offline_store has an engine"}},
		{"engine typo", "project: p\noffline_store:\n  type: duckdb\n  engine:\n    memory: 2GB\n",
			[]string{"feature_store.yaml:5: offline_store.engine.memory: unknown key", `did you mean "memory_limit"?`}},
		{"engine bad memory", "project: p\noffline_store:\n  type: file\n  engine:\n    memory_limit: 80%\n",
			[]string{"feature_store.yaml:5: offline_store.engine.memory_limit: invalid size \"80%\""}},
		{"engine memory too small", "project: p\noffline_store:\n  type: file\n  engine:\n    memory_limit: 1MiB\n",
			[]string{"feature_store.yaml:5: offline_store.engine.memory_limit: must be at least 16MiB"}},
		{"engine zero threads", "project: p\noffline_store:\n  type: file\n  engine:\n    threads: 0\n",
			[]string{"feature_store.yaml:5: offline_store.engine.threads: must be between 1 and 1024, got 0"}},
		{"grant unknown phase", "project: p\nonline_store:\n  type: sqlite\n  grants:\n    - kind: sql\n      name: online\n      phases: [serve, deploy]\n",
			[]string{"feature_store.yaml:7: online_store.grants[0].phases[1]: unknown phase \"deploy\""}},
		{"grant missing kind", "project: p\nonline_store:\n  type: sqlite\n  grants:\n    - name: online\n",
			[]string{"feature_store.yaml:5: online_store.grants[0].kind: required"}},
		{"grant duplicate", "project: p\nonline_store:\n  type: sqlite\n  grants:\n    - {kind: sql, name: online}\n    - {kind: sql, name: online}\n",
			[]string{"feature_store.yaml:6: online_store.grants[1]: duplicate grant of sql \"online\" (first granted on line 5)"}},
		{"grant unknown binding", "project: p\nonline_store:\n  type: sqlite\n  grants:\n    - kind: sql\n      name: online\n      password: x\n",
			[]string{"feature_store.yaml:7: online_store.grants[0].password: unknown key"}},
		{"missing env var", "project: p\nonline_store:\n  type: redis\n  connection_string: ${REDIS_URL}\n",
			[]string{"feature_store.yaml:4: online_store.connection_string: environment variable REDIS_URL is not set"}},
		{"malformed env reference", "project: p\nregistry: ${1BAD}/registry.db\n",
			[]string{"feature_store.yaml:2: registry: invalid environment variable reference \"${1BAD}\""}},
		{"unterminated env reference", "project: p\nregistry: ${HOME/registry.db\n",
			[]string{"feature_store.yaml:2: registry: unterminated ${"}},
		{"bad serialization version", "project: p\nentity_key_serialization_version: 1\n",
			[]string{"feature_store.yaml:2: entity_key_serialization_version: unsupported version 1"}},
		{"serialization version not an int", "project: p\nentity_key_serialization_version: three\n",
			[]string{"feature_store.yaml:2: entity_key_serialization_version: expected an integer, got string \"three\""}},
		{"registry unknown key", "project: p\nregistry:\n  path: data/registry.db\n  cache_ttl: 60\n",
			[]string{"feature_store.yaml:4: registry.cache_ttl: unknown key", `did you mean "cache_ttl_seconds"?`}},
		{"registry remote", "project: p\nregistry:\n  registry_type: remote\n  path: localhost:6570\n",
			[]string{"feature_store.yaml:3: registry.registry_type: remote registries are not supported yet"}},
		{"registry negative ttl", "project: p\nregistry:\n  path: r.db\n  cache_ttl_seconds: -5\n",
			[]string{"feature_store.yaml:4: registry.cache_ttl_seconds: must be >= 0"}},
		{"spark batch engine", "project: p\nbatch_engine:\n  type: spark.engine\n",
			[]string{"feature_store.yaml:3: batch_engine: \"spark.engine\" is not supported"}},
		{"duplicate key", "project: p\nproject: q\n",
			[]string{"feature_store.yaml:2: project: duplicate key (first set on line 1)"}},
		{"yaml syntax error", "project: p\nonline_store:\n  type: sqlite\n path: x\n",
			[]string{"feature_store.yaml:4: invalid YAML: did not find expected key"}},
		{"unknown provider", "project: p\nprovider: azure\n",
			[]string{"feature_store.yaml:2: provider: unknown provider \"azure\""}},
		{"aws provider without stores", "project: p\nprovider: aws\n",
			[]string{"feature_store.yaml:1: online_store: required with provider \"aws\""}},
		{"unknown auth type", "project: p\nauth:\n  type: ldap\n",
			[]string{"feature_store.yaml:3: auth.type: unknown auth type \"ldap\""}},
		{"bool as yes", "project: p\nfeature_server:\n  enabled: yes\n",
			[]string{"feature_store.yaml:3: feature_server.enabled: expected true or false, got string \"yes\""}},
		{"nan in plugin options", "project: p\nonline_store:\n  type: redis\n  weight: .nan\n",
			[]string{"feature_store.yaml:4: online_store.weight: .nan cannot be represented in JSON"}},
		{"two documents", "project: p\n---\nproject: q\n",
			[]string{"feature_store.yaml:2: expected one YAML document, found 2"}},
		{"empty file", "# nothing\n",
			[]string{"feature_store.yaml: empty file"}},
		{"store not a mapping", "project: p\nonline_store: [sqlite]\n",
			[]string{"feature_store.yaml:2: online_store: expected a mapping, got a list"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse(t, tc.yml, nil)
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is %T, want ErrorList: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	t.Parallel()
	_, err := parse(t, "project: p\nonline_store:\n  type: wasm\n  path: kv.wasm\n  sha256: nope\n  limits:\n    memory: lots\nregistry: ${NOPE}\n", nil)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	if list[0].Line != 5 || list[1].Line != 7 || list[2].Line != 8 {
		t.Errorf("errors not in line order: %v", err)
	}
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint64{"1024": 1024, "64MiB": 64 << 20, "1 GiB": 1 << 30, "2kb": 2000, "3MB": 3e6, "10b": 10} {
		got, err := parseBytes(in)
		if err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "12XB", "99999999999999999999GiB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) succeeded", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("project: p\nonline_store:\n  type: sqlite\n  path: x.db\n"))
	f.Add([]byte("project: ${P:-x}\nregistry: {path: r, cache_ttl_seconds: 1}\n"))
	f.Add([]byte("project: p\noffline_store: {type: wasm, path: a.wasm, sha256: x, limits: {memory: 1GiB}, grants: [{kind: sql, name: n}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz/feature_store.yaml", data, LoadOptions{LookupEnv: env(map[string]string{"P": "p"})})
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && c != nil {
			t.Fatal("config with error")
		}
	})
}
