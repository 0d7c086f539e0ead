package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/larder-dev/larder/host/hosttest"
)

// TestCLIHistoricalODFV: `larder historical` with the scaffold's on-demand feature view
// enabled (the Rust example module): the ODFV's column is computed from the joined
// conv_rate and the entity file's request columns.
func TestCLIHistoricalODFV(t *testing.T) {
	useFreshPlugins(t)
	module, err := hosttest.BuildPlugin("odfv_conv_rate_rust")
	if errors.Is(err, hosttest.ErrNoToolchain) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "hist")
	if code, out, errs := larder(t, "init", dir); code != 0 {
		t.Fatalf("init: %s%s", out, errs)
	}
	body, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "transforms"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "transforms", "transformed_conv_rate.wasm"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	odfv := `on_demand_feature_views:
  - name: transformed_conv_rate
    sources: [driver_hourly_stats, vals_to_add]
    schema:
      - {name: conv_rate_plus_val1, dtype: Float64}
      - {name: conv_rate_plus_val2, dtype: Float64}
    module: transforms/transformed_conv_rate.wasm
    sha256: ` + hex.EncodeToString(sum[:]) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "odfv.yaml"), []byte(odfv), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := larder(t, "apply", "-C", dir); code != 0 {
		t.Fatalf("apply: %s%s", out, errs)
	}

	db, ents := scaffoldEntities(t, dir, "driver_id, event_timestamp, row_number() OVER () * 10 AS val_to_add, -1 AS val_to_add_2")
	out := filepath.Join(dir, "training.parquet")
	code, stdout, errs := larder(t, "historical", "-C", dir, "--entities", ents, "--out", out,
		"--features", "driver_hourly_stats:conv_rate,transformed_conv_rate:conv_rate_plus_val1", "--full-feature-names")
	if code != 0 || !strings.Contains(stdout, "Wrote 25 rows × 6 columns") {
		t.Fatalf("historical: code %d\n%s%s", code, stdout, errs)
	}
	var n, same int
	if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE transformed_conv_rate__conv_rate_plus_val1 = driver_hourly_stats__conv_rate::DOUBLE + val_to_add)
		FROM read_parquet('`+out+`')`).Scan(&n, &same); err != nil {
		t.Fatal(err)
	}
	if n != 25 || same != 25 {
		t.Fatalf("%d rows, %d equal to conv_rate + val_to_add; want 25 and 25", n, same)
	}

	// Without the request column: a clear error, no output.
	bad := filepath.Join(dir, "bad.csv")
	if _, err := db.Exec(`COPY (SELECT driver_id, event_timestamp FROM read_csv_auto('` + ents + `')) TO '` + bad + `' (FORMAT csv)`); err != nil {
		t.Fatal(err)
	}
	code, _, errs = larder(t, "historical", "-C", dir, "--entities", bad, "--out", out+"2", "--features", "transformed_conv_rate:conv_rate_plus_val2")
	if code != 1 || !strings.Contains(errs, `missing request data ["val_to_add", "val_to_add_2"]`) {
		t.Fatalf("missing request columns: code %d, stderr %q", code, errs)
	}
	if _, err := os.Stat(out + "2"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed retrieval left its output file")
	}
}
