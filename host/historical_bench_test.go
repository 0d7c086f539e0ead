package host

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/arrowout"
	"github.com/larder-dev/larder/host/offlineengine"
)

// Benchmark data for historical retrieval: an entity frame (driver_id, customer_id,
// event_timestamp, label over 30 days) and three feature views over 100 000 drivers and
// 100 000 customers, each a Parquet file of viewRows rows:
//
//	driver_stats    driver_id, event_timestamp, created, conv_rate, acc_rate, avg_daily_trips  TTL 7 days
//	customer_stats  customer_id, event_timestamp, spend, orders                                 TTL 2 days
//	driver_quality  driver_id, event_timestamp, rating                                          no TTL
//
// scripts/bench-historical.sh reads the same files with the larder CLI, the hand-written
// query and Feast; histBenchEntityQuery and histBenchViewQueries are its data too.
const histBenchKeys = 100_000

func histBenchViewQueries(viewRows int) map[string]string {
	n, k := strconv.Itoa(viewRows), strconv.Itoa(histBenchKeys)
	return map[string]string{
		"driver_stats": `SELECT i % ` + k + ` AS driver_id,
			TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(((i * 2654435761) % 2592000)::BIGINT) AS event_timestamp,
			TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(((i * 2654435761) % 2592000)::BIGINT + (i % 3600)) AS created,
			((i * 7) % 1000) / 1000.0 AS conv_rate, ((i * 13) % 1000) / 1000.0 AS acc_rate, (i % 97)::BIGINT AS avg_daily_trips
			FROM range(` + n + `) t(i)`,
		"customer_stats": `SELECT (i * 7919) % ` + k + ` AS customer_id,
			TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(((i * 40503) % 2592000)::BIGINT) AS event_timestamp,
			((i * 11) % 10000) / 100.0 AS spend, (i % 53)::BIGINT AS orders
			FROM range(` + n + `) t(i)`,
		"driver_quality": `SELECT (i * 31) % ` + k + ` AS driver_id,
			TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(((i * 69069) % 2592000)::BIGINT) AS event_timestamp,
			((i * 17) % 500) / 100.0 AS rating
			FROM range(` + n + `) t(i)`,
	}
}

func histBenchEntityQuery(rows int) string {
	k := strconv.Itoa(histBenchKeys)
	return `SELECT (hash(i + 1) % ` + k + `)::BIGINT AS driver_id, ((i * 40503 + 17) % ` + k + `)::BIGINT AS customer_id,
		TIMESTAMPTZ '2026-01-03 00:00:00+00' + to_microseconds((hash(i) % 2592000000000)::BIGINT) AS event_timestamp,
		(i % 2)::BIGINT AS label
		FROM range(` + strconv.Itoa(rows) + `) t(i)`
}

// histBenchData writes the benchmark files into dir unless they are there already (a
// big run generates them once) and returns the entity file's path.
func histBenchData(tb testing.TB, db *sql.DB, dir string, entityRows, viewRows int) string {
	tb.Helper()
	write := func(path, query string) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		tmp := path + ".tmp"
		if _, err := db.Exec(`COPY (` + query + `) TO ` + sqlQuote(tmp) + ` (FORMAT parquet)`); err != nil {
			tb.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			tb.Fatal(err)
		}
	}
	for name, q := range histBenchViewQueries(viewRows) {
		write(filepath.Join(dir, name+"_"+strconv.Itoa(viewRows)+".parquet"), q)
	}
	ents := filepath.Join(dir, "entities_"+strconv.Itoa(entityRows)+".parquet")
	write(ents, histBenchEntityQuery(entityRows))
	return ents
}

