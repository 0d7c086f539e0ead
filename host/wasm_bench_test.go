package host_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/larder-dev/larder/host"
)

// BenchmarkWasmOnlineRead reads 10 entity keys × 2 features from the in-memory echo
// plugin: the host's whole read path (request encoding, pool, call, response
// validation and decoding) around a trivial store.
func BenchmarkWasmOnlineRead(b *testing.B) {
	for _, mode := range []string{"loop_flag", "close_on_context_done", "none"} {
		b.Run(mode, func(b *testing.B) {
			cfg := testConfig(b, "echo")
			cfg.Pool = host.PoolConfig{Min: 1, Max: 1}
			cfg.Limits.TrustedNoInterrupt = mode == "none"
			cfg.Limits.ForceCloseOnContextDone = mode == "close_on_context_done"
			s := load(b, cfg)
			if got := s.Info().InterruptMode; got != mode {
				b.Fatalf("interrupt mode %s, want %s", got, mode)
			}
			ctx := context.Background()
			var keys [][]byte
			var rows []host.WriteRow
			for i := 0; i < 10; i++ {
				k := []byte(fmt.Sprintf("key-%02d", i))
				keys = append(keys, k)
				rows = append(rows, host.WriteRow{EntityKey: k, EventTS: time.Now(), Values: [][]byte{[]byte("0123456789"), []byte("abcdefghij")}})
			}
			if err := s.Write(ctx, host.WriteRequest{Project: "p", View: "driver_stats", Features: []string{"conv_rate", "acc_rate"}, Rows: rows}); err != nil {
				b.Fatal(err)
			}
			req := readReq("p", keys...)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := s.Read(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
