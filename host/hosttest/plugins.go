package hosttest

import "github.com/larder-dev/larder/host/internal/fixturebuild"

// ErrNoToolchain is returned by BuildPlugin when the toolchain a plugin needs (Debian's
// rustc/cargo with the wasm32 target, for Rust plugins) is not installed; tests skip then.
var ErrNoToolchain = fixturebuild.ErrNoToolchain

// BuildPlugin builds the first-party plugin plugins/<name> (a Go module built with sdk-go,
// or a Rust crate built with sdk-rust) and returns the path of its .wasm. Builds are
// cached in the system temp directory under the hash of the plugin's, the SDK's and the
// ABI's sources, so a test never runs a stale build/plugins module and repeated runs build
// once.
func BuildPlugin(name string) (string, error) { return fixturebuild.BuildPlugin(name) }
