package conformance_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/larder-dev/larder/conformance"
)

// TestPostgresWasm runs the online-store suite against the Postgres plugin on a real
// PostgreSQL server (each case in its own schema). `make test` always starts one and sets
// LARDER_PG_DSN; the test skips, saying why, only when run by hand without it.
func TestPostgresWasm(t *testing.T) {
	dsn := os.Getenv("LARDER_PG_DSN")
	if dsn == "" {
		t.Skip("LARDER_PG_DSN is not set: run scripts/services.sh start (make test does) to test against a real PostgreSQL")
	}
	p := filepath.Join(pluginDir(), "postgres.wasm")
	needBuilt(t, p)
	conformance.RunOnlineStore(t, conformance.WasmTarget(p, conformance.WasmOptions{Postgres: dsn}))
}
