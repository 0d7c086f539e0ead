package fixturebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// ErrNoToolchain is returned by BuildPlugin when the toolchain a plugin needs (Debian's
// rustc/cargo with the wasm32 target, for Rust plugins) is not installed; tests skip then.
var ErrNoToolchain = errors.New("toolchain not installed")

// Debian's rustc carries the wasm32 targets (rustup's toolchain on our machines does not).
const (
	debRustc = "/usr/bin/rustc"
	debCargo = "/usr/bin/cargo"
)

var pluginMu sync.Mutex

// BuildPlugin builds the first-party plugin plugins/<name> (a Go module built with sdk-go,
// or a Rust crate built with sdk-rust) and returns the path of its .wasm. Builds are
// cached in the system temp directory under the hash of the plugin's, the SDK's and the
// ABI's sources, so a test never runs a stale build/plugins module and repeated runs build
// once.
func BuildPlugin(name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	src := filepath.Join(root, "plugins", name)
	rust := false
	if _, err := os.Stat(filepath.Join(src, "Cargo.toml")); err == nil {
		rust = true
	} else if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return "", fmt.Errorf("plugins/%s has neither a go.mod nor a Cargo.toml", name)
	}
	deps := []string{src, filepath.Join(root, "abi")}
	if rust {
		deps = append(deps, filepath.Join(root, "sdk-rust", "src"), filepath.Join(root, "sdk-rust", "Cargo.toml"))
	} else {
		deps = append(deps, filepath.Join(root, "sdk-go"))
	}
	sum, err := sourceHash(deps...)
	if err != nil {
		return "", err
	}
	pluginMu.Lock()
	defer pluginMu.Unlock()
	// "v2": builds cached before each Rust plugin had its own target directory may hold
	// another plugin's module under this plugin's name; never reuse them.
	out := filepath.Join(os.TempDir(), "larder-test-plugins", name+"-v2-"+sum+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	tmp := out + ".tmp"
	if rust {
		if _, err := os.Stat(debCargo); err != nil {
			return "", fmt.Errorf("building plugins/%s needs %s (apt-get install cargo libstd-rust-dev-wasm32): %w", name, debCargo, ErrNoToolchain)
		}
		// One target directory per plugin: every plugin's library is named "plugin", so in a
		// shared directory cargo can leave another plugin's plugin.wasm in place (the same
		// reason sdk-rust.mk builds each plugin in its own directory).
		target := filepath.Join(os.TempDir(), "larder-test-plugins", "cargo", name)
		cmd := exec.Command(debCargo, "build", "--offline", "--quiet", "--release", "--target", "wasm32-unknown-unknown")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "RUSTC="+debRustc, "RUSTDOC=/usr/bin/rustdoc", "CARGO_TARGET_DIR="+target)
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building plugins/%s with cargo: %v\n%s", name, err, b)
		}
		lib, err := cargoLibName(filepath.Join(src, "Cargo.toml"))
		if err != nil {
			return "", err
		}
		if err := copyFile(filepath.Join(target, "wasm32-unknown-unknown", "release", lib+".wasm"), tmp); err != nil {
			return "", err
		}
	} else {
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", tmp, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building plugins/%s: %v\n%s", name, err, b)
		}
	}
	return out, os.Rename(tmp, out)
}

// cargoLibName reads [lib] name from a Cargo.toml (the .wasm is named after it).
func cargoLibName(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	inLib := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			inLib = line == "[lib]"
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && inLib && strings.TrimSpace(k) == "name" {
			return strings.Trim(strings.TrimSpace(v), `"`), nil
		}
	}
	return "", fmt.Errorf("%s: no [lib] name", path)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// sourceHash hashes the names and contents of the source files under paths (build
// outputs and hidden directories excluded).
func sourceHash(paths ...string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		var files []string
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && (strings.HasPrefix(d.Name(), ".") || d.Name() == "target") {
					return filepath.SkipDir
				}
				return nil
			}
			files = append(files, path)
			return nil
		})
		if err != nil {
			return "", err
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
