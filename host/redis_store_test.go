package host

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/repo"
	"github.com/redis/go-redis/v9"
)

// redisTestDB is the Redis database these tests own (scripts/services.sh starts the
// server with 64): they flush it, so nothing else may use it.
const redisTestDB = 7

// redisPlugin returns the built Rust redis plugin, building it with make when missing:
// it has no Go sources for testPlugin to build.
func redisPlugin(t *testing.T) string {
	t.Helper()
	dirs := []string{os.Getenv(PluginDirEnv), filepath.Join("..", "build", "plugins")}
	if p := FindPlugin(dirs, "", "redis"); p != "" {
		return p
	}
	testPluginMu.Lock()
	defer testPluginMu.Unlock()
	out, _ := filepath.Abs(filepath.Join("..", "build", "plugins", "redis.wasm"))
	if b, err := exec.Command("make", "-C", "..", "--no-print-directory", out).CombinedOutput(); err != nil {
		t.Fatalf("building the redis plugin: %v\n%s", err, b)
	}
	return out
}

// redisRepo is the scaffolded repo of `larder init` with `online_store: {type: redis}`
// pointing at database redisTestDB of $LARDER_REDIS_URL, which it empties first.
func redisRepo(t *testing.T, extra string) (*testRepo, *redis.Client) {
	t.Helper()
	raw := os.Getenv("LARDER_REDIS_URL")
	if raw == "" {
		t.Skip("LARDER_REDIS_URL is not set: run scripts/services.sh start (make test does) to test against a real Redis")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("LARDER_REDIS_URL: %v", err)
	}
	rc := redis.NewClient(&redis.Options{Addr: u.Host, DB: redisTestDB})
	t.Cleanup(func() { rc.Close() })
	if err := rc.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("flushing redis db %d: %v", redisTestDB, err)
	}
	dir := filepath.Join(t.TempDir(), "repo")
	if err := repo.ScaffoldWith(dir, repo.ScaffoldOptions{Project: "demo", Now: dataEnd}); err != nil {
		t.Fatal(err)
	}
	plugins := t.TempDir()
	for _, name := range []string{"duckdb"} {
		if err := os.Symlink(testPlugin(t, name), filepath.Join(plugins, name+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(redisPlugin(t), filepath.Join(plugins, "redis.wasm")); err != nil {
		t.Fatal(err)
	}
	tr := &testRepo{dir: dir, clock: &testClock{t: dataEnd.Add(time.Hour)}}
	// Feast's keys, as a Feast user writes them.
	tr.edit(t, "feature_store.yaml", "  type: sqlite\n  path: data/online_store.db\n",
		"  type: redis\n  connection_string: \""+u.Host+",db=7\"\n"+extra)
	tr.fs = tr.open(t, plugins)
	return tr, rc
}

// TestRedisOnlineStore runs apply, materialize, read and teardown through the real Rust
// plugin and redis-server, and checks what lands in Redis is Feast's layout.
func TestRedisOnlineStore(t *testing.T) {
	ctx := context.Background()
	tr, rc := redisRepo(t, "  key_ttl_seconds: 86400\n")
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	end := dataEnd.Add(time.Hour)
	if err := tr.fs.Materialize(ctx, MaterializeRequest{Start: time.Unix(0, 0), End: end}); err != nil {
		t.Fatal(err)
	}
	want := latestInParquet(t, tr.path("data/driver_stats.parquet"), time.Unix(0, 0), end)
	checkOnline(t, tr.fs, "driver_hourly_stats", want)

	// Feast's layout: key = serialized entity key ‖ project; fields = murmur3 of
	// "view:feature" and _ts:view; a TTL from key_ttl_seconds.
	ek, err := feast.SerializeEntityKey([]string{"driver_id"}, []feast.Value{feast.Int64Value(1001)}, 3)
	if err != nil {
		t.Fatal(err)
	}
	key := string(ek) + "demo"
	h, err := rc.HGetAll(ctx, key).Result()
	if err != nil || len(h) == 0 {
		t.Fatalf("HGETALL of driver 1001's key: %v %v", h, err)
	}
	for _, f := range []string{"\x61\x60\xe3\xda", "_ts:driver_hourly_stats", "_ts:driver_hourly_stats_fresh"} {
		if _, ok := h[f]; !ok {
			t.Errorf("field %q missing from %q", f, keysOf(h))
		}
	}
	if ttl := rc.TTL(ctx, key).Val(); ttl <= 0 || ttl > 24*time.Hour {
		t.Errorf("TTL = %v, want at most key_ttl_seconds (1 day)", ttl)
	}
	if v := h["\x61\x60\xe3\xda"]; len(v) != 5 || v[0] != 0x35 { // Value{float_val: conv_rate}
		t.Errorf("conv_rate value bytes = %x, want a serialized Value with float_val", v)
	}

	// Teardown removes the project's keys.
	if _, err := tr.fs.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	keys, _, err := rc.Scan(ctx, 0, "*demo", 1000).Result()
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys left after teardown: %d %v", len(keys), err)
	}
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRedisBindingKeepsSecretsFromThePlugin checks the config split: the connection
// string (and its password) becomes a grant, the rest the plugin's config.
func TestRedisBindingKeepsSecretsFromThePlugin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	if err := repo.ScaffoldWith(dir, repo.ScaffoldOptions{Project: "demo", Now: dataEnd}); err != nil {
		t.Fatal(err)
	}
	tr := &testRepo{dir: dir, clock: &testClock{t: dataEnd}}
	tr.edit(t, "feature_store.yaml", "  type: sqlite\n  path: data/online_store.db\n",
		"  type: redis\n  connection_string: \"r1:6379,r2:6379,password=hunter2\"\n  redis_type: redis_cluster\n  key_ttl_seconds: 60\n  skip_dedup: true\n")
	fs, err := Open(context.Background(), dir, OpenOptions{PluginDir: t.TempDir(), CacheDir: "-", Now: tr.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(context.Background())
	bind := firstPartyBindings["redis"]
	grants, rest, err := bind(fs.cfg.OnlineStore, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) != 1 || grants[0].Kind != "redis" || grants[0].Name != "online" || grants[0].Redis == nil ||
		grants[0].Redis.Connection != "r1:6379,r2:6379,password=hunter2" || grants[0].Redis.Type != "redis_cluster" {
		t.Fatalf("grants = %+v", grants)
	}
	for k := range rest {
		if strings.Contains(k, "connection") || k == "redis_type" {
			t.Errorf("plugin config holds %q", k)
		}
	}
	if rest["key_ttl_seconds"] == nil || rest["skip_dedup"] != true {
		t.Errorf("plugin config = %v", rest)
	}
}
