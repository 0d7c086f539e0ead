package main

import (
	"os"
	"testing"

	"github.com/larder-dev/larder/sdk-go/sdktest"
)

// wasmPath returns the plugin module to test through the host: $LARDER_SQLITE_WASM if set,
// else this package built for wasip1 (once per test binary). -short skips the Wasm runs.
func wasmPath(t testing.TB) string {
	if testing.Short() {
		return ""
	}
	if p := os.Getenv("LARDER_SQLITE_WASM"); p != "" {
		return p
	}
	return sdktest.BuildWasm(t, ".")
}
