package wasm

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/larder-dev/larder/host/internal/fixturebuild"
	"github.com/tetratelabs/wazero"
)

// TestInstrumentBuiltModules instruments every module under build/ (first-party
// plugins from Go and Rust, fixtures) and checks that wazero accepts the result and
// It skips when nothing has been built.
func TestInstrumentBuiltModules(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles every built module")
	}
	root, err := fixturebuild.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	var paths []string
	for _, dir := range []string{"build/plugins", "build/fixtures"} {
		m, _ := filepath.Glob(filepath.Join(root, dir, "*.wasm"))
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Skip("no built modules under build/")
	}
	ctx := context.Background()
	// A disk cache makes reruns cheap: compiling every Go plugin takes tens of seconds.
	cache, err := compilationCache(filepath.Join(os.TempDir(), "larder-instrument-test-wazero"))
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache))
	defer rt.Close(ctx)
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			ib, _, err := instrumentInterrupts(b)
			if err != nil {
				t.Fatalf("instrumenting: %v", err)
			}
			cm, err := rt.CompileModule(ctx, ib)
			if err != nil {
				t.Fatalf("the instrumented module does not compile: %v", err)
			}
			cm.Close(ctx)
		})
	}
}
