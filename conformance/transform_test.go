package conformance_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/conformance"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/hosttest"
)

func xformFixture(t *testing.T) (dir, path string) {
	t.Helper()
	dir, err := hosttest.BuildFixtures()
	if err != nil {
		t.Fatalf("building fixtures: %v", err)
	}
	return dir, dir + "/xform.wasm"
}

func examplePlugin(t *testing.T, name string) string {
	t.Helper()
	p, err := hosttest.BuildPlugin(name)
	if errors.Is(err, hosttest.ErrNoToolchain) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTransformSpecsParse(t *testing.T) {
	specs, err := conformance.TransformSpecs()
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) < 2 {
		t.Fatalf("%d embedded specs", len(specs))
	}
	for _, s := range specs {
		if got, ok := conformance.KnownTransformSpec(s.ID); !ok || got.ID != s.ID {
			t.Errorf("spec %s not found by id", s.ID)
		}
	}
}

// The echo fixture carries every LBF1 type across the boundary and back; the hostile
// behaviours of the same module are the sandbox cases.
func TestTransformationFixture(t *testing.T) {
	dir, path := xformFixture(t)
	spec, ok := conformance.KnownTransformSpec("xform")
	if !ok {
		t.Fatal("no xform spec")
	}
	// The fixture copies every cell through Go slices: 100 000 rows of every type need
	// more than the default 64 MiB, and more than the default 5 s per call on a busy
	// 2-core CI machine. This case checks results at size, not speed (see BENCHMARKS.md).
	limits := host.Limits{MemoryBytes: 512 << 20, CallTimeout: 2 * time.Minute}
	// The hostile cases get a 2 s deadline and 2 s of slack here, as TestSandbox does: on a
	// 2-core machine shared with other processes a membomb can be descheduled past 500 ms
	// before it reaches its memory limit (seen: class "deadline"), and a loop stopped on
	// time can still return 700 ms late. The CLI (`larder conformance`) keeps 500 ms + 50 ms.
	sandbox := &conformance.SandboxOptions{FixtureDir: dir, CallDeadline: 2 * time.Second, Slack: 2 * time.Second}
	conformance.RunTransformation(t, conformance.WasmTransformTarget(path, spec, conformance.WasmOptions{Limits: limits}),
		conformance.Options{Sandbox: sandbox})
}

func TestTransformationExamples(t *testing.T) {
	for _, name := range []string{"odfv_conv_rate_rust", "odfv_conv_rate_go", "odfv_strings_rust", "odfv_numeric_go"} {
		t.Run(name, func(t *testing.T) {
			path := examplePlugin(t, name)
			info, err := conformance.InspectWasm(context.Background(), path, nil)
			if err != nil {
				t.Fatal(err)
			}
			spec, ok := conformance.KnownTransformSpec(info.ID)
			if !ok {
				t.Fatalf("no embedded spec for plugin id %q", info.ID)
			}
			conformance.RunTransformation(t, conformance.WasmTransformTarget(path, spec, conformance.WasmOptions{}))
		})
	}
}

// The suite must catch the faults it exists for: a transformation that reads the clock
// fails determinism, one whose output does not match the declared schema fails every call.
func TestTransformationSuiteCatchesBadPlugins(t *testing.T) {
	_, path := xformFixture(t)
	for _, c := range []struct {
		function, output, outType, failCase, mention string
	}{
		{"clock", "clock", "INT64", "determinism/across-instances", "differs"},
		{"wrong_type", "y", "DOUBLE", "batch/sizes", `"y" has type STRING, declared DOUBLE`},
		{"short_rows", "y", "DOUBLE", "nulls/all-null", "rows for 17 input rows"},
	} {
		t.Run(c.function, func(t *testing.T) {
			spec := conformance.TransformSpec{ID: "xform", Function: c.function,
				Inputs:  []conformance.FieldSpec{{Name: "x", Type: "INT64"}},
				Outputs: []conformance.FieldSpec{{Name: c.output, Type: c.outType}}}
			rep := conformance.RunTransform(context.Background(),
				conformance.WasmTransformTarget(path, spec, conformance.WasmOptions{Breaker: host.BreakerConfig{Faults: -1}}),
				conformance.Options{Short: true})
			found := false
			for _, r := range rep.Cases {
				if r.Group+"/"+r.Name == c.failCase {
					found = true
					if r.Status != conformance.Fail || !strings.Contains(r.Message, c.mention) {
						t.Errorf("%s: %s %q, want FAIL mentioning %q", c.failCase, r.Status, r.Message, c.mention)
					}
				}
			}
			if !found {
				t.Errorf("case %s did not run: %+v", c.failCase, rep.Cases)
			}
		})
	}
}
