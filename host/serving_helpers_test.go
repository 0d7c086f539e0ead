package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/larder-dev/larder/host/registry"
)

// Helpers shared by the serving tests (online.go, write.go): the real SQLite plugin
// over a copy of the Feast-written quickstart database, and the quickstart catalog.

var (
	sqlitePluginOnce sync.Once
	sqlitePluginPath string
	sqlitePluginErr  error
)

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

// sqlitePlugin returns build/plugins/sqlite.wasm (or $LARDER_PLUGIN_DIR/sqlite.wasm),
// building it with the Go toolchain when it is missing.
func sqlitePlugin(t testing.TB) string {
	t.Helper()
	sqlitePluginOnce.Do(func() {
		root := repoRoot(t)
		dir := os.Getenv("LARDER_PLUGIN_DIR")
		if dir == "" {
			dir = filepath.Join(root, "build", "plugins")
		}
		sqlitePluginPath = filepath.Join(dir, "sqlite.wasm")
		if _, err := os.Stat(sqlitePluginPath); err == nil {
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			sqlitePluginErr = err
			return
		}
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", sqlitePluginPath, ".")
		cmd.Dir = filepath.Join(root, "plugins", "sqlite")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			sqlitePluginErr = errors.New("building the sqlite plugin: " + err.Error() + "\n" + string(out))
		}
	})
	if sqlitePluginErr != nil {
		t.Fatal(sqlitePluginErr)
	}
	return sqlitePluginPath
}

// openSQLiteStore loads the SQLite plugin over the database file db.
func openSQLiteStore(t testing.TB, db string) OnlineStore {
	t.Helper()
	ctx := context.Background()
	s, err := LoadOnlineStore(ctx, PluginConfig{
		Path:     sqlitePlugin(t),
		CacheDir: filepath.Join(os.TempDir(), "larder-test-wazero-cache"),
		Grants:   []Grant{{Kind: "sql", Name: "online", SQL: &SQLGrant{Path: db}}},
	})
	if err != nil {
		t.Fatalf("loading the sqlite plugin: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// feastOnlineDB copies the online.db Feast materialized for the quickstart fixtures into
// a temporary directory and returns the copy's path.
func feastOnlineDB(t testing.TB) string {
	t.Helper()
	src := filepath.Join(repoRoot(t), "testdata", "feast", "quickstart", "online.db")
	in, err := os.Open(src)
	if err != nil {
		t.Skipf("Feast fixtures missing: %v", err)
	}
	defer in.Close()
	dst := filepath.Join(t.TempDir(), "online.db")
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
	return dst
}

// quickstartCatalog is the serving catalog of the registry.db Feast wrote for the
// quickstart fixtures (testdata/feast/quickstart/repo/definitions.py).
func quickstartCatalog(t testing.TB) *catalog {
	t.Helper()
	reg, err := registry.NewFileStore(filepath.Join(repoRoot(t), "testdata", "feast", "quickstart", "registry.db")).Load()
	if err != nil {
		t.Skipf("Feast fixture registry: %v", err)
	}
	return buildCatalog(reg, "quickstart")
}

// cols builds request columns from JSON text: cols(t, `{"driver_id": [1001]}`).
func cols(t testing.TB, js string) []Column {
	t.Helper()
	c, err := parseCols(js)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parseCols(js string) ([]Column, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(js)))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var out []Column
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var vals []json.RawMessage
		if err := dec.Decode(&vals); err != nil {
			return nil, err
		}
		out = append(out, Column{Name: tok.(string), Values: vals})
	}
	return out, nil
}
