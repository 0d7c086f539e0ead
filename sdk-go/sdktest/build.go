package sdktest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var builds sync.Map // absolute package dir → *buildResult

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// BuildWasm builds the plugin package in dir (a package main) as a wasip1 reactor module,
// once per test binary, and returns the .wasm path. The output goes to a fixed place under
// the OS temp dir, keyed by the package directory, so repeated runs do not pile up files.
func BuildWasm(t testing.TB, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("sdktest: building %s: %v", dir, err)
	}
	v, _ := builds.LoadOrStore(abs, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() { b.path, b.err = build(abs) })
	if b.err != nil {
		t.Fatalf("sdktest: %v", b.err)
	}
	return b.path
}

func build(dir string) (string, error) {
	sum := sha256.Sum256([]byte(dir))
	outDir := filepath.Join(os.TempDir(), "larder-sdktest")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("building %s for wasip1: %v", dir, err)
	}
	out := filepath.Join(outDir, filepath.Base(dir)+"-"+hex.EncodeToString(sum[:6])+".wasm")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s for wasip1: %v\n%s", dir, err, msg)
	}
	return out, nil
}
