package wasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/larder-dev/larder/host/internal/fault"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// instance is one instantiated module with its cached export handles and per-call
// state. It is used by one goroutine at a time (wazero instances are not goroutine-safe).
type instance struct {
	p     *Plugin
	mod   api.Module
	mem   api.Memory
	fns   [numExports]api.Function
	stack []uint64
	flag  api.MutableGlobal // the interrupt flag of an instrumented module, else nil
	room  api.Global        // calls left before the depth limit (instrumented modules)
	// deadline of the current call, zero when none: checkListener compares it with the
	// clock in the guest's own goroutine.
	deadline time.Time

	// interrupted is set when the guest was stopped at its deadline: the flag stays
	// set, so the instance must not serve again.
	interrupted bool

	// Per-call state read by host functions.
	phase   caps.Phase
	handles []handle
	pending []byte // response of the last cap_call, until the next one
	log     logBuf

	calls int
}

type handle struct {
	b    *caps.Binding
	sess caps.Session
}

// callCtx carries the instance to host functions without a map lookup.
type callCtx struct {
	context.Context
	in *instance
}

type instKey struct{}

func (c *callCtx) Value(k any) any {
	if k == (instKey{}) {
		return c.in
	}
	return c.Context.Value(k)
}

func instanceFrom(ctx context.Context) *instance {
	in, _ := ctx.Value(instKey{}).(*instance)
	return in
}

// begin resets per-call state and returns the context to call the guest with. A fresh
// callCtx per call keeps wazero's deadline watcher of the previous call (which may still
// be scheduled) from ever seeing this call's context.
func (in *instance) begin(ctx context.Context, phase caps.Phase) context.Context {
	in.phase = phase
	in.pending = nil
	in.log.reset()
	return &callCtx{Context: ctx, in: in}
}

func (in *instance) close() {
	if in.mod != nil {
		_ = in.mod.Close(context.Background())
	}
	for _, h := range in.handles {
		_ = h.sess.Close()
	}
	in.handles = nil
}

// fault builds a fault error for export, with the tail of the plugin's output.
func (in *instance) fault(export string, kind error, cause error, format string, args ...any) *fault.Error {
	e := fault.New(in.p.name, export, kind, cause, format, args...)
	e.Log = in.log.head(300)
	return e
}

// callFault classifies an error returned by a guest call.
func (in *instance) callFault(ctx context.Context, export string, err error) error {
	kind := fault.ErrTrap
	// wazero appends the guest's stack trace; the first line says what happened (the
	// full error stays available as the cause).
	detail, _, _ := strings.Cut(err.Error(), "\n")
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			kind, detail = fault.ErrDeadline, "terminated after "+in.p.timeoutFor(in.phase).String()
		case sys.ExitCodeContextCanceled:
			kind, detail = fault.ErrCanceled, "terminated because the caller canceled"
		default:
			detail = fmt.Sprintf("guest exited with code %d", exit.ExitCode())
		}
	} else if errors.Is(err, context.DeadlineExceeded) {
		kind, detail = fault.ErrDeadline, "answered after the deadline of "+in.p.timeoutFor(in.phase).String()
	} else if errors.Is(err, context.Canceled) {
		kind, detail = fault.ErrCanceled, "the caller canceled"
	} else if in.flag != nil && in.flag.Get() != 0 {
		// The trap is the instrumented loop check: the host set the flag at the deadline.
		kind, detail = fault.ErrDeadline, "stopped after "+in.p.timeoutFor(in.phase).String()
	}
	if kind == fault.ErrTrap && in.room != nil && in.room.Get() == 0 {
		detail = fmt.Sprintf("stack overflow: more than %d nested calls", maxCallDepth)
	} else if kind == fault.ErrTrap && in.outOfMemory() {
		kind = fault.ErrMemoryLimit
		detail = fmt.Sprintf("%s (memory at %d of %d bytes)", detail, in.memSize(), in.p.opts.MemoryBytes)
	}
	return in.fault(export, kind, err, "%s", detail)
}

