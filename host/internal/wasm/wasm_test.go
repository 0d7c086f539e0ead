package wasm

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/larder-dev/larder/host/internal/fault"
	"github.com/larder-dev/larder/host/internal/fixturebuild"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

func fixture(t testing.TB, name string) string {
	t.Helper()
	dir, err := fixturebuild.BuildFixtures()
	if err != nil {
		t.Fatalf("building fixtures: %v", err)
	}
	return filepath.Join(dir, name+".wasm")
}

func open(t testing.TB, name string, mod func(*Options)) *Plugin {
	t.Helper()
	o := Options{Path: fixture(t, name), CacheDir: filepath.Join(t.TempDir(), "cache"), PoolMin: 1, PoolMax: 1, BreakerFaults: -1}
	if mod != nil {
		mod(&o)
	}
	p, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// BenchmarkCall measures the host's per-call overhead: an export that returns at once
// (echo's larder_online_update with no input), through deadline, pool, call and release.
func BenchmarkCall(b *testing.B) {
	for _, mode := range []InterruptMode{InterruptAuto, InterruptCloseOnDone, InterruptNone} {
		b.Run(mode.String(), func(b *testing.B) {
			p := open(b, "echo", func(o *Options) { o.Interrupt = mode })
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if err := p.Call(ctx, ExpOnlineUpdate, caps.PhaseServe, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkAcquireRelease measures taking an idle instance from the pool and returning it.
func BenchmarkAcquireRelease(b *testing.B) {
	p := open(b, "echo", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		in, err := p.pool.acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.pool.release(in, false)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// spinModule is a hand-assembled module exporting spin(n) -> n, a counting loop of n
// iterations: the cost of one loop back-edge under each interrupt mechanism.
var spinModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // type (i32) -> i32
	0x03, 0x02, 0x01, 0x00, // one function of type 0
	0x05, 0x03, 0x01, 0x00, 0x01, // memory, min 1 page
	0x07, 0x08, 0x01, 0x04, 's', 'p', 'i', 'n', 0x00, 0x00, // export "spin"
	0x0a, 0x19, 0x01, 0x17, // code: one body of 23 bytes
	0x01, 0x01, 0x7f, // one i32 local
	0x03, 0x40, // loop
	0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, // local1 = local1 + 1
	0x20, 0x01, 0x20, 0x00, 0x49, 0x0d, 0x00, // br_if 0 (local1 < n)
	0x0b,       // end loop
	0x20, 0x01, // return local1
	0x0b,
}

// spin instantiates spinModule under an interrupt mode.
func spin(tb testing.TB, mode InterruptMode) (api.Function, api.MutableGlobal, func()) {
	ctx := context.Background()
	bin := spinModule
	cctx := ctx
	if mode == InterruptFlag {
		var err error
		var check uint32
		if bin, check, err = instrumentInterrupts(spinModule); err != nil {
			tb.Fatal(err)
		}
		cctx = experimental.WithFunctionListenerFactory(ctx, checkFactory(check))
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(mode == InterruptCloseOnDone))
	cm, err := rt.CompileModule(cctx, bin)
	if err != nil {
		tb.Fatal(err)
	}
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig())
	if err != nil {
		tb.Fatal(err)
	}
	flag, _ := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
	return mod.ExportedFunction("spin"), flag, func() { rt.Close(ctx) }
}

// BenchmarkInterrupt measures what stopping a guest at its deadline costs: a loop of
// 1000 iterations and an empty call (n=1), each with a per-call deadline as the host
// sets it, for no interruption, the instrumented loop flag and WithCloseOnContextDone.
// See RATIONALE.md.
func BenchmarkInterrupt(b *testing.B) {
	for _, mode := range []InterruptMode{InterruptNone, InterruptFlag, InterruptCloseOnDone} {
		fn, flag, done := spin(b, mode)
		defer done()
		var in *instance // as the host arms an instrumented instance: checkListener finds it
		if flag != nil {
			in = &instance{flag: flag}
		}
		for _, n := range []uint64{1, 1000, 100000} {
			b.Run(mode.String()+"/iterations="+strconv.FormatUint(n, 10), func(b *testing.B) {
				stack := make([]uint64, 1)
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					var cctx context.Context = ctx
					if in != nil {
						in.deadline, _ = ctx.Deadline()
						cctx = &callCtx{Context: ctx, in: in}
					}
					stack[0] = n
					if err := fn.CallWithStack(cctx, stack); err != nil || stack[0] != n {
						b.Fatal(err, stack[0])
					}
					cancel()
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// TestInterruptFlag checks that an instrumented endless loop stops once the flag is set,
// and that the instrumentation does not change what a loop computes.
func TestInterruptFlag(t *testing.T) {
	fn, flag, done := spin(t, InterruptFlag)
	defer done()
	stack := []uint64{100000}
	if err := fn.CallWithStack(context.Background(), stack); err != nil || stack[0] != 100000 {
		t.Fatalf("spin(100000) = %d, %v", stack[0], err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	context.AfterFunc(ctx, func() { flag.Set(1) })
	start := time.Now()
	stack[0] = 1 << 31 // about 2 billion iterations: far longer than the deadline
	err := fn.CallWithStack(ctx, stack)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("interrupted spin returned %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopping took %v", took)
	}
}

func TestInstrumentRefusals(t *testing.T) {
	// A module whose code reads a global it does not have would, once instrumented,
	// reach the host's flag: refuse it.
	bad := append([]byte(nil), spinModule...)
	i := strings.Index(string(bad), "\x20\x01\x41\x01")
	bad[i], bad[i+1] = 0x23, 0x00 // local.get 1 -> global.get 0
	if _, _, err := instrumentInterrupts(bad); err == nil || !strings.Contains(err.Error(), "global index 0 out of range") {
		t.Errorf("err = %v", err)
	}
	if _, _, err := instrumentInterrupts([]byte("\x00asm\x02\x00\x00\x00")); err == nil {
		t.Error("accepted version 2")
	}
	twice := append(append([]byte(nil), spinModule...), spinModule[8:20]...) // type and function sections again
	if _, _, err := instrumentInterrupts(twice); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("module with a repeated section: %v", err)
	}
}

// TestInstrumentAddsSections checks that a module lacking the sections the rewrite
// extends (types, functions, globals, exports, code) gets them, and still compiles.
func TestInstrumentAddsSections(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for name, mod := range map[string][]byte{
		"empty":       []byte("\x00asm\x01\x00\x00\x00"),
		"memory only": []byte("\x00asm\x01\x00\x00\x00\x05\x03\x01\x00\x01"),
	} {
		b, check, err := instrumentInterrupts(mod)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if check != 0 {
			t.Errorf("%s: $check has index %d, want 0", name, check)
		}
		cm, err := rt.CompileModule(ctx, b)
		if err != nil {
			t.Fatalf("%s: the instrumented module does not compile: %v", name, err)
		}
		mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatalf("%s: instantiating: %v", name, err)
		}
		if _, ok := mod.ExportedGlobal(interruptExport).(api.MutableGlobal); !ok {
			t.Errorf("%s: no mutable %s export", name, interruptExport)
		}
		mod.Close(ctx)
	}
}

// TestCheckListenerStopsAtDeadline checks the deadline check in the guest's goroutine
// alone, with no timer to set the flag: an endless loop traps soon after the deadline.
func TestCheckListenerStopsAtDeadline(t *testing.T) {
	fn, flag, done := spin(t, InterruptFlag)
	defer done()
	in := &instance{flag: flag, deadline: time.Now().Add(20 * time.Millisecond)}
	ctx := &callCtx{Context: context.Background(), in: in}
	start := time.Now()
	stack := []uint64{1 << 31}
	err := fn.CallWithStack(ctx, stack)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("spin past its deadline returned %v", err)
	}
	if flag.Get() != 1 {
		t.Errorf("the flag is %d, want 1", flag.Get())
	}
	// Generous: this shows the loop was stopped by the check, not that it was fast.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopping took %v", took)
	}
}

// FuzzInstrument feeds arbitrary bytes to the rewriter, which reads untrusted modules
// before wazero validates them: it must never panic.
func FuzzInstrument(f *testing.F) {
	f.Add(spinModule)
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		instrumentInterrupts(b)
	})
}

// depthModule exports pair(x) -> (i32, i32), which leaves through a br_if to its own
// label ((7, 8) for x = 0, else (x, x)), and rec(n), which recurses n deep and leaves
// the base case through return: the ways out of a function the call counter must see.
// It also exports tree(n) = 2^n, computed by 2^n calls n deep and no loop.
func depthModule() []byte {
	sec := func(id byte, entries ...[]byte) []byte {
		p := uleb(uint64(len(entries)))
		for _, e := range entries {
			p = append(p, e...)
		}
		return append(append([]byte{id}, uleb(uint64(len(p)))...), p...)
	}
	body := func(code ...byte) []byte { return append(uleb(uint64(len(code))), code...) }
	exp := func(name string, fn byte) []byte { return append(append([]byte{byte(len(name))}, name...), 0x00, fn) }
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, []byte{0x60, 1, 0x7f, 2, 0x7f, 0x7f}, []byte{0x60, 1, 0x7f, 1, 0x7f}),
		sec(3, []byte{0}, []byte{1}, []byte{1}),
		sec(5, []byte{0x00, 0x01}),
		sec(7, exp("pair", 0), exp("rec", 1), exp("tree", 2)),
		sec(10,
			body(0x00, 0x41, 7, 0x41, 8, 0x20, 0, 0x45, 0x0d, 0, 0x1a, 0x1a, 0x20, 0, 0x20, 0, 0x0b),
			body(0x00, 0x20, 0, 0x45, 0x04, 0x40, 0x41, 0, 0x0f, 0x0b,
				0x20, 0, 0x41, 1, 0x6b, 0x10, 1, 0x41, 1, 0x6a, 0x0b),
			body(0x00, 0x20, 0, 0x45, 0x04, 0x7f, 0x41, 1, 0x05,
				0x20, 0, 0x41, 1, 0x6b, 0x10, 2, 0x20, 0, 0x41, 1, 0x6b, 0x10, 2, 0x6a, 0x0b, 0x0b),
		),
	)
}

// TestCallDepthLimit checks the call counter of the instrumentation: results of
// functions that leave through a branch or return are unchanged, every way out gives
// the frame back (more calls than the limit in a row succeed), and a recursion deeper
// than maxCallDepth traps with the counter at zero.
func TestCallDepthLimit(t *testing.T) {
	ctx := context.Background()
	bin, _, err := instrumentInterrupts(depthModule())
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	pair, rec, room := mod.ExportedFunction("pair"), mod.ExportedFunction("rec"), mod.ExportedGlobal(roomExport)
	for i := 0; i < maxCallDepth+10; i++ {
		x := uint64(i % 3)
		res, err := pair.Call(ctx, x)
		want := []uint64{x, x}
		if x == 0 {
			want = []uint64{7, 8}
		}
		if err != nil || len(res) != 2 || res[0] != want[0] || res[1] != want[1] {
			t.Fatalf("pair(%d) = %v, %v; want %v", x, res, err, want)
		}
	}
	for _, n := range []uint64{0, 1000, maxCallDepth - 1} {
		if res, err := rec.Call(ctx, n); err != nil || res[0] != n {
			t.Fatalf("rec(%d) = %v, %v", n, res, err)
		}
	}
	if got := room.Get(); got != maxCallDepth {
		t.Fatalf("after balanced calls the counter is %d, want %d", got, maxCallDepth)
	}
	if _, err := rec.Call(ctx, maxCallDepth); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("rec(%d) returned %v, want a trap", maxCallDepth, err)
	}
	if got := room.Get(); got != 0 {
		t.Errorf("after the depth trap the counter is %d, want 0", got)
	}
}

// TestCallTreeStopsAtDeadline checks that a guest that never loops but calls without
// end, staying shallow, reaches the deadline check: function entries spend the budget
// that leads to $check.
func TestCallTreeStopsAtDeadline(t *testing.T) {
	ctx := context.Background()
	bin, check, err := instrumentInterrupts(depthModule())
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(experimental.WithFunctionListenerFactory(ctx, checkFactory(check)), bin)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig())
	if err != nil {
		t.Fatal(err)
	}
	tree := mod.ExportedFunction("tree")
	flag := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
	if res, err := tree.Call(ctx, 16); err != nil || res[0] != 1<<16 {
		t.Fatalf("tree(16) = %v, %v", res, err)
	}
	in := &instance{flag: flag, deadline: time.Now().Add(20 * time.Millisecond)}
	start := time.Now()
	_, err = tree.Call(&callCtx{Context: ctx, in: in}, 60) // 2^60 calls
	if err == nil || !strings.Contains(err.Error(), "unreachable") || flag.Get() != 1 {
		t.Fatalf("tree(60) past its deadline returned %v with the flag at %d", err, flag.Get())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopping took %v", took)
	}
}

// cpuTime is the process's CPU time (user + system): on a machine shared with other
// work, CPU per operation is comparable across runs where wall time is not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPoolReplacesInBackground checks that the pool's worker, not the caller, creates
// instances: one a caller asks for when none is idle, and a replacement for every
// discarded instance, beyond min, so the next callers find idle instances.
func TestPoolReplacesInBackground(t *testing.T) {
	p := open(t, "echo", func(o *Options) { o.PoolMin, o.PoolMax = 1, 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := p.pool.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.pool.acquire(ctx) // none idle: the worker creates the second
	if err != nil {
		t.Fatal(err)
	}
	p.pool.release(a, true)
	p.pool.release(b, true)
	for len(p.pool.free) < 2 {
		if ctx.Err() != nil {
			t.Fatalf("pool never refilled to its 2 live instances: %s", p.pool)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if c, d := p.pool.created.Load(), p.pool.discarded.Load(); c != 4 || d != 2 {
		t.Errorf("created %d, discarded %d; want 4 and 2", c, d)
	}
	// With max instances busy, a caller waits no longer than its context.
	x, _ := p.pool.acquire(ctx)
	y, _ := p.pool.acquire(ctx)
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, err := p.pool.acquire(short); !errors.Is(err, fault.ErrPoolExhausted) {
		t.Errorf("acquire with every instance busy: %v, want pool exhausted", err)
	}
	p.pool.release(x, false)
	p.pool.release(y, false)
}
