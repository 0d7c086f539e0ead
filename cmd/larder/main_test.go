package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func larder(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// Commands that need no plugin: init, plan, registry-dump, and the usage errors.
func TestCLIWithoutPlugins(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo_repo")

	code, out, errs := larder(t, "init", dir)
	if code != 0 || !strings.Contains(out, "Created a feature repo in") {
		t.Fatalf("init: code %d\n%s%s", code, out, errs)
	}
	if code, _, errs = larder(t, "init", dir); code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("init over an existing repo: code %d, %s", code, errs)
	}

	// Flags before and after the command name.
	for _, args := range [][]string{{"--chdir", dir, "plan"}, {"plan", "--repo", dir}, {"-C", dir, "plan"}} {
		code, out, errs = larder(t, args...)
		if code != 0 || !strings.Contains(out, "Will create feature view driver_hourly_stats\n") {
			t.Fatalf("%v: code %d\n%s%s", args, code, out, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "registry.db")); !os.IsNotExist(err) {
		t.Fatalf("plan wrote the registry: %v", err)
	}

	code, _, errs = larder(t, "registry-dump", "-C", dir)
	if code != 1 || !strings.Contains(errs, "larder registry-dump:") || !strings.Contains(errs, "run `larder apply` first") {
		t.Fatalf("registry-dump before apply: code %d, %s", code, errs)
	}

	// An invalid repo is reported with file and line, exit 1.
	defs := filepath.Join(dir, "features.yaml")
	b, _ := os.ReadFile(defs)
	os.WriteFile(defs, bytes.Replace(b, []byte("entities: [driver]\n    ttl: 1d"), []byte("entities: [rider]\n    ttl: 1d"), 1), 0o644)
	code, _, errs = larder(t, "plan", "-C", dir)
	if code != 1 || !strings.Contains(errs, "features.yaml:") || !strings.Contains(errs, "rider") {
		t.Fatalf("plan of an invalid repo: code %d, %s", code, errs)
	}

	usage := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"materialize", "-C", dir, "2021-01-01"}, "expected START and END"},
		{[]string{"materialize", "-C", dir, "yesterday", "2021-01-01"}, "START: cannot parse"},
		{[]string{"materialize-incremental", "-C", dir}, "expected END"},
		{[]string{"plugin", "frob"}, "expected a subcommand"},
		{[]string{"serve", "--cert", "x.pem"}, "--cert and --key go together"},
	}
	for _, u := range usage {
		code, _, errs = larder(t, u.args...)
		if code != 2 || !strings.Contains(errs, u.want) {
			t.Errorf("%v: code %d, stderr %q, want 2 and %q", u.args, code, errs, u.want)
		}
	}
	if code, _, errs = larder(t, "apply", "-C", filepath.Join(dir, "nope")); code != 1 || !strings.Contains(errs, "feature_store.yaml") {
		t.Fatalf("apply in a directory without a repo: code %d, %s", code, errs)
	}
}

// With the plugins built (make plugins), the whole CLI flow: apply, materialize twice,
// registry-dump, plugin inspect, teardown.
func TestCLIFlow(t *testing.T) {
	plugins := os.Getenv("LARDER_PLUGIN_DIR")
	if plugins == "" {
		plugins = filepath.Join("..", "..", "build", "plugins")
	}
	for _, p := range []string{"sqlite", "duckdb"} {
		if _, err := os.Stat(filepath.Join(plugins, p+".wasm")); err != nil {
			t.Skipf("plugins not built (make plugins): %v", err)
		}
	}
	abs, _ := filepath.Abs(plugins)
	t.Setenv("LARDER_PLUGIN_DIR", abs)
	dir := filepath.Join(t.TempDir(), "flow")
	if code, out, errs := larder(t, "init", dir); code != 0 {
		t.Fatalf("init: %s%s", out, errs)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"apply"}, "Created online table for feature view driver_hourly_stats\n"},
		{[]string{"apply"}, "No changes to the registry of project flow."},
		{[]string{"materialize-incremental", "now", "--views", "driver_hourly_stats"}, "100% (5 rows in"},
		{[]string{"materialize-incremental", "now", "-v", "driver_hourly_stats"}, "100% (0 rows in"},
		{[]string{"registry-dump"}, `"materializationIntervals"`},
		{[]string{"teardown"}, "Deleted online table for feature view driver_hourly_stats\n"},
	}
	for _, s := range steps {
		code, out, errs := larder(t, append(s.args, "-C", dir)...)
		if code != 0 || !strings.Contains(out, s.want) {
			t.Fatalf("%v: code %d, want %q in\n%s%s", s.args, code, s.want, out, errs)
		}
	}
	code, out, errs := larder(t, "plugin", "inspect", filepath.Join(abs, "duckdb.wasm"))
	if code != 0 || !strings.Contains(out, "kind:        offline_store") || !strings.Contains(out, "larder_offline_plan_pull_latest") {
		t.Fatalf("plugin inspect: code %d\n%s%s", code, out, errs)
	}
}
