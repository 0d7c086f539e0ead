// Package archtest enforces the import rules of DESIGN.md: cmd → server → host → abi,
// conformance → host → abi, plugins → sdk-go → abi. It parses every Go file in the
// repository, so it covers the separate modules (abi, sdk-go, plugins) too.
package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/larder-dev/larder"

// rule says which in-repo areas a source area may import and whether it may import
// third-party modules. Areas are the first path element(s) below the module root.
type rule struct {
	mayImport  []string
	thirdParty bool
}

var rules = map[string]rule{
	"abi":                  {mayImport: []string{"abi"}},
	"host":                 {mayImport: []string{"abi", "host"}, thirdParty: true},
	"server":               {mayImport: []string{"abi", "host", "server"}, thirdParty: true},
	"conformance":          {mayImport: []string{"abi", "host", "conformance"}, thirdParty: true},
	"cmd":                  {mayImport: []string{"abi", "host", "server", "conformance", "cmd", "internal"}, thirdParty: true},
	"sdk-go":               {mayImport: []string{"abi", "sdk-go"}},
	"sdk-go/sdktest":       {mayImport: []string{"abi", "sdk-go", "host"}, thirdParty: true}, // test support, never linked into a plugin
	"plugins":              {mayImport: []string{"abi", "sdk-go", "plugins"}},
	"internal":             {mayImport: []string{"abi", "host", "server", "conformance", "internal"}, thirdParty: true},
	"conformance/fixtures": {mayImport: []string{"abi", "sdk-go", "conformance/fixtures"}},
}

// areaOf maps a slash path relative to the repo root to the most specific rule key.
func areaOf(rel string) string {
	best := ""
	for k := range rules {
		if (rel == k || strings.HasPrefix(rel, k+"/")) && len(k) > len(best) {
			best = k
		}
	}
	return best
}

func allowed(r rule, target string) bool {
	for _, a := range r.mayImport {
		if target == a || strings.HasPrefix(target, a+"/") {
			return true
		}
	}
	return false
}

func TestImportRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "build", "node_modules", "target", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		area := areaOf(rel)
		if area == "" {
			return nil
		}
		r := rules[area]
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		checked++
		testFile := strings.HasSuffix(path, "_test.go")
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case p == module || strings.HasPrefix(p, module+"/"):
				target := strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
				// Tests of a plugin or SDK may drive it through the host.
				if testFile && (area == "plugins" || area == "sdk-go") && strings.HasPrefix(target, "host") {
					continue
				}
				// conformance/pit is the stdlib-only reference join; any test may check against it.
				if testFile && target == "conformance/pit" {
					continue
				}
				if !allowed(r, target) {
					t.Errorf("%s imports %s: %s may import only %v", rel, p, area, r.mayImport)
				}
			case !strings.Contains(strings.SplitN(p, "/", 2)[0], "."):
				// standard library
			case !r.thirdParty && !testFile:
				t.Errorf("%s imports third-party %s: %s may import only the standard library and %v", rel, p, area, r.mayImport)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no Go files checked: is the repository root right?")
	}
}

func TestHostTypesDoNotLeakWazero(t *testing.T) {
	// Public host packages must not mention wazero; only host/internal/... may.
	root, _ := filepath.Abs("../..")
	filepath.WalkDir(filepath.Join(root, "host"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if strings.Contains(filepath.ToSlash(rel), "/internal/") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return nil
		}
		for _, imp := range f.Imports {
			if strings.Contains(imp.Path.Value, "tetratelabs/wazero") {
				t.Errorf("%s imports wazero: keep wazero inside host/internal", rel)
			}
		}
		return nil
	})
}
