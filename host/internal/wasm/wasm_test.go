package wasm

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/larder-dev/larder/host/internal/fixturebuild"
	"github.com/tetratelabs/wazero"
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
	for _, c := range []struct {
		name      string
		interrupt bool
	}{{"interruptible", true}, {"trusted", false}} {
		b.Run(c.name, func(b *testing.B) {
			p := open(b, "echo", func(o *Options) { o.DisableInterrupt = !c.interrupt })
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
// iterations: the cost of one loop back-edge, with and without interrupt checks.
var spinModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // type (i32) -> i32
	0x03, 0x02, 0x01, 0x00, // one function of type 0
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

// BenchmarkCloseOnContextDone measures what WithCloseOnContextDone costs: a loop of
// 1000 iterations and an empty call (n=1), each with a per-call deadline as the host
// sets it. See RATIONALE.md.
func BenchmarkCloseOnContextDone(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(on))
		defer rt.Close(ctx)
		mod, err := rt.Instantiate(ctx, spinModule)
		if err != nil {
			b.Fatal(err)
		}
		fn := mod.ExportedFunction("spin")
		for _, n := range []uint64{1, 1000} {
			b.Run(name+"/iterations="+itoa(n), func(b *testing.B) {
				stack := make([]uint64, 1)
				b.ReportAllocs()
				for b.Loop() {
					cctx, cancel := context.WithTimeout(ctx, time.Second)
					stack[0] = n
					if err := fn.CallWithStack(cctx, stack); err != nil || stack[0] != n {
						b.Fatal(err, stack[0])
					}
					cancel()
				}
			})
		}
	}
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
