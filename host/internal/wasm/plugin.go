// Package wasm is the Wasm runtime of the host: it loads plugin modules with wazero,
// negotiates the ABI version, keeps a pool of instances per plugin, enforces limits,
// classifies faults and provides the larder_v1 host functions. No wazero type leaves
// this package.
package wasm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/larder-dev/larder/host/internal/fault"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

const maxManifest = 64 << 10

// Options configure one plugin. Zero values take the defaults of spec §7.
type Options struct {
	Path   string // module file
	Wasm   []byte // module bytes, instead of Path
	SHA256 string // expected digest (hex, optional "sha256:" prefix); empty = not pinned
	Config []byte // JSON object for larder_init; nil = {}
	Kind   string // required manifest kind; empty = any

	MemoryBytes    uint64        // linear memory cap [64 MiB]
	CallTimeout    time.Duration // serve and init calls [5 s]
	ApplyTimeout   time.Duration // update and teardown calls [5 min]
	MaxOutputBytes int           // result region and capability response cap [64 MiB]
	MaxLogBytes    int           // log bytes kept per call [64 KiB]
	MaxModuleBytes int           // module size cap [32 MiB]
	// Interrupt says how a call that outlives its deadline is stopped; see
	// InterruptMode and RATIONALE.md.
	Interrupt InterruptMode

	PoolMin           int // instances kept warm [1]
	PoolMax           int // instances at most [2×GOMAXPROCS]
	RecycleAfterCalls int // replace an instance after this many calls; 0 = never

	BreakerFaults   int           // faults within BreakerWindow that trip the breaker [5]; < 0 disables
	BreakerWindow   time.Duration // [10 s]
	BreakerCooldown time.Duration // fail fast this long before a trial call [5 s]

	CacheDir string // compilation cache directory; "" = in memory only
	Grants   *caps.Set
	Logger   *slog.Logger // receives plugin logs; nil = discarded
}

func (o *Options) name() string {
	if o.Path != "" {
		return filepath.Base(o.Path)
	}
	return "<in-memory module>"
}

func (o *Options) defaults() {
	if o.MemoryBytes == 0 {
		o.MemoryBytes = 64 << 20
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 5 * time.Second
	}
	if o.ApplyTimeout <= 0 {
		o.ApplyTimeout = 5 * time.Minute
	}
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = 64 << 20
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = 64 << 10
	}
	if o.MaxModuleBytes <= 0 {
		o.MaxModuleBytes = 32 << 20
	}
	if o.PoolMax <= 0 {
		o.PoolMax = 2 * runtime.GOMAXPROCS(0)
	}
	if o.PoolMin < 0 {
		o.PoolMin = 0
	} else if o.PoolMin == 0 {
		o.PoolMin = 1
	}
	if o.PoolMin > o.PoolMax {
		o.PoolMin = o.PoolMax
	}
	if o.BreakerFaults == 0 {
		o.BreakerFaults = 5
	}
	if o.BreakerWindow <= 0 {
		o.BreakerWindow = 10 * time.Second
	}
	if o.BreakerCooldown <= 0 {
		o.BreakerCooldown = 5 * time.Second
	}
	if len(o.Config) == 0 {
		o.Config = []byte("{}")
	}
}

// InterruptMode is how the host stops a guest that outlives its deadline.
type InterruptMode uint8

const (
	// InterruptAuto instruments the module's loops with a check of a flag the host
	// sets at the deadline (cheap), and falls back to InterruptCloseOnDone for a module
	// the instrumentation cannot handle.
	InterruptAuto InterruptMode = iota
	// InterruptFlag is what InterruptAuto chose when instrumenting worked.
	InterruptFlag
	// InterruptCloseOnDone uses wazero's WithCloseOnContextDone: an exit to Go at every
	// loop back-edge and a watcher goroutine per call.
	InterruptCloseOnDone
	// InterruptNone cannot stop a guest that never returns; for reviewed plugins only.
	InterruptNone
)

func (m InterruptMode) String() string {
	switch m {
	case InterruptFlag:
		return "loop_flag"
	case InterruptCloseOnDone:
		return "close_on_context_done"
	case InterruptNone:
		return "none"
	}
	return "auto"
}

// Manifest is the parsed larder_describe output (spec §3.2).
type Manifest struct {
	ID           string              `json:"id"`
	Kind         string              `json:"kind"`
	Version      string              `json:"version"`
	SDK          string              `json:"sdk"`
	Capabilities []CapabilityRequest `json:"capabilities"`
	ConfigSchema json.RawMessage     `json:"config_schema,omitempty"`
	Features     []string            `json:"features"`
	Raw          json.RawMessage     `json:"-"`
}

// CapabilityRequest is one resource a plugin asks for.
type CapabilityRequest struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Phases []string `json:"phases"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9_-]+$`)

