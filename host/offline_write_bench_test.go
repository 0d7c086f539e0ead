package host

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/larder-dev/larder/host/repo"
)

// BenchmarkPushOffline measures /push with to=offline through the real duckdb.wasm planner
// and the engine's write mode: a frame of `rows` rows appended to a Parquet batch source of
// `file` rows. Each push rewrites the whole file (Parquet has no append; Feast's file store
// rewrites it too), so the cost should follow the file size, not the frame. The online push
// of the same frame is the pair, for scale. cpu-ns/op is the process CPU time per push.
func BenchmarkPushOffline(b *testing.B) {
	for _, fileRows := range []int{10_000, 1_000_000} {
		for _, rows := range []int{1, 100} {
			for _, to := range []string{PushOffline, PushOnline} {
				b.Run(fmt.Sprintf("file=%d/rows=%d/to=%s", fileRows, rows, to), func(b *testing.B) {
					fs := benchPushRepo(b, fileRows)
					ctx := context.Background()
					base := dataEnd.Add(time.Minute)
					frame := func(i int) []Column {
						ids, ts, vals := make([]string, rows), make([]string, rows), make([]string, rows)
						for r := range rows {
							ids[r] = fmt.Sprint(2000 + r)
							ts[r] = fmt.Sprintf("%q", base.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
							vals[r] = "0.5"
						}
						df, err := parseCols(fmt.Sprintf(`{"driver_id": [%s], "event_timestamp": [%s], "created": [%s],
							"conv_rate": [%s], "acc_rate": [%s], "avg_daily_trips": [%s]}`,
							strings.Join(ids, ","), strings.Join(ts, ","), strings.Join(ts, ","),
							strings.Join(vals, ","), strings.Join(vals, ","), strings.Join(ids, ",")))
						if err != nil {
							b.Fatal(err)
						}
						return df
					}
					push := func(i int) {
						if err := fs.Push(ctx, PushRequest{PushSourceName: "driver_stats_push_source", To: to, DF: frame(i)}); err != nil {
							b.Fatal(err)
						}
					}
					push(0) // load the plugins outside the timing
					cpu0 := pushCPUTime()
					i := 1
					b.ResetTimer()
					for b.Loop() {
						push(i)
						i++
					}
					b.ReportMetric(float64(pushCPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
				})
			}
		}
	}
}

// benchPushRepo scaffolds and applies the example repo with its batch source replaced by
// fileRows rows of the same schema.
func benchPushRepo(b *testing.B, fileRows int) *FeatureStore {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "repo")
	if err := repo.ScaffoldWith(dir, repo.ScaffoldOptions{Project: "demo", Now: dataEnd}); err != nil {
		b.Fatal(err)
	}
	data := filepath.Join(dir, "data", "driver_stats.parquet")
	big := filepath.Join(dir, "data", "big.parquet")
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	_, err = db.Exec(fmt.Sprintf(`COPY (SELECT (1001 + i %% 100000)::BIGINT AS driver_id,
		TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (i) SECOND AS event_timestamp,
		(i %% 1000 / 1000.0)::FLOAT AS conv_rate, 0.5::FLOAT AS acc_rate, (i %% 1000)::BIGINT AS avg_daily_trips,
		TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (i) SECOND AS created
		FROM range(%d) t(i)) TO '%s' (FORMAT parquet)`, fileRows, big))
	db.Close()
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(big, data); err != nil {
		b.Fatal(err)
	}
	plugins := b.TempDir()
	for _, name := range []string{"sqlite", "duckdb"} {
		if err := os.Symlink(testPlugin(b, name), filepath.Join(plugins, name+".wasm")); err != nil {
			b.Fatal(err)
		}
	}
	fs, err := Open(context.Background(), dir, OpenOptions{PluginDir: plugins, CacheDir: "-", Now: func() time.Time { return dataEnd }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fs.Close(context.Background()) })
	if _, err := fs.Apply(context.Background(), false); err != nil {
		b.Fatal(err)
	}
	return fs
}

// pushCPUTime is the process's CPU time (user + system), so a busy machine inflates the
// wall time but not this.
func pushCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
