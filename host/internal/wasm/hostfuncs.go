package wasm

import (
	"context"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Host functions of the larder_v1 import module (spec §6). All are stack-based
// GoModuleFuncs (no reflection) and none calls back into the guest. Failures are
// reported to the guest as negative statuses, never as traps: a plugin asking for
// something it may not have is not a fault.

func neg32(st abi.Status) uint64 { return uint64(uint32(-int32(st))) }
func neg64(st abi.Status) uint64 { return uint64(-int64(st)) }

func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	def := func(name string, fn api.GoModuleFunc) {
		s := hostFuncSigs[name]
		b.NewFunctionBuilder().WithGoModuleFunction(fn, s.params, s.results).Export(name)
	}
	def(abi.ImportCapOpen, hostCapOpen)
	def(abi.ImportCapCall, hostCapCall)
	def(abi.ImportCapTake, hostCapTake)
	def(abi.ImportLog, hostLog)
	def(abi.ImportNowUnixMicros, hostNow)
	def(abi.ImportDeadlineRemainingMicros, hostDeadline)
	_, err := b.Instantiate(ctx)
	return err
}

// cap_open(kind_ptr, kind_len, name_ptr, name_len) -> handle | -status
func hostCapOpen(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceFrom(ctx)
	if in == nil {
		stack[0] = neg32(abi.StatusInternal)
		return
	}
	mem := mod.Memory()
	kind, ok1 := mem.Read(uint32(stack[0]), uint32(stack[1]))
	name, ok2 := mem.Read(uint32(stack[2]), uint32(stack[3]))
	if !ok1 || !ok2 {
		stack[0] = neg32(abi.StatusBadArgument)
		return
	}
	for i, h := range in.handles {
		if h.b.Kind == string(kind) && h.b.Name == string(name) {
			stack[0] = uint64(uint32(i))
			return
		}
	}
	b := in.p.opts.Grants.Lookup(string(kind), string(name))
	if b == nil {
		in.pending = []byte("capability " + string(kind) + "/" + string(name) + " is not granted to this plugin")
		stack[0] = neg32(abi.StatusPermissionDenied)
		return
	}
	sess, err := b.Provider.Open()
	if err != nil {
		in.pending = []byte(err.Error())
		stack[0] = neg32(abi.StatusUnavailable)
		return
	}
	in.handles = append(in.handles, handle{b: b, sess: sess})
	stack[0] = uint64(uint32(len(in.handles) - 1))
}

// cap_call(handle, op, req_ptr, req_len) -> response length | -status
func hostCapCall(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceFrom(ctx)
	if in == nil {
		stack[0] = neg64(abi.StatusInternal)
		return
	}
	h, op := int32(uint32(stack[0])), uint32(stack[1])
	if h < 0 || int(h) >= len(in.handles) {
		in.pending = []byte("cap_call: invalid handle")
		stack[0] = neg64(abi.StatusBadArgument)
		return
	}
	hd := in.handles[h]
	if !hd.b.Phases.Has(in.phase) {
		in.pending = []byte("capability " + hd.b.Kind + "/" + hd.b.Name + " is not granted for phase " +
			in.phase.String() + " (granted: " + hd.b.Phases.String() + ")")
		stack[0] = neg64(abi.StatusPermissionDenied)
		return
	}
	req, ok := mod.Memory().Read(uint32(stack[2]), uint32(stack[3]))
	if !ok {
		in.pending = []byte("cap_call: request lies outside memory")
		stack[0] = neg64(abi.StatusBadArgument)
		return
	}
	cctx, cancel := capContext(ctx)
	resp, st := hd.sess.Call(cctx, op, in.phase, req)
	cancel()
	in.pending = resp
	if st != abi.StatusOK {
		stack[0] = neg64(st)
		return
	}
	if len(resp) > in.p.opts.MaxOutputBytes {
		in.pending = []byte("capability response exceeds the output limit")
		stack[0] = neg64(abi.StatusResourceExhausted)
		return
	}
	stack[0] = uint64(len(resp))
}

// capMarginMax caps the time capContext keeps for the guest after a capability call.
const capMarginMax = 250 * time.Millisecond

// capContext bounds a capability call to a little less than the plugin call's deadline
// (a tenth of the time left, at most capMarginMax). A backend that does not answer (a
// stalled Redis, a partitioned database) then ends the capability call with
// DEADLINE_EXCEEDED while the guest still has time to return it as its status. Without
// the margin the runtime interrupts the guest at the deadline instead: a fault, which
// discards the instance and counts towards the crash-loop breaker, so a slow backend
// would leave the plugin "unhealthy" (failing fast) for a cooldown after it recovered.
func capContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	margin := time.Until(d) / 10
	if margin > capMarginMax {
		margin = capMarginMax
	}
	return context.WithDeadline(ctx, d.Add(-margin))
}

// cap_take(dst_ptr, dst_len) -> bytes copied | -status
func hostCapTake(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceFrom(ctx)
	if in == nil {
		stack[0] = neg32(abi.StatusInternal)
		return
	}
	dst, n := uint32(stack[0]), uint32(stack[1])
	if int(n) < len(in.pending) {
		stack[0] = neg32(abi.StatusResourceExhausted)
		return
	}
	if !mod.Memory().Write(dst, in.pending) {
		stack[0] = neg32(abi.StatusBadArgument)
		return
	}
	stack[0] = uint64(uint32(len(in.pending)))
}

// log(level, ptr, len)
func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceFrom(ctx)
	if in == nil {
		return
	}
	msg, ok := mod.Memory().Read(uint32(stack[1]), uint32(stack[2]))
	if !ok {
		return
	}
	in.log.add(logLevel(uint32(stack[0])), msg)
}

// now_unix_micros() -> i64
func hostNow(_ context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(time.Now().UnixMicro())
}

// deadline_remaining_micros() -> i64, -1 when the call has no deadline
func hostDeadline(ctx context.Context, _ api.Module, stack []uint64) {
	d, ok := ctx.Deadline()
	if !ok {
		stack[0] = uint64(^uint64(0)) // -1
		return
	}
	left := time.Until(d).Microseconds()
	if left < 0 {
		left = 0
	}
	stack[0] = uint64(left)
}
