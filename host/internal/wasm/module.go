package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/fault"
	"github.com/tetratelabs/wazero"
)

const wasiModule = "wasi_snapshot_preview1"

// readModule reads the module bytes within the size limit.
func readModule(o *Options) ([]byte, error) {
	if o.Wasm != nil {
		if len(o.Wasm) > o.MaxModuleBytes {
			return nil, fault.New(o.name(), "", fault.ErrBadModule, nil,
				"module is %d bytes, over the %d-byte limit", len(o.Wasm), o.MaxModuleBytes)
		}
		return o.Wasm, nil
	}
	f, err := os.Open(o.Path)
	if err != nil {
		return nil, fault.New(o.name(), "", fault.ErrBadModule, err, "opening module: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(o.MaxModuleBytes)+1))
	if err != nil {
		return nil, fault.New(o.name(), "", fault.ErrBadModule, err, "reading module: %v", err)
	}
	if len(b) > o.MaxModuleBytes {
		return nil, fault.New(o.name(), "", fault.ErrBadModule, nil,
			"module is larger than the %d-byte limit", o.MaxModuleBytes)
	}
	return b, nil
}

// checkDigest compares the module's sha256 with the configured one ("sha256:" prefix
// and upper case accepted).
func checkDigest(o *Options, digest string) error {
	want := strings.ToLower(strings.TrimSpace(o.SHA256))
	want = strings.TrimPrefix(want, "sha256:")
	if want == "" {
		return nil
	}
	if len(want) != 64 {
		return fault.New(o.name(), "", fault.ErrDigest, nil,
			"configured sha256 %q is not 64 hex digits", o.SHA256)
	}
	if want != digest {
		return fault.New(o.name(), "", fault.ErrDigest, nil, "expected sha256 %s, module has %s", want, digest)
	}
	return nil
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// compileLocks serialises compilation per digest: wazero's cache does not hold its lock
// while compiling, so concurrent loads of one module would all compile it. The first
// compile fills the shared engine; the others then find it there.
var compileLocks sync.Map // digest -> *sync.Mutex

func compile(ctx context.Context, rt wazero.Runtime, digest string, b []byte) (wazero.CompiledModule, error) {
	mu, _ := compileLocks.LoadOrStore(digest, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	return rt.CompileModule(ctx, b)
}

// Compilation caches are per directory and live for the process: sharing one across the
// runtimes of all plugins shares the compiled code in memory as well as on disk.
var (
	cachesMu sync.Mutex
	caches   = map[string]wazero.CompilationCache{}
)

func compilationCache(dir string) (wazero.CompilationCache, error) {
	cachesMu.Lock()
	defer cachesMu.Unlock()
	if c, ok := caches[dir]; ok {
		return c, nil
	}
	var c wazero.CompilationCache
	if dir == "" {
		c = wazero.NewCompilationCache()
	} else {
		var err error
		if c, err = wazero.NewCompilationCacheWithDir(dir); err != nil {
			return nil, fmt.Errorf("opening compilation cache %s: %w", dir, err)
		}
	}
	caches[dir] = c
	return c, nil
}

// abiVersion finds the version marker export (spec §2) and checks this host supports it.
func abiVersion(o *Options, cm wazero.CompiledModule) (major, minor int, err error) {
	type ver struct{ major, minor int }
	var found []ver
	var names []string
	for name, def := range cm.ExportedFunctions() {
		rest, ok := strings.CutPrefix(name, abi.MarkerPrefix)
		if !ok {
			continue
		}
		ma, mi, ok := strings.Cut(rest, "_")
		vMa, err1 := strconv.Atoi(ma)
		vMi, err2 := strconv.Atoi(mi)
		if !ok || err1 != nil || err2 != nil || vMa < 0 || vMi < 0 {
			return 0, 0, fault.New(o.name(), "", fault.ErrABIVersion, nil,
				"malformed version marker export %q (want %s<major>_<minor>)", name, abi.MarkerPrefix)
		}
		if !sigMarker.matches(def) {
			return 0, 0, fault.New(o.name(), "", fault.ErrABIVersion, nil,
				"version marker %s has type %s, want ()->()", name, sigString(def.ParamTypes(), def.ResultTypes()))
		}
		found = append(found, ver{vMa, vMi})
		names = append(names, fmt.Sprintf("v%d.%d", vMa, vMi))
	}
	supported := fmt.Sprintf("v%d.0 to v%d.%d", abi.Major, abi.Major, abi.Minor)
	if abi.Minor == 0 {
		supported = fmt.Sprintf("v%d.0", abi.Major)
	}
	if len(found) == 0 {
		return 0, 0, fault.New(o.name(), "", fault.ErrABIVersion, nil,
			"no %s* export found; this host supports %s", abi.MarkerPrefix, supported)
	}
	sort.Slice(found, func(i, j int) bool {
		return found[i].major > found[j].major || found[i].major == found[j].major && found[i].minor > found[j].minor
	})
	for _, v := range found {
		if v.major == abi.Major && v.minor <= abi.Minor {
			return v.major, v.minor, nil
		}
	}
	sort.Strings(names)
	return 0, 0, fault.New(o.name(), "", fault.ErrABIVersion, nil,
		"plugin declares ABI %s; this host supports %s", strings.Join(names, ", "), supported)
}

// checkExports checks that the exports required for kind exist with the right types,
// and returns which known exports are present.
func checkExports(o *Options, cm wazero.CompiledModule, kind string) (has [numExports]bool, err error) {
	fns := cm.ExportedFunctions()
	for e := Export(0); e < numExports; e++ {
		def, ok := fns[e.Name()]
		if !ok {
			continue
		}
		if !exportTable[e].sig.matches(def) {
			return has, fault.New(o.name(), "", fault.ErrMissingExport, nil,
				"export %s has type %s, want %s", e.Name(), sigString(def.ParamTypes(), def.ResultTypes()), exportTable[e].sig)
		}
		has[e] = true
	}
	if _, ok := cm.ExportedMemories()[abi.ExportMemory]; !ok {
		return has, fault.New(o.name(), "", fault.ErrMissingExport, nil, "module does not export its memory as %q", abi.ExportMemory)
	}
	if err := requireExports(o, has, commonExports); err != nil {
		return has, err
	}
	if kind != "" {
		if err := requireExports(o, has, kindExports[kind]); err != nil {
			return has, err
		}
	}
	return has, nil
}

func requireExports(o *Options, has [numExports]bool, need []Export) error {
	for _, e := range need {
		if !has[e] {
			return fault.New(o.name(), "", fault.ErrMissingExport, nil,
				"required export %s%s is missing", e.Name(), exportTable[e].sig)
		}
	}
	return nil
}

// checkImports refuses modules that import anything this host does not provide, so the
// error names the import instead of surfacing as a link failure at instantiation.
func checkImports(o *Options, cm wazero.CompiledModule, wasi map[string]signature) error {
	if len(cm.ImportedMemories()) > 0 {
		return fault.New(o.name(), "", fault.ErrBadModule, nil, "module imports a memory; plugins must define and export their own")
	}
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		var want signature
		var ok bool
		switch mod {
		case abi.ImportModule:
			want, ok = hostFuncSigs[name]
		case wasiModule:
			want, ok = wasi[name]
		default:
			return fault.New(o.name(), "", fault.ErrBadModule, nil,
				"module imports %s.%s; this host provides only %s and %s", mod, name, abi.ImportModule, wasiModule)
		}
		if !ok {
			return fault.New(o.name(), "", fault.ErrBadModule, nil, "module imports %s.%s, which this host does not provide", mod, name)
		}
		if !want.matches(def) {
			return fault.New(o.name(), "", fault.ErrBadModule, nil, "module imports %s.%s as %s, the host provides %s",
				mod, name, sigString(def.ParamTypes(), def.ResultTypes()), want)
		}
	}
	return nil
}

// checkMemory refuses a module whose declared minimum memory exceeds the cap.
func checkMemory(o *Options, cm wazero.CompiledModule) error {
	for _, m := range cm.ExportedMemories() {
		if min := uint64(m.Min()) * 65536; min > o.MemoryBytes {
			return fault.New(o.name(), "", fault.ErrMemoryLimit, nil,
				"module needs at least %d bytes of memory, over the %d-byte limit", min, o.MemoryBytes)
		}
	}
	return nil
}
