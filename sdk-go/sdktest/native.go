package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/nativestore"
	"github.com/larder-dev/larder/sdk-go/internal/hostlink"
)

// Options configure a store under test the way an operator configures a plugin.
type Options struct {
	// SQL grants sql capabilities: capability name → SQLite database file. A capability
	// the plugin requests but Options does not bind is denied (cap_open fails with
	// PERMISSION_DENIED), as with a real host.
	SQL map[string]string
	// Config is the plugin config object passed to larder_init; nil means {}.
	Config json.RawMessage
	// Limits apply to WasmOnlineStore only (e.g. TrustedNoInterrupt for benchmarks).
	Limits host.Limits
}

// callMu serialises every native call into plugin code: the SDK's per-instance state lives
// in package variables, exactly one instance's worth, as in a Wasm module.
var callMu sync.Mutex

type capRequest struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Phases []string `json:"phases"`
}

type grant struct {
	req     capRequest
	cap     *nativestore.SQLCapability
	session *nativestore.SQLSession // opened by cap_open
}

// nativeHost is the mock host of one native instance. It implements hostlink.Transport.
type nativeHost struct {
	t        testing.TB
	inst     hostlink.Instance
	manifest capRequestManifest
	grants   []*grant
	handles  []*grant
	phase    string
	ctx      context.Context
	logs     []string
}

type capRequestManifest struct {
	ID           string       `json:"id"`
	Kind         string       `json:"kind"`
	Version      string       `json:"version"`
	Capabilities []capRequest `json:"capabilities"`
}

// newNativeHost instantiates the registered plugin, grants what opts binds and runs larder_init.
func newNativeHost(t testing.TB, kind string, opts Options) (*nativeHost, error) {
	h := &nativeHost{t: t, ctx: context.Background()}
	callMu.Lock()
	h.inst = hostlink.NewInstance()
	manifest := append([]byte(nil), h.inst.Describe()...)
	callMu.Unlock()
	if err := json.Unmarshal(manifest, &h.manifest); err != nil {
		return nil, fmt.Errorf("plugin manifest %q: %v (is a plugin registered by this test binary?)", manifest, err)
	}
	if h.manifest.Kind != kind {
		return nil, fmt.Errorf("plugin %q is a %s, not a %s", h.manifest.ID, h.manifest.Kind, kind)
	}
	bound := map[string]bool{}
	for _, c := range h.manifest.Capabilities {
		if c.Kind != abi.CapSQL {
			continue
		}
		path, ok := opts.SQL[c.Name]
		if !ok {
			continue
		}
		sc, err := nativestore.NewSQLCapability(path, "")
		if err != nil {
			return nil, fmt.Errorf("granting sql capability %q: %w", c.Name, err)
		}
		h.grants = append(h.grants, &grant{req: c, cap: sc})
		bound[c.Name] = true
	}
	for name := range opts.SQL {
		if !bound[name] {
			return nil, fmt.Errorf("Options.SQL binds %q, but plugin %q requests no sql capability of that name", name, h.manifest.ID)
		}
	}
	cfg := []byte(opts.Config)
	if cfg == nil {
		cfg = []byte("{}")
	}
	if _, err := h.call(context.Background(), abi.PhaseInit, abi.ExportInit, cfg); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// call runs one export in phase and returns a copy of its output.
func (h *nativeHost) call(ctx context.Context, phase, export string, input []byte) (out []byte, err error) {
	callMu.Lock()
	defer callMu.Unlock()
	hostlink.SetTransport(h)
	h.phase, h.ctx, h.logs = phase, ctx, h.logs[:0]
	defer func() {
		hostlink.SetTransport(nil)
		for _, l := range h.logs {
			h.t.Logf("plugin %s: %s", h.manifest.ID, l)
		}
		if r := recover(); r != nil {
			// In Wasm this is a trap and the host discards the instance.
			err = fmt.Errorf("plugin %s: %s panicked (a trap in Wasm): %v\n%s", h.manifest.ID, export, r, debug.Stack())
		}
	}()
	st := h.inst.Call(export, input)
	if st != abi.StatusOK {
		return nil, fmt.Errorf("plugin %s: %s: %s: %w", h.manifest.ID, export, h.inst.LastError(), st.Err())
	}
	return append([]byte(nil), h.inst.Result()...), nil
}

func (h *nativeHost) close() error {
	var first error
	for _, g := range h.grants {
		if g.session != nil {
			if err := g.session.Close(); err != nil && first == nil {
				first = err
			}
			g.session = nil
		}
	}
	return first
}

// CapOpen implements hostlink.Transport.
func (h *nativeHost) CapOpen(kind, name string, dst []byte) (int32, []byte, abi.Status) {
	for _, g := range h.grants {
		if kind == abi.CapSQL && g.req.Name == name {
			if g.session == nil {
				s, err := g.cap.Open()
				if err != nil {
					return -1, append(dst, err.Error()...), abi.StatusUnavailable
				}
				g.session = s
			}
			for i, o := range h.handles {
				if o == g {
					return int32(i), dst, abi.StatusOK
				}
			}
			h.handles = append(h.handles, g)
			return int32(len(h.handles) - 1), dst, abi.StatusOK
		}
	}
	return -1, append(dst, "capability "+kind+"/"+name+" is not granted to this plugin"...), abi.StatusPermissionDenied
}

// CapCall implements hostlink.Transport.
func (h *nativeHost) CapCall(handle int32, op uint32, req, dst []byte) ([]byte, abi.Status) {
	if handle < 0 || int(handle) >= len(h.handles) {
		return append(dst, fmt.Sprintf("unknown capability handle %d", handle)...), abi.StatusBadArgument
	}
	g := h.handles[handle]
	if !phaseAllowed(g.req.Phases, h.phase) {
		return append(dst, fmt.Sprintf("capability %s %q is not granted for phase %s", g.req.Kind, g.req.Name, h.phase)...),
			abi.StatusPermissionDenied
	}
	resp, st := g.session.Call(h.ctx, op, h.phase, req)
	return append(dst, resp...), st
}

func phaseAllowed(phases []string, phase string) bool {
	if len(phases) == 0 {
		return true
	}
	for _, p := range phases {
		if p == phase {
			return true
		}
	}
	return false
}

// Log implements hostlink.Transport.
func (h *nativeHost) Log(level uint32, msg string) {
	names := [...]string{"debug", "info", "warn", "error"}
	lv := "level?"
	if int(level) < len(names) {
		lv = names[level]
	}
	h.logs = append(h.logs, lv+": "+msg)
}

// NowUnixMicros implements hostlink.Transport.
func (h *nativeHost) NowUnixMicros() int64 { return time.Now().UnixMicro() }

// DeadlineRemainingMicros implements hostlink.Transport.
func (h *nativeHost) DeadlineRemainingMicros() int64 {
	if d, ok := h.ctx.Deadline(); ok {
		return max(time.Until(d).Microseconds(), 0)
	}
	return -1
}
