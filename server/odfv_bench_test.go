package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkODFVOnline measures what an on-demand feature view adds to /get-online-features
// (in process, JSON in and out, Feast's quickstart over SQLite): "plain" reads the ODFV's
// source features (conv_rate, acc_rate, avg_daily_trips), with the same request-data
// columns in entities (ignored); "rust" and "go" request the two ODFV outputs instead,
// which reads the same features and runs the Wasm function on the batch. The difference
// is the ODFV's cost: typing the request data, building the input batch, the Wasm call,
// and converting the outputs.
func BenchmarkODFVOnline(b *testing.B) {
	for _, n := range []int{1, 100} {
		ids, add1, add2 := make([]string, n), make([]string, n), make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprint(1001 + i%5)
			add1[i], add2[i] = fmt.Sprint(i), fmt.Sprint(-i)
		}
		entities := `"driver_id": [` + strings.Join(ids, ",") + `]`
		request := `, "val_to_add": [` + strings.Join(add1, ",") + `], "val_to_add_2": [` + strings.Join(add2, ",") + `]`
		for _, c := range []struct{ name, plugin, body string }{
			{"plain", "odfv_conv_rate_rust", `{"entities": {` + entities + request + `}, "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"]}`},
			{"rust", "odfv_conv_rate_rust", `{"entities": {` + entities + request + `}, "features": ["transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2"]}`},
			{"go", "odfv_conv_rate_go", `{"entities": {` + entities + request + `}, "features": ["transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2"]}`},
		} {
			b.Run(fmt.Sprintf("%s/%d", c.name, n), func(b *testing.B) {
				fs := openStore(b, odfvQuickstartRepo(b, c.plugin), fixtureNow)
				h := New(fs, Options{Now: func() time.Time { return fixtureNow }}).Handler()
				if r := do(h, http.MethodPost, "/get-online-features", c.body); r.status != 200 {
					b.Fatalf("%d %s", r.status, r.body)
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuTime()
				for i := 0; i < b.N; i++ {
					if r := do(h, http.MethodPost, "/get-online-features", c.body); r.status != 200 {
						b.Fatalf("%d %s", r.status, r.body)
					}
				}
				// Process CPU per request: steadier than ns/op on a shared machine.
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
