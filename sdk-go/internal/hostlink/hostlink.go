// Package hostlink is the seam between the sdk package and whatever plays the host: the
// Larder host through Wasm imports (GOOS=wasip1), or sdktest's in-process mock host when a
// plugin's tests run natively. It lives under internal/ so plugin authors never see it.
package hostlink

import (
	"sync"

	"github.com/larder-dev/larder/abi"
)

// Transport is the host side of the ABI's import module (spec §6).
type Transport interface {
	// CapOpen opens a granted capability and returns its handle. On a non-OK status it
	// appends the host's message, if any, to dst.
	CapOpen(kind, name string, dst []byte) (int32, []byte, abi.Status)
	// CapCall runs op on a capability. On OK it appends the response to dst; on any other
	// status it appends the host's UTF-8 error message instead.
	CapCall(handle int32, op uint32, req, dst []byte) ([]byte, abi.Status)
	Log(level uint32, msg string)
	NowUnixMicros() int64
	// DeadlineRemainingMicros is the time left in the current export call, -1 for none.
	DeadlineRemainingMicros() int64
}

// Instance is one plugin instance as the export functions see it.
type Instance interface {
	Describe() []byte
	// Call runs one export (an abi.Export* name) on input and returns its status;
	// the output, if any, is then available from Result, the message from LastError.
	Call(export string, input []byte) abi.Status
	Result() []byte
	LastError() []byte
}

var (
	mu          sync.Mutex
	current     Transport
	newInstance func() Instance
)

// SetTransport installs the host used by the sdk's capability clients (native builds only;
// the Wasm build always talks to its real imports).
func SetTransport(t Transport) {
	mu.Lock()
	current = t
	mu.Unlock()
}

// Current returns the installed transport, or nil.
func Current() Transport {
	mu.Lock()
	defer mu.Unlock()
	return current
}

// SetInstanceFactory is called by the sdk package when it initialises.
func SetInstanceFactory(f func() Instance) {
	mu.Lock()
	newInstance = f
	mu.Unlock()
}

// NewInstance returns a fresh instance of the registered plugin.
func NewInstance() Instance {
	mu.Lock()
	f := newInstance
	mu.Unlock()
	return f()
}
