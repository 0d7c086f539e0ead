package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/repo"
)

// TestPostgresOnlineStore runs apply, materialize, read and teardown through the real
// postgres plugin on a real PostgreSQL, configured with Feast's keys, and checks the
// table is Feast's layout.
func TestPostgresOnlineStore(t *testing.T) {
	dsn := os.Getenv("LARDER_PG_DSN")
	if dsn == "" {
		t.Skip("LARDER_PG_DSN is not set: run scripts/services.sh start (make test does) to test against a real PostgreSQL")
	}
	ctx := context.Background()
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("larder_host_test_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	defer conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")

	dir := filepath.Join(t.TempDir(), "repo")
	if err := repo.ScaffoldWith(dir, repo.ScaffoldOptions{Project: "demo", Now: dataEnd}); err != nil {
		t.Fatal(err)
	}
	plugins := t.TempDir()
	if err := os.Symlink(testPlugin(t, "duckdb"), filepath.Join(plugins, "duckdb.wasm")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testPlugin(t, "postgres"), filepath.Join(plugins, "postgres.wasm")); err != nil {
		t.Fatal(err)
	}
	tr := &testRepo{dir: dir, clock: &testClock{t: dataEnd.Add(time.Hour)}}
	tr.edit(t, "feature_store.yaml", "  type: sqlite\n  path: data/online_store.db\n", fmt.Sprintf(
		"  type: postgres\n  host: %s\n  port: %d\n  database: %s\n  user: %s\n  password: \"\"\n  db_schema: %s\n  sslmode: disable\n",
		cc.Host, cc.Port, cc.Database, cc.User, schema))
	tr.fs = tr.open(t, plugins)

	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	end := dataEnd.Add(time.Hour)
	if err := tr.fs.Materialize(ctx, MaterializeRequest{Start: time.Unix(0, 0), End: end}); err != nil {
		t.Fatal(err)
	}
	checkOnline(t, tr.fs, "driver_hourly_stats", latestInParquet(t, tr.path("data/driver_stats.parquet"), time.Unix(0, 0), end))

	// Feast's layout: "{project}_{view}" in db_schema, one row per (entity, feature).
	ek, _ := feast.SerializeEntityKey([]string{"driver_id"}, []feast.Value{feast.Int64Value(1001)}, 3)
	var n int
	var ts time.Time
	err = conn.QueryRow(ctx, `SELECT count(*), max(event_ts) FROM `+schema+`."demo_driver_hourly_stats" WHERE entity_key = $1`, ek).Scan(&n, &ts)
	if err != nil || n != 3 || ts.IsZero() {
		t.Fatalf("rows of driver 1001: %d %v %v", n, ts, err)
	}
	var idx string
	if err := conn.QueryRow(ctx, `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname = 'demo_driver_hourly_stats_ek'`, schema).Scan(&idx); err != nil {
		t.Fatalf("Feast's entity_key index: %v", err)
	}

	if _, err := tr.fs.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&n); err != nil || n != 0 {
		t.Fatalf("tables left after teardown: %d %v", n, err)
	}
}
