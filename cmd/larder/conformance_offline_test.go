package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/larder-dev/larder/conformance"
)

// TestConformanceCLIOffline runs `larder conformance` on the offline store plugins: the
// offline suite's cases run (not a kind SKIP) and pass on the backend the manifest names,
// and a module on a backend it cannot serve fails case by case with exit 1.
func TestConformanceCLIOffline(t *testing.T) {
	duckdb := conformanceBuildOutput(t, "LARDER_PLUGIN_DIR", "plugins", "duckdb.wasm")
	pgOffline := conformanceBuildOutput(t, "LARDER_PLUGIN_DIR", "plugins", "postgres_offline.wasm")
	sqlite := conformanceBuildOutput(t, "LARDER_PLUGIN_DIR", "plugins", "sqlite.wasm")
	t.Setenv("LARDER_PG_DSN", "") // the default choice of backends must not depend on the caller's environment
	jsonPath := filepath.Join(t.TempDir(), "report.json")

	tests := []conformanceRun{
		{"duckdb: named cases and a random one", []string{duckdb, "--case", "cases,random 3", "--json", jsonPath},
			0, []string{"plugin duckdb", "PASS  offline/duckdb/ttl edges are inclusive", "PASS  offline/duckdb/query sources",
				"PASS  offline/duckdb/random 3", "PASS: 9 passed, 0 failed, 0 skipped"}},
		{"postgres_offline without a server: both backends skipped, saying why", []string{pgOffline},
			0, []string{"SKIP  offline/duckdb", "declares the postgres feature", "SKIP  offline/postgres", "pass --postgres DSN", "PASS: 0 passed, 0 failed, 2 skipped"}},
		{"postgres_offline forced onto Parquet files fails", []string{"--offline-backends", "duckdb", "--case", "ttl edges are inclusive,random 2", pgOffline},
			1, []string{"FAIL  offline/duckdb/ttl edges are inclusive", "PostgreSQL cannot read files", "--case 'random 2'", "FAIL: 0 passed, 2 failed"}},
		{"unknown backend", []string{"--offline-backends", "duckdb,sqlite", duckdb}, 2, nil},
		{"postgres backend without a server", []string{"--offline-backends", "postgres", pgOffline}, 2, nil},
		{"backends for an online store", []string{"--offline-backends", "duckdb", sqlite}, 2, nil},
	}
	checkConformanceRuns(t, tests)

	rep := readConformanceReport(t, jsonPath)
	if rep.Plugin == nil || rep.Plugin.Kind != "offline_store" || !contains(rep.Plugin.Features, "parquet") ||
		rep.Summary != (conformance.Summary{Passed: 9}) || len(rep.Cases) != 9 {
		t.Fatalf("JSON report: plugin %+v summary %+v, %d cases", rep.Plugin, rep.Summary, len(rep.Cases))
	}
	for _, c := range rep.Cases {
		if c.Suite != "offline" || c.Group != "duckdb" || c.Status != conformance.Pass || c.Duration <= 0 {
			t.Errorf("JSON case %+v", c)
		}
	}
}

// TestConformanceCLIOfflinePostgres runs one case of the offline suite on PostgreSQL
// through the CLI, the server given by LARDER_PG_DSN or scripts/services.sh's default.
func TestConformanceCLIOfflinePostgres(t *testing.T) {
	pgOffline := conformanceBuildOutput(t, "LARDER_PLUGIN_DIR", "plugins", "postgres_offline.wasm")
	dsn := os.Getenv("LARDER_PG_DSN")
	if dsn == "" {
		dsn = "postgres://larder@127.0.0.1:15432/larder?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		conn.Close(ctx)
	}
	cancel()
	if err != nil {
		if os.Getenv("LARDER_REQUIRE_SERVICES") != "" {
			t.Fatalf("LARDER_REQUIRE_SERVICES is set but PostgreSQL at %s does not answer: %v", dsn, err)
		}
		t.Skipf("no PostgreSQL at %s (%v): run scripts/services.sh start, or set LARDER_PG_DSN", dsn, err)
	}
	t.Setenv("LARDER_PG_DSN", dsn) // the environment variable alone selects the server
	var out, errOut bytes.Buffer
	code := runConformance(context.Background(), []string{pgOffline, "--case", "query sources"}, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "PASS  offline/postgres/query sources") ||
		!strings.Contains(out.String(), "PASS: 1 passed, 0 failed, 1 skipped") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