// outOfMemory guesses whether a trap was caused by the memory cap: wazero refuses
// memory.grow past the cap without telling the host, and guests then abort. The guest's
// own report (Go prints "out of memory", Rust "memory allocation of N bytes failed") or
// a memory within one Go heap arena (4 MiB) of the cap points to it.
func (in *instance) outOfMemory() bool {
	out := string(in.log.buf)
	if strings.Contains(out, "out of memory") || strings.Contains(out, "memory allocation of") {
		return true
	}
	limit := in.p.opts.MemoryBytes
	margin := uint64(4 << 20)
	if limit/8 < margin {
		margin = limit / 8
	}
	return uint64(in.memSize())+margin >= limit
}

func (in *instance) memSize() uint32 {
	if in.mem == nil {
		return 0
	}
	return in.mem.Size()
}

// run runs fn, one guest interaction of the given phase, with the instance armed: once
// ctx's deadline has passed, checkListener sets the interrupt flag at the guest's next
// check and the guest traps. Logs are flushed afterwards.
func (in *instance) run(ctx context.Context, phase caps.Phase, export string, fn func(context.Context) error) error {
	cctx := in.begin(ctx, phase)
	// A caller's cancellation without a deadline is not seen by a guest that is busy in
	// a loop (the host always sets a deadline).
	d, armed := ctx.Deadline()
	armed = armed && in.flag != nil
	if armed {
		in.deadline = d
	}
	err := fn(cctx)
	in.deadline = time.Time{}
	if armed {
		if in.flag.Get() != 0 {
			in.interrupted = true // the flag stays set: the instance must not serve again
		}
		if err == nil && !time.Now().Before(d) {
			// Finished, but too late: its answer is not wanted and it may have been cut
			// off half-way through host calls.
			err = in.callFault(cctx, export, context.DeadlineExceeded)
		}
	}
	in.pending = nil
	in.flushLogs(ctx, export)
	return err
}

// checkListener is the wazero function listener on an instrumented module's $check,
// which guest code calls every loopBudget loop iterations or function entries. It runs
// in the goroutine that runs the guest and compares the call's deadline with the clock
// there. It replaced a per-instance timer that set the flag: with more busy guests than
// processors, the timer's callback and then the guest it should stop each waited their
// turn for a processor (Go preempts a guest only at its exits to Go, after 10 ms), which
// made calls return up to hundreds of milliseconds late. Before the deadline it yields
// the processor, so busy guests take turns every few tens of microseconds rather than
// every 10 ms, and a guest that is due to stop, or a caller waiting for an instance,
// gets to run promptly.
type checkListener struct{}

func (checkListener) Before(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	in := instanceFrom(ctx)
	if in == nil || in.flag == nil {
		return
	}
	if !in.deadline.IsZero() && !time.Now().Before(in.deadline) {
		in.flag.Set(1)
		return
	}
	runtime.Gosched()
}

func (checkListener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {}

func (checkListener) Abort(context.Context, api.Module, api.FunctionDefinition, error) {}

// checkFactory attaches checkListener to the function with this index ($check) only, so
// no other function pays for listening.
type checkFactory uint32

func (c checkFactory) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if def.Index() == uint32(c) {
		return checkListener{}
	}
	return nil
}

// call runs export e with the parameters already in in.stack.
func (in *instance) call(ctx context.Context, e Export) error {
	if err := in.fns[e].CallWithStack(ctx, in.stack); err != nil {
		return in.callFault(ctx, e.Name(), err)
	}
	return in.lateFault(ctx, e.Name())
}

// lateFault reports a guest that returned after its deadline as a deadline fault: its
// answer came too late, and it may have been stopped half-way through host calls.
// With WithCloseOnContextDone wazero has already reported it.
func (in *instance) lateFault(ctx context.Context, export string) error {
	if in.p.mode == InterruptCloseOnDone || ctx.Err() == nil {
		return nil
	}
	return in.callFault(ctx, export, ctx.Err())
}

// region validates a packed (ptr, len) returned by the guest and returns a view of it,
// valid until the next guest call.
func (in *instance) region(export string, packed uint64, limit int) ([]byte, error) {
	ptr, n := abi.UnpackRegion(packed)
	if n == 0 {
		return nil, nil
	}
	if int64(n) > int64(limit) {
		return nil, in.fault(export, fault.ErrOutputTooLarge, nil, "region of %d bytes exceeds the %d-byte limit", n, limit)
	}
	size := in.mem.Size()
	if uint64(ptr)+uint64(n) > uint64(size) {
		return nil, in.fault(export, fault.ErrBadOutput, nil,
			"region [%d, %d) lies outside the %d-byte memory", ptr, uint64(ptr)+uint64(n), size)
	}
	view, _ := in.mem.Read(ptr, n)
	return view, nil
}

