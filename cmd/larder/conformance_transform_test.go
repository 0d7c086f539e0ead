package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/larder-dev/larder/host/hosttest"
)

// `larder conformance x.wasm` tells a transformation from the manifest and runs the
// transformation suite with the embedded spec, or the one given with --transform-spec.
func TestConformanceCLITransformation(t *testing.T) {
	odfv, err := hosttest.BuildPlugin("odfv_conv_rate_go")
	if errors.Is(err, hosttest.ErrNoToolchain) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	fixtures, err := hosttest.BuildFixtures()
	if err != nil {
		t.Fatal(err)
	}
	xform := filepath.Join(fixtures, "xform.wasm")
	wrongSpec := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(wrongSpec, []byte(`{"id": "xform", "function": "echo",
		"inputs": [{"name": "y", "type": "INT64"}], "outputs": [{"name": "y", "type": "INT64"}],
		"examples": [{"name": "wrong on purpose", "input": {"y": [1]}, "output": {"y": [2]}}]}`), 0o644)

	checkConformanceRuns(t, []conformanceRun{
		{"first-party ODFV with its embedded spec", []string{"--short", odfv},
			0, []string{"kind transformation", "PASS  transformation/examples/worked-examples", "PASS  transformation/determinism/across-instances", "7 passed, 0 failed"}},
		{"a spec whose example the plugin does not satisfy", []string{"--short", "--case", "examples", "--transform-spec", wrongSpec, xform},
			1, []string{"FAIL  transformation/examples/worked-examples", "row 0 is 1, want 2"}},
		{"hostile transformation fixture under --sandbox", []string{"--short", "--case", "examples", "--sandbox", "--fixtures", fixtures, odfv},
			0, []string{"PASS  sandbox/transformation/trap", "PASS  sandbox/transformation/wrong_type"}},
		{"unreadable spec", []string{"--transform-spec", filepath.Join(t.TempDir(), "none.json"), odfv}, 2, nil},
	})
}
