package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/nativestore"
	"github.com/larder-dev/larder/host/registry"
	"github.com/redis/go-redis/v9"
)

// redisBenchDB is the Redis database the benchmark owns (it flushes it).
const redisBenchDB = 12

// BenchmarkGetOnlineFeaturesRedis measures /get-online-features served from a real Redis
// through the HTTP handler, in pairs: wasm = the Rust plugins/redis in the sandbox over the
// redis capability; native = the same Feast layout read with go-redis in the host
// (nativestore.Redis). Same repo, data, requests and HTTP layer; only the store differs.
func BenchmarkGetOnlineFeaturesRedis(b *testing.B) {
	raw := os.Getenv("LARDER_REDIS_URL")
	if raw == "" {
		b.Skip("LARDER_REDIS_URL is not set: run scripts/services.sh start to benchmark against a real Redis")
	}
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	benchRepo(b, dir) // registry and rows (SQLite); the rows are loaded into Redis below
	addSplitViews(b, dir)
	yaml := "project: " + benchProject + "\nregistry: data/registry.db\nprovider: local\n" +
		"online_store:\n  type: redis\n  connection_string: \"" + u.Host + ",db=" + strconv.Itoa(redisBenchDB) + "\"\n" +
		"offline_store: null\nentity_key_serialization_version: 3\n"
	if err := os.WriteFile(filepath.Join(dir, "feature_store.yaml"), []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	client := redis.NewClient(&redis.Options{Addr: u.Host, DB: redisBenchDB})
	defer client.Close()
	if err := client.FlushDB(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
	wasmFS := openStore(b, dir, time.Now())
	loadRedisBench(b, New(wasmFS, Options{}).Handler())
	for v := 0; v < splitViews; v++ {
		loadRedisView(b, New(wasmFS, Options{}).Handler(), splitView(v), benchFeatures/splitViews)
	}
	nativeFS, err := host.Open(context.Background(), dir, host.OpenOptions{
		PluginDir: pluginDir(b), CacheDir: filepath.Join(os.TempDir(), "larder-test-wazero-cache"),
		OnlineStore: nativestore.NewRedis(client),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer nativeFS.Close(context.Background())

	// views = 1: the features come from one view; views = 5: from five views of 10 features
	// (the 100 × 50 shape), which makes five times as many HMGETs of fewer fields.
	for _, size := range []struct{ entities, features, views int }{{1, 10, 1}, {1, 50, 1}, {100, 50, 1}, {1, 50, 5}, {100, 50, 5}} {
		for _, side := range []struct {
			name string
			fs   *host.FeatureStore
		}{{"wasm", wasmFS}, {"native", nativeFS}} {
			name := fmt.Sprintf("%dx%d/%s", size.entities, size.features, side.name)
			if size.views > 1 {
				name = fmt.Sprintf("%dx%d/views=%d/%s", size.entities, size.features, size.views, side.name)
			}
			b.Run(name, func(b *testing.B) {
				srv := New(side.fs, Options{})
				h := srv.Handler()
				bodies := make([]string, 64)
				for i := range bodies {
					if size.views > 1 {
						bodies[i] = splitBenchBody(size.entities, size.features, i*size.entities)
					} else {
						bodies[i] = benchBody(size.entities, size.features, i*size.entities)
					}
				}
				if r := do(h, "POST", "/get-online-features", bodies[0]); r.status != 200 || strings.Contains(string(r.body), "NOT_FOUND") {
					b.Fatalf("warm-up: %d %.300s", r.status, r.body)
				}
				b.ReportAllocs()
				cpu0 := cpuTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					req := httptest.NewRequest(http.MethodPost, "/get-online-features", strings.NewReader(bodies[i%len(bodies)]))
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// splitViews views of benchFeatures/splitViews features each hold the same kind of data
// as benchView, for requests whose features span several views.
const splitViews = 5

func splitView(v int) string { return fmt.Sprintf("%s_%d", benchView, v) }

// addSplitViews adds the split views to the registry benchRepo wrote.
func addSplitViews(tb testing.TB, dir string) {
	tb.Helper()
	st := registry.NewFileStore(filepath.Join(dir, "data", "registry.db"))
	reg, err := st.Load()
	if err != nil {
		tb.Fatal(err)
	}
	base := reg.FeatureViews[0].Spec
	for v := 0; v < splitViews; v++ {
		fv := *base
		fv.Name = splitView(v)
		fv.Features = base.Features[:benchFeatures/splitViews]
		reg.FeatureViews = append(reg.FeatureViews, &registry.FeatureView{Spec: &fv})
	}
	if err := st.Save(reg); err != nil {
		tb.Fatal(err)
	}
}

// splitBenchBody is benchBody with the features taken evenly from the split views.
func splitBenchBody(entities, features, offset int) string {
	ref := func(f int) string { return fmt.Sprintf("%s:f%d", splitView(f%splitViews), f/splitViews) }
	// The views share feature names, so the response names them view__feature.
	return onlineRequestBody(entities, features, offset, ref, `], "full_feature_names": true}`)
}

// loadRedisBench writes the benchmark rows through /write-to-online-store (so through
// the redis plugin), as benchRepo does for SQLite.
func loadRedisBench(tb testing.TB, h http.Handler) {
	tb.Helper()
	loadRedisView(tb, h, benchView, benchFeatures)
}

// loadRedisView writes the benchmark rows of view (its first features features).
func loadRedisView(tb testing.TB, h http.Handler, view string, features int) {
	tb.Helper()
	const batch = 250
	for start := 0; start < benchEntities; start += batch {
		var b strings.Builder
		b.WriteString(`{"feature_view_name": "` + view + `", "df": {"driver_id": [`)
		for e := start; e < start+batch; e++ {
			if e > start {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(1000 + e))
		}
		b.WriteString(`], "event_timestamp": [`)
		for e := start; e < start+batch; e++ {
			if e > start {
				b.WriteByte(',')
			}
			b.WriteString(`"2025-01-14T12:00:00Z"`)
		}
		b.WriteByte(']')
		for f := 0; f < features; f++ {
			fmt.Fprintf(&b, `, "f%d": [`, f)
			for e := start; e < start+batch; e++ {
				if e > start {
					b.WriteByte(',')
				}
				switch benchFeatureType(f) {
				case feast.TypeFloat, feast.TypeDouble:
					fmt.Fprintf(&b, "%d.%d", e%97, f)
				case feast.TypeInt64:
					fmt.Fprintf(&b, "%d", e*f)
				default:
					fmt.Fprintf(&b, `"value-%d-%d"`, e, f)
				}
			}
			b.WriteByte(']')
		}
		b.WriteString("}}")
		if r := do(h, "POST", "/write-to-online-store", b.String()); r.status != 200 {
			tb.Fatalf("loading the benchmark rows into redis: %d %s", r.status, r.body)
		}
	}
}
