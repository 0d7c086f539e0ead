package conformance_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/larder-dev/larder/conformance"
)

// TestOfflineDuckDB runs the offline suite against the duckdb plugin over Parquet files.
func TestOfflineDuckDB(t *testing.T) {
	needBuilt(t, filepath.Join(pluginDir(), "duckdb.wasm"))
	conformance.RunOfflineStore(t, conformance.DuckDBOfflineTarget(pluginDir()))
}

// TestOfflinePostgres runs the offline suite against the postgres_offline plugin on a
// real PostgreSQL server: LARDER_PG_DSN, or scripts/services.sh's default address. It
// skips only when no server answers and LARDER_REQUIRE_SERVICES is unset; with it set
// (CI), a missing server fails the test.
func TestOfflinePostgres(t *testing.T) {
	dsn := postgresDSN(t)
	needBuilt(t, filepath.Join(pluginDir(), "postgres_offline.wasm"))
	conformance.RunOfflineStore(t, conformance.PostgresOfflineTarget(pluginDir(), dsn))
}

// defaultPGDSN is where scripts/services.sh starts PostgreSQL unless told otherwise.
const defaultPGDSN = "postgres://larder@127.0.0.1:15432/larder?sslmode=disable"

func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("LARDER_PG_DSN")
	if dsn == "" {
		dsn = defaultPGDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		if os.Getenv("LARDER_REQUIRE_SERVICES") != "" {
			t.Fatalf("LARDER_REQUIRE_SERVICES is set but PostgreSQL at %s does not answer: %v", dsn, err)
		}
		t.Skipf("no PostgreSQL at %s (%v): run scripts/services.sh start, or set LARDER_PG_DSN", dsn, err)
	}
	return dsn
}