// write copies input into a guest buffer from larder_alloc and returns its pointer.
func (in *instance) write(ctx context.Context, export string, input []byte) (uint32, error) {
	if len(input) == 0 {
		return 0, nil
	}
	if uint64(len(input)) > in.p.opts.MemoryBytes {
		return 0, fault.New(in.p.name, export, fault.ErrMemoryLimit, nil,
			"input of %d bytes exceeds the %d-byte memory limit", len(input), in.p.opts.MemoryBytes)
	}
	in.stack[0] = uint64(len(input))
	if err := in.call(ctx, ExpAlloc); err != nil {
		return 0, err
	}
	ptr := uint32(in.stack[0])
	if ptr == 0 {
		return 0, in.fault(export, fault.ErrMemoryLimit, nil, "%s(%d) returned 0 (out of memory)", abi.ExportAlloc, len(input))
	}
	if !in.mem.Write(ptr, input) {
		return 0, in.fault(export, fault.ErrBadOutput, nil, "%s(%d) returned %d, outside the %d-byte memory",
			abi.ExportAlloc, len(input), ptr, in.mem.Size())
	}
	return ptr, nil
}

// invoke calls a (ptr, len) -> status export with input; on OK and when out is not nil
// it passes the larder_result region to out before the instance runs again.
func (in *instance) invoke(ctx context.Context, e Export, input []byte, out func([]byte) error) error {
	in.calls++
	name := e.Name()
	ptr, err := in.write(ctx, name, input)
	if err != nil {
		return err
	}
	in.stack[0], in.stack[1] = uint64(ptr), uint64(len(input))
	if err := in.call(ctx, e); err != nil {
		return err
	}
	if st := abi.Status(int32(uint32(in.stack[0]))); st != abi.StatusOK {
		return in.statusError(ctx, name, st)
	}
	if out == nil {
		return nil
	}
	if err := in.call(ctx, ExpResult); err != nil {
		return err
	}
	view, err := in.region(name+" result", in.stack[0], in.p.opts.MaxOutputBytes)
	if err != nil {
		return err
	}
	if err := out(view); err != nil {
		// A fault raised by the consumer (fault.Output) is attributed to this call.
		var fe *fault.Error
		if errors.As(err, &fe) && fe.Plugin == "" {
			fe.Plugin, fe.Export, fe.Log = in.p.name, name, in.log.head(300)
		}
		return err
	}
	return nil
}

const maxErrorMessage = 64 << 10

// statusError fetches larder_last_error for a non-OK status.
func (in *instance) statusError(ctx context.Context, export string, st abi.Status) error {
	se := &fault.StatusError{Plugin: in.p.name, Export: export, Status: st}
	if err := in.call(ctx, ExpLastError); err != nil {
		return err
	}
	view, err := in.region(abi.ExportLastError, in.stack[0], maxErrorMessage)
	if err != nil {
		return err
	}
	se.Message = strings.ToValidUTF8(string(view), "?")
	return se
}

// describe returns a copy of the manifest JSON.
func (in *instance) describe(ctx context.Context) ([]byte, error) {
	if err := in.call(ctx, ExpDescribe); err != nil {
		return nil, err
	}
	view, err := in.region(abi.ExportDescribe, in.stack[0], maxManifest)
	if err != nil {
		return nil, err
	}
	if len(view) == 0 {
		return nil, in.fault(abi.ExportDescribe, fault.ErrBadManifest, nil, "manifest is empty")
	}
	return append([]byte(nil), view...), nil
}

func (in *instance) flushLogs(ctx context.Context, export string) {
	in.log.flush(ctx, in.p.opts.Logger, in.p.name, export)
}

// logLevel maps the log host function's levels to slog's.
func logLevel(l uint32) slog.Level {
	switch l {
	case abi.LogDebug:
		return slog.LevelDebug
	case abi.LogInfo:
		return slog.LevelInfo
	case abi.LogWarn:
		return slog.LevelWarn
	}
	return slog.LevelError
}
