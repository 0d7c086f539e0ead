package conformance_test

import (
	"path/filepath"
	"testing"

	"github.com/larder-dev/larder/conformance"
)

// TestOfflineWriteDuckDB runs the offline write suite against the duckdb plugin over
// Parquet files.
func TestOfflineWriteDuckDB(t *testing.T) {
	needBuilt(t, filepath.Join(pluginDir(), "duckdb.wasm"))
	conformance.RunOfflineWrite(t, conformance.DuckDBOfflineTarget(pluginDir()))
}
