package conformance_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/larder-dev/larder/conformance"
)

// Build outputs come from LARDER_PLUGIN_DIR / LARDER_FIXTURE_DIR (set by scripts/test.sh),
// else ../build. Missing modules are built once with make rather than skipped: a suite
// that silently skips its Wasm targets proves nothing.
var (
	buildOnce sync.Once
	buildErr  error
)

func buildDir(env, def string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	abs, _ := filepath.Abs(filepath.Join("..", "build", def))
	return abs
}

func pluginDir() string  { return buildDir("LARDER_PLUGIN_DIR", "plugins") }
func fixtureDir() string { return buildDir("LARDER_FIXTURE_DIR", "fixtures") }

// needBuilt returns the path of a build output, running `make plugins fixtures` once if
// any of the wanted files is missing.
func needBuilt(t *testing.T, paths ...string) {
	t.Helper()
	missing := false
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			missing = true
		}
	}
	if !missing {
		return
	}
	buildOnce.Do(func() {
		cmd := exec.Command("make", "-C", "..", "plugins", "fixtures")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("make plugins fixtures:\n%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building plugins and fixtures: %v", buildErr)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is still missing after `make plugins fixtures` (LARDER_PLUGIN_DIR/LARDER_FIXTURE_DIR point elsewhere?): %v", p, err)
		}
	}
}

func sqliteWasm(t *testing.T) string {
	p := filepath.Join(pluginDir(), "sqlite.wasm")
	needBuilt(t, p)
	return p
}

func TestSQLiteWasm(t *testing.T) {
	conformance.RunOnlineStore(t, conformance.WasmTarget(sqliteWasm(t), conformance.WasmOptions{}))
}

// TestSandbox runs every hostile fixture next to a healthy sqlite.wasm, then the soak:
// 10 s (the ABI issue's "done" check), 1 s under -short, or $LARDER_SOAK.
func TestSandbox(t *testing.T) {
	healthy := sqliteWasm(t)
	fixtures, err := conformance.LoadFixtures()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range fixtures {
		paths = append(paths, filepath.Join(fixtureDir(), f.Name+".wasm"))
	}
	needBuilt(t, paths...)
	soak := 10 * time.Second
	if testing.Short() {
		soak = time.Second
	}
	if s := os.Getenv("LARDER_SOAK"); s != "" {
		if soak, err = time.ParseDuration(s); err != nil {
			t.Fatalf("LARDER_SOAK=%q: %v", s, err)
		}
	}
	// The lateness a call may have past its deadline. The ABI issue's check (the CLI,
	// `larder conformance --sandbox --soak 10s`) uses 50ms; under go test, on machines
	// shared by many processes, a timing threshold that tight would flake, so the test
	// asserts only that every call is stopped (2s: on two cores shared with other
	// processes the OS alone has delayed calls by hundreds of ms) and logs the measured
	// overrun per class (BENCHMARKS.md has numbers). LARDER_SOAK_SLACK=50ms makes it strict.
	slack := 2 * time.Second
	if s := os.Getenv("LARDER_SOAK_SLACK"); s != "" {
		if slack, err = time.ParseDuration(s); err != nil {
			t.Fatalf("LARDER_SOAK_SLACK=%q: %v", s, err)
		}
	}
	conformance.RunSandbox(t, conformance.SandboxOptions{
		FixtureDir: fixtureDir(),
		Healthy:    conformance.WasmTarget(healthy, conformance.WasmOptions{}),
		Soak:       soak,
		Slack:      slack,
		TempDir:    t.TempDir(),
	})
}

// TestHostileModuleReportsItsClass runs online cases against a hostile fixture: the cases
// must fail with the fault class the host observed, which is how `larder conformance
// trap.wasm` tells an author what happened.
func TestHostileModuleReportsItsClass(t *testing.T) {
	trap := filepath.Join(fixtureDir(), "trap.wasm")
	needBuilt(t, trap)
	rep := conformance.Run(context.Background(), conformance.WasmTarget(trap, conformance.WasmOptions{}),
		conformance.Options{Cases: []string{"missing_keys_not_found", "malformed_read_input"}, TempDir: t.TempDir()})
	if len(rep.Cases) != 2 {
		t.Fatalf("ran %d cases, want 2", len(rep.Cases))
	}
	for _, c := range rep.Cases {
		if c.Status != conformance.Fail || c.Class != "trap" {
			t.Errorf("%s: %s [%s] %s; want FAIL [trap]", c.Name, c.Status, c.Class, c.Message)
		}
	}
	if got := rep.FailureClasses(); got != "trap ×2" {
		t.Errorf("FailureClasses() = %q, want \"trap ×2\"", got)
	}
}