// Plugin is a loaded module: its runtime, compiled code, manifest and instance pool.
type Plugin struct {
	opts     Options
	name     string // manifest id once known, for messages
	digest   string
	major    int
	minor    int
	has      [numExports]bool
	manifest Manifest

	mode     InterruptMode
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	modCfg   wazero.ModuleConfig
	pool     *pool
	breaker  *breaker

	mu     sync.RWMutex // held shared by calls, exclusively by Close
	closed atomic.Bool

	calls, faults atomic.Uint64
}

// Open loads, checks and pre-warms a plugin.
func Open(ctx context.Context, o Options) (_ *Plugin, err error) {
	o.defaults()
	b, err := readModule(&o)
	if err != nil {
		return nil, err
	}
	p := &Plugin{opts: o, name: o.name(), digest: digestOf(b)}
	if err := checkDigest(&o, p.digest); err != nil {
		return nil, err
	}
	cache, err := compilationCache(o.CacheDir)
	if err != nil {
		return nil, fault.New(p.name, "", fault.ErrBadModule, err, "%v", err)
	}
	pages := o.MemoryBytes / 65536
	if pages == 0 || pages > 65536 {
		return nil, fmt.Errorf("plugin %s: memory limit %d bytes must be between 64 KiB and 4 GiB", p.name, o.MemoryBytes)
	}
	bin := b
	p.mode = o.Interrupt
	if p.mode == InterruptAuto {
		p.mode = InterruptCloseOnDone
		if ib, check, err := instrumentInterrupts(b); err == nil {
			bin, p.mode = ib, InterruptFlag
			// The listener on $check is compiled into the module.
			ctx = experimental.WithFunctionListenerFactory(ctx, checkFactory(check))
		} else if o.Logger != nil {
			o.Logger.Info("plugin loops cannot be instrumented; using wazero's WithCloseOnContextDone",
				slog.String("plugin", p.name), slog.String("reason", err.Error()))
		}
	}
	cfg := wazero.NewRuntimeConfigCompiler().
		WithMemoryLimitPages(uint32(pages)).
		WithCloseOnContextDone(p.mode == InterruptCloseOnDone).
		WithCompilationCache(cache).
		WithCustomSections(false)
	p.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	defer func() {
		if err != nil {
			p.shutdown(context.Background())
		}
	}()

	p.compiled, err = compile(ctx, p.rt, p.digest+p.mode.String(), bin)
	if err != nil {
		kind := fault.ErrBadModule
		if strings.Contains(err.Error(), "over limit") {
			kind = fault.ErrMemoryLimit
		}
		return nil, fault.New(p.name, "", kind, err, "compiling: %v", err)
	}
	if p.major, p.minor, err = abiVersion(&o, p.compiled); err != nil {
		return nil, err
	}
	if p.has, err = checkExports(&o, p.compiled, o.Kind); err != nil {
		return nil, err
	}
	if err = checkMemory(&o, p.compiled); err != nil {
		return nil, err
	}
	if _, err = wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return nil, fmt.Errorf("plugin %s: providing WASI: %w", p.name, err)
	}
	if err = checkImports(&o, p.compiled, wasiSigs(p.rt.Module(wasiModule))); err != nil {
		return nil, err
	}
	if err = instantiateHostModule(ctx, p.rt); err != nil {
		return nil, fmt.Errorf("plugin %s: providing host functions: %w", p.name, err)
	}
	// Nothing mounted, no args or env; real clocks and entropy (wazero defaults to fake
	// ones). Nanosleep stays a no-op so a sleeping guest cannot outwait its deadline.
	// Start functions are run by instantiate, under the deadline.
	p.modCfg = wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader)
	p.breaker = newBreaker(o.BreakerFaults, o.BreakerWindow, o.BreakerCooldown)
	p.pool = newPool(p, o.PoolMin, o.PoolMax)

	// The first instance describes the plugin; it then joins the pool.
	ictx, cancel := context.WithTimeout(ctx, o.CallTimeout)
	defer cancel()
	first, err := p.instantiate(ictx)
	if err != nil {
		return nil, err
	}
	if err = p.describe(ictx, first); err != nil {
		first.close()
		return nil, err
	}
	if err = p.initInstance(ictx, first); err != nil {
		first.close()
		return nil, err
	}
	p.pool.adopt(first)
	p.pool.start()
	return p, nil
}

func wasiSigs(m api.Module) map[string]signature {
	out := map[string]signature{}
	for name, def := range m.ExportedFunctionDefinitions() {
		out[name] = signature{def.ParamTypes(), def.ResultTypes()}
	}
	return out
}