// BenchmarkHistorical compares Larder's historical retrieval with a hand-written DuckDB
// ASOF query writing the same join with DuckDB's own Parquet writer (the floor; it does
// less: no TTL, no created-timestamp or file-order tie-break, no entity-row order).
//
//	larder         the Wasm planner's plan, run on the sandboxed engine, DuckDB writing
//	               the Parquet file (GetHistoricalFeatures' path when no ODFV applies)
//	larder-stream  the same plan with the rows streamed through Go into arrowout's
//	               Parquet writer (the path of ODFVs and of the HTTP endpoint)
//	duckdb-asof    the hand-written query, COPY … TO Parquet
//	duckdb-asof-feast  the hand-written query made to give Feast's values: TTLs, and
//	               driver_stats reduced to the latest-created row per key and event
//	               with the usual QUALIFY window (ties in file order still unbroken)
//
// Sizes: LARDER_BENCH_ENTITY_ROWS (default 100 000) entity rows, LARDER_BENCH_VIEW_ROWS
// (default the same) rows per view; LARDER_BENCH_DATA keeps the files between runs.
//
//	LARDER_BENCH_ENTITY_ROWS=1000000 LARDER_BENCH_VIEW_ROWS=10000000 go test ./host -run XXX -bench BenchmarkHistorical -benchtime 1x
func BenchmarkHistorical(b *testing.B) {
	envInt := func(name string, def int) int {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				b.Fatalf("%s=%q is not a positive number", name, s)
			}
			return n
		}
		return def
	}
	n := envInt("LARDER_BENCH_ENTITY_ROWS", 100_000)
	viewRows := envInt("LARDER_BENCH_VIEW_ROWS", n)
	ctx := context.Background()
	dir := os.Getenv("LARDER_BENCH_DATA")
	if dir == "" {
		dir = b.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	outDir := b.TempDir()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ents := histBenchData(b, db, dir, n, viewRows)
	viewPath := func(name string) string {
		return filepath.Join(dir, name+"_"+strconv.Itoa(viewRows)+".parquet")
	}
	src := func(name, created string) OfflineSource {
		return OfflineSource{Name: name, Path: viewPath(name), FileFormat: "parquet", TimestampField: "event_timestamp", CreatedTimestampColumn: created}
	}
	day := int64(86400_000_000)
	preq := HistoricalPlanRequest{
		Project: "bench",
		Entities: EntitySource{Path: ents, FileFormat: "parquet", TimestampField: "event_timestamp", Columns: []PlanColumn{
			{Name: "driver_id", Type: abi.TypeInt64}, {Name: "customer_id", Type: abi.TypeInt64},
			{Name: "event_timestamp", Type: abi.TypeUnixTimestamp}, {Name: "label", Type: abi.TypeInt64}}},
		Views: []HistoricalView{
			{Name: "driver_stats", Source: src("driver_stats", "created"), JoinKeys: []HistoricalJoinKey{{Name: "driver_id", Type: abi.TypeInt64}},
				Features: []PlanColumn{{Name: "conv_rate", Type: abi.TypeDouble}, {Name: "acc_rate", Type: abi.TypeDouble},
					{Name: "avg_daily_trips", Type: abi.TypeInt64}}, TTL: 7 * day},
			{Name: "customer_stats", Source: src("customer_stats", ""), JoinKeys: []HistoricalJoinKey{{Name: "customer_id", Type: abi.TypeInt64}},
				Features: []PlanColumn{{Name: "spend", Type: abi.TypeDouble}, {Name: "orders", Type: abi.TypeInt64}}, TTL: 2 * day},
			{Name: "driver_quality", Source: src("driver_quality", ""), JoinKeys: []HistoricalJoinKey{{Name: "driver_id", Type: abi.TypeInt64}},
				Features: []PlanColumn{{Name: "rating", Type: abi.TypeDouble}}},
		},
	}
	access := offlineengine.Access{Paths: []string{ents}}
	for _, v := range preq.Views {
		access.Paths = append(access.Paths, v.Source.Path)
	}
	rowsPerSec := func(b *testing.B) {
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}
	larder := func(b *testing.B, run func(plan *offlineengine.Plan, out string) (int64, error)) {
		store, err := LoadOfflineStore(ctx, PluginConfig{Path: testPlugin(b, "duckdb"), CacheDir: "-"})
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close(ctx)
		out := filepath.Join(outDir, "larder.parquet")
		b.ResetTimer() // loading (compiling) the plugin is a start-up cost, not a retrieval's
		for i := 0; i < b.N; i++ {
			plan, err := store.PlanHistorical(ctx, preq)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(out, nil, 0o644); err != nil {
				b.Fatal(err)
			}
			rows, err := run(plan, out)
			if err != nil {
				b.Fatal(err)
			}
			if rows != int64(n) {
				b.Fatalf("%d rows, want %d", rows, n)
			}
		}
		rowsPerSec(b)
	}

	b.Run("larder", func(b *testing.B) {
		larder(b, func(plan *offlineengine.Plan, out string) (int64, error) {
			return offlineengine.ExecuteToParquet(ctx, plan, offlineengine.Options{Access: access}, out)
		})
	})
	b.Run("larder-stream", func(b *testing.B) {
		larder(b, func(plan *offlineengine.Plan, out string) (int64, error) {
			f, err := os.Create(out)
			if err != nil {
				return 0, err
			}
			pw, err := arrowout.NewParquetWriter(f, plan.ResultSchema)
			if err != nil {
				return 0, err
			}
			rows, err := offlineengine.Execute(ctx, plan, offlineengine.Options{Access: access}, pw.Write)
			if err != nil {
				return 0, err
			}
			return rows, pw.Close()
		})
	})
	b.Run("duckdb-asof-feast", func(b *testing.B) {
		query := histBenchFeastSQL(ents, viewPath("driver_stats"), viewPath("customer_stats"), viewPath("driver_quality"),
			filepath.Join(outDir, "duckdb-feast.parquet"))
		for i := 0; i < b.N; i++ {
			if _, err := db.Exec(query); err != nil {
				b.Fatal(err)
			}
		}
		rowsPerSec(b)
	})
	b.Run("duckdb-asof", func(b *testing.B) {
		query := histBenchFloorSQL(ents, viewPath("driver_stats"), viewPath("customer_stats"), viewPath("driver_quality"),
			filepath.Join(outDir, "duckdb.parquet"))
		for i := 0; i < b.N; i++ {
			if _, err := db.Exec(query); err != nil {
				b.Fatal(err)
			}
		}
		rowsPerSec(b)
	})
}

