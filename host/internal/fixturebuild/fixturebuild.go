// Package fixturebuild builds the fixture plugins of conformance/fixtures for tests. It
// has no dependency on package host so the runtime's own tests can use it.
package fixturebuild

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Fixtures lists the fixture plugins in conformance/fixtures.
var Fixtures = []string{"echo", "capprobe", "trap", "loop", "membomb", "recursion", "stackbomb",
	"badregion", "badbatch", "wrongrows", "oversized", "wrongabi", "missingexport", "xform"}

// RepoRoot finds the repository root (the directory whose go.mod declares the root
// module) from the working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/larder-dev/larder\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod of github.com/larder-dev/larder) not found above the working directory")
		}
		dir = parent
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// BuildFixtures builds every fixture that is missing or older than its sources into
// <root>/build/fixtures (or $LARDER_FIXTURES_DIR when set) and returns the directory.
// It runs once per process.
func BuildFixtures() (string, error) {
	buildOnce.Do(func() { buildDir, buildErr = buildFixtures() })
	return buildDir, buildErr
}

func buildFixtures() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := os.Getenv("LARDER_FIXTURES_DIR")
	if out == "" {
		out = filepath.Join(root, "build", "fixtures")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(root, "conformance", "fixtures")
	shared, err := newest(filepath.Join(src, "internal"), filepath.Join(src, "go.mod"), filepath.Join(root, "abi"))
	if err != nil {
		return "", err
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 2)
	)
	for _, name := range Fixtures {
		target := filepath.Join(out, name+".wasm")
		own, err := newest(filepath.Join(src, name))
		if err != nil {
			return "", err
		}
		if st, err := os.Stat(target); err == nil && st.ModTime().After(own) && st.ModTime().After(shared) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", target, "./"+name)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if name == "stackbomb" { // hand-assembled by a generator, see its doc
				cmd = exec.Command("go", "run", "./"+name, "-o", target)
			}
			cmd.Dir = src
			if b, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("building fixture %s: %v\n%s", name, err, b))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// newest returns the latest modification time of the files under paths.
func newest(paths ...string) (time.Time, error) {
	var t time.Time
	for _, p := range paths {
		err := filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if info, err := d.Info(); err == nil && info.ModTime().After(t) {
				t = info.ModTime()
			}
			return nil
		})
		if err != nil {
			return t, err
		}
	}
	return t, nil
}
