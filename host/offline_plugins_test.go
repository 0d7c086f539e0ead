package host

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Tests run first-party plugins as real .wasm modules. testPlugin finds one the way the
// binary does ($LARDER_PLUGIN_DIR, then ../build/plugins) and otherwise builds it from
// ../plugins/<name>, into a cache keyed by the hash of its sources (the plugin's, the
// SDK's and the ABI's), so repeated test runs build it once.

var testPluginMu sync.Mutex

func testPlugin(t testing.TB, name string) string {
	t.Helper()
	dirs := []string{os.Getenv(PluginDirEnv), filepath.Join("..", "build", "plugins")}
	if p := FindPlugin(dirs, "", name); p != "" {
		return p
	}
	testPluginMu.Lock()
	defer testPluginMu.Unlock()
	srcDir := filepath.Join("..", "plugins", name)
	if _, err := os.Stat(filepath.Join(srcDir, "go.mod")); err != nil {
		t.Skipf("plugin %s is not built (no %s.wasm in $%s or ../build/plugins) and has no sources at %s",
			name, name, PluginDirEnv, srcDir)
	}
	sum, err := sourceHash(srcDir, filepath.Join("..", "sdk-go"), filepath.Join("..", "abi"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(os.TempDir(), "larder-test-plugins", name+"-"+sum+".wasm")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", tmp, ".")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building plugin %s for the test: %v\n%s", name, err, b)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func sourceHash(dirs ...string) (string, error) {
	h := sha256.New()
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() || !(strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "go.mod") || strings.HasSuffix(p, "go.sum")) {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write([]byte(p))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