func (p *Plugin) describe(ctx context.Context, in *instance) error {
	var raw []byte
	err := in.run(ctx, caps.PhaseInit, abi.ExportDescribe, func(cctx context.Context) (err error) {
		raw, err = in.describe(cctx)
		return err
	})
	if err != nil {
		return err
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fault.New(p.name, abi.ExportDescribe, fault.ErrBadManifest, err, "manifest is not valid JSON: %v", err)
	}
	m.Raw = raw
	if !idPattern.MatchString(m.ID) {
		return fault.New(p.name, abi.ExportDescribe, fault.ErrBadManifest, nil, "manifest id %q must match [a-z0-9_-]+", m.ID)
	}
	switch m.Kind {
	case abi.KindOnlineStore, abi.KindOfflineStore, abi.KindTransformation:
	default:
		return fault.New(p.name, abi.ExportDescribe, fault.ErrBadManifest, nil,
			"manifest kind %q is not online_store, offline_store or transformation", m.Kind)
	}
	if p.opts.Kind != "" && m.Kind != p.opts.Kind {
		return fault.New(p.name, abi.ExportDescribe, fault.ErrBadManifest, nil,
			"plugin %q is a %s plugin, a %s plugin is needed here", m.ID, m.Kind, p.opts.Kind)
	}
	if err := requireExports(&p.opts, p.has, kindExports[m.Kind]); err != nil {
		return err
	}
	p.manifest = m
	p.name = m.ID
	return nil
}

// instantiate creates an instance and runs its start functions: the module's own
// (moved to an export by the loop instrumentation) and _initialize (Go reactors).
func (p *Plugin) instantiate(ctx context.Context) (*instance, error) {
	in := &instance{p: p, stack: make([]uint64, 2)}
	in.log.max = p.opts.MaxLogBytes
	cfg := p.modCfg.WithStdout(stream{&in.log, slog.LevelInfo}).WithStderr(stream{&in.log, slog.LevelWarn})
	cctx := in.begin(ctx, caps.PhaseInit)
	mod, err := p.rt.InstantiateModule(cctx, p.compiled, cfg)
	if err != nil {
		in.flushLogs(ctx, "instantiate")
		return nil, in.callFault(cctx, "instantiate", err)
	}
	in.mod = mod
	in.mem = mod.Memory()
	for e := Export(0); e < numExports; e++ {
		if p.has[e] {
			in.fns[e] = mod.ExportedFunction(e.Name())
		}
	}
	if p.mode == InterruptFlag {
		g, ok := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
		if !ok {
			in.close()
			return nil, fmt.Errorf("plugin %s: the instrumented module lacks its interrupt flag", p.name)
		}
		in.flag = g
		in.room = mod.ExportedGlobal(roomExport)
	}
	for _, name := range []string{startExport, abi.ExportInitialize} {
		fn := mod.ExportedFunction(name)
		if fn == nil {
			continue
		}
		err := in.run(ctx, caps.PhaseInit, name, func(cctx context.Context) error {
			if err := fn.CallWithStack(cctx, in.stack); err != nil {
				var exit *sys.ExitError
				if errors.As(err, &exit) && exit.ExitCode() == 0 {
					return nil // a reactor may exit(0) from _initialize
				}
				return in.callFault(cctx, name, err)
			}
			return in.lateFault(cctx, name)
		})
		if err != nil {
			in.close()
			return nil, err
		}
	}
	return in, nil
}

// initInstance passes the plugin config to larder_init.
func (p *Plugin) initInstance(ctx context.Context, in *instance) error {
	return in.run(ctx, caps.PhaseInit, abi.ExportInit, func(cctx context.Context) error {
		return in.invoke(cctx, ExpInit, p.opts.Config, nil)
	})
}

// newInstance creates a configured instance for the pool.
func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	in, err := p.instantiate(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.initInstance(ctx, in); err != nil {
		in.close()
		return nil, err
	}
	return in, nil
}

func (p *Plugin) timeoutFor(ph caps.Phase) time.Duration {
	if ph == caps.PhaseApply || ph == caps.PhaseTeardown {
		return p.opts.ApplyTimeout
	}
	return p.opts.CallTimeout
}

// Has reports whether the module exports e.
func (p *Plugin) Has(e Export) bool { return p.has[e] }

