package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/registry"
)

// The benchmark repo: one entity, one feature view of benchFeatures features (FLOAT,
// INT64, DOUBLE and STRING in turn) and benchEntities materialized entity rows, served
// from SQLite through the Wasm plugin.
const (
	benchFeatures = 50
	benchEntities = 1000
	benchProject  = "bench"
	benchView     = "driver_stats"
)

func benchFeatureType(i int) feast.ValueType {
	return [...]feast.ValueType{feast.TypeFloat, feast.TypeInt64, feast.TypeDouble, feast.TypeString}[i%4]
}

// benchRepo creates the benchmark repo in dir: registry, online table and rows. It is
// used by the Go benchmarks and by scripts/load.sh (through TestWriteBenchRepo).
func benchRepo(tb testing.TB, dir string) {
	tb.Helper()
	ctx := context.Background()
	yaml := "project: " + benchProject + "\nregistry: data/registry.db\nprovider: local\n" +
		"online_store:\n  type: sqlite\n  path: data/online.db\noffline_store: null\nentity_key_serialization_version: 3\n"
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "feature_store.yaml"), []byte(yaml), 0o644); err != nil {
		tb.Fatal(err)
	}
	fv := &registry.FeatureViewSpec{
		Name: benchView, Project: benchProject, Entities: []string{"driver"}, Online: true,
		EntityColumns: []*registry.FeatureSpec{{Name: "driver_id", ValueType: feast.TypeInt64}},
		TTL:           registry.DurationOf(0),
		BatchSource:   &registry.DataSource{Type: registry.SourceBatchFile, Name: "src", TimestampField: "event_timestamp"},
	}
	table := host.Table{Name: benchView, JoinKeys: []string{"driver_id"}}
	for i := 0; i < benchFeatures; i++ {
		name := "f" + strconv.Itoa(i)
		fv.Features = append(fv.Features, &registry.FeatureSpec{Name: name, ValueType: benchFeatureType(i)})
		table.Features = append(table.Features, name)
	}
	reg := &registry.Registry{
		Entities:     []*registry.Entity{{Spec: &registry.EntitySpec{Name: "driver", JoinKey: "driver_id", ValueType: feast.TypeInt64, Project: benchProject}}},
		FeatureViews: []*registry.FeatureView{{Spec: fv}},
	}
	if err := registry.NewFileStore(filepath.Join(dir, "data", "registry.db")).Save(reg); err != nil {
		tb.Fatal(err)
	}
	// Create the table as `apply` would: through the plugin's update export.
	st, err := host.LoadOnlineStore(ctx, host.PluginConfig{
		Path: filepath.Join(pluginDir(tb), "sqlite.wasm"), CacheDir: filepath.Join(os.TempDir(), "larder-test-wazero-cache"),
		Grants: []host.Grant{{Kind: "sql", Name: "online", SQL: &host.SQLGrant{Path: filepath.Join(dir, "data", "online.db"), TablePrefix: benchProject + "_"}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Update(ctx, host.UpdateRequest{Project: benchProject, TablesToKeep: []host.Table{table}}); err != nil {
		tb.Fatal(err)
	}
	st.Close(ctx)

	fs := openStore(tb, dir, time.Now())
	h := New(fs, Options{}).Handler()
	const batch = 250
	for start := 0; start < benchEntities; start += batch {
		var b strings.Builder
		b.WriteString(`{"feature_view_name": "` + benchView + `", "df": {"driver_id": [`)
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
		for f := 0; f < benchFeatures; f++ {
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
			tb.Fatalf("loading the benchmark rows: %d %s", r.status, r.body)
		}
	}
}

// benchBody is a /get-online-features request for entities × features, starting at
// entity offset.
func benchBody(entities, features, offset int) string {
	return onlineRequestBody(entities, features, offset, func(f int) string { return fmt.Sprintf("%s:f%d", benchView, f) }, "]}")
}

// onlineRequestBody is a /get-online-features request for entities benchmark entities
// from offset on and the feature references ref(0) … ref(features-1); tail closes the
// features list and the object.
func onlineRequestBody(entities, features, offset int, ref func(f int) string, tail string) string {
	var b strings.Builder
	b.WriteString(`{"entities": {"driver_id": [`)
	for e := 0; e < entities; e++ {
		if e > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(1000 + (offset+e)%benchEntities))
	}
	b.WriteString(`]}, "features": [`)
	for f := 0; f < features; f++ {
		if f > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + ref(f) + `"`)
	}
	b.WriteString(tail)
	return b.String()
}

// BenchmarkGetOnlineFeatures measures a whole /get-online-features request through the
// HTTP handler (decode, resolve, key serialization, one plugin call into SQLite, Value
// decoding, JSON encoding), without the network: entities × features.
func BenchmarkGetOnlineFeatures(b *testing.B) {
	dir := b.TempDir()
	benchRepo(b, dir)
	fs := openStore(b, dir, time.Now())
	srv := New(fs, Options{})
	h := srv.Handler()
	for _, size := range []struct{ entities, features int }{{1, 10}, {100, 50}} {
		b.Run(fmt.Sprintf("%dx%d", size.entities, size.features), func(b *testing.B) {
			bodies := make([]string, 64)
			for i := range bodies {
				bodies[i] = benchBody(size.entities, size.features, i*size.entities)
			}
			if r := do(h, "POST", "/get-online-features", bodies[0]); r.status != 200 || strings.Contains(string(r.body), "NOT_FOUND") {
				b.Fatalf("warm-up: %d %.300s", r.status, r.body)
			}
			b.ReportAllocs()
			read0 := srv.metrics.storeRead.sum()
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
			// Process CPU time per request: unlike ns/op it does not grow when other
			// processes compete for the cores.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			// Wall time inside OnlineStore.Read (the plugin call): the rest of ns/op is
			// the host and the HTTP layer.
			b.ReportMetric((srv.metrics.storeRead.sum()-read0)*1e9/float64(b.N), "store-ns/op")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestWriteBenchRepo writes the benchmark repo to $LARDER_BENCH_REPO for scripts/load.sh;
// it does nothing when the variable is unset.
func TestWriteBenchRepo(t *testing.T) {
	dir := os.Getenv("LARDER_BENCH_REPO")
	if dir == "" {
		t.Skip("LARDER_BENCH_REPO not set")
	}
	benchRepo(t, dir)
	for _, size := range []struct{ e, f int }{{1, 10}, {100, 50}} {
		name := filepath.Join(dir, fmt.Sprintf("request-%dx%d.json", size.e, size.f))
		if err := os.WriteFile(name, []byte(benchBody(size.e, size.f, 0)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
