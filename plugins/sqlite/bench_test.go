package main

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/nativestore"
	"github.com/larder-dev/larder/sdk-go/sdktest"
)

// BenchmarkOnlineRead reads 100 entities × 10 features of one view from a table of 10,000
// entities: native is host/nativestore (plain Go, the same SQL), wasm is this plugin through
// the host with the default interruptible calls, wasm-trusted the same with
// TrustedNoInterrupt (how a reviewed first-party plugin may run), sdk-native is the plugin's
// code run natively under sdktest (the guest logic without the Wasm boundary). The
// wasm/native ratio is the plugin overhead.
func BenchmarkOnlineRead(b *testing.B) {
	const (
		entities = 10_000
		batch    = 100
		nfeat    = 10
	)
	path := filepath.Join(b.TempDir(), "online.db")
	feats := make([]string, nfeat)
	for f := range feats {
		feats[f] = fmt.Sprintf("feature_%02d", f)
	}
	seed, err := nativestore.NewSQLite(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := seed.Update(ctx, host.UpdateRequest{Project: project, TablesToKeep: []host.Table{table("driver_stats", feats...)}}); err != nil {
		b.Fatal(err)
	}
	rows := make([]host.WriteRow, entities)
	for i := range rows {
		vals := make([][]byte, nfeat)
		for f := range vals {
			vals[f] = []byte(fmt.Sprintf("\x11value-%d-%d", i, f)) // about the size of a serialized double Value
		}
		rows[i] = host.WriteRow{EntityKey: benchKey(i), EventTS: t0, Values: vals}
	}
	if err := seed.Write(ctx, host.WriteRequest{Project: project, View: "driver_stats", Features: feats, Rows: rows}); err != nil {
		b.Fatal(err)
	}
	seed.Close(ctx)

	keys := make([][]byte, batch)
	for i := range keys {
		keys[i] = benchKey((i * 97) % entities)
	}
	req := host.ReadRequest{Project: project, Views: []host.ReadView{{Name: "driver_stats", Features: feats, EntityKeys: keys}}}

	stores := []struct {
		name string
		open func(b *testing.B) host.OnlineStore
	}{
		{"native", func(b *testing.B) host.OnlineStore {
			s, err := nativestore.NewSQLite(path)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close(ctx) })
			return s
		}},
		{"wasm", func(b *testing.B) host.OnlineStore {
			wasm := wasmPath(b)
			if wasm == "" {
				b.Skip("no Wasm module (-short)")
			}
			return sdktest.WasmOnlineStore(b, wasm, sdktest.Options{SQL: map[string]string{"online": path}})
		}},
		{"wasm-trusted", func(b *testing.B) host.OnlineStore {
			wasm := wasmPath(b)
			if wasm == "" {
				b.Skip("no Wasm module (-short)")
			}
			return sdktest.WasmOnlineStore(b, wasm, sdktest.Options{SQL: map[string]string{"online": path},
				Limits: host.Limits{TrustedNoInterrupt: true}})
		}},
		{"sdk-native", func(b *testing.B) host.OnlineStore {
			return sdktest.NativeOnlineStore(b, sdktest.Options{SQL: map[string]string{"online": path}})
		}},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			store := s.open(b)
			res, err := store.Read(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			if got := len(res.Views[0]); got != batch*nfeat || res.Views[0][0].Status != 1 {
				b.Fatalf("read %d values (first %v), want %d present", got, res.Views[0][0].Status, batch*nfeat)
			}
			b.ReportAllocs()
			b.ResetTimer()
			c0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := store.Read(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time is steadier than wall time on a shared machine; compare ratios of both.
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchKey is shaped like a Feast v3 entity key with one int64 join key.
func benchKey(i int) []byte {
	k := []byte{1, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 'd', 'r', 'i', 'v', 'e', 'r', '_', 'i', 'd', 4, 0, 0, 0, 8, 0, 0, 0}
	for s := 0; s < 64; s += 8 {
		k = append(k, byte(uint64(i)>>s))
	}
	return k
}

// BenchmarkOnlineWrite writes 1,000 entities × 10 features per op (one materialization
// batch): native is host/nativestore, wasm this plugin through the host.
func BenchmarkOnlineWrite(b *testing.B) {
	const (
		entities = 1000
		nfeat    = 10
	)
	feats := make([]string, nfeat)
	for f := range feats {
		feats[f] = fmt.Sprintf("feature_%02d", f)
	}
	rows := make([]host.WriteRow, entities)
	for i := range rows {
		vals := make([][]byte, nfeat)
		for f := range vals {
			vals[f] = []byte(fmt.Sprintf("\x11value-%d-%d", i, f))
		}
		rows[i] = host.WriteRow{EntityKey: benchKey(i), EventTS: t0, CreatedTS: t0, Values: vals}
	}
	req := host.WriteRequest{Project: project, View: "driver_stats", Features: feats, Rows: rows}
	for _, s := range []struct {
		name string
		open func(b *testing.B, path string) host.OnlineStore
	}{
		{"native", func(b *testing.B, path string) host.OnlineStore {
			st, err := nativestore.NewSQLite(path)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close(ctx) })
			return st
		}},
		{"wasm", func(b *testing.B, path string) host.OnlineStore {
			wasm := wasmPath(b)
			if wasm == "" {
				b.Skip("no Wasm module (-short)")
			}
			return sdktest.WasmOnlineStore(b, wasm, sdktest.Options{SQL: map[string]string{"online": path}})
		}},
	} {
		b.Run(s.name, func(b *testing.B) {
			store := s.open(b, filepath.Join(b.TempDir(), "online.db"))
			if err := store.Update(ctx, host.UpdateRequest{Project: project, TablesToKeep: []host.Table{table("driver_stats", feats...)}}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			c0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if err := store.Write(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}
