package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/larder-dev/larder/host/hosttest"
)

// TestCLIHistorical: init, apply, then training data for an entity file, through freshly
// built plugins (a stale build/plugins/duckdb.wasm may predate historical retrieval).
func TestCLIHistorical(t *testing.T) {
	useFreshPlugins(t)
	dir := filepath.Join(t.TempDir(), "hist")
	if code, out, errs := larder(t, "init", dir); code != 0 {
		t.Fatalf("init: %s%s", out, errs)
	}
	if code, out, errs := larder(t, "apply", "-C", dir); code != 0 {
		t.Fatalf("apply: %s%s", out, errs)
	}
	db, ents := scaffoldEntities(t, dir, "driver_id, event_timestamp, 1 AS label")
	out := filepath.Join(dir, "training.parquet")
	code, stdout, errs := larder(t, "historical", "-C", dir, "--entities", ents, "--out", out,
		"--features", "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate", "--full-feature-names")
	if code != 0 || !strings.Contains(stdout, "Wrote 25 rows × 5 columns") {
		t.Fatalf("historical: code %d\n%s%s", code, stdout, errs)
	}
	var n, matched int
	if err := db.QueryRow(`SELECT count(*), count(driver_hourly_stats__conv_rate) FROM read_parquet('`+out+`')`).Scan(&n, &matched); err != nil {
		t.Fatal(err)
	}
	if n != 25 || matched != 25 {
		t.Fatalf("the output has %d rows, %d with features; want 25 and 25 (each entity row is a source row)", n, matched)
	}

	for _, u := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--out", out, "--features", "driver_hourly_stats:conv_rate"}, 2, "exactly one of --entities"},
		{[]string{"--entities", ents, "--out", out}, 2, "exactly one of --features"},
		{[]string{"--entities", ents, "--features", "driver_hourly_stats:conv_rate"}, 2, "--out is required"},
		{[]string{"--entities", ents, "--out", out + "2", "--features", "driver_hourly_stats:nope"}, 1, `feature "nope" not found`},
	} {
		code, _, errs := larder(t, append([]string{"historical", "-C", dir}, u.args...)...)
		if code != u.code || !strings.Contains(errs, u.want) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", u.args, code, errs, u.code, u.want)
		}
	}
}

// useFreshPlugins points LARDER_PLUGIN_DIR at freshly built sqlite and duckdb plugins (a
// stale build/plugins/duckdb.wasm may predate historical retrieval).
func useFreshPlugins(t *testing.T) {
	t.Helper()
	plugins := t.TempDir()
	for _, p := range []string{"sqlite", "duckdb"} {
		path, err := hosttest.BuildPlugin(p)
		if err != nil {
			t.Skipf("building plugin %s: %v", p, err)
		}
		if err := os.Symlink(path, filepath.Join(plugins, p+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("LARDER_PLUGIN_DIR", plugins)
}

// scaffoldEntities writes dir/entities.csv with the columns cols of the first 25 rows of the
// scaffold's driver stats and returns it with the in-memory DuckDB that wrote it (closed
// when the test ends), for reading the output back.
func scaffoldEntities(t *testing.T, dir, cols string) (*sql.DB, string) {
	t.Helper()
	ents := filepath.Join(dir, "entities.csv")
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	data := filepath.Join(dir, "data", "driver_stats.parquet")
	if _, err := db.Exec(`COPY (SELECT ` + cols + ` FROM read_parquet('` + data + `') LIMIT 25) TO '` + ents + `' (FORMAT csv)`); err != nil {
		t.Fatal(err)
	}
	return db, ents
}
