package conformance_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/larder-dev/larder/conformance"
)

// TestRedisWasm runs the whole online-store suite against the Rust Redis plugin on a real
// redis-server. `make test` (scripts/test.sh → scripts/services.sh) always starts one and
// sets LARDER_REDIS_URL; the test skips, saying why, only when run by hand without it.
func TestRedisWasm(t *testing.T) {
	url := os.Getenv("LARDER_REDIS_URL")
	if url == "" {
		t.Skip("LARDER_REDIS_URL is not set: run scripts/services.sh start (make test does) to test against a real Redis")
	}
	p := filepath.Join(pluginDir(), "redis.wasm")
	needBuilt(t, p)
	conformance.RunOnlineStore(t, conformance.WasmTarget(p, conformance.WasmOptions{Redis: url}))
}

// TestRedisWasmCluster runs a subset against a Redis Cluster, where keys spread over slots
// and SCAN walks every master.
func TestRedisWasmCluster(t *testing.T) {
	url := os.Getenv("LARDER_REDIS_CLUSTER_URL")
	if url == "" {
		t.Skip("LARDER_REDIS_CLUSTER_URL is not set: run scripts/services.sh start (make test does)")
	}
	p := filepath.Join(pluginDir(), "redis.wasm")
	needBuilt(t, p)
	conformance.RunOnlineStore(t, conformance.WasmTarget(p, conformance.WasmOptions{Redis: url, RedisType: "redis_cluster"}),
		conformance.Options{Cases: []string{"types", "views", "update", "teardown", "overwrite", "missing"}})
}
