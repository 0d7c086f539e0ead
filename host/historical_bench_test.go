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

// BenchmarkHistorical compares Larder's historical retrieval pipeline (the Wasm planner's
// plan, run on the sandboxed engine, rows streamed through Go into a Parquet file) with a
// hand-written DuckDB ASOF query writing the same join with DuckDB's own Parquet writer.
// The hand-written query does less: no TTL and no created-timestamp tie-break.
//
//	LARDER_BENCH_ENTITY_ROWS=1000000 go test ./host -run XXX -bench BenchmarkHistorical -benchtime 1x
func BenchmarkHistorical(b *testing.B) {
	n := 100_000
	if s := os.Getenv("LARDER_BENCH_ENTITY_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	dir := b.TempDir()
	q := func(p string) string { return sqlQuote(filepath.Join(dir, p)) }
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	N := strconv.Itoa(n)
	for _, s := range []string{
		// Entities: 10 000 drivers, 1 000 customers, over 30 days.
		`COPY (SELECT (i * 7919) % 10000 AS driver_id, 'c' || ((i * 31) % 1000) AS customer,
			TIMESTAMP '2026-01-01' + to_microseconds(((i * 2654435761) % 2592000000000)::BIGINT) AS event_timestamp, i AS label
			FROM range(` + N + `) t(i)) TO ` + q("entities.parquet") + ` (FORMAT parquet)`,
		// Three views of n rows each: per driver, per customer, global.
		`COPY (SELECT i % 10000 AS driver_id, TIMESTAMP '2026-01-01' + to_microseconds(((i * 40503) % 2592000000000)::BIGINT) AS ts,
			TIMESTAMP '2026-01-01' + to_microseconds(i) AS created, (i % 997) / 7.0 AS conv, (i % 13)::INTEGER AS trips
			FROM range(` + N + `) t(i)) TO ` + q("drivers.parquet") + ` (FORMAT parquet)`,
		`COPY (SELECT 'c' || (i % 1000) AS customer, TIMESTAMP '2026-01-01' + to_microseconds(((i * 69069) % 2592000000000)::BIGINT) AS ts,
			i AS spend FROM range(` + N + `) t(i)) TO ` + q("customers.parquet") + ` (FORMAT parquet)`,
		`COPY (SELECT TIMESTAMP '2026-01-01' + to_microseconds(i * 60000000) AS ts, i AS active
			FROM range(43200) t(i)) TO ` + q("global.parquet") + ` (FORMAT parquet)`,
	} {
		if _, err := db.Exec(s); err != nil {
			b.Fatal(err)
		}
	}
	ents := filepath.Join(dir, "entities.parquet")
	src := func(name, ts, created string) OfflineSource {
		return OfflineSource{Name: name, Path: filepath.Join(dir, name+".parquet"), FileFormat: "parquet", TimestampField: ts, CreatedTimestampColumn: created}
	}
	day := int64(86400_000_000)
	preq := HistoricalPlanRequest{
		Project: "bench",
		Entities: EntitySource{Path: ents, FileFormat: "parquet", TimestampField: "event_timestamp", Columns: []PlanColumn{
			{Name: "driver_id", Type: abi.TypeInt64}, {Name: "customer", Type: abi.TypeString}, {Name: "event_timestamp", Type: abi.TypeUnixTimestamp}, {Name: "label", Type: abi.TypeInt64}}},
		Views: []HistoricalView{
			{Name: "drivers", Source: src("drivers", "ts", "created"), JoinKeys: []HistoricalJoinKey{{Name: "driver_id", Type: abi.TypeInt64}},
				Features: []PlanColumn{{Name: "conv", Type: abi.TypeDouble}, {Name: "trips", Type: abi.TypeInt32}}, TTL: 7 * day},
			{Name: "customers", Source: src("customers", "ts", ""), JoinKeys: []HistoricalJoinKey{{Name: "customer", Type: abi.TypeString}},
				Features: []PlanColumn{{Name: "spend", Type: abi.TypeInt64}}},
			{Name: "global", Source: src("global", "ts", ""), Features: []PlanColumn{{Name: "active", Type: abi.TypeInt64}}, TTL: day},
		},
	}
	access := offlineengine.Access{Paths: []string{ents}}
	for _, v := range preq.Views {
		access.Paths = append(access.Paths, v.Source.Path)
	}

	b.Run("larder", func(b *testing.B) {
		store, err := LoadOfflineStore(ctx, PluginConfig{Path: testPlugin(b, "duckdb"), CacheDir: "-"})
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close(ctx)
		out := filepath.Join(dir, "larder.parquet")
		b.ResetTimer() // loading (compiling) the plugin is a start-up cost, not a retrieval's
		for i := 0; i < b.N; i++ {
			plan, err := store.PlanHistorical(ctx, preq)
			if err != nil {
				b.Fatal(err)
			}
			f, err := os.Create(out)
			if err != nil {
				b.Fatal(err)
			}
			pw, err := arrowout.NewParquetWriter(f, plan.ResultSchema)
			if err != nil {
				b.Fatal(err)
			}
			rows, err := offlineengine.Execute(ctx, plan, offlineengine.Options{Access: access}, pw.Write)
			if err != nil {
				b.Fatal(err)
			}
			if err := pw.Close(); err != nil {
				b.Fatal(err)
			}
			if rows != int64(n) {
				b.Fatalf("%d rows, want %d", rows, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	// The hand-written query streamed through Larder's path (engine → Go → Arrow →
	// Parquet): tells the cost of the plan's extra work from the cost of the streaming.
	b.Run("duckdb-asof-via-larder-stream", func(b *testing.B) {
		plan := &offlineengine.Plan{Dialect: offlineengine.DialectDuckDB, SQL: `
				SELECT e.*, d.conv, d.trips, c.spend, g.active
				FROM read_parquet(` + q("entities.parquet") + `) e
				ASOF LEFT JOIN read_parquet(` + q("drivers.parquet") + `) d ON e.driver_id = d.driver_id AND e.event_timestamp >= d.ts
				ASOF LEFT JOIN read_parquet(` + q("customers.parquet") + `) c ON e.customer = c.customer AND e.event_timestamp >= c.ts
				ASOF LEFT JOIN read_parquet(` + q("global.parquet") + `) g ON e.event_timestamp >= g.ts`,
			Params: []any{},
			ResultSchema: []offlineengine.Column{{Name: "driver_id", Type: abi.TypeInt64}, {Name: "customer", Type: abi.TypeString},
				{Name: "event_timestamp", Type: abi.TypeUnixTimestamp}, {Name: "label", Type: abi.TypeInt64}, {Name: "conv", Type: abi.TypeDouble},
				{Name: "trips", Type: abi.TypeInt32}, {Name: "spend", Type: abi.TypeInt64}, {Name: "active", Type: abi.TypeInt64}}}
		for i := 0; i < b.N; i++ {
			f, err := os.Create(filepath.Join(dir, "stream.parquet"))
			if err != nil {
				b.Fatal(err)
			}
			pw, err := arrowout.NewParquetWriter(f, plan.ResultSchema)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := offlineengine.Execute(ctx, plan, offlineengine.Options{Access: access}, pw.Write); err != nil {
				b.Fatal(err)
			}
			if err := pw.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("duckdb-asof", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, err := db.Exec(`COPY (
				SELECT e.*, d.conv, d.trips, c.spend, g.active
				FROM read_parquet(` + q("entities.parquet") + `) e
				ASOF LEFT JOIN read_parquet(` + q("drivers.parquet") + `) d ON e.driver_id = d.driver_id AND e.event_timestamp >= d.ts
				ASOF LEFT JOIN read_parquet(` + q("customers.parquet") + `) c ON e.customer = c.customer AND e.event_timestamp >= c.ts
				ASOF LEFT JOIN read_parquet(` + q("global.parquet") + `) g ON e.event_timestamp >= g.ts
			) TO ` + q("duckdb.parquet") + ` (FORMAT parquet)`)
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
