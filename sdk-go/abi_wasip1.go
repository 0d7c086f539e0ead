//go:build wasip1

package sdk

// This file is the only place where the SDK touches raw guest memory: the ABI's exports
// and imports (spec §3, §6) and the conversions between (ptr, len) pairs and Go slices.

import (
	"runtime"
	"unsafe"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/sdk-go/internal/hostlink"
)

//go:wasmimport larder_v1 cap_open
func hostCapOpen(kindPtr, kindLen, namePtr, nameLen uint32) int32

//go:wasmimport larder_v1 cap_call
func hostCapCall(handle, op, reqPtr, reqLen uint32) int64

//go:wasmimport larder_v1 cap_take
func hostCapTake(dstPtr, dstLen uint32) int32

//go:wasmimport larder_v1 log
func hostLog(level, ptr, n uint32)

//go:wasmimport larder_v1 now_unix_micros
func hostNowUnixMicros() int64

//go:wasmimport larder_v1 deadline_remaining_micros
func hostDeadlineRemainingMicros() int64

func strPtr(s string) uint32   { return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))) }
func bytesPtr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

// wasmHost is the real host, reached through the larder_v1 imports.
type wasmHost struct{}

var theHost hostlink.Transport = wasmHost{}

func host() hostlink.Transport { return theHost }

func (wasmHost) CapOpen(kind, name string, dst []byte) (int32, []byte, abi.Status) {
	h := hostCapOpen(strPtr(kind), uint32(len(kind)), strPtr(name), uint32(len(name)))
	runtime.KeepAlive(kind)
	runtime.KeepAlive(name)
	if h < 0 {
		return -1, takeMessage(dst), abi.Status(-h)
	}
	return h, dst, abi.StatusOK
}

// takeMessage copies the host's pending error message, whose length the guest does not
// know: it tries growing buffers and gives up (returning no message) past 1 MiB.
func takeMessage(dst []byte) []byte {
	for n := 4096; n <= 1<<20; n *= 16 {
		if cap(dst) < n {
			dst = make([]byte, 0, n)
		}
		buf := dst[:n]
		got := hostCapTake(bytesPtr(buf), uint32(n))
		runtime.KeepAlive(buf)
		if got >= 0 {
			return buf[:got]
		}
		if abi.Status(-got) != abi.StatusResourceExhausted {
			break
		}
	}
	return dst[:0]
}

func (wasmHost) CapCall(handle int32, op uint32, req, dst []byte) ([]byte, abi.Status) {
	n := hostCapCall(uint32(handle), op, bytesPtr(req), uint32(len(req)))
	runtime.KeepAlive(req)
	if n < 0 {
		return takeMessage(dst), abi.Status(-n)
	}
	if int64(cap(dst)) < n {
		dst = make([]byte, 0, n+n/4)
	}
	dst = dst[:n]
	if n > 0 {
		got := hostCapTake(bytesPtr(dst), uint32(n))
		runtime.KeepAlive(dst)
		if got < 0 {
			return dst[:0], abi.Status(-got)
		}
		dst = dst[:got]
	}
	return dst, abi.StatusOK
}

func (wasmHost) Log(level uint32, msg string) {
	hostLog(level, strPtr(msg), uint32(len(msg)))
	runtime.KeepAlive(msg)
}

func (wasmHost) NowUnixMicros() int64 { return hostNowUnixMicros() }

func (wasmHost) DeadlineRemainingMicros() int64 { return hostDeadlineRemainingMicros() }

// The one instance of this module.
var inst *instance

func theInstance() *instance {
	if inst == nil {
		inst = newInstance()
	}
	return inst
}

// Input buffers. The host gets one from larder_alloc per export call and hands it over with
// the call (spec §3.1 rule 1). The SDK answers from one arena that grows and is reused, so a
// steady stream of calls allocates nothing; the arena is a []uint64 so it is 8-byte aligned.
// A second allocation while the arena is taken (hosts do not do this today) gets its own
// buffer, kept reachable in extra until it is freed or consumed.
var (
	arena     []uint64
	arenaBusy bool
	extra     = map[uint32][]uint64{}
)