// Call runs export e (a (ptr, len) -> status export) in phase with input. When out is
// not nil and the call returns OK, out receives the larder_result region; the slice is
// only valid during out. An error from out that wraps fault.ErrBadOutput discards the
// instance like any other fault.
func (p *Plugin) Call(ctx context.Context, e Export, phase caps.Phase, input []byte, out func([]byte) error) error {
	if !p.has[e] {
		return fault.New(p.name, e.Name(), fault.ErrMissingExport, nil, "the plugin does not export it")
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed.Load() {
		return fault.New(p.name, e.Name(), fault.ErrClosed, nil, "")
	}
	if cerr := ctx.Err(); cerr != nil { // don't start work nobody waits for
		kind := fault.ErrCanceled
		if cerr == context.DeadlineExceeded {
			kind = fault.ErrDeadline
		}
		return fault.New(p.name, e.Name(), kind, cerr, "the caller's context ended before the call")
	}
	if !p.breaker.allow() {
		st := p.breaker.status()
		return fault.New(p.name, e.Name(), fault.ErrUnhealthy, nil, "failing fast until %s after repeated faults; last: %s",
			st.RetryAt.Format(time.RFC3339), st.LastFault)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeoutFor(phase))
	defer cancel()
	in, err := p.pool.acquire(ctx)
	if err != nil {
		p.record(err)
		return err
	}
	p.calls.Add(1)
	err = in.run(ctx, phase, e.Name(), func(cctx context.Context) error {
		return in.invoke(cctx, e, input, out)
	})
	discard := fault.Discards(err) || in.interrupted ||
		p.opts.RecycleAfterCalls > 0 && in.calls >= p.opts.RecycleAfterCalls
	if fault.Class(err) == fault.ClassCanceled && !in.interrupted && p.mode != InterruptCloseOnDone && !in.mod.IsClosed() {
		// The caller gave up, but the guest finished its call normally (only wazero's
		// own mechanism closes the module on cancellation): the instance is intact.
		discard = p.opts.RecycleAfterCalls > 0 && in.calls >= p.opts.RecycleAfterCalls
	}
	p.pool.release(in, discard)
	p.record(err)
	return err
}

func (p *Plugin) record(err error) {
	class := fault.Class(err)
	switch class {
	case fault.ClassNone, fault.ClassStatus:
		p.breaker.record(outcomeOK, "", "")
	case fault.ClassPoolExhausted, fault.ClassCanceled, fault.ClassClosed, fault.ClassOther:
		p.breaker.record(outcomeNeutral, "", "")
	default:
		p.faults.Add(1)
		p.breaker.record(outcomeFault, class, err.Error())
	}
}

func (p *Plugin) logWarn(msg string, err error) {
	if p.opts.Logger != nil {
		p.opts.Logger.Warn(msg, slog.String("plugin", p.name), slog.String("error", err.Error()))
	}
}

// Close waits for calls in flight (until ctx ends, then cuts them off) and releases
// the instances, the runtime and the capability providers.
func (p *Plugin) Close(ctx context.Context) error {
	if p.closed.Swap(true) {
		return nil
	}
	idle := make(chan struct{})
	go func() {
		p.mu.Lock()
		close(idle)
		p.mu.Unlock()
	}()
	select {
	case <-idle:
	case <-ctx.Done():
		// Closing the runtime terminates the calls still running.
	}
	p.shutdown(ctx)
	<-idle
	return p.opts.Grants.Close()
}

func (p *Plugin) shutdown(ctx context.Context) {
	if p.pool != nil {
		p.pool.close()
	}
	if p.compiled != nil {
		_ = p.compiled.Close(ctx)
	}
	if p.rt != nil {
		_ = p.rt.Close(ctx)
	}
}

// Info describes a loaded plugin.
type Info struct {
	Name      string
	Digest    string
	ABIMajor  int
	ABIMinor  int
	Manifest  Manifest
	Exports   []string
	MemoryCap uint64
	Interrupt InterruptMode
}

// Info returns what was learned at load time.
func (p *Plugin) Info() Info {
	inf := Info{Name: p.name, Digest: p.digest, ABIMajor: p.major, ABIMinor: p.minor, Manifest: p.manifest,
		MemoryCap: p.opts.MemoryBytes, Interrupt: p.mode}
	for e := Export(0); e < numExports; e++ {
		if p.has[e] {
			inf.Exports = append(inf.Exports, e.Name())
		}
	}
	return inf
}

// Health is a snapshot of a plugin's state.
type Health struct {
	State          string // healthy, unhealthy or recovering
	Since          time.Time
	RetryAt        time.Time
	LastFault      string
	LastFaultClass string
	RecentFaults   int
	Instances      int
	Idle           int
	Calls          uint64
	Faults         uint64
	Created        uint64
	Discarded      uint64
}

// Health returns the breaker state and pool statistics.
func (p *Plugin) Health() Health {
	st := p.breaker.status()
	h := Health{State: st.State, Since: st.Since, RetryAt: st.RetryAt, LastFault: st.LastFault,
		LastFaultClass: st.LastClass, RecentFaults: st.Recent,
		Calls: p.calls.Load(), Faults: p.faults.Load()}
	if p.closed.Load() {
		h.State = "closed"
	}
	h.Instances, h.Idle = len(p.pool.tokens), len(p.pool.free)
	h.Created, h.Discarded = p.pool.created.Load(), p.pool.discarded.Load()
	return h
}