// histBenchFloorSQL is the hand-written query of the benchmark: what one would type
// into DuckDB for this join, three ASOF LEFT JOINs and a COPY. It keeps no TTL, breaks no
// ties and leaves the rows in whatever order the joins produce.
func histBenchFloorSQL(ents, drivers, customers, quality, out string) string {
	return `COPY (
		SELECT e.*, d.conv_rate, d.acc_rate, d.avg_daily_trips, c.spend, c.orders, q.rating
		FROM read_parquet(` + sqlQuote(ents) + `) e
		ASOF LEFT JOIN read_parquet(` + sqlQuote(drivers) + `) d ON e.driver_id = d.driver_id AND e.event_timestamp >= d.event_timestamp
		ASOF LEFT JOIN read_parquet(` + sqlQuote(customers) + `) c ON e.customer_id = c.customer_id AND e.event_timestamp >= c.event_timestamp
		ASOF LEFT JOIN read_parquet(` + sqlQuote(quality) + `) q ON e.driver_id = q.driver_id AND e.event_timestamp >= q.event_timestamp
	) TO ` + sqlQuote(out) + ` (FORMAT parquet)`
}

// histBenchFeastSQL is the hand-written query with what it takes to give Feast's values
// on this data: the TTLs, and the created-timestamp tie-break as one would write it, a
// QUALIFY window over driver_stats. Remaining ties (same key, event and created) stay
// arbitrary, and the rows in the joins' order.
func histBenchFeastSQL(ents, drivers, customers, quality, out string) string {
	return `COPY (
		SELECT e.*,
			CASE WHEN d.event_timestamp >= e.event_timestamp - INTERVAL 7 DAY THEN d.conv_rate END AS conv_rate,
			CASE WHEN d.event_timestamp >= e.event_timestamp - INTERVAL 7 DAY THEN d.acc_rate END AS acc_rate,
			CASE WHEN d.event_timestamp >= e.event_timestamp - INTERVAL 7 DAY THEN d.avg_daily_trips END AS avg_daily_trips,
			CASE WHEN c.event_timestamp >= e.event_timestamp - INTERVAL 2 DAY THEN c.spend END AS spend,
			CASE WHEN c.event_timestamp >= e.event_timestamp - INTERVAL 2 DAY THEN c.orders END AS orders,
			q.rating
		FROM read_parquet(` + sqlQuote(ents) + `) e
		ASOF LEFT JOIN (SELECT * FROM read_parquet(` + sqlQuote(drivers) + `)
			QUALIFY row_number() OVER (PARTITION BY driver_id, event_timestamp ORDER BY created DESC NULLS LAST) = 1) d
			ON e.driver_id = d.driver_id AND e.event_timestamp >= d.event_timestamp
		ASOF LEFT JOIN read_parquet(` + sqlQuote(customers) + `) c ON e.customer_id = c.customer_id AND e.event_timestamp >= c.event_timestamp
		ASOF LEFT JOIN read_parquet(` + sqlQuote(quality) + `) q ON e.driver_id = q.driver_id AND e.event_timestamp >= q.event_timestamp
	) TO ` + sqlQuote(out) + ` (FORMAT parquet)`
}