//go:wasmexport larder_abi_v1_0
func larderABIVersionMarker() {}

//go:wasmexport larder_alloc
func larderAlloc(size uint32) uint32 {
	words := (int(size) + 7) / 8
	if words == 0 {
		words = 1
	}
	if !arenaBusy {
		if len(arena) < words {
			arena = make([]uint64, words+words/4)
		}
		arenaBusy = true
		return uint32(uintptr(unsafe.Pointer(&arena[0])))
	}
	b := make([]uint64, words)
	p := uint32(uintptr(unsafe.Pointer(&b[0])))
	extra[p] = b
	return p
}

//go:wasmexport larder_free
func larderFree(ptr, size uint32) { release(ptr) }

// release marks the buffer at ptr as reusable (arena) or unreachable (extra).
func release(ptr uint32) {
	if len(arena) > 0 && ptr == uint32(uintptr(unsafe.Pointer(&arena[0]))) {
		arenaBusy = false
		return
	}
	delete(extra, ptr)
}

// input returns the bytes at (ptr, n), after checking they lie in a buffer from larder_alloc.
func input(ptr, n uint32) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	var owner []uint64
	if len(arena) > 0 && ptr == uint32(uintptr(unsafe.Pointer(&arena[0]))) {
		owner = arena
	} else {
		owner = extra[ptr]
	}
	if owner == nil || uint64(n) > uint64(len(owner))*8 {
		return nil, false
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&owner[0])), n), true
}

func region(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return abi.PackRegion(bytesPtr(b), uint32(len(b)))
}

// call runs an export on the input at (ptr, n), which the guest owns from now on.
func call(export string, ptr, n uint32) int32 {
	in, ok := input(ptr, n)
	defer release(ptr)
	i := theInstance()
	if !ok {
		i.lastErr = append(i.lastErr[:0], "input region was not obtained from larder_alloc or is longer than the allocation"...)
		return int32(abi.StatusBadArgument)
	}
	return int32(i.Call(export, in))
}

//go:wasmexport larder_describe
func larderDescribe() uint64 { return region(theInstance().Describe()) }

//go:wasmexport larder_init
func larderInit(ptr, n uint32) int32 { return call(abi.ExportInit, ptr, n) }

//go:wasmexport larder_last_error
func larderLastError() uint64 { return region(theInstance().LastError()) }

//go:wasmexport larder_result
func larderResult() uint64 { return region(theInstance().Result()) }

//go:wasmexport larder_online_update
func larderOnlineUpdate(ptr, n uint32) int32 { return call(abi.ExportOnlineUpdate, ptr, n) }

//go:wasmexport larder_online_teardown
func larderOnlineTeardown(ptr, n uint32) int32 { return call(abi.ExportOnlineTeardown, ptr, n) }

//go:wasmexport larder_online_write
func larderOnlineWrite(ptr, n uint32) int32 { return call(abi.ExportOnlineWrite, ptr, n) }

//go:wasmexport larder_online_read
func larderOnlineRead(ptr, n uint32) int32 { return call(abi.ExportOnlineRead, ptr, n) }

//go:wasmexport larder_offline_plan_pull_latest
func larderOfflinePlanPullLatest(ptr, n uint32) int32 {
	return call(abi.ExportOfflinePlanPullLatest, ptr, n)
}

//go:wasmexport larder_offline_plan_historical
func larderOfflinePlanHistorical(ptr, n uint32) int32 {
	return call(abi.ExportOfflinePlanHistorical, ptr, n)
}

//go:wasmexport larder_offline_plan_pull_all
func larderOfflinePlanPullAll(ptr, n uint32) int32 {
	return call(abi.ExportOfflinePlanPullAll, ptr, n)
}

//go:wasmexport larder_offline_plan_write
func larderOfflinePlanWrite(ptr, n uint32) int32 {
	return call(abi.ExportOfflinePlanWrite, ptr, n)
}

//go:wasmexport larder_transform
func larderTransform(ptr, n uint32) int32 { return call(abi.ExportTransform, ptr, n) }
