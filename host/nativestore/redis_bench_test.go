package nativestore_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/nativestore"
	"github.com/redis/go-redis/v9"
)

// redisBenchDB is the Redis database the store benchmark owns (it flushes it).
const redisBenchDB = 13

// BenchmarkRedisStoreRead isolates OnlineStore.Read: the Rust plugins/redis in the sandbox
// over the redis capability (wasm) against nativestore.Redis (native), the same Feast
// layout, data and requests, in pairs. The /get-online-features benchmark in server adds
// the HTTP, resolution and JSON work both sides share; this one shows the store's own
// cost. Shapes are entities × features, over 1 or 5 views (features split evenly).
func BenchmarkRedisStoreRead(b *testing.B) {
	raw := os.Getenv("LARDER_REDIS_URL")
	if raw == "" {
		b.Skip("LARDER_REDIS_URL is not set: run scripts/services.sh start to benchmark against a real Redis")
	}
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	plugin, err := filepath.Abs(filepath.Join("..", "..", "build", "plugins", "redis.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(plugin); err != nil {
		b.Skipf("%v: run make build/plugins/redis.wasm", err)
	}
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: u.Host, DB: redisBenchDB})
	defer client.Close()
	if err := client.FlushDB(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	wasm, err := host.LoadOnlineStore(ctx, host.PluginConfig{
		Path: plugin, CacheDir: filepath.Join(os.TempDir(), "larder-test-wazero-cache"),
		Grants: []host.Grant{{Kind: "redis", Name: "online", Redis: &host.RedisGrant{Connection: fmt.Sprintf("%s,db=%d", u.Host, redisBenchDB)}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer wasm.Close(ctx)
	native := nativestore.NewRedis(client)

	const (
		project  = "bench"
		entities = 1000
		views    = 5
		perView  = 50
	)
	keys := make([][]byte, entities)
	for e := range keys {
		keys[e], err = feast.SerializeEntityKey([]string{"driver_id"}, []feast.Value{feast.Int64Value(int64(1000 + e))}, 3)
		if err != nil {
			b.Fatal(err)
		}
	}
	// Views v0…v4 of 50 features each: FLOAT, INT64, DOUBLE, STRING in turn, like the
	// server benchmark's data.
	for v := 0; v < views; v++ {
		req := host.WriteRequest{Project: project, View: fmt.Sprintf("v%d", v)}
		for f := 0; f < perView; f++ {
			req.Features = append(req.Features, fmt.Sprintf("f%d", f))
		}
		for e, k := range keys {
			row := host.WriteRow{EntityKey: k, EventTS: time.Date(2025, 1, 14, 12, 0, 0, 0, time.UTC)}
			for f := 0; f < perView; f++ {
				var val feast.Value
				switch f % 4 {
				case 0:
					val = feast.FloatValue(float32(e%97) + float32(f)/10)
				case 1:
					val = feast.Int64Value(int64(e * f))
				case 2:
					val = feast.DoubleValue(float64(e%97) + float64(f)/10)
				default:
					val = feast.StringValue(fmt.Sprintf("value-%d-%d", e, f))
				}
				enc, err := feast.MarshalValue(val)
				if err != nil {
					b.Fatal(err)
				}
				row.Values = append(row.Values, enc)
			}
			req.Rows = append(req.Rows, row)
		}
		if err := wasm.Write(ctx, req); err != nil {
			b.Fatal(err)
		}
	}

	for _, shape := range []struct{ entities, features, views int }{{1, 10, 1}, {100, 50, 1}, {100, 50, 5}} {
		reqs := make([]host.ReadRequest, 16)
		for i := range reqs {
			r := host.ReadRequest{Project: project}
			for v := 0; v < shape.views; v++ {
				rv := host.ReadView{Name: fmt.Sprintf("v%d", v)}
				for f := 0; f < shape.features/shape.views; f++ {
					rv.Features = append(rv.Features, fmt.Sprintf("f%d", f))
				}
				for e := 0; e < shape.entities; e++ {
					rv.EntityKeys = append(rv.EntityKeys, keys[(i*shape.entities+e)%entities])
				}
				r.Views = append(r.Views, rv)
			}
			reqs[i] = r
		}
		// Both sides must read the same thing before their speed means anything.
		w, err := wasm.Read(ctx, reqs[0])
		if err != nil {
			b.Fatal(err)
		}
		n, err := native.Read(ctx, reqs[0])
		if err != nil {
			b.Fatal(err)
		}
		if err := sameResult(w, n); err != nil {
			b.Fatalf("%dx%d over %d views: %v", shape.entities, shape.features, shape.views, err)
		}
		for _, side := range []struct {
			name  string
			store host.OnlineStore
		}{{"wasm", wasm}, {"native", native}} {
			b.Run(fmt.Sprintf("%dx%d/views=%d/%s", shape.entities, shape.features, shape.views, side.name), func(b *testing.B) {
				b.ReportAllocs()
				cpu0 := cpuTime()
				i := 0
				for b.Loop() {
					if _, err := side.store.Read(ctx, reqs[i%len(reqs)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(i), "cpu-ns/op")
			})
		}
	}
}

func sameResult(a, b *host.ReadResult) error {
	if len(a.Views) != len(b.Views) {
		return fmt.Errorf("%d views vs %d", len(a.Views), len(b.Views))
	}
	for v := range a.Views {
		if len(a.Views[v]) != len(b.Views[v]) {
			return fmt.Errorf("view %d: %d values vs %d", v, len(a.Views[v]), len(b.Views[v]))
		}
		for i, x := range a.Views[v] {
			y := b.Views[v][i]
			if x.Status != y.Status || !bytes.Equal(x.Value, y.Value) || !x.EventTS.Equal(y.EventTS) {
				return fmt.Errorf("view %d value %d: %+v vs %+v", v, i, x, y)
			}
			if x.Status != abi.FieldPresent {
				return fmt.Errorf("view %d value %d is %s: the data was not written", v, i, x.Status)
			}
		}
	}
	return nil
}

// cpuTime is the process's user+system CPU time: unlike ns/op it does not grow when other
// processes compete for the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
