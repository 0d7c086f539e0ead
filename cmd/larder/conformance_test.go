package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/larder-dev/larder/conformance"
)

// conformanceRun is one `larder conformance` invocation of a CLI test: its arguments, the
// exit code it must end with and strings its output must hold.
type conformanceRun struct {
	name     string
	args     []string
	wantCode int
	wantOut  []string
}

// checkConformanceRuns runs each invocation as a subtest and checks its exit code and output.
func checkConformanceRuns(t *testing.T, runs []conformanceRun) {
	t.Helper()
	for _, tt := range runs {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runConformance(context.Background(), tt.args, &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out.String(), errOut.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// readConformanceReport reads and decodes the --json report at path.
func readConformanceReport(t *testing.T, path string) conformance.Report {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep conformance.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("JSON report does not parse: %v", err)
	}
	return rep
}

// conformanceBuildOutput finds a build output the way scripts/test.sh exports it, else under ../../build.
func conformanceBuildOutput(t *testing.T, env, sub, name string) string {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		dir = filepath.Join("..", "..", "build", sub)
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		// conformance/wasm_test.go builds these with make; this CLI test only checks
		// wiring, so it does not build them again.
		t.Skipf("%s not built (make plugins fixtures): %v", p, err)
	}
	return p
}

func TestConformanceCLI(t *testing.T) {
	sqlite := conformanceBuildOutput(t, "LARDER_PLUGIN_DIR", "plugins", "sqlite.wasm")
	trap := conformanceBuildOutput(t, "LARDER_FIXTURE_DIR", "fixtures", "trap.wasm")
	jsonPath := filepath.Join(t.TempDir(), "report.json")

	tests := []conformanceRun{
		{"passing plugin, flags after the path", []string{sqlite, "--case", "types,missing_keys_not_found", "--json", jsonPath},
			0, []string{"PASS  online/types/round_trip_scalars", "plugin sqlite", "PASS: 6 passed, 0 failed"}},
		{"hostile module says its class", []string{"--case", "missing_keys_not_found", trap},
			1, []string{"FAIL  online/missing/missing_keys_not_found", "[trap]", "fault classes of failed cases: trap ×1"}},
		{"expect-fault passes on the right class", []string{"--healthy", sqlite, "--expect-fault", "trap", trap},
			0, []string{"observed trap, want trap", "PASS: 1 passed"}},
		{"expect-fault fails on another class", []string{"--healthy", sqlite, "--expect-fault", "deadline", trap},
			1, []string{"observed trap, want deadline"}},
		{"no path, no sandbox", nil, 2, nil},
		{"two paths", []string{sqlite, trap}, 2, nil},
		{"bad config", []string{"--config", "[1]", sqlite}, 2, nil},
	}
	checkConformanceRuns(t, tests)

	rep := readConformanceReport(t, jsonPath)
	if rep.Schema != conformance.ReportSchema || rep.Plugin == nil || rep.Plugin.ID != "sqlite" || len(rep.Plugin.SHA256) != 64 ||
		rep.Summary.Passed != 6 || len(rep.Cases) != 6 {
		t.Errorf("JSON report: schema %q plugin %+v summary %+v, %d cases", rep.Schema, rep.Plugin, rep.Summary, len(rep.Cases))
	}
}
