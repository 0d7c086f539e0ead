package wasm

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/larder-dev/larder/host/internal/fixturebuild"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
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
			for b.Loop() {
				if err := p.Call(ctx, ExpOnlineUpdate, caps.PhaseServe, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAcquireRelease measures taking an idle instance from the pool and returning it.
func BenchmarkAcquireRelease(b *testing.B) {
	p := open(b, "echo", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		in, err := p.pool.acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.pool.release(in, false)
	}
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
	if mode == InterruptFlag {
		var err error
		if bin, err = instrumentInterrupts(spinModule); err != nil {
			tb.Fatal(err)
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(mode == InterruptCloseOnDone))
	mod, err := rt.Instantiate(ctx, bin)
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
		var timer *time.Timer // as the host arms an instrumented instance
		if flag != nil {
			timer = time.AfterFunc(time.Hour, func() { flag.Set(1) })
			timer.Stop()
		}
		for _, n := range []uint64{1, 1000, 100000} {
			b.Run(mode.String()+"/iterations="+strconv.FormatUint(n, 10), func(b *testing.B) {
				stack := make([]uint64, 1)
				b.ReportAllocs()
				for b.Loop() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					if timer != nil {
						timer.Reset(time.Second)
					}
					stack[0] = n
					if err := fn.CallWithStack(ctx, stack); err != nil || stack[0] != n {
						b.Fatal(err, stack[0])
					}
					if timer != nil {
						timer.Stop()
					}
					cancel()
				}
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
	if _, err := instrumentInterrupts(bad); err == nil || !strings.Contains(err.Error(), "global index 0 out of range") {
		t.Errorf("err = %v", err)
	}
	if _, err := instrumentInterrupts([]byte("\x00asm\x02\x00\x00\x00")); err == nil {
		t.Error("accepted version 2")
	}
	noMem := append(append([]byte(nil), spinModule[:20]...), spinModule[25:]...)
	if _, err := instrumentInterrupts(noMem); err == nil || !strings.Contains(err.Error(), "no memory") {
		t.Errorf("module without memory: %v", err)
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
