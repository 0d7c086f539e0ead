package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-dev/larder/host"
)

// The server tests serve Feast's own quickstart repo: a copy of the registry.db and
// online.db Feast wrote (testdata/feast/quickstart), through the real SQLite plugin.

func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/larder-dev/larder\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root not found")
		}
		dir = parent
	}
}

var (
	pluginsOnce sync.Once
	pluginsDir  string
	pluginsErr  error
)

// pluginDir returns the directory of the first-party plugins (build/plugins or
// $LARDER_PLUGIN_DIR), building sqlite.wasm and duckdb.wasm with the Go toolchain when
// they are missing.
func pluginDir(t testing.TB) string {
	t.Helper()
	pluginsOnce.Do(func() {
		root := repoRoot(t)
		pluginsDir = os.Getenv(host.PluginDirEnv)
		if pluginsDir == "" {
			pluginsDir = filepath.Join(root, "build", "plugins")
		}
		for _, name := range []string{"sqlite", "duckdb"} {
			out := filepath.Join(pluginsDir, name+".wasm")
			if _, err := os.Stat(out); err == nil {
				continue
			}
			if err := os.MkdirAll(pluginsDir, 0o755); err != nil {
				pluginsErr = err
				return
			}
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, ".")
			cmd.Dir = filepath.Join(root, "plugins", name)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				pluginsErr = errors.New("building " + name + ".wasm: " + err.Error() + "\n" + string(b))
				return
			}
		}
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	return pluginsDir
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// quickstartRepo lays out a feature repo in a temporary directory holding copies of
// Feast's registry.db, online.db and source Parquet files.
func quickstartRepo(t testing.TB) string {
	t.Helper()
	src := filepath.Join(repoRoot(t), "testdata", "feast", "quickstart")
	if _, err := os.Stat(filepath.Join(src, "registry.db")); err != nil {
		t.Skipf("Feast fixtures missing: %v", err)
	}
	dir := t.TempDir()
	copyFile(t, filepath.Join(src, "repo", "feature_store.yaml"), filepath.Join(dir, "feature_store.yaml"))
	copyFile(t, filepath.Join(src, "registry.db"), filepath.Join(dir, "data", "registry.db"))
	copyFile(t, filepath.Join(src, "online.db"), filepath.Join(dir, "data", "online.db"))
	pq, _ := filepath.Glob(filepath.Join(src, "data", "*.parquet"))
	for _, p := range pq {
		copyFile(t, p, filepath.Join(dir, "data", filepath.Base(p)))
	}
	return dir
}

// fixtureNow is the clock of the fixture tests: the end of Feast's materialization
// window, so every materialized value is within its view's TTL.
var fixtureNow = time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC)

func openStore(t testing.TB, repoDir string, now time.Time) *host.FeatureStore {
	t.Helper()
	ctx := context.Background()
	fs, err := host.Open(ctx, repoDir, host.OpenOptions{
		PluginDir: pluginDir(t),
		CacheDir:  filepath.Join(os.TempDir(), "larder-test-wazero-cache"),
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close(context.Background()) })
	return fs
}

// quickstartServer serves a fresh copy of the quickstart repo.
func quickstartServer(t testing.TB) *Server {
	t.Helper()
	fs := openStore(t, quickstartRepo(t), fixtureNow)
	return New(fs, Options{Now: func() time.Time { return fixtureNow }})
}

type result struct {
	status int
	body   []byte
	header http.Header
}

func do(h http.Handler, method, path, body string) result {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return result{status: rec.Code, body: rec.Body.Bytes(), header: rec.Header()}
}
